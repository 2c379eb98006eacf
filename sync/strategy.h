/*
 * strategy.h — internal to daemon/: what one commit holds under each
 * hub_strategy (docs/design.md "Strategies", docs/trainer-layouts.md).
 *
 * Pure planning: given a completed save (as the watcher reported it, or its
 * snapshot) or the output directory's file list at finish, decide which
 * local files go to which repo paths, which repo folders are synced (files
 * absent from the new save deleted there), and the commit message. No I/O
 * except reading a sharded checkpoint's index json to find its shards.
 */
#ifndef HUBSYNC_DAEMON_STRATEGY_H
#define HUBSYNC_DAEMON_STRATEGY_H

#include "config.h"
#include "watcher.h"

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

#endif
