/*
 * config_json.c — the typed JSON readers config_load.c builds on: each one
 * checks one value (type, emptiness, control characters, absolute paths,
 * ranges, enum spellings), reports what is wrong by JSON path into the
 * shared error list, and returns false, so that loading goes on and every
 * problem is reported in one run. Also the unknown-key check with its
 * "did you mean" and "it belongs elsewhere" hints. No I/O.
 */
#include "config_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SECONDS_MAX (30.0 * 24 * 3600) /* 30 days: any longer is a mistake */

void config__add_line(struct config__ctx *c, char *line)
{
    if (!line) {
        c->oom = 1;
        return;
    }
    if (c->errs->n >= CONFIG_ERRORS_MAX) {
        c->dropped++;
        free(line);
        return;
    }
    char **v = realloc(c->errs->v, (c->errs->n + 1) * sizeof(*v));
    if (!v) {
        free(line);
        c->oom = 1;
        return;
    }
    c->errs->v = v;
    c->errs->v[c->errs->n++] = line;
}

/* "NAME: PATH: message" (or "NAME: message" when path is empty). */
void config__err(struct config__ctx *c, const char *path, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char *line = NULL;
    if (asprintf(&line, "%s: %s%s%s", c->name, path, *path ? ": " : "", msg) < 0)
        line = NULL;
    config__add_line(c, line);
}

const char *config__type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

/* Format a JSON path into a fixed buffer; a path too long for it is cut
 * (only messages use it). */
void config__jpath(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

void config__sub(char *out, size_t n, const char *parent, const char *key)
{
    config__jpath(out, n, "%s%s%s", parent, *parent ? "." : "", key);
}

/* ---- typed getters: each reports its own problems and returns false ---- */

static bool has_dot_component(const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p != '.' || (p > s && p[-1] != '/'))
            continue;
        size_t l = p[1] == '.' ? 2 : 1;
        if (p[l] == '/' || p[l] == '\0')
            return true;
    }
    return false;
}

/* "/data//run/" -> "/data/run": one spelling per folder, so jobs can be
 * compared and paths joined. */
static void normalise_path(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++)
        if (!(*r == '/' && w > s && w[-1] == '/'))
            *w++ = *r;
    if (w - s > 1 && w[-1] == '/')
        w--;
    *w = '\0';
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

bool config__get_string(struct config__ctx *c, const json_t *v, const char *path, unsigned flags,
                        char **out)
{
    if (!json_is_string(v)) {
        config__err(c, path, "expected a string, got %s", config__type_name(v));
        return false;
    }
    const char *s = json_string_value(v);
    if ((flags & STR_NONEMPTY) && !*s) {
        config__err(c, path, "must not be empty");
        return false;
    }
    if (has_ctl(s)) {
        config__err(c, path, "contains a control character");
        return false;
    }
    if ((flags & 2) && s[0] != '/') {
        config__err(c, path, "\"%s\" is not an absolute path", s);
        return false;
    }
    if ((flags & 2) && has_dot_component(s)) {
        config__err(c, path, "\"%s\" has a \".\" or \"..\" component; write the path plainly", s);
        return false;
    }
    if ((flags & 2) && strlen(s) >= HS_PATH_MAX) {
        config__err(c, path, "path is longer than %d bytes", HS_PATH_MAX - 1);
        return false;
    }
    char *d = strdup(s);
    if (!d) {
        c->oom = 1;
        return false;
    }
    if (flags & 2)
        normalise_path(d);
    free(*out);
    *out = d;
    return true;
}

bool config__get_bool(struct config__ctx *c, const json_t *v, const char *path, bool *out)
{
    if (!json_is_boolean(v)) {
        config__err(c, path, "expected true or false, got %s", config__type_name(v));
        return false;
    }
    *out = json_is_true(v);
    return true;
}

bool config__get_int(struct config__ctx *c, const json_t *v, const char *path, long long min,
                     long long max, long long *out)
{
    if (!json_is_integer(v)) {
        config__err(c, path, "expected an integer, got %s", config__type_name(v));
        return false;
    }
    long long n = json_integer_value(v);
    if (n < min || n > max) {
        config__err(c, path, "%lld is out of range %lld..%lld", n, min, max);
        return false;
    }
    *out = n;
    return true;
}

/* A number (integer or real) in [min, max], or (min, max] when strict. */
bool config__get_number(struct config__ctx *c, const json_t *v, const char *path, double min,
                        bool strict, double max, double *out)
{
    if (!json_is_number(v)) {
        config__err(c, path, "expected a number, got %s", config__type_name(v));
        return false;
    }
    double d = json_number_value(v);
    if (!isfinite(d) || (strict ? d <= min : d < min) || d > max) {
        config__err(c, path, "%.15g is out of range: must be %s %.15g and at most %.15g", d,
                    strict ? ">" : ">=", min, max);
        return false;
    }
    *out = d;
    return true;
}

/* Seconds (> 0, or >= 0 when zero_ok) as microseconds. */
bool config__get_seconds(struct config__ctx *c, const json_t *v, const char *path, bool zero_ok,
                         hs_usec_t *out)
{
    double d;
    if (!config__get_number(c, v, path, 0, !zero_ok, SECONDS_MAX, &d))
        return false;
    *out = (hs_usec_t)llround(d * (double)HS_USEC_PER_SEC);
    if (*out == 0 && !zero_ok) {
        config__err(c, path, "%.15g is out of range: must be at least one microsecond", d);
        return false;
    }
    return true;
}

bool config__get_enum(struct config__ctx *c, const json_t *v, const char *path,
                      const char *const *names, size_t n, int *out)
{
    if (!json_is_string(v)) {
        config__err(c, path, "expected a string, got %s", config__type_name(v));
        return false;
    }
    const char *s = json_string_value(v);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return true;
        }
    }
    char list[256] = "";
    for (size_t i = 0; i < n; i++)
        config__jpath(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                      names[i]);
    config__err(c, path, "\"%s\" is not one of %s", s, list);
    return false;
}

void config__strlist_clear(struct config_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

bool config__strlist_push(struct config__ctx *c, struct config_strlist *l, const char *s)
{
    char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
    char *d = strdup(s);
    if (!v || !d) {
        free(d);
        if (v)
            l->v = v;
        c->oom = 1;
        return false;
    }
    l->v = v;
    l->v[l->n++] = d;
    return true;
}

/* A list of non-empty strings; a lone string too when allow_single. */
bool config__get_strlist(struct config__ctx *c, const json_t *v, const char *path,
                         bool allow_single, struct config_strlist *out)
{
    config__strlist_clear(out);
    if (allow_single && json_is_string(v)) {
        char *s = NULL;
        if (!config__get_string(c, v, path, STR_NONEMPTY, &s))
            return false;
        bool ok = config__strlist_push(c, out, s);
        free(s);
        return ok;
    }
    if (!json_is_array(v)) {
        config__err(c, path, "expected %s, got %s",
                    allow_single ? "a string or an array of strings" : "an array of strings",
                    config__type_name(v));
        return false;
    }
    bool ok = true;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        char p[512];
        config__jpath(p, sizeof(p), "%s[%zu]", path, i);
        char *s = NULL;
        if (config__get_string(c, e, p, STR_NONEMPTY, &s))
            ok = config__strlist_push(c, out, s) && ok;
        else
            ok = false;
        free(s);
    }
    return ok;
}

static bool in_list(const char *k, const char *const *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(k, l[i]) == 0)
            return true;
    return false;
}

void config__check_keys(struct config__ctx *c, const json_t *obj, const char *path,
                        const char *const *keys, size_t n, const struct config__key_hint *hints,
                        size_t n_hints)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (in_list(k, keys, n))
            continue;
        char p[512];
        config__sub(p, sizeof(p), path, k);
        const char *dym = config_did_you_mean(k, keys, n);
        const char *where = NULL;
        for (size_t h = 0; h < n_hints && !where; h++)
            if (in_list(k, hints[h].keys, hints[h].n))
                where = hints[h].where;
        if (dym)
            config__err(c, p, "unknown key (did you mean \"%s\"?)", dym);
        else if (where)
            config__err(c, p, "unknown key here (it belongs %s)", where);
        else
            config__err(c, p, "unknown key");
    }
}
