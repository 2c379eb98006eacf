/*
 * config_load.c — reading the JSON config of DESIGN.md ("Config file
 * (JSON)") into struct config: every key with its type, default and bound,
 * unknown keys refused with a "did you mean", and every problem collected
 * in one pass so the user fixes them all at once. jansson reports line and
 * column only for syntax errors ("FILE:LINE:COL: msg"); every other error
 * names the JSON path ("FILE: jobs[0].hub_strategy: ..."). Defaults that
 * depend on the environment (state_dir, endpoint) are filled in at the end
 * through the caller's env lookup, so tests need not touch the process
 * environment. Reads the file and stats it; nothing else.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define CONFIG_FILE_MAX (1024 * 1024)
#define NAME_MAX_LEN    128
#define SECONDS_MAX     (30.0 * 24 * 3600) /* 30 days: any longer is a mistake */

struct ctx {
    const char *name;
    struct config_errors *errs;
    size_t dropped;
    int oom;
};

static void add_line(struct ctx *c, char *line)
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
static void __attribute__((format(printf, 3, 4)))
cerr(struct ctx *c, const char *path, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char *line = NULL;
    if (asprintf(&line, "%s: %s%s%s", c->name, path, *path ? ": " : "", msg) < 0)
        line = NULL;
    add_line(c, line);
}

static const char *type_name(const json_t *v)
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
static void __attribute__((format(printf, 3, 4))) jpath(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

static void sub(char *out, size_t n, const char *parent, const char *key)
{
    jpath(out, n, "%s%s%s", parent, *parent ? "." : "", key);
}

/* ---- typed getters: each reports its own problems and returns false ---- */

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

enum { STR_ANY = 0, STR_NONEMPTY = 1, STR_ABSPATH = 2 | 1 };

static bool get_string(struct ctx *c, const json_t *v, const char *path, unsigned flags, char **out)
{
    if (!json_is_string(v)) {
        cerr(c, path, "expected a string, got %s", type_name(v));
        return false;
    }
    const char *s = json_string_value(v);
    if ((flags & STR_NONEMPTY) && !*s) {
        cerr(c, path, "must not be empty");
        return false;
    }
    if (has_ctl(s)) {
        cerr(c, path, "contains a control character");
        return false;
    }
    if ((flags & 2) && s[0] != '/') {
        cerr(c, path, "\"%s\" is not an absolute path", s);
        return false;
    }
    if ((flags & 2) && strlen(s) >= HS_PATH_MAX) {
        cerr(c, path, "path is longer than %d bytes", HS_PATH_MAX - 1);
        return false;
    }
    char *d = strdup(s);
    if (!d) {
        c->oom = 1;
        return false;
    }
    free(*out);
    *out = d;
    return true;
}

static bool get_bool(struct ctx *c, const json_t *v, const char *path, bool *out)
{
    if (!json_is_boolean(v)) {
        cerr(c, path, "expected true or false, got %s", type_name(v));
        return false;
    }
    *out = json_is_true(v);
    return true;
}

static bool get_int(struct ctx *c, const json_t *v, const char *path, long long min, long long max,
                    long long *out)
{
    if (!json_is_integer(v)) {
        cerr(c, path, "expected an integer, got %s", type_name(v));
        return false;
    }
    long long n = json_integer_value(v);
    if (n < min || n > max) {
        cerr(c, path, "%lld is out of range %lld..%lld", n, min, max);
        return false;
    }
    *out = n;
    return true;
}

/* A number (integer or real) in [min, max], or (min, max] when strict. */
static bool get_number(struct ctx *c, const json_t *v, const char *path, double min, bool strict,
                       double max, double *out)
{
    if (!json_is_number(v)) {
        cerr(c, path, "expected a number, got %s", type_name(v));
        return false;
    }
    double d = json_number_value(v);
    if (!isfinite(d) || (strict ? d <= min : d < min) || d > max) {
        cerr(c, path, "%.15g is out of range: must be %s %.15g and at most %.15g", d,
             strict ? ">" : ">=", min, max);
        return false;
    }
    *out = d;
    return true;
}

/* Seconds (> 0, or >= 0 when zero_ok) as microseconds. */
static bool get_seconds(struct ctx *c, const json_t *v, const char *path, bool zero_ok,
                        hs_usec_t *out)
{
    double d;
    if (!get_number(c, v, path, 0, !zero_ok, SECONDS_MAX, &d))
        return false;
    *out = (hs_usec_t)llround(d * (double)HS_USEC_PER_SEC);
    if (*out == 0 && !zero_ok) {
        cerr(c, path, "%.15g is out of range: must be at least one microsecond", d);
        return false;
    }
    return true;
}

static bool get_enum(struct ctx *c, const json_t *v, const char *path, const char *const *names,
                     size_t n, int *out)
{
    if (!json_is_string(v)) {
        cerr(c, path, "expected a string, got %s", type_name(v));
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
        jpath(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", names[i]);
    cerr(c, path, "\"%s\" is not one of %s", s, list);
    return false;
}

static void strlist_clear(struct config_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static bool strlist_push(struct ctx *c, struct config_strlist *l, const char *s)
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
static bool get_strlist(struct ctx *c, const json_t *v, const char *path, bool allow_single,
                        struct config_strlist *out)
{
    strlist_clear(out);
    if (allow_single && json_is_string(v)) {
        char *s = NULL;
        if (!get_string(c, v, path, STR_NONEMPTY, &s))
            return false;
        bool ok = strlist_push(c, out, s);
        free(s);
        return ok;
    }
    if (!json_is_array(v)) {
        cerr(c, path, "expected %s, got %s",
             allow_single ? "a string or an array of strings" : "an array of strings",
             type_name(v));
        return false;
    }
    bool ok = true;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        char p[512];
        jpath(p, sizeof(p), "%s[%zu]", path, i);
        char *s = NULL;
        if (get_string(c, e, p, STR_NONEMPTY, &s))
            ok = strlist_push(c, out, s) && ok;
        else
            ok = false;
        free(s);
    }
    return ok;
}

/* ---- unknown keys ------------------------------------------------------ */

static const char *const top_keys[] = {
    "endpoint",
    "token",
    "token_file",
    "state_dir",
    "ca_file",
    "max_parallel_uploads",
    "bandwidth_limit_mbps",
    "log_level",
    "log_file",
    "jobs",
};
static const char *const job_keys[] = {
    "name",
    "watch",
    "hub_model_id",
    "hub_strategy",
    "private",
    "revision",
    "layout",
    "watch_mode",
    "poll_interval_seconds",
    "settle_seconds",
    "marker_quiet_seconds",
    "world_size",
    "include",
    "exclude",
    "supersede",
    "spool_dir",
    "spool_max_gb",
    "pid",
    "pid_file",
    "finish_after_idle_seconds",
    "existing_checkpoints",
    "model_card",
};
static const char *const card_keys[] = {
    "mode",     "model_name", "base_model", "datasets", "dataset_name",
    "language", "license",    "tags",       "task",     "metrics_order",
};

static bool in_list(const char *k, const char *const *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(k, l[i]) == 0)
            return true;
    return false;
}

/* Report every key of obj not in keys; other_keys/other_where say where a
 * key that belongs elsewhere should go. */
static void check_keys(struct ctx *c, const json_t *obj, const char *path, const char *const *keys,
                       size_t n, const char *const *other, size_t n_other, const char *other_where)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (in_list(k, keys, n))
            continue;
        char p[512];
        sub(p, sizeof(p), path, k);
        const char *dym = config_did_you_mean(k, keys, n);
        if (dym)
            cerr(c, p, "unknown key (did you mean \"%s\"?)", dym);
        else if (other && in_list(k, other, n_other))
            cerr(c, p, "unknown key here (it belongs %s)", other_where);
        else
            cerr(c, p, "unknown key");
    }
}

/* ---- the model card ---------------------------------------------------- */

static const char *const card_mode_names[] = {"merge", "overwrite", "off"};

static void parse_card(struct ctx *c, const json_t *o, const char *path,
                       struct config_model_card *m)
{
    if (!json_is_object(o)) {
        cerr(c, path, "expected an object, got %s", type_name(o));
        return;
    }
    check_keys(c, o, path, card_keys, HS_ARRAY_SIZE(card_keys), NULL, 0, NULL);
    char p[512];
    json_t *v;
#define CARD_KEY(k) (sub(p, sizeof(p), path, k), (v = json_object_get(o, k)) != NULL)
    int e;
    if (CARD_KEY("mode") && get_enum(c, v, p, card_mode_names, 3, &e))
        m->mode = (enum config_card_mode)e;
    if (CARD_KEY("model_name"))
        get_string(c, v, p, STR_NONEMPTY, &m->model_name);
    if (CARD_KEY("base_model"))
        get_strlist(c, v, p, true, &m->base_model);
    if (CARD_KEY("datasets"))
        get_strlist(c, v, p, true, &m->datasets);
    if (CARD_KEY("dataset_name"))
        get_string(c, v, p, STR_NONEMPTY, &m->dataset_name);
    if (CARD_KEY("language"))
        get_strlist(c, v, p, true, &m->language);
    if (CARD_KEY("license"))
        get_string(c, v, p, STR_NONEMPTY, &m->license);
    if (CARD_KEY("tags"))
        get_strlist(c, v, p, true, &m->tags);
    if (CARD_KEY("task"))
        get_string(c, v, p, STR_NONEMPTY, &m->task);
    if (CARD_KEY("metrics_order"))
        get_strlist(c, v, p, false, &m->metrics_order);
#undef CARD_KEY
}

/* ---- one job ----------------------------------------------------------- */

static const char *const strategy_names[] = {"end", "every_save", "checkpoint", "all_checkpoints"};
static const char *const layout_names[] = {"auto",      "trainer",   "accelerate",
                                           "lightning", "deepspeed", "generic"};
static const char *const watch_mode_names[] = {"auto", "inotify", "poll"};
static const char *const existing_names[] = {"latest", "all", "none"};

static bool name_ok(const char *s)
{
    for (; *s; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

/* Patterns match repo-relative paths: a leading '/' (or "./") never
 * matches anything, which is always a mistake. */
static void check_patterns(struct ctx *c, const struct config_strlist *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++) {
        const char *s = l->v[i];
        if (s[0] == '/' || strncmp(s, "./", 2) == 0) {
            char p[512];
            jpath(p, sizeof(p), "%s[%zu]", path, i);
            cerr(c, p,
                 "\"%s\" can never match: patterns match repo-relative paths such as "
                 "\"model.safetensors\" or \"runs/\"",
                 s);
        }
    }
}

static void parse_job(struct ctx *c, const json_t *o, const char *path, struct config_job *j)
{
    /* defaults */
    j->hub_strategy = CONFIG_STRATEGY_EVERY_SAVE;
    j->poll_interval_usec = 10 * HS_USEC_PER_SEC;
    j->settle_usec = 30 * HS_USEC_PER_SEC;
    j->marker_quiet_usec = 2 * HS_USEC_PER_SEC;
    j->world_size = 1;
    j->supersede = true;
    if (!json_is_object(o)) {
        cerr(c, path, "expected an object, got %s", type_name(o));
        return;
    }
    check_keys(c, o, path, job_keys, HS_ARRAY_SIZE(job_keys), top_keys, HS_ARRAY_SIZE(top_keys),
               "at the top level, not in a job");

    char p[512];
    json_t *v;
    int e;
    long long n;
    double d;
#define JOB_KEY(k) (sub(p, sizeof(p), path, k), (v = json_object_get(o, k)) != NULL)
    if (JOB_KEY("name")) {
        if (get_string(c, v, p, STR_NONEMPTY, &j->name)) {
            if (!name_ok(j->name))
                cerr(c, p, "\"%s\" may contain only letters, digits, '.', '_' and '-'", j->name);
            else if (strlen(j->name) > NAME_MAX_LEN)
                cerr(c, p, "is longer than %d characters", NAME_MAX_LEN);
        }
    } else {
        cerr(c, path, "missing required key \"name\"");
    }
    if (JOB_KEY("watch")) {
        if (get_string(c, v, p, STR_ABSPATH, &j->watch)) {
            /* "/data/run/" and "/data/run" are the same folder. */
            size_t l = strlen(j->watch);
            while (l > 1 && j->watch[l - 1] == '/')
                j->watch[--l] = '\0';
        }
    } else {
        cerr(c, path, "missing required key \"watch\"");
    }
    if (JOB_KEY("hub_model_id")) {
        if (get_string(c, v, p, STR_NONEMPTY, &j->hub_model_id)) {
            struct hs_err err = {0};
            if (config_repo_id_check(j->hub_model_id, &err) < 0)
                cerr(c, p, "%s", err.msg);
        }
    } else {
        cerr(c, path, "missing required key \"hub_model_id\"");
    }
    if (JOB_KEY("hub_strategy") && get_enum(c, v, p, strategy_names, 4, &e))
        j->hub_strategy = (enum config_strategy)e;
    if (JOB_KEY("private"))
        get_bool(c, v, p, &j->private_repo);
    if (JOB_KEY("revision")) {
        if (get_string(c, v, p, STR_ANY, &j->revision)) {
            struct hs_err err = {0};
            if (config_revision_check(j->revision, &err) < 0)
                cerr(c, p, "%s", err.msg);
        }
    }
    if (JOB_KEY("layout") && get_enum(c, v, p, layout_names, 6, &e))
        j->layout = (enum config_layout)e;
    if (JOB_KEY("watch_mode") && get_enum(c, v, p, watch_mode_names, 3, &e))
        j->watch_mode = (enum config_watch_mode)e;
    if (JOB_KEY("poll_interval_seconds"))
        get_seconds(c, v, p, false, &j->poll_interval_usec);
    if (JOB_KEY("settle_seconds"))
        get_seconds(c, v, p, false, &j->settle_usec);
    if (JOB_KEY("marker_quiet_seconds"))
        get_seconds(c, v, p, true, &j->marker_quiet_usec);
    if (JOB_KEY("world_size") && get_int(c, v, p, 1, 65536, &n)) {
        j->world_size = (unsigned)n;
        j->world_size_origin = CONFIG_FROM_FILE;
    }
    if (JOB_KEY("include")) {
        if (get_strlist(c, v, p, false, &j->include)) {
            if (j->include.n == 0)
                cerr(c, p,
                     "an empty list would upload nothing; leave \"include\" out to "
                     "upload everything ([\"*\"])");
            check_patterns(c, &j->include, p);
        }
    }
    if (JOB_KEY("exclude") && get_strlist(c, v, p, false, &j->exclude))
        check_patterns(c, &j->exclude, p);
    if (JOB_KEY("supersede"))
        get_bool(c, v, p, &j->supersede);
    if (JOB_KEY("spool_dir") && get_string(c, v, p, STR_ABSPATH, &j->spool_dir))
        j->spool_dir_origin = CONFIG_FROM_FILE;
    if (JOB_KEY("spool_max_gb") && get_number(c, v, p, 0, false, 1e6, &d)) {
        j->spool_max_gb = d;
        j->spool_max_bytes = (uint64_t)llround(d * 1e9);
    }
    if (JOB_KEY("pid") && get_int(c, v, p, 1, 4194304, &n))
        j->pid = (long)n;
    if (JOB_KEY("pid_file"))
        get_string(c, v, p, STR_ABSPATH, &j->pid_file);
    if (json_object_get(o, "pid") && json_object_get(o, "pid_file"))
        cerr(c, path, "\"pid\" and \"pid_file\" are both set; keep one");
    if (JOB_KEY("finish_after_idle_seconds"))
        get_seconds(c, v, p, true, &j->finish_after_idle_usec);
    if (JOB_KEY("existing_checkpoints") && get_enum(c, v, p, existing_names, 3, &e))
        j->existing_checkpoints = (enum config_existing)e;
    if (JOB_KEY("model_card"))
        parse_card(c, v, p, &j->model_card);
#undef JOB_KEY

    /* remaining defaults */
    if (!j->revision)
        j->revision = strdup("main");
    if (j->include.n == 0 && !json_object_get(o, "include"))
        strlist_push(c, &j->include, "*");
    if (!j->spool_dir && j->watch) {
        if (asprintf(&j->spool_dir, "%s/.hubsync/spool", strcmp(j->watch, "/") ? j->watch : "") < 0)
            j->spool_dir = NULL;
    }
    if (!j->revision || (j->watch && !j->spool_dir))
        c->oom = 1;
}

/* Two jobs must not watch the same folder or one inside the other, nor
 * push to the same repo and branch. */
static bool path_within(const char *inner, const char *outer)
{
    size_t l = strlen(outer);
    if (strcmp(outer, "/") == 0)
        return true;
    return strncmp(inner, outer, l) == 0 && (inner[l] == '/' || inner[l] == '\0');
}

static void check_jobs_together(struct ctx *c, const struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_jobs; i++) {
        const struct config_job *a = &cfg->jobs[i];
        for (size_t k = 0; k < i; k++) {
            const struct config_job *b = &cfg->jobs[k];
            char p[64];
            if (a->name && b->name && strcmp(a->name, b->name) == 0) {
                jpath(p, sizeof(p), "jobs[%zu].name", i);
                cerr(c, p, "\"%s\" is already the name of jobs[%zu]", a->name, k);
            }
            if (a->watch && b->watch &&
                (path_within(a->watch, b->watch) || path_within(b->watch, a->watch))) {
                jpath(p, sizeof(p), "jobs[%zu].watch", i);
                if (strcmp(a->watch, b->watch) == 0)
                    cerr(c, p, "\"%s\" is also watched by jobs[%zu]", a->watch, k);
                else
                    cerr(c, p, "\"%s\" and jobs[%zu].watch \"%s\" are inside one another", a->watch,
                         k, b->watch);
            }
            if (a->hub_model_id && b->hub_model_id && a->revision && b->revision &&
                strcmp(a->hub_model_id, b->hub_model_id) == 0 &&
                strcmp(a->revision, b->revision) == 0) {
                jpath(p, sizeof(p), "jobs[%zu].hub_model_id", i);
                cerr(c, p,
                     "\"%s\" (revision %s) is also the target of jobs[%zu]; the two jobs "
                     "would overwrite each other's files",
                     a->hub_model_id, a->revision, k);
            }
        }
    }
}

/* ---- the whole document ------------------------------------------------ */

static const char *env_get(config_getenv_fn env, const char *name)
{
    const char *v = env ? env(name) : getenv(name);
    return v && *v ? v : NULL;
}

/* state_dir default: $STATE_DIRECTORY (systemd; the first of a ':' list) >
 * $XDG_STATE_HOME/hubsync > $HOME/.local/state/hubsync. */
static void default_state_dir(struct ctx *c, struct config *cfg, config_getenv_fn env)
{
    const char *sd = env_get(env, "STATE_DIRECTORY");
    const char *xdg = env_get(env, "XDG_STATE_HOME");
    const char *home = env_get(env, "HOME");
    int r = -1;
    if (sd)
        r = asprintf(&cfg->state_dir, "%.*s", (int)strcspn(sd, ":"), sd);
    else if (xdg && xdg[0] == '/')
        r = asprintf(&cfg->state_dir, "%s/hubsync", xdg);
    else if (home && home[0] == '/')
        r = asprintf(&cfg->state_dir, "%s/.local/state/hubsync", home);
    else {
        cerr(c, "state_dir",
             "not set, and neither STATE_DIRECTORY, XDG_STATE_HOME nor HOME "
             "gives a default; set it");
        return;
    }
    if (r < 0) {
        cfg->state_dir = NULL;
        c->oom = 1;
        return;
    }
    cfg->state_dir_origin = CONFIG_FROM_ENV;
}

static void parse_root(struct ctx *c, const json_t *root, unsigned mode, config_getenv_fn env,
                       struct config *cfg)
{
    cfg->max_parallel_uploads = 8;
    cfg->log_level = HS_LOG_INFO;
    if (!json_is_object(root)) {
        cerr(c, "", "the top level must be a JSON object, got %s", type_name(root));
        return;
    }
    check_keys(c, root, "", top_keys, HS_ARRAY_SIZE(top_keys), job_keys, HS_ARRAY_SIZE(job_keys),
               "in a job, inside \"jobs\"");
    json_t *v;
    long long n;
    double d;
    char *tmp = NULL;
    if ((v = json_object_get(root, "endpoint")) &&
        get_string(c, v, "endpoint", STR_NONEMPTY, &tmp)) {
        cfg->endpoint_origin = CONFIG_FROM_FILE;
    }
    if ((v = json_object_get(root, "token"))) {
        if (!json_is_string(v)) {
            cerr(c, "token", "expected a string, got %s", type_name(v));
        } else if (!*json_string_value(v)) {
            cerr(c, "token", "must not be empty");
        } else if ((mode & 077) != 0) {
            cerr(c, "token",
                 "an inline token needs the config file to be mode 0600 or stricter (it is "
                 "%04o); run chmod 600 on it, or use \"token_file\"",
                 mode & 07777);
        } else {
            cfg->token = strdup(json_string_value(v));
            if (!cfg->token)
                c->oom = 1;
            else
                hs_secret_register(cfg->token);
        }
    }
    if ((v = json_object_get(root, "token_file")))
        get_string(c, v, "token_file", STR_ABSPATH, &cfg->token_file);
    if (json_object_get(root, "token") && json_object_get(root, "token_file"))
        cerr(c, "", "\"token\" and \"token_file\" are both set; keep one");
    if ((v = json_object_get(root, "state_dir")) &&
        get_string(c, v, "state_dir", STR_ABSPATH, &cfg->state_dir))
        cfg->state_dir_origin = CONFIG_FROM_FILE;
    if ((v = json_object_get(root, "ca_file")))
        get_string(c, v, "ca_file", STR_ABSPATH, &cfg->ca_file);
    if ((v = json_object_get(root, "max_parallel_uploads")) &&
        get_int(c, v, "max_parallel_uploads", 1, 64, &n))
        cfg->max_parallel_uploads = (unsigned)n;
    if ((v = json_object_get(root, "bandwidth_limit_mbps")) &&
        get_number(c, v, "bandwidth_limit_mbps", 0, false, 1e6, &d)) {
        cfg->bandwidth_limit_mbps = d;
        cfg->bandwidth_limit_bytes_per_sec = (uint64_t)llround(d * 1e6 / 8);
        if (d > 0 && cfg->bandwidth_limit_bytes_per_sec == 0)
            cfg->bandwidth_limit_bytes_per_sec = 1;
    }
    if ((v = json_object_get(root, "log_level"))) {
        static const char *const lv[] = {"error", "warn", "info", "debug"};
        int e;
        if (json_is_string(v) && strcmp(json_string_value(v), "warning") == 0)
            cfg->log_level = HS_LOG_WARN;
        else if (get_enum(c, v, "log_level", lv, 4, &e))
            cfg->log_level = (enum hs_log_level)e;
    }
    if ((v = json_object_get(root, "log_file")))
        get_string(c, v, "log_file", STR_ABSPATH, &cfg->log_file);

    v = json_object_get(root, "jobs");
    if (!v) {
        cerr(c, "", "missing required key \"jobs\" (an array with at least one job)");
    } else if (!json_is_array(v)) {
        cerr(c, "jobs", "expected an array of jobs, got %s", type_name(v));
    } else if (json_array_size(v) == 0) {
        cerr(c, "jobs", "at least one job is required");
    } else {
        cfg->jobs = calloc(json_array_size(v), sizeof(*cfg->jobs));
        if (!cfg->jobs) {
            c->oom = 1;
        } else {
            size_t i;
            json_t *jo;
            json_array_foreach(v, i, jo)
            {
                char p[64];
                jpath(p, sizeof(p), "jobs[%zu]", i);
                cfg->n_jobs++;
                parse_job(c, jo, p, &cfg->jobs[i]);
            }
            check_jobs_together(c, cfg);
        }
    }

    /* environment-dependent defaults */
    if (!cfg->state_dir)
        default_state_dir(c, cfg, env);
    struct hs_err err = {0};
    if (config_resolve_endpoint_env(tmp, env, &cfg->endpoint, &err) < 0) {
        const char *m = err.msg;
        if (tmp && strncmp(m, "endpoint ", 9) == 0)
            m += 9;
        cerr(c, tmp ? "endpoint" : "", "%s", m);
    } else if (!tmp && env_get(env, "HF_ENDPOINT"))
        cfg->endpoint_origin = CONFIG_FROM_ENV;
    free(tmp);
}

/* jansson's message without its "near '...'" excerpt when that excerpt
 * could be part of a secret: it is raw file text, and an unquoted or
 * unterminated inline token would land there. Long excerpts and
 * unterminated strings go; short ones ("near '}'", a complete duplicate key
 * "near '\"jobs\"'") stay, since they make the message useful. */
static const char *syntax_msg(json_error_t *e)
{
    char *near = strstr(e->text, " near '");
    if (!near)
        return e->text;
    const char *x = near + 7;
    size_t xl = strlen(x);
    if (xl > 0 && x[xl - 1] == '\'')
        xl--;
    bool open_string = xl > 0 && x[0] == '"' && (xl == 1 || x[xl - 1] != '"');
    if (xl > 12 || open_string)
        *near = '\0';
    return e->text;
}

int config_load_text(const char *name, const char *text, size_t len, unsigned mode,
                     config_getenv_fn env, struct config **out, struct config_errors *errs)
{
    *out = NULL;
    struct ctx c = {.name = name, .errs = errs};
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        char *line = NULL;
        if (asprintf(&line, "%s:%d:%d: %s", name, jerr.line, jerr.column, syntax_msg(&jerr)) < 0)
            line = NULL;
        add_line(&c, line);
        return c.oom ? -ENOMEM : HS_ECONFIG;
    }
    struct config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        json_decref(root);
        return -ENOMEM;
    }
    cfg->path = strdup(name);
    if (!cfg->path)
        c.oom = 1;
    parse_root(&c, root, mode, env, cfg);
    json_decref(root);
    if (c.dropped) {
        char *line = NULL;
        if (asprintf(&line, "%s: ... and %zu more problems", name, c.dropped + 1) < 0)
            line = NULL;
        c.dropped = 0;
        c.errs->n--; /* make room for the summary as the last line */
        free(c.errs->v[c.errs->n]);
        add_line(&c, line);
    }
    if (c.oom) {
        config_free(cfg);
        return -ENOMEM;
    }
    if (errs->n > 0) {
        config_free(cfg);
        return HS_ECONFIG;
    }
    *out = cfg;
    return 0;
}

int config_load_env(const char *path, config_getenv_fn env, struct config **out,
                    struct config_errors *errs)
{
    *out = NULL;
    struct ctx c = {.name = path, .errs = errs};
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    int rc = stat(path, &st) < 0 ? -errno : 0;
    if (rc == 0 && S_ISDIR(st.st_mode))
        rc = -EISDIR;
    if (rc == 0)
        rc = hs_read_file(path, CONFIG_FILE_MAX, &text, &len);
    if (rc < 0) {
        if (rc == -EFBIG)
            cerr(&c, "", "cannot read: larger than %d bytes", CONFIG_FILE_MAX);
        else
            cerr(&c, "", "cannot read: %s", hs_strerror(rc));
        return rc;
    }
    rc = config_load_text(path, text, len, st.st_mode & 07777, env, out, errs);
    hs_free_secret(text); /* it may hold an inline token */
    return rc;
}

int config_load(const char *path, struct config **out, struct config_errors *errs)
{
    return config_load_env(path, NULL, out, errs);
}
