/*
 * pyfmt.c — printing values the way Python's str() does, because the
 * Trainer's card is made of str() and f"{v:.4f}" of the values it logged:
 * shortest round-trip floats (repr), transformers' _maybe_round, and the
 * str.capitalize() naming of metric columns. Also the small string vectors
 * modelcard/ uses. Owns no file or policy.
 */
#include "modelcard_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void modelcard__py_float(double v, char *out, size_t n)
{
    if (isnan(v)) {
        snprintf(out, n, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(out, n, v < 0 ? "-inf" : "inf");
        return;
    }
    /* Shortest "%.*e" that reads back to the same double (what repr does). */
    char e[40];
    for (int prec = 0; prec <= 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec, v);
        if (strtod(e, NULL) == v)
            break;
    }
    /* e is [-]d[.ddd]e[+-]XX: split into sign, digits and exponent. */
    const char *p = e;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p) && nd < sizeof(digits) - 1)
            digits[nd++] = *p;
    int exp10 = (*p == 'e') ? atoi(p + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    char buf[64];
    size_t k = 0;
    if (neg)
        buf[k++] = '-';
    int decpt = exp10 + 1; /* value = 0.DIGITS × 10^decpt */
    if (decpt <= -4 || decpt > 16) {
        buf[k++] = digits[0];
        if (nd > 1) {
            buf[k++] = '.';
            memcpy(buf + k, digits + 1, nd - 1);
            k += nd - 1;
        }
        snprintf(buf + k, sizeof(buf) - k, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (decpt <= 0) {
        buf[k++] = '0';
        buf[k++] = '.';
        for (int i = 0; i < -decpt; i++)
            buf[k++] = '0';
        memcpy(buf + k, digits, nd);
        k += nd;
        buf[k] = '\0';
    } else {
        for (int i = 0; i < decpt; i++)
            buf[k++] = (size_t)i < nd ? digits[i] : '0';
        buf[k++] = '.';
        if ((size_t)decpt < nd) {
            memcpy(buf + k, digits + decpt, nd - (size_t)decpt);
            k += nd - (size_t)decpt;
        } else {
            buf[k++] = '0';
        }
        buf[k] = '\0';
    }
    snprintf(out, n, "%s", buf);
}

bool modelcard__is_float(const json_t *v)
{
    if (json_is_real(v))
        return true;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        return !strcmp(s, "NaN") || !strcmp(s, "Infinity") || !strcmp(s, "-Infinity");
    }
    return false;
}

int modelcard__py_str(const json_t *v, struct hs_buf *out)
{
    char tmp[64];
    double d;
    if (modelcard__is_float(v) && hs_json_number(v, &d)) {
        modelcard__py_float(d, tmp, sizeof(tmp));
        return hs_buf_append(out, tmp, strlen(tmp));
    }
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        return hs_buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_STRING:
        return hs_buf_append(out, json_string_value(v), json_string_length(v));
    case JSON_TRUE:
        return hs_buf_append(out, "True", 4);
    case JSON_FALSE:
        return hs_buf_append(out, "False", 5);
    case JSON_NULL:
        return hs_buf_append(out, "None", 4);
    default:
        /* Lists and dicts never reach the card's cells in practice; keep a
         * compact JSON form rather than inventing Python's repr. */
        {
            char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!s)
                return -ENOMEM;
            int r = hs_buf_append(out, s, strlen(s));
            free(s);
            return r;
        }
    }
}

int modelcard__py_round4(const json_t *v, struct hs_buf *out)
{
    double d;
    if (modelcard__is_float(v) && hs_json_number(v, &d)) {
        char tmp[64];
        modelcard__py_float(d, tmp, sizeof(tmp));
        const char *dot = strchr(tmp, '.');
        if (dot && strlen(dot + 1) > 4)
            return hs_buf_printf(out, "%.4f", d);
        return hs_buf_append(out, tmp, strlen(tmp));
    }
    return modelcard__py_str(v, out);
}

int modelcard__py_title(const char *s, size_t skip, struct hs_buf *out)
{
    size_t part = 0;
    bool first_part = true;
    const char *p = s;
    for (;;) {
        const char *end = strchr(p, '_');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (part >= skip) {
            if (!first_part && hs_buf_append(out, " ", 1) < 0)
                return -E2BIG;
            first_part = false;
            for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)p[i];
                char o = (char)(i == 0 ? toupper(c) : tolower(c));
                if (c >= 0x80)
                    o = (char)c;
                if (hs_buf_append(out, &o, 1) < 0)
                    return -E2BIG;
            }
        }
        part++;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

void modelcard__norm_name(const char *s, char *out, size_t n)
{
    size_t k = 0;
    if (!strncasecmp(s, "eval_", 5) || !strncasecmp(s, "eval ", 5))
        s += 5;
    for (; *s && k + 1 < n; s++)
        out[k++] = *s == '_' ? ' ' : (char)tolower((unsigned char)*s);
    out[k] = '\0';
}

void modelcard__strv_free(struct modelcard_strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

int modelcard__strv_push(struct modelcard_strv *s, const char *v)
{
    char **nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    s->v = nv;
    if (!(s->v[s->n] = strdup(v)))
        return -ENOMEM;
    s->n++;
    return 0;
}

void modelcard_warn(struct modelcard_warnings *w, const char *fmt, ...)
{
    if (!w)
        return;
    if (w->n >= MODELCARD_WARN_MAX) {
        w->dropped++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg[w->n], MODELCARD_WARN_MSG_MAX, fmt, ap);
    va_end(ap);
    w->n++;
}
