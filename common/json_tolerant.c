/*
 * json_tolerant.c — reading JSON that Python wrote with allow_nan=True.
 *
 * The Trainer writes trainer_state.json with json.dumps, which emits the
 * bare literals NaN, Infinity and -Infinity for non-finite floats; jansson
 * (rightly, per RFC 8259) rejects them. Before parsing, this file rewrites
 * those literals, outside strings only, into the JSON strings "NaN",
 * "Infinity" and "-Infinity"; hs_json_number() turns them back into doubles.
 * O(n) over the text, one extra copy; fine for files of a few hundred MB.
 * Does not own file policy: callers choose the size cap.
 */
#include "common.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static const struct {
    const char *lit;
    size_t len;
} nonfinite[] = {{"-Infinity", 9}, {"Infinity", 8}, {"NaN", 3}};

/* True when c can continue a bare word, so "NaNx" is not taken as NaN. */
static bool is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.';
}

static int rewrite_nonfinite(const char *text, size_t len, struct hs_buf *out)
{
    bool in_string = false;
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
            continue;
        }
        if (c != 'N' && c != 'I' && c != '-')
            continue;
        for (size_t k = 0; k < HS_ARRAY_SIZE(nonfinite); k++) {
            size_t l = nonfinite[k].len;
            if (l > len - i || memcmp(text + i, nonfinite[k].lit, l) != 0)
                continue;
            if (i + l < len && is_word_char(text[i + l]))
                continue;
            int rc = hs_buf_append(out, text + run, i - run);
            if (rc == 0)
                rc = hs_buf_printf(out, "\"%s\"", nonfinite[k].lit);
            if (rc < 0)
                return rc;
            i += l - 1;
            run = i + 1;
            break;
        }
    }
    return hs_buf_append(out, text + run, len - run);
}

json_t *hs_json_loads_tolerant(const char *text, size_t len, struct hs_err *err)
{
    struct hs_buf b;
    /* Each replacement adds two quotes; a bound of 2x the input covers all. */
    hs_buf_init(&b, len > SIZE_MAX / 2 ? SIZE_MAX : len * 2 + 16);
    int rc = rewrite_nonfinite(text, len, &b);
    if (rc < 0) {
        hs_buf_free(&b);
        hs_err_set(err, rc, "%s", hs_strerror(rc));
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(b.data, b.len, 0, &jerr);
    hs_buf_free(&b);
    if (!root)
        hs_err_set(err, -EINVAL, "%d:%d: %s", jerr.line, jerr.column, jerr.text);
    return root;
}

json_t *hs_json_load_tolerant(const char *path, size_t max_bytes, struct hs_err *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = hs_read_file(path, max_bytes, &text, &len);
    if (rc < 0) {
        if (rc == -EFBIG)
            hs_err_set(err, rc, "%s: larger than %zu bytes", path, max_bytes);
        else
            hs_err_set(err, rc, "%s: %s", path, hs_strerror(rc));
        return NULL;
    }
    json_t *root = hs_json_loads_tolerant(text, len, err);
    free(text);
    if (!root && err) {
        char msg[HS_ERR_MAX];
        snprintf(msg, sizeof(msg), "%s", err->msg);
        hs_err_set(err, err->code, "%s:%s", path, msg);
    }
    return root;
}

bool hs_json_number(const json_t *v, double *out)
{
    if (json_is_real(v)) {
        *out = json_real_value(v);
        return true;
    }
    if (json_is_integer(v)) {
        *out = (double)json_integer_value(v);
        return true;
    }
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    if (strcmp(s, "NaN") == 0)
        *out = NAN;
    else if (strcmp(s, "Infinity") == 0)
        *out = INFINITY;
    else if (strcmp(s, "-Infinity") == 0)
        *out = -INFINITY;
    else
        return false;
    return true;
}
