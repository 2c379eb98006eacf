/*
 * config_load.c — reading the JSON config of docs/design.md ("Config file
 * (JSON)") into struct config: every key with its type, default and bound,
 * unknown keys refused with a "did you mean", and every problem collected
 * in one pass so the user fixes them all at once. jansson reports line and
 * column only for syntax errors ("FILE:LINE:COL: msg"); every other error
 * names the JSON path ("FILE: jobs[0].hub_strategy: ..."). Defaults that
 * depend on the environment (state_dir, endpoint) are filled in at the end
 * through the caller's env lookup, so tests need not touch the process
 * environment. Rules that span jobs (unique names, disjoint watch folders,
 * one job per repo and branch, hubsync's own folders outside what is
 * uploaded) come after the per-key checks. The typed readers are in
 * config_json.c. Reads the file and stats it; nothing else.
 */
#include "config_int.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (1024 * 1024)
#define NAME_MAX_LEN    128

/* ---- the keys --------------------------------------------------------- */

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
    "check_hub_before_run",
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
    "lost_saves_fail_run",
    "finish_failed_runs",
    "final_push_timeout_minutes",
    "tag_saves",
    "hub_keep_checkpoints",
    "model_card",
};
static const char *const card_keys[] = {
    "mode",         "model_name",     "base_model",   "datasets",           "dataset_tags",
    "dataset_args", "dataset_config", "dataset_name", "framework_versions", "language",
    "license",      "tags",           "task",         "metrics_order",
};
static const char *const framework_keys[] = {"pytorch", "datasets", "tokenizers"};

/* model_card.framework_versions: {"pytorch": "2.2.1", ...}, each a
 * non-empty string. */
static void parse_framework_versions(struct config__ctx *c, const json_t *o, const char *path,
                                     struct config_framework_versions *f)
{
    if (!json_is_object(o)) {
        config__err(c, path, "expected an object, got %s", config__type_name(o));
        return;
    }
    config__check_keys(c, o, path, framework_keys, HS_ARRAY_SIZE(framework_keys), NULL, 0);
    char p[512];
    char **dst[] = {&f->pytorch, &f->datasets, &f->tokenizers};
    for (size_t i = 0; i < HS_ARRAY_SIZE(framework_keys); i++) {
        const json_t *v = json_object_get(o, framework_keys[i]);
        config__sub(p, sizeof(p), path, framework_keys[i]);
        if (v)
            config__get_string(c, v, p, STR_NONEMPTY, dst[i]);
    }
}

/* dataset_args / dataset_config pair with the dataset tags by position
 * (create_model_index's zip): one per tag at most, and tags to pair with. */
static void check_per_tag(struct config__ctx *c, const struct config_model_card *m,
                          const struct config_strlist *l, const char *path)
{
    if (l->n > m->datasets.n)
        config__err(c, path,
                    "%zu value%s for %zu dataset tag%s: give one per tag of \"datasets\" "
                    "(\"dataset_tags\"), in the same order",
                    l->n, l->n == 1 ? "" : "s", m->datasets.n, m->datasets.n == 1 ? "" : "s");
}

/* ---- the model card ---------------------------------------------------- */

static void parse_card(struct config__ctx *c, const json_t *o, const char *path,
                       struct config_model_card *m)
{
    if (!json_is_object(o)) {
        config__err(c, path, "expected an object, got %s", config__type_name(o));
        return;
    }
    config__check_keys(c, o, path, card_keys, HS_ARRAY_SIZE(card_keys), NULL, 0);
    char p[512];
    json_t *v;
#define CARD_KEY(k) (config__sub(p, sizeof(p), path, k), (v = json_object_get(o, k)) != NULL)
    int e;
    if (CARD_KEY("mode") && config__get_enum(c, v, p, config__card_mode_names, 3, &e))
        m->mode = (enum config_card_mode)e;
    if (CARD_KEY("model_name"))
        config__get_string(c, v, p, STR_NONEMPTY, &m->model_name);
    if (CARD_KEY("base_model"))
        config__get_strlist(c, v, p, true, &m->base_model);
    if (CARD_KEY("datasets"))
        config__get_strlist(c, v, p, true, &m->datasets);
    if (CARD_KEY("dataset_tags")) {
        if (m->datasets.n)
            config__err(c, p, "\"datasets\" and \"dataset_tags\" are the same key: give one");
        else
            config__get_strlist(c, v, p, true, &m->datasets);
    }
    if (CARD_KEY("dataset_args") && config__get_strlist(c, v, p, true, &m->dataset_args))
        check_per_tag(c, m, &m->dataset_args, p);
    if (CARD_KEY("dataset_config") && config__get_strlist(c, v, p, true, &m->dataset_config))
        check_per_tag(c, m, &m->dataset_config, p);
    if (CARD_KEY("framework_versions"))
        parse_framework_versions(c, v, p, &m->framework_versions);
    if (CARD_KEY("dataset_name"))
        config__get_string(c, v, p, STR_NONEMPTY, &m->dataset_name);
    if (CARD_KEY("language"))
        config__get_strlist(c, v, p, true, &m->language);
    if (CARD_KEY("license"))
        config__get_string(c, v, p, STR_NONEMPTY, &m->license);
    if (CARD_KEY("tags"))
        config__get_strlist(c, v, p, true, &m->tags);
    if (CARD_KEY("task"))
        config__get_string(c, v, p, STR_NONEMPTY, &m->task);
    if (CARD_KEY("metrics_order"))
        config__get_strlist(c, v, p, false, &m->metrics_order);
#undef CARD_KEY
}

/* ---- one job ----------------------------------------------------------- */

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
static void check_patterns(struct config__ctx *c, const struct config_strlist *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++) {
        const char *s = l->v[i];
        if (s[0] == '/' || strncmp(s, "./", 2) == 0) {
            char p[512];
            config__jpath(p, sizeof(p), "%s[%zu]", path, i);
            config__err(c, p,
                        "\"%s\" can never match: patterns match repo-relative paths such as "
                        "\"model.safetensors\" or \"runs/\"",
                        s);
        }
    }
}

/* tag_saves: false (off), true ("step-{step}") or a pattern holding
 * "{step}" whose tags git and the Hub accept (checked with step 0). */
static void parse_tag_saves(struct config__ctx *c, const json_t *v, const char *p, char **out)
{
    if (json_is_boolean(v)) {
        if (json_is_true(v) && !(*out = strdup("step-{step}")))
            c->oom = 1;
        return;
    }
    if (!json_is_string(v)) {
        config__err(c, p, "expected true, false or a pattern such as \"step-{step}\", got %s",
                    config__type_name(v));
        return;
    }
    const char *s = json_string_value(v);
    char tag[512];
    struct hs_err err = {0};
    if (!strstr(s, "{step}")) {
        config__err(c, p, "\"%s\" has no \"{step}\": every save would get the same tag", s);
        return;
    }
    if (config_tag_name(s, 0, tag, sizeof(tag)) < 0) {
        config__err(c, p, "\"%s\" is too long for a tag", s);
        return;
    }
    if (config_revision_check(tag, &err) < 0) {
        const char *why = strstr(err.msg, "name: "); /* "... is not a valid branch name: " */
        config__err(c, p, "\"%s\" does not make a valid tag: \"%s\" (step 0) %s", s, tag,
                    why ? why + 6 : err.msg);
        return;
    }
    if (!(*out = strdup(s)))
        c->oom = 1;
}

static void parse_job(struct config__ctx *c, const json_t *o, const char *path,
                      struct config_job *j)
{
    /* defaults */
    j->hub_strategy = CONFIG_STRATEGY_EVERY_SAVE;
    j->poll_interval_usec = 10 * HS_USEC_PER_SEC;
    j->settle_usec = 30 * HS_USEC_PER_SEC;
    j->marker_quiet_usec = 2 * HS_USEC_PER_SEC;
    j->world_size = 1;
    j->supersede = true;
    j->lost_saves_fail_run = true;
    j->final_push_timeout_usec = 30 * 60 * HS_USEC_PER_SEC;
    if (!json_is_object(o)) {
        config__err(c, path, "expected an object, got %s", config__type_name(o));
        return;
    }
    const struct config__key_hint hints[] = {
        {top_keys, HS_ARRAY_SIZE(top_keys), "at the top level, not in a job"},
        {card_keys, HS_ARRAY_SIZE(card_keys), "in the job's \"model_card\" object"},
    };
    config__check_keys(c, o, path, job_keys, HS_ARRAY_SIZE(job_keys), hints, 2);

    char p[512];
    json_t *v;
    int e;
    long long n;
    double d;
#define JOB_KEY(k) (config__sub(p, sizeof(p), path, k), (v = json_object_get(o, k)) != NULL)
    if (JOB_KEY("name")) {
        if (config__get_string(c, v, p, STR_NONEMPTY, &j->name)) {
            if (!name_ok(j->name))
                config__err(c, p, "\"%s\" may contain only letters, digits, '.', '_' and '-'",
                            j->name);
            else if (strlen(j->name) > NAME_MAX_LEN)
                config__err(c, p, "is longer than %d characters", NAME_MAX_LEN);
        }
    } else {
        config__err(c, path, "missing required key \"name\"");
    }
    if (JOB_KEY("watch")) {
        /* relative: to the working directory (`run`'s, as the trainer's
         * --output_dir); the daemon refuses it (service.c) */
        json_t *abs = NULL;
        const char *w = json_is_string(v) ? json_string_value(v) : "/";
        char cwd[HS_PATH_MAX];
        if (*w && *w != '/' && getcwd(cwd, sizeof(cwd))) {
            while (!strncmp(w, "./", 2))
                w += 2;
            char *joined = NULL;
            if (asprintf(&joined, "%s/%s", strcmp(cwd, "/") ? cwd : "", w) >= 0) {
                abs = json_string(joined);
                free(joined);
            }
            if (abs)
                v = abs;
            j->watch_relative = abs != NULL;
        }
        bool ok = config__get_string(c, v, p, STR_ABSPATH, &j->watch);
        json_decref(abs);
        if (ok && strcmp(j->watch, "/") == 0) {
            config__err(c, p, "\"/\" cannot be watched: name the training output folder");
            free(j->watch); /* no further checks against it */
            j->watch = NULL;
        }
    } else {
        config__err(c, path, "missing required key \"watch\"");
    }
    if (JOB_KEY("hub_model_id")) {
        if (config__get_string(c, v, p, STR_NONEMPTY, &j->hub_model_id)) {
            struct hs_err err = {0};
            if (config_repo_id_check(j->hub_model_id, &err) < 0)
                config__err(c, p, "%s", err.msg);
        }
    } else {
        config__err(c, path, "missing required key \"hub_model_id\"");
    }
    if (JOB_KEY("hub_strategy") && config__get_enum(c, v, p, config__strategy_names, 4, &e))
        j->hub_strategy = (enum config_strategy)e;
    if (JOB_KEY("private"))
        config__get_bool(c, v, p, &j->private_repo);
    if (JOB_KEY("revision")) {
        if (config__get_string(c, v, p, STR_ANY, &j->revision)) {
            struct hs_err err = {0};
            if (config_revision_check(j->revision, &err) < 0)
                config__err(c, p, "%s", err.msg);
        }
    }
    if (JOB_KEY("layout") && config__get_enum(c, v, p, config__layout_names, 6, &e))
        j->layout = (enum config_layout)e;
    if (JOB_KEY("watch_mode") && config__get_enum(c, v, p, config__watch_mode_names, 3, &e))
        j->watch_mode = (enum config_watch_mode)e;
    if (JOB_KEY("poll_interval_seconds"))
        config__get_seconds(c, v, p, false, &j->poll_interval_usec);
    if (JOB_KEY("settle_seconds"))
        config__get_seconds(c, v, p, false, &j->settle_usec);
    if (JOB_KEY("marker_quiet_seconds"))
        config__get_seconds(c, v, p, true, &j->marker_quiet_usec);
    if (JOB_KEY("world_size") && config__get_int(c, v, p, 1, 65536, &n)) {
        j->world_size = (unsigned)n;
        j->world_size_origin = CONFIG_FROM_FILE;
    }
    if (JOB_KEY("include")) {
        if (config__get_strlist(c, v, p, false, &j->include)) {
            if (j->include.n == 0)
                config__err(c, p,
                            "an empty list would upload nothing; leave \"include\" out to "
                            "upload everything ([\"*\"])");
            check_patterns(c, &j->include, p);
        }
    }
    if (JOB_KEY("exclude") && config__get_strlist(c, v, p, false, &j->exclude))
        check_patterns(c, &j->exclude, p);
    if (JOB_KEY("supersede"))
        config__get_bool(c, v, p, &j->supersede);
    if (JOB_KEY("spool_dir") && config__get_string(c, v, p, STR_ABSPATH, &j->spool_dir))
        j->spool_dir_origin = CONFIG_FROM_FILE;
    if (JOB_KEY("spool_max_gb") && config__get_number(c, v, p, 0, false, 1e6, &d)) {
        j->spool_max_gb = d;
        j->spool_max_bytes = (uint64_t)llround(d * 1e9);
    }
    if (JOB_KEY("pid") && config__get_int(c, v, p, 1, 4194304, &n))
        j->pid = (long)n;
    if (JOB_KEY("pid_file"))
        config__get_string(c, v, p, STR_ABSPATH, &j->pid_file);
    if (json_object_get(o, "pid") && json_object_get(o, "pid_file"))
        config__err(c, path, "\"pid\" and \"pid_file\" are both set; keep one");
    if (JOB_KEY("finish_after_idle_seconds"))
        config__get_seconds(c, v, p, true, &j->finish_after_idle_usec);
    if (JOB_KEY("existing_checkpoints") && config__get_enum(c, v, p, config__existing_names, 3, &e))
        j->existing_checkpoints = (enum config_existing)e;
    if (JOB_KEY("lost_saves_fail_run"))
        config__get_bool(c, v, p, &j->lost_saves_fail_run);
    if (JOB_KEY("finish_failed_runs"))
        config__get_bool(c, v, p, &j->finish_failed_runs);
    /* minutes, fractions allowed (tests use a few seconds); at most 30 days */
    if (JOB_KEY("final_push_timeout_minutes") &&
        config__get_number(c, v, p, 0, false, 30 * 24 * 60, &d))
        j->final_push_timeout_usec = (hs_usec_t)llround(d * 60 * HS_USEC_PER_SEC);
    if (JOB_KEY("tag_saves"))
        parse_tag_saves(c, v, p, &j->tag_saves);
    if (JOB_KEY("hub_keep_checkpoints") && config__get_int(c, v, p, 0, 1000000, &n))
        j->hub_keep_checkpoints = (unsigned)n;
    if (j->hub_keep_checkpoints && j->hub_strategy != CONFIG_STRATEGY_ALL_CHECKPOINTS) {
        config__sub(p, sizeof(p), path, "hub_keep_checkpoints");
        config__err(c, p,
                    "applies to hub_strategy \"all_checkpoints\" only (this job's is \"%s\", "
                    "which keeps no checkpoint-N/ folders); remove it or change hub_strategy",
                    config_strategy_name(j->hub_strategy));
    }
    if (JOB_KEY("model_card"))
        parse_card(c, v, p, &j->model_card);
#undef JOB_KEY

    /* remaining defaults */
    if (!j->revision)
        j->revision = strdup("main");
    if (j->include.n == 0 && !json_object_get(o, "include"))
        config__strlist_push(c, &j->include, "*");
    if (!j->spool_dir && j->watch) {
        if (asprintf(&j->spool_dir, "%s/.hubsync/spool", j->watch) < 0)
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

/* hubsync's own files (spool, journal) inside a watched folder must live
 * under its .hubsync/ folder, which is never uploaded; anywhere else the
 * watcher would see them as training output and upload them. */
static void check_own_dirs(struct config__ctx *c, const struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_jobs; i++) {
        const struct config_job *j = &cfg->jobs[i];
        if (!j->watch)
            continue;
        char hidden[HS_PATH_MAX + 16], p[64];
        snprintf(hidden, sizeof(hidden), "%s/.hubsync", j->watch);
        for (size_t k = 0; k < cfg->n_jobs; k++) {
            const struct config_job *o = &cfg->jobs[k];
            if (o->spool_dir_origin == CONFIG_FROM_FILE && o->spool_dir &&
                path_within(o->spool_dir, j->watch) && !path_within(o->spool_dir, hidden)) {
                config__jpath(p, sizeof(p), "jobs[%zu].spool_dir", k);
                config__err(c, p,
                            "\"%s\" is inside the watched folder %s; put it under %s/ or "
                            "outside",
                            o->spool_dir, j->watch, hidden);
            }
        }
        if (cfg->state_dir && path_within(cfg->state_dir, j->watch) &&
            !path_within(cfg->state_dir, hidden))
            config__err(c, cfg->state_dir_origin == CONFIG_FROM_FILE ? "state_dir" : "",
                        "%s%s is inside jobs[%zu].watch %s; put it under %s/ or outside",
                        cfg->state_dir_origin == CONFIG_FROM_FILE ? "" : "the default state_dir ",
                        cfg->state_dir, i, j->watch, hidden);
    }
}

static void check_jobs_together(struct config__ctx *c, const struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_jobs; i++) {
        const struct config_job *a = &cfg->jobs[i];
        for (size_t k = 0; k < i; k++) {
            const struct config_job *b = &cfg->jobs[k];
            char p[64];
            if (a->name && b->name && strcmp(a->name, b->name) == 0) {
                config__jpath(p, sizeof(p), "jobs[%zu].name", i);
                config__err(c, p, "\"%s\" is already the name of jobs[%zu]", a->name, k);
            }
            if (a->watch && b->watch &&
                (path_within(a->watch, b->watch) || path_within(b->watch, a->watch))) {
                config__jpath(p, sizeof(p), "jobs[%zu].watch", i);
                if (strcmp(a->watch, b->watch) == 0)
                    config__err(c, p, "\"%s\" is also watched by jobs[%zu]", a->watch, k);
                else
                    config__err(c, p, "\"%s\" and jobs[%zu].watch \"%s\" are inside one another",
                                a->watch, k, b->watch);
            }
            if (a->hub_model_id && b->hub_model_id && a->revision && b->revision &&
                strcmp(a->hub_model_id, b->hub_model_id) == 0 &&
                strcmp(a->revision, b->revision) == 0) {
                config__jpath(p, sizeof(p), "jobs[%zu].hub_model_id", i);
                config__err(c, p,
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

/* The folder of one config under the shared default: "<stem>-<hash>", the
 * file name without ".json" (characters outside [A-Za-z0-9._-] become
 * '_', at most 64) and 8 hex digits of FNV-1a over the absolute path, so
 * two configs never share a state_dir (a sweep's concurrent `run`s) and
 * the same file always finds its own again. */
static int config_subdir(const char *abs, char *out, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)abs; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    const char *base = strrchr(abs, '/');
    base = base ? base + 1 : abs;
    size_t len = strlen(base);
    if (len > 5 && !strcmp(base + len - 5, ".json"))
        len -= 5;
    if (len > 64)
        len = 64;
    char stem[65];
    for (size_t i = 0; i < len; i++)
        stem[i] = isalnum((unsigned char)base[i]) || strchr("._-", base[i]) ? base[i] : '_';
    stem[len] = '\0';
    return snprintf(out, n, "%s-%08" PRIx32, len ? stem : "config", (uint32_t)(h ^ (h >> 32)));
}

/* state_dir default: $STATE_DIRECTORY (systemd; the first of a ':' list) >
 * $XDG_STATE_HOME/hubsync/<config> > $HOME/.local/state/hubsync/<config>
 * (config_subdir; without the config's path, e.g. config_load_text, the
 * folder itself). */
static void default_state_dir(struct config__ctx *c, struct config *cfg, config_getenv_fn env)
{
    const char *sd = env_get(env, "STATE_DIRECTORY");
    const char *xdg = env_get(env, "XDG_STATE_HOME");
    const char *home = env_get(env, "HOME");
    int r = -1;
    char sub[96] = "";
    if (c->abs_path) {
        sub[0] = '/';
        config_subdir(c->abs_path, sub + 1, sizeof(sub) - 1);
    }
    if (sd)
        r = asprintf(&cfg->state_dir, "%.*s", (int)strcspn(sd, ":"), sd);
    else if (xdg && xdg[0] == '/')
        r = asprintf(&cfg->state_dir, "%s/hubsync%s", xdg, sub);
    else if (home && home[0] == '/')
        r = asprintf(&cfg->state_dir, "%s/.local/state/hubsync%s", home, sub);
    else {
        config__err(c, "state_dir",
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

static void parse_root(struct config__ctx *c, const json_t *root, unsigned mode,
                       config_getenv_fn env, struct config *cfg)
{
    cfg->max_parallel_uploads = 8;
    cfg->log_level = HS_LOG_INFO;
    cfg->check_hub_before_run = true;
    if (!json_is_object(root)) {
        config__err(c, "", "the top level must be a JSON object, got %s", config__type_name(root));
        return;
    }
    const struct config__key_hint hints[] = {
        {job_keys, HS_ARRAY_SIZE(job_keys), "in a job, inside \"jobs\""},
        {card_keys, HS_ARRAY_SIZE(card_keys), "in a job's \"model_card\" object"},
    };
    config__check_keys(c, root, "", top_keys, HS_ARRAY_SIZE(top_keys), hints, 2);
    json_t *v;
    long long n;
    double d;
    char *tmp = NULL;
    if ((v = json_object_get(root, "endpoint")) &&
        config__get_string(c, v, "endpoint", STR_NONEMPTY, &tmp)) {
        cfg->endpoint_origin = CONFIG_FROM_FILE;
    }
    if ((v = json_object_get(root, "token"))) {
        if (!json_is_string(v)) {
            config__err(c, "token", "expected a string, got %s", config__type_name(v));
        } else if (!*json_string_value(v)) {
            config__err(c, "token", "must not be empty");
        } else if ((mode & 077) != 0) {
            config__err(c, "token",
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
        config__get_string(c, v, "token_file", STR_ABSPATH, &cfg->token_file);
    if (json_object_get(root, "token") && json_object_get(root, "token_file"))
        config__err(c, "", "\"token\" and \"token_file\" are both set; keep one");
    if ((v = json_object_get(root, "state_dir")) &&
        config__get_string(c, v, "state_dir", STR_ABSPATH, &cfg->state_dir))
        cfg->state_dir_origin = CONFIG_FROM_FILE;
    if ((v = json_object_get(root, "ca_file")))
        config__get_string(c, v, "ca_file", STR_ABSPATH, &cfg->ca_file);
    if ((v = json_object_get(root, "max_parallel_uploads")) &&
        config__get_int(c, v, "max_parallel_uploads", 1, 64, &n))
        cfg->max_parallel_uploads = (unsigned)n;
    if ((v = json_object_get(root, "bandwidth_limit_mbps")) &&
        config__get_number(c, v, "bandwidth_limit_mbps", 0, false, 1e6, &d)) {
        cfg->bandwidth_limit_mbps = d;
        cfg->bandwidth_limit_bytes_per_sec = (uint64_t)llround(d * 1e6 / 8);
        if (d > 0 && cfg->bandwidth_limit_bytes_per_sec == 0)
            cfg->bandwidth_limit_bytes_per_sec = 1;
    }
    if ((v = json_object_get(root, "log_level"))) {
        int e;
        /* "warning" too; anything else gets config__get_enum's message */
        if (!json_is_string(v) || !config_log_level_parse(json_string_value(v), &cfg->log_level))
            (void)config__get_enum(c, v, "log_level", config__log_level_names, 4, &e);
    }
    if ((v = json_object_get(root, "log_file")))
        config__get_string(c, v, "log_file", STR_ABSPATH, &cfg->log_file);
    if ((v = json_object_get(root, "check_hub_before_run")))
        config__get_bool(c, v, "check_hub_before_run", &cfg->check_hub_before_run);

    v = json_object_get(root, "jobs");
    if (!v) {
        config__err(c, "", "missing required key \"jobs\" (an array with at least one job)");
    } else if (!json_is_array(v)) {
        config__err(c, "jobs", "expected an array of jobs, got %s", config__type_name(v));
    } else if (json_array_size(v) == 0) {
        config__err(c, "jobs", "at least one job is required");
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
                config__jpath(p, sizeof(p), "jobs[%zu]", i);
                cfg->n_jobs++;
                parse_job(c, jo, p, &cfg->jobs[i]);
            }
            check_jobs_together(c, cfg);
        }
    }

    /* environment-dependent defaults */
    if (!cfg->state_dir)
        default_state_dir(c, cfg, env);
    check_own_dirs(c, cfg);
    struct hs_err err = {0};
    if (config__endpoint(tmp, env, &cfg->endpoint, &err) < 0) {
        const char *m = err.msg;
        if (tmp && strncmp(m, "endpoint ", 9) == 0)
            m += 9;
        config__err(c, tmp ? "endpoint" : "", "%s", m);
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

static int load_text(const char *name, const char *abs, const char *text, size_t len, unsigned mode,
                     config_getenv_fn env, struct config **out, struct config_errors *errs)
{
    *out = NULL;
    struct config__ctx c = {.name = name, .abs_path = abs, .errs = errs};
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        char *line = NULL;
        if (asprintf(&line, "%s:%d:%d: %s", name, jerr.line, jerr.column, syntax_msg(&jerr)) < 0)
            line = NULL;
        config__add_line(&c, line);
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
        config__add_line(&c, line);
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

int config_load_text(const char *name, const char *text, size_t len, unsigned mode,
                     config_getenv_fn env, struct config **out, struct config_errors *errs)
{
    return load_text(name, NULL, text, len, mode, env, out, errs);
}

int config_load_env(const char *path, config_getenv_fn env, struct config **out,
                    struct config_errors *errs)
{
    *out = NULL;
    struct config__ctx c = {.name = path, .errs = errs};
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
            config__err(&c, "", "cannot read: larger than %d bytes", CONFIG_FILE_MAX);
        else
            config__err(&c, "", "cannot read: %s", hs_strerror(rc));
        return rc;
    }
    char *abs = realpath(path, NULL);
    rc = load_text(path, abs, text, len, st.st_mode & 07777, env, out, errs);
    free(abs);
    hs_free_secret(text); /* it may hold an inline token */
    return rc;
}

int config_load(const char *path, struct config **out, struct config_errors *errs)
{
    return config_load_env(path, NULL, out, errs);
}
