/*
 * http_error.c — what a failed request means and how it reads: the Hub's
 * message of an answer (X-Error-Message, JSON error/errors, text), the error
 * code of a failure (uploader__http_status_class: transient HS_EHTTP, token HS_EAUTH,
 * refused for good HS_EREFUSED) and the one-line description every push
 * error carries ("WHAT: HTTP 400 (CODE) from POST URL: MESSAGE [request id
 * ID]"), with no query string and no secret. It sends nothing: http_loop.c
 * does.
 */
#include "uploader_int.h"

#include <stdio.h>
#include <string.h>

void uploader__http_error_message(const struct http_request *r, char *out, size_t n)
{
    out[0] = 0;
    if (r->resp.error_message && *r->resp.error_message) {
        snprintf(out, n, "%s", r->resp.error_message);
        return;
    }
    const char *body = r->resp.body.data;
    if (!body || !*body)
        return;
    json_error_t jerr;
    json_t *j = json_loads(body, 0, &jerr);
    if (j) {
        json_t *e = json_object_get(j, "error");
        if (json_is_string(e)) {
            snprintf(out, n, "%s", json_string_value(e));
        } else if (json_is_array(e) && json_is_string(json_array_get(e, 0))) {
            snprintf(out, n, "%s", json_string_value(json_array_get(e, 0)));
        } else {
            json_t *es = json_object_get(j, "errors");
            json_t *m = json_object_get(json_array_get(es, 0), "message");
            if (json_is_string(m))
                snprintf(out, n, "%s", json_string_value(m));
        }
        json_decref(j);
        return;
    }
    snprintf(out, n, "%.200s", body);
    for (char *c = out; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
}

/* How a failed answer is reported (uploader/README.md, "Which failures end a
 * push for good"): 401/403 from the Hub are the token's (HS_EAUTH: fixable
 * without losing anything), 408/409/412/429 and 5xx are transient (HS_EHTTP),
 * every other 4xx — and a 403 from storage, which the callers re-batch first —
 * is the Hub refusing this very request, which no retry changes
 * (HS_EREFUSED). Like huggingface_hub's hf_raise_for_status, which raises on
 * every 4xx, its http_backoff retrying only 5xx/429 and transport errors. */
int uploader__http_status_class(long status, bool to_hub)
{
    if (status >= 500 || status < 400)
        return HS_EHTTP;
    if (to_hub && (status == 401 || status == 403))
        return HS_EAUTH;
    if (status == 408 || status == 409 || status == 412 || status == 429)
        return HS_EHTTP;
    return HS_EREFUSED;
}

int uploader__http_describe_failure(const struct http_request *r, const char *what,
                                    struct hs_err *err)
{
    char url[512], msg[512], rid[160] = "";
    uploader__url_strip_query(r->url, url, sizeof(url));
    if (r->error == HS_ECHANGED || (r->error && r->error != HS_EHTTP && r->file_err[0]))
        return hs_err_set(err, r->error, "%s: %s", what, r->file_err);
    if (r->error == -ECANCELED)
        return hs_err_set(err, -ECANCELED, "%s: cancelled", what);
    if (r->resp.request_id)
        snprintf(rid, sizeof(rid), " [request id %.120s]", r->resp.request_id);
    if (r->error == HS_EHTTP || r->resp.status == 0) {
        const char *ce =
            r->resp.curl_err[0] ? r->resp.curl_err : curl_easy_strerror(r->resp.curl_code);
        char safe[CURL_ERROR_SIZE + 1];
        snprintf(safe, sizeof(safe), "%s", ce);
        hs_secret_scrub(safe);
        CURLcode cc = r->resp.curl_code;
        const char *hint =
            cc == CURLE_PEER_FAILED_VERIFICATION
                ? " (the server's TLS certificate is not trusted: nothing was sent; for a "
                  "private CA set ca_file to its PEM bundle)"
            : cc == CURLE_SSL_CACERT_BADFILE ? " (check ca_file: it must be a PEM bundle)"
                                             : "";
        return hs_err_set(err, HS_EHTTP, "%s: %s %s failed after %u attempt%s: %s%s", what,
                          r->method, url, r->attempts, r->attempts == 1 ? "" : "s", safe, hint);
    }
    uploader__http_error_message(r, msg, sizeof(msg));
    hs_secret_scrub(msg);
    long st = r->resp.status;
    int code = uploader__http_status_class(st, r->auth);
    /* S3 answers an idle upload socket with 400 RequestTimeout: a transient
     * failure in a 4xx, the one storage code known to heal on a retry. */
    if (code == HS_EREFUSED && !r->auth && r->resp.body.data &&
        strstr(r->resp.body.data, "<Code>RequestTimeout</Code>"))
        code = HS_EHTTP;
    char ecode[96] = "";
    if (r->resp.error_code)
        snprintf(ecode, sizeof(ecode), " (%.80s)", r->resp.error_code);
    return hs_err_set(err, code, "%s: HTTP %ld%s from %s %s%s%s%s", what, st, ecode, r->method, url,
                      msg[0] ? ": " : "", msg, rid);
}
