/*
 * config_util.c — the small pieces around struct config: enum spellings,
 * the error list, "did you mean" (edit distance), freeing (token wiped),
 * job lookup, and the `hubsync run` world_size / token steps that complete
 * a loaded config from the environment. Parsing and validation live in
 * config_load.c; the plan text in plan.c.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

/* The one name table per enum: config_load reads these words, the
 * *_name functions and the plan print them. */
const char *const config__strategy_names[4] = {"end", "every_save", "checkpoint",
                                               "all_checkpoints"};
const char *const config__layout_names[6] = {"auto",      "trainer",   "accelerate",
                                             "lightning", "deepspeed", "generic"};
const char *const config__watch_mode_names[3] = {"auto", "inotify", "poll"};
const char *const config__existing_names[3] = {"latest", "all", "none"};
const char *const config__card_mode_names[3] = {"merge", "overwrite", "off"};
const char *const config__log_level_names[4] = {"error", "warn", "info", "debug"};

#define NAME_OF(table, v) ((size_t)(v) < HS_ARRAY_SIZE(table) ? table[(size_t)(v)] : "?")

const char *config_strategy_name(enum config_strategy v)
{
    return NAME_OF(config__strategy_names, v);
}
const char *config_layout_name(enum config_layout v)
{
    return NAME_OF(config__layout_names, v);
}
const char *config_watch_mode_name(enum config_watch_mode v)
{
    return NAME_OF(config__watch_mode_names, v);
}
const char *config_existing_name(enum config_existing v)
{
    return NAME_OF(config__existing_names, v);
}
const char *config_card_mode_name(enum config_card_mode v)
{
    return NAME_OF(config__card_mode_names, v);
}
const char *config_log_level_name(enum hs_log_level v)
{
    return NAME_OF(config__log_level_names, v);
}

bool config_log_level_parse(const char *word, enum hs_log_level *out)
{
    if (!strcmp(word, "warning")) {
        *out = HS_LOG_WARN;
        return true;
    }
    for (size_t i = 0; i < HS_ARRAY_SIZE(config__log_level_names); i++)
        if (!strcmp(word, config__log_level_names[i])) {
            *out = (enum hs_log_level)i;
            return true;
        }
    return false;
}

void config_errors_free(struct config_errors *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    free(e->v);
    e->v = NULL;
    e->n = 0;
}

/* Optimal string alignment distance (Levenshtein plus adjacent
 * transpositions), ASCII case folded. Words are config keys and enum
 * values, so short; longer inputs are not worth comparing. */
static size_t edit_distance(const char *a, const char *b)
{
    enum { MAXW = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAXW || lb >= MAXW)
        return SIZE_MAX;
    size_t d[MAXW + 1][MAXW + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            char ca = (char)tolower((unsigned char)a[i - 1]);
            char cb = (char)tolower((unsigned char)b[j - 1]);
            size_t cost = ca == cb ? 0 : 1;
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

const char *config_did_you_mean(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    size_t wl = strlen(word);
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, cands[i]);
        if (d < best_d) {
            best_d = d;
            best = cands[i];
        }
    }
    if (!best)
        return NULL;
    /* Close enough to be a typo: up to a third of the word, at least 1, at
     * most 3 edits. "seed" is not a typo of "spool_dir". */
    size_t limit = wl / 3;
    if (limit < 1)
        limit = 1;
    if (limit > 3)
        limit = 3;
    return best_d <= limit ? best : NULL;
}

static void strlist_free(struct config_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void job_free(struct config_job *j)
{
    free(j->name);
    free(j->watch);
    free(j->hub_model_id);
    free(j->revision);
    strlist_free(&j->include);
    strlist_free(&j->exclude);
    free(j->spool_dir);
    free(j->pid_file);
    free(j->tag_saves);
    struct config_model_card *m = &j->model_card;
    free(m->model_name);
    strlist_free(&m->base_model);
    strlist_free(&m->datasets);
    strlist_free(&m->dataset_args);
    strlist_free(&m->dataset_config);
    free(m->framework_versions.pytorch);
    free(m->framework_versions.datasets);
    free(m->framework_versions.tokenizers);
    free(m->dataset_name);
    strlist_free(&m->language);
    free(m->license);
    strlist_free(&m->tags);
    free(m->task);
    strlist_free(&m->metrics_order);
}

struct config *config_free(struct config *cfg)
{
    if (!cfg)
        return NULL;
    free(cfg->path);
    free(cfg->endpoint);
    hs_free_secret(cfg->token);
    free(cfg->token_where);
    free(cfg->token_warning);
    free(cfg->token_file);
    free(cfg->state_dir);
    free(cfg->ca_file);
    free(cfg->log_file);
    for (size_t i = 0; i < cfg->n_jobs; i++)
        job_free(&cfg->jobs[i]);
    free(cfg->jobs);
    free(cfg);
    return NULL;
}

const struct config_job *config_job_find(const struct config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->n_jobs; i++)
        if (strcmp(cfg->jobs[i].name, name) == 0)
            return &cfg->jobs[i];
    return NULL;
}

/* The framework versions of run's environment (config_apply_run_env). */
static int apply_version_env(struct config *cfg, config_getenv_fn env)
{
    static const char *const vars[] = {"HUBSYNC_PYTORCH_VERSION", "HUBSYNC_DATASETS_VERSION",
                                       "HUBSYNC_TOKENIZERS_VERSION"};
    for (size_t k = 0; k < HS_ARRAY_SIZE(vars); k++) {
        const char *v = env ? env(vars[k]) : getenv(vars[k]);
        if (!v || !*v)
            continue;
        for (size_t i = 0; i < cfg->n_jobs; i++) {
            struct config_framework_versions *f = &cfg->jobs[i].model_card.framework_versions;
            char **dst = k == 0 ? &f->pytorch : k == 1 ? &f->datasets : &f->tokenizers;
            if (*dst)
                continue; /* the config file's wins */
            if (!(*dst = strdup(v)))
                return -ENOMEM;
        }
    }
    return 0;
}

int config_apply_run_env(struct config *cfg, config_getenv_fn env, struct hs_err *err)
{
    if (apply_version_env(cfg, env) < 0)
        return hs_err_set(err, -ENOMEM, "out of memory");
    const char *v = env ? env("WORLD_SIZE") : getenv("WORLD_SIZE");
    if (!v)
        return 0;
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < 1 || n > 65536)
        return hs_err_set(err, HS_ECONFIG, "WORLD_SIZE=\"%s\" is not an integer in 1..65536", v);
    for (size_t i = 0; i < cfg->n_jobs; i++) {
        if (cfg->jobs[i].world_size_origin == CONFIG_FROM_FILE)
            continue;
        cfg->jobs[i].world_size = (unsigned)n;
        cfg->jobs[i].world_size_origin = CONFIG_FROM_ENV;
    }
    return 0;
}

int config_token_load(struct config *cfg, config_getenv_fn env, struct hs_err *err)
{
    char *tok = NULL, where[HS_PATH_MAX + 64];
    enum config_token_source src = CONFIG_TOKEN_NONE;
    struct hs_err e = {0};
    int rc = config_resolve_token_env(cfg->token, cfg->token_file, env, &tok, &src, where,
                                      sizeof(where), &e);
    if (rc < 0) {
        if (err && rc == -ENOENT && !cfg->token && !cfg->token_file)
            hs_err_set(err, rc, "%s (or set \"token_file\" in the config)", e.msg);
        else if (err)
            *err = e;
        return rc;
    }
    char *w = strdup(where);
    if (!w) {
        hs_free_secret(tok);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    hs_free_secret(cfg->token);
    free(cfg->token_where);
    free(cfg->token_warning);
    cfg->token = tok;
    cfg->token_where = w;
    cfg->token_warning = e.msg[0] ? strdup(e.msg) : NULL;
    cfg->token_source = src;
    rc = hs_secret_register(tok);
    if (rc < 0)
        return hs_err_set(err, rc, "cannot register the token for log scrubbing: %s",
                          hs_strerror(rc));
    return 0;
}

int config_tag_name(const char *pattern, long long step, char *out, size_t n)
{
    static const char key[] = "{step}";
    size_t len = 0;
    char num[32];
    int w = snprintf(num, sizeof(num), "%lld", step);
    if (n == 0 || w < 0)
        return -ENAMETOOLONG;
    for (const char *s = pattern; *s;) {
        const char *add = s;
        size_t k = 1;
        if (strncmp(s, key, sizeof(key) - 1) == 0) {
            add = num;
            k = (size_t)w;
            s += sizeof(key) - 1;
        } else {
            s++;
        }
        if (len + k >= n)
            return -ENAMETOOLONG;
        memcpy(out + len, add, k);
        len += k;
    }
    out[len] = 0;
    return 0;
}
