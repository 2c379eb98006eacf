/*
 * error.c — hs_strerror() and the hs_err message buffer. Owns the text of
 * the project's own error codes; errno values are named by strerror().
 */
#include "common.h"

#include <stdio.h>
#include <string.h>

const char *hs_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case HS_ECONFIG:
        return "invalid configuration";
    case HS_EPROTO:
        return "unexpected answer from the server";
    case HS_EHTTP:
        return "HTTP request failed";
    case HS_EAUTH:
        return "authentication failed";
    case HS_ECHANGED:
        return "file changed while being read";
    case HS_EREFUSED:
        return "refused by the Hub (retrying cannot fix it)";
    case HS_ENOTREG:
        return "not a regular file";
    default:
        break;
    }
    if (err < 0 && err > HS_EBASE)
        return strerror(-err);
    return "unknown error";
}

int hs_err_set(struct hs_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}
