/*
 * strategy.c — planning the commit of a save or of the finish under each
 * hub_strategy (see strategy.h). Mirrors what transformers' Trainer pushes
 * (docs/trainer-layouts.md), in one commit where the Trainer makes two.
 */
#include "strategy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Files _push_from_checkpoint copies to the output dir, plus the tokenizer /
 * processor files and training_args.bin it re-saves there. */
const char *const strategy_model_files[] = {
    "config.json",
    "pytorch_model.bin",
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
    "adapter_config.json",
    "adapter_model.bin",
    "adapter_model.safetensors",
    "training_args.bin",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
    "chat_template.jinja",
    "chat_template.json",
    "preprocessor_config.json",
    "processor_config.json",
    NULL,
};

/* transformers' push_to_hub ignore_patterns ["_*", "checkpoint-*"], plus
 * the staging folders of transformers 4.36-4.38. */
const char *const strategy_finish_excluded[] = {"_*", "checkpoint-*", "tmp-checkpoint-*", NULL};

/* Index = enum config_strategy. */
static const struct strategy_rule rules[] = {
    [CONFIG_STRATEGY_END] = {.name = "end"},
    [CONFIG_STRATEGY_EVERY_SAVE] = {.name = "every_save", .per_save = true, .newest_wins = true},
    [CONFIG_STRATEGY_CHECKPOINT] = {.name = "checkpoint",
                                    .per_save = true,
                                    .copy = STRATEGY_COPY_SYNCED,
                                    .copy_prefix = "last-checkpoint/",
                                    .newest_wins = true,
                                    .kept = "last-checkpoint/"},
    [CONFIG_STRATEGY_ALL_CHECKPOINTS] = {.name = "all_checkpoints",
                                         .per_save = true,
                                         .copy = STRATEGY_COPY_OWN_PATH,
                                         .kept = "every save's own folder"},
};

const struct strategy_rule *strategy_rule(enum config_strategy s)
{
    return (size_t)s < HS_ARRAY_SIZE(rules) ? &rules[s] : &rules[CONFIG_STRATEGY_EVERY_SAVE];
}

static const char *const index_files[] = {"model.safetensors.index.json",
                                          "pytorch_model.bin.index.json"};

bool strategy_is_model_file(const char *name)
{
    for (size_t i = 0; strategy_model_files[i]; i++)
        if (strcmp(name, strategy_model_files[i]) == 0)
            return true;
    return false;
}

int strategy_save_message(int64_t step, double epoch, bool per_epoch, char *out, size_t n)
{
    int w;
    if (per_epoch && epoch >= 0 && isfinite(epoch))
        w = snprintf(out, n, STRATEGY_MSG_EPOCH "%lld", (long long)epoch);
    else if (step >= 0)
        w = snprintf(out, n, STRATEGY_MSG_STEP "%lld", (long long)step);
    else
        w = snprintf(out, n, "Training in progress");
    return (w < 0 || (size_t)w >= n) ? -ENAMETOOLONG : 0;
}

void strategy_commit_free(struct strategy_commit *c)
{
    if (!c)
        return;
    free(c->message);
    for (size_t i = 0; i < c->n_files; i++) {
        free(c->files[i].local_path);
        free(c->files[i].repo_path);
    }
    free(c->files);
    for (size_t i = 0; i < c->n_sync; i++)
        free(c->sync_prefixes[i]);
    free(c->sync_prefixes);
    memset(c, 0, sizeof(*c));
}

static bool allowed(const struct config_job *job, const char *repo_path)
{
    if (config_path_always_excluded(repo_path))
        return false;
    return config_path_allowed(repo_path, (const char *const *)job->include.v, job->include.n,
                               (const char *const *)job->exclude.v, job->exclude.n);
}

/* Add local → repo (repo = prefix + rel) unless the patterns exclude it. A
 * later entry for the same repo path replaces the earlier one. */
static int add_file(struct strategy_commit *c, const struct config_job *job, const char *local,
                    const char *prefix, const char *rel)
{
    char repo[HS_PATH_MAX];
    int w = snprintf(repo, sizeof(repo), "%s%s", prefix, rel);
    if (w < 0 || (size_t)w >= sizeof(repo))
        return -ENAMETOOLONG;
    if (!allowed(job, repo))
        return 0;
    for (size_t i = 0; i < c->n_files; i++) {
        if (strcmp(c->files[i].repo_path, repo) == 0) {
            char *l = strdup(local);
            if (!l)
                return -ENOMEM;
            free(c->files[i].local_path);
            c->files[i].local_path = l;
            return 0;
        }
    }
    struct strategy_file *f = realloc(c->files, (c->n_files + 1) * sizeof(*f));
    if (!f)
        return -ENOMEM;
    c->files = f;
    f[c->n_files].local_path = strdup(local);
    f[c->n_files].repo_path = strdup(repo);
    c->n_files++;
    if (!f[c->n_files - 1].local_path || !f[c->n_files - 1].repo_path)
        return -ENOMEM;
    return 0;
}

static int add_sync(struct strategy_commit *c, const char *prefix)
{
    char **v = realloc(c->sync_prefixes, (c->n_sync + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    c->sync_prefixes = v;
    v[c->n_sync] = strdup(prefix);
    return v[c->n_sync++] ? 0 : -ENOMEM;
}

static int cmp_files(const void *a, const void *b)
{
    return strcmp(((const struct strategy_file *)a)->repo_path,
                  ((const struct strategy_file *)b)->repo_path);
}

static bool is_shard(json_t *weight_map, const char *name)
{
    const char *key;
    json_t *v;
    json_object_foreach(weight_map, key, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return true;
    }
    return false;
}

/* The weight_map of the save's index json, or NULL when it has none. */
static json_t *load_weight_map(const struct watcher_checkpoint *cp, struct hs_err *err, int *rc)
{
    *rc = 0;
    for (size_t i = 0; i < cp->n_files; i++) {
        for (size_t k = 0; k < HS_ARRAY_SIZE(index_files); k++) {
            if (strcmp(cp->files[i].path, index_files[k]) != 0)
                continue;
            char path[HS_PATH_MAX];
            *rc = hs_path_join(path, sizeof(path), cp->base, cp->files[i].path);
            if (*rc < 0)
                return NULL;
            json_t *root = hs_json_load_tolerant(path, 64u << 20, err);
            json_t *map = root ? json_object_get(root, "weight_map") : NULL;
            if (!json_is_object(map)) {
                if (root)
                    hs_err_set(err, HS_EPROTO, "%s: no \"weight_map\" object", path);
                json_decref(root);
                *rc = err ? err->code : HS_EPROTO;
                return NULL;
            }
            json_incref(map);
            json_decref(root);
            return map;
        }
    }
    return NULL;
}

static bool is_trainer(const struct watcher_checkpoint *cp)
{
    return strcmp(cp->layout, "trainer") == 0;
}

/* A save that is one file (a Lightning .ckpt) rather than a folder. */
static bool is_file_save(const struct watcher_checkpoint *cp)
{
    const char *slash = strrchr(cp->id, '/');
    const char *base = slash ? slash + 1 : cp->id;
    return cp->n_files == 1 && strcmp(cp->files[0].path, base) == 0;
}

/* Where the whole save goes under all_checkpoints: "checkpoint-N/" for the
 * Trainer, else the save's own path relative to the watch root. */
static int save_prefix(const struct watcher_checkpoint *cp, char *out, size_t n)
{
    int w;
    if (is_file_save(cp)) {
        const char *slash = strrchr(cp->id, '/');
        w = slash ? snprintf(out, n, "%.*s/", (int)(slash - cp->id), cp->id)
                  : snprintf(out, n, "%s", "");
    } else {
        w = snprintf(out, n, "%s/", cp->id);
    }
    return (w < 0 || (size_t)w >= n) ? -ENAMETOOLONG : 0;
}

static int plan_whole_save(struct strategy_commit *c, const struct config_job *job,
                           const struct watcher_checkpoint *cp, const char *prefix)
{
    for (size_t i = 0; i < cp->n_files; i++) {
        char local[HS_PATH_MAX];
        int rc = hs_path_join(local, sizeof(local), cp->base, cp->files[i].path);
        if (rc == 0)
            rc = add_file(c, job, local, prefix, cp->files[i].path);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int plan_model_files(struct strategy_commit *c, const struct config_job *job,
                            const struct watcher_checkpoint *cp, struct hs_err *err)
{
    int rc;
    json_t *map = load_weight_map(cp, err, &rc);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < cp->n_files && rc == 0; i++) {
        const char *name = cp->files[i].path;
        if (strchr(name, '/'))
            continue;
        if (!strategy_is_model_file(name) && !(map && is_shard(map, name)))
            continue;
        char local[HS_PATH_MAX];
        rc = hs_path_join(local, sizeof(local), cp->base, name);
        if (rc == 0)
            rc = add_file(c, job, local, "", name);
    }
    json_decref(map);
    return rc;
}

int strategy_plan_save(const struct config_job *job, const struct watcher_checkpoint *cp,
                       bool per_epoch, struct strategy_commit *out, struct hs_err *err)
{
    memset(out, 0, sizeof(*out));
    const struct strategy_rule *rule = strategy_rule(job->hub_strategy);
    if (!rule->per_save)
        return 0;
    char msg[128], prefix[HS_PATH_MAX];
    int rc = strategy_save_message(cp->step, cp->epoch, per_epoch, msg, sizeof(msg));
    if (rc == 0 && !(out->message = strdup(msg)))
        rc = -ENOMEM;
    bool trainer = is_trainer(cp);
    if (rc == 0)
        rc = trainer ? plan_model_files(out, job, cp, err) : plan_whole_save(out, job, cp, "");
    if (rc == 0 && rule->copy == STRATEGY_COPY_SYNCED) {
        rc = plan_whole_save(out, job, cp, rule->copy_prefix);
        if (rc == 0)
            rc = add_sync(out, rule->copy_prefix);
    } else if (rc == 0 && rule->copy == STRATEGY_COPY_OWN_PATH) {
        rc = save_prefix(cp, prefix, sizeof(prefix));
        if (rc == 0)
            rc = plan_whole_save(out, job, cp, prefix);
    }
    if (rc < 0) {
        if (!err || err->code != rc)
            hs_err_set(err, rc, "planning the commit of %s: %s", cp->id, hs_strerror(rc));
        strategy_commit_free(out);
        return rc;
    }
    if (out->n_files) /* qsort's base may not be NULL (nothing matched) */
        qsort(out->files, out->n_files, sizeof(*out->files), cmp_files);
    return 0;
}

static bool finish_ignored(const char *rel)
{
    for (size_t i = 0; strategy_finish_excluded[i]; i++)
        if (config_pattern_match(strategy_finish_excluded[i], rel))
            return true;
    return false;
}

int strategy_plan_finish(const struct config_job *job, const char *output_dir,
                         const char *const *rel_paths, size_t n_paths, const char *readme_path,
                         struct strategy_commit *out, struct hs_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc = (out->message = strdup(STRATEGY_MSG_FINISH)) ? 0 : -ENOMEM;
    for (size_t i = 0; i < n_paths && rc == 0; i++) {
        const char *rel = rel_paths[i];
        if (finish_ignored(rel) || (readme_path && strcmp(rel, "README.md") == 0))
            continue;
        char local[HS_PATH_MAX];
        rc = hs_path_join_under(local, sizeof(local), output_dir, rel);
        if (rc == 0)
            rc = add_file(out, job, local, "", rel);
    }
    if (rc == 0 && readme_path)
        rc = add_file(out, job, readme_path, "", "README.md");
    if (rc < 0) {
        hs_err_set(err, rc, "planning the finish commit of %s: %s", output_dir, hs_strerror(rc));
        strategy_commit_free(out);
        return rc;
    }
    if (out->n_files) /* qsort's base may not be NULL (an output dir with no files) */
        qsort(out->files, out->n_files, sizeof(*out->files), cmp_files);
    return 0;
}
