/*
 * strategy.h — part of sync/ (sync.h): what one commit holds under each
 * hub_strategy (docs/design.md "Strategies", docs/trainer-layouts.md).
 *
 * Pure planning: given a completed save (as the watcher reported it, or its
 * snapshot) or the output directory's file list at finish, decide which
 * local files go to which repo paths, which repo folders are synced (files
 * absent from the new save deleted there), and the commit message. No I/O
 * except reading a sharded checkpoint's index json to find its shards.
 */
#ifndef HUBSYNC_SYNC_STRATEGY_H
#define HUBSYNC_SYNC_STRATEGY_H

#include "config.h"
#include "watcher.h"

/* ---- the tables: what strategy_plan_save / _finish execute and what
 * strategy_plan_render prints (so the plan cannot drift from them) ----- */

/* Besides the save's files at the repo root, where the whole save goes
 * again. */
enum strategy_copy {
    STRATEGY_COPY_NONE,
    STRATEGY_COPY_SYNCED,   /* to copy_prefix; repo files there absent from the save deleted */
    STRATEGY_COPY_OWN_PATH, /* to its own path: checkpoint-N/ (Trainer), else relative to watch */
};

struct strategy_rule {
    const char *name;        /* config_strategy_name() */
    bool per_save;           /* one commit per save (false: only the finish commit) */
    enum strategy_copy copy; /* the whole save again, where */
    const char *copy_prefix; /* STRATEGY_COPY_SYNCED: "last-checkpoint/" */
    bool newest_wins;        /* with "supersede": a queued save gives way to a newer one */
    const char *kept;        /* what stays in the repo after the finish commit, or NULL */
};

/* The rule of strategy s (never NULL for a valid enum value). */
const struct strategy_rule *strategy_rule(enum config_strategy s);

/* Files the Trainer copies from checkpoint-N to the output dir root (and so
 * to the repo root), NULL-terminated; shards come from the index json. */
extern const char *const strategy_model_files[];
/* Top-level names the finish commit leaves out of the output dir
 * (push_to_hub's ignore_patterns plus tmp-checkpoint-*), NULL-terminated. */
extern const char *const strategy_finish_excluded[];
#define STRATEGY_MSG_STEP   "Training in progress, step "
#define STRATEGY_MSG_EPOCH  "Training in progress, epoch "
#define STRATEGY_MSG_FINISH "End of training"

struct strategy_file {
    char *local_path; /* absolute */
    char *repo_path;  /* '/'-separated, relative to the repo root */
};

struct strategy_commit {
    char *message;
    struct strategy_file *files; /* sorted by repo_path, unique */
    size_t n_files;
    char **sync_prefixes; /* "last-checkpoint/": delete repo files there not in files */
    size_t n_sync;
};

void strategy_commit_free(struct strategy_commit *c); /* frees members; accepts zeroed */

/* True for a top-level file the Trainer copies from checkpoint-N to the
 * output dir (and so to the repo root): config.json, full or adapter weights,
 * tokenizer/processor files, training_args.bin. Shards of a sharded model
 * are decided by the index json (strategy_plan_save reads it). */
bool strategy_is_model_file(const char *name);

/* "Training in progress, step N" or, when the run saves per epoch,
 * "Training in progress, epoch E" with E = int(epoch) (as the Trainer). */
int strategy_save_message(int64_t step, double epoch, bool per_epoch, char *out, size_t n);

/* The commit for one completed save under job->hub_strategy. For "end" the
 * result has no files (nothing to commit per save). For the Trainer layout:
 * model files at the root, plus the whole save under last-checkpoint/
 * (checkpoint; synced) or checkpoint-N/ (all_checkpoints). For the other
 * layouts, which have no model-file convention, the whole save goes to the
 * root (every_save), last-checkpoint/ (checkpoint; synced) or its own path
 * relative to the watch root (all_checkpoints). The job's include/exclude
 * patterns and the always-excluded folders apply to repo paths. */
int strategy_plan_save(const struct config_job *job, const struct watcher_checkpoint *cp,
                       bool per_epoch, struct strategy_commit *out, struct hs_err *err);

/* The finish commit "End of training": the output dir's files (paths
 * relative to output_dir) except _*, checkpoint-*, tmp-checkpoint-* at the
 * top level, the always-excluded folders and the job's patterns, plus the
 * regenerated card from readme_path as README.md (NULL: none; an
 * output-dir README.md is then uploaded as it is). */
int strategy_plan_finish(const struct config_job *job, const char *output_dir,
                         const char *const *rel_paths, size_t n_paths, const char *readme_path,
                         struct strategy_commit *out, struct hs_err *err);

/* The human-readable plan `hubsync check-config` prints (plan.c), from the
 * tables above: per job what is watched, which repo and branch receive
 * what, with which commit messages, the effective include/exclude lists
 * and the settings that decide when saves are taken; then the shared
 * settings (endpoint redacted, where the token comes from — never the
 * token). Appends to out; -E2BIG when it outgrows out's maximum. */
int strategy_plan_render(const struct config *cfg, struct hs_buf *out);

#endif
