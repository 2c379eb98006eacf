/*
 * config_int.h — internal to config/: the error-collecting context and the
 * typed JSON readers shared by config_load.c and config_json.c. Not for
 * other folders (they include config.h only).
 */
#ifndef HUBSYNC_CONFIG_INT_H
#define HUBSYNC_CONFIG_INT_H

#include "config.h"

/* Collects every problem of one load. */
struct config__ctx {
    const char *name;     /* the file as the user named it: prefix of every line */
    const char *abs_path; /* its absolute path (NULL: text without a file) */
    struct config_errors *errs;
    size_t dropped; /* problems past CONFIG_ERRORS_MAX */
    int oom;
};

/* Take ownership of a formatted line (NULL means out of memory). */
void config__add_line(struct config__ctx *c, char *line);
/* Add "NAME: PATH: message" ("NAME: message" when path is ""). */
void config__err(struct config__ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *config__type_name(const json_t *v);
/* Format a JSON path into out; cut when too long (messages only). */
void config__jpath(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* parent.key (or key at the top level). */
void config__sub(char *out, size_t n, const char *parent, const char *key);

/* get_string flags */
enum {
    STR_ANY = 0,
    STR_NONEMPTY = 1,    /* "" refused */
    STR_ABSPATH = 2 | 1, /* absolute, no "." or ".." component, < HS_PATH_MAX */
};

/* Each reader reports its own problem by path and returns false; on
 * success it stores the value (strings: a new copy, the old one freed). */
bool config__get_string(struct config__ctx *c, const json_t *v, const char *path, unsigned flags,
                        char **out);
bool config__get_bool(struct config__ctx *c, const json_t *v, const char *path, bool *out);
bool config__get_int(struct config__ctx *c, const json_t *v, const char *path, long long min,
                     long long max, long long *out);
/* A number in [min, max], or (min, max] when strict. */
bool config__get_number(struct config__ctx *c, const json_t *v, const char *path, double min,
                        bool strict, double max, double *out);
/* Seconds (> 0, or >= 0 when zero_ok; at most 30 days) as microseconds. */
bool config__get_seconds(struct config__ctx *c, const json_t *v, const char *path, bool zero_ok,
                         hs_usec_t *out);
/* The name tables of the enums (config_util.c), index = enum value. */
extern const char *const config__strategy_names[4];
extern const char *const config__layout_names[6];
extern const char *const config__watch_mode_names[3];
extern const char *const config__existing_names[3];
extern const char *const config__card_mode_names[3];
extern const char *const config__log_level_names[4]; /* "warning" is read as "warn" too */

bool config__get_enum(struct config__ctx *c, const json_t *v, const char *path,
                      const char *const *names, size_t n, int *out);
/* A list of non-empty strings; a lone string too when allow_single. */
bool config__get_strlist(struct config__ctx *c, const json_t *v, const char *path,
                         bool allow_single, struct config_strlist *out);
void config__strlist_clear(struct config_strlist *l);
bool config__strlist_push(struct config__ctx *c, struct config_strlist *l, const char *s);

/* Keys that belong somewhere else, for a friendlier unknown-key message. */
struct config__key_hint {
    const char *const *keys;
    size_t n;
    const char *where; /* "at the top level, not in a job" */
};
/* Report every key of obj that is not in keys, with "did you mean" when one
 * is close, else where it belongs when a hint lists it. */
void config__check_keys(struct config__ctx *c, const json_t *obj, const char *path,
                        const char *const *keys, size_t n, const struct config__key_hint *hints,
                        size_t n_hints);

/* config_resolve_endpoint_env without the offline check: loading a config
 * (e.g. for `hubsync card`) must work offline; commands that upload call
 * config_check_online() themselves. */
int config__endpoint(const char *configured, config_getenv_fn env, char **out, struct hs_err *err);

#endif
