/*
 * fuzz_json_tolerant.c — fuzz target for the tolerant JSON reader
 * (hs_json_loads_tolerant, common/json_tolerant.c) that reads Python's
 * trainer_state.json with bare NaN/Infinity/-Infinity.
 *
 * Checks beyond "no crash/leak/UB": a refusal says "LINE:COL: reason"; an
 * input without the letters N and I (so nothing to rewrite) gives exactly
 * what plain jansson gives; an accepted document dumps and reads back equal;
 * hs_json_number agrees with the node type everywhere in the tree (and
 * reads "NaN"/"Infinity"/"-Infinity" strings as non-finite numbers).
 */
#include "common.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_json_tolerant: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static void walk(const json_t *v, int depth)
{
    if (depth > 4096)
        fail("tree deeper than jansson's limit", NULL);
    double d;
    bool num = hs_json_number(v, &d);
    if (json_is_number(v) != num && !json_is_string(v))
        fail("hs_json_number disagrees with the node type", NULL);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        bool nf =
            strcmp(s, "NaN") == 0 || strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0;
        if (num != nf || (num && isfinite(d)))
            fail("hs_json_number misreads a string", s);
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) walk(x, depth + 1);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) walk(x, depth + 1);
    }
}

static bool line_col_message(const char *m)
{
    /* "%d:%d: text" */
    const char *p = m;
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p++ != ':')
        return false;
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9')
        p++;
    return p[0] == ':' && p[1] == ' ';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hs_err err = {0};
    json_t *j = hs_json_loads_tolerant((const char *)data, size, &err);
    if (!memchr(data, 'N', size) && !memchr(data, 'I', size)) {
        json_t *plain = json_loadb((const char *)data, size, 0, NULL);
        if ((plain == NULL) != (j == NULL) || (plain && !json_equal(plain, j)))
            fail("differs from plain jansson on a text with nothing to rewrite", NULL);
        json_decref(plain);
    }
    if (!j) {
        if (!line_col_message(err.msg))
            fail("refusal is not \"LINE:COL: reason\"", err.msg);
        return 0;
    }
    walk(j, 0);
    char *text = json_dumps(j, JSON_COMPACT);
    if (!text)
        fail("accepted document does not dump", NULL);
    json_t *again = hs_json_loads_tolerant(text, strlen(text), &err);
    if (!again || !json_equal(j, again))
        fail("dump and reload differ", text);
    json_decref(again);
    free(text);
    json_decref(j);
    return 0;
}
