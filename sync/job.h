/*
 * job.h — part of sync/ (sync.h): one configured job of the service — what
 * happens between the watcher saying "checkpoint-N is complete" and the
 * Hub holding it (docs/design.md "Data flow", "Durability rules").
 *
 * Per save: snapshot (hard links into the spool) → jstate READY → hashes
 * (uploader's hasher, cached) → HASHED → jstate COMMIT_SENT → one uploader
 * push of the strategy's plan (strategy.h), whose resumable state is kept
 * in <state_dir>/push/<commit id>.json → COMMITTED → spool released. One
 * push at a time per job; every job shares the service's single uploader
 * (its global parallelism and bandwidth cap). Under every_save/checkpoint
 * with "supersede": true a queued save is superseded (recorded) when a
 * newer one arrives; all_checkpoints keeps every save. A save that can
 * never be committed is recorded lost with its reason (job_lost.c): a
 * snapshot that failed for good, a permanent error of its push (the Hub
 * refused it, a file gone with no spool copy), a spool entry gone after a
 * restart with the checkpoint changed on disk. It never blocks the queue.
 *
 * After a restart, job_new() rebuilds the queue from the journal: saves
 * READY/HASHED are queued again and COMMIT_SENT ones are pushed again with
 * their resume state (the uploader checks the repo before resending a
 * commit whose answer was lost), so every READY save is committed once.
 *
 * Finish (job_finish): once the queue is empty, one "End of training"
 * commit of the output dir plus the regenerated README.md (job_finish.c);
 * if the Hub refuses the commit with 400 it is redone without the card and
 * the error reported.
 *
 * This file set does not own the loop, the uploader, the watcher, the
 * journal or the config: service.c does and hands them in struct job_env.
 */
#ifndef HUBSYNC_SYNC_JOB_H
#define HUBSYNC_SYNC_JOB_H

#include "common.h"
#include "config.h"
#include "state.h"
#include "uploader.h"
#include "watcher.h"

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

/* What every job shares (owned by the service; outlives every job). */
struct job_env {
    uv_loop_t *loop;
    struct uploader *uploader;
    struct watcher *watcher;
    struct jstate *js;
    const char *state_dir;
    const char *endpoint;
    bool run_mode;             /* `hubsync run`: the finish waits for CMD, not the journal */
    hs_usec_t retry_delay;     /* first delay before retrying a failed commit (job.c "retries") */
    unsigned commit_budget;    /* commits per job and window before coalescing (0: no budget) */
    hs_usec_t commit_window;   /* the budget's window */
    void (*changed)(void *ud); /* something status-worthy happened (STATUS= line) */
    void *changed_ud;
    /* Every progress report of a job's push (the uploader's, ~200 ms), and
     * p NULL once that push ended; NULL: nobody draws progress (a bar of
     * `run -v` / `daemon -v` on a terminal, service_options.on_progress). */
    void (*progress)(const char *job, const struct uploader_progress *p, void *ud);
    void *progress_ud;
    const char *start_held; /* non-NULL: job_new leaves the job held with this reason */
    bool prehash;           /* hash a pending save's files as they are protected (job_prehash.c) */
};

struct job;

/* Finish outcome: status 0 (final commit made, or the card was rejected
 * and the model committed without it: then msg says so), or a negative
 * error with msg. */
typedef void (*job_finish_cb)(struct job *j, int status, const char *msg, void *userdata);

/* Create the job for cfg (borrowed: it must outlive the job or be replaced
 * with job_reconfigure), restore its queue from the journal and start
 * watching. */
int job_new(const struct job_env *env, const struct config_job *cfg, struct job **out,
            struct hs_err *err);

/* A new config for the same job name: later commits use it; the watcher
 * job is re-created when what it watches changed. The running upload is
 * not disturbed. */
int job_reconfigure(struct job *j, const struct config_job *cfg, struct hs_err *err);

/* Stop watching and close the job's handles (uploads are cancelled by
 * closing the uploader). Free with job_free once the loop has run. */
void job_stop(struct job *j);
/* True once a stopped job can be freed while the loop goes on: its handles
 * are closed and nothing of it is in flight (no hashing or push; snapshots
 * still on the thread pool are detached by job_free). */
bool job_stopped(const struct job *j);
struct job *job_free(struct job *j);

const char *job_name(const struct job *j);
const struct config_job *job_config(const struct job *j);

/* Watcher events routed here by the service. */
void job_on_checkpoint(struct job *j, const struct watcher_checkpoint *cp);
void job_on_output(struct job *j);
/* The watcher saw save `id` complete but can never report it READY (its
 * files vanished before any could be protected): recorded lost. */
void job_on_checkpoint_lost(struct job *j, const char *id, const char *why);
/* A file of pending save `id` was protected at path (watcher.h
 * on_file_protected): hashed ahead into the uploader's cache
 * (job_prehash.c) unless env->prehash is off. */
void job_on_file_protected(struct job *j, const char *id, const char *path);
/* A file of pending save id is being written: hash it as it grows (job_prehash.c,
 * uploader_follow), unless env->prehash is off. */
void job_on_file_growing(struct job *j, const char *id, const char *path);

/* Training ended (exit_status: the wrapped command's, or 0): push the
 * final commit once every queued save is committed. cb may be NULL. */
int job_finish(struct job *j, int exit_status, job_finish_cb cb, void *userdata,
               struct hs_err *err);

/* Hold the job's pushes (the token cannot write its repo, or is being
 * checked): saves are still snapshotted, recorded in the journal and
 * queued; nothing new is sent (a commit already on its way ends first).
 * why is copied; with error it also becomes last_error (and is logged).
 * NULL releases the hold (clearing that last_error) and pushes what
 * waited. job_held: the reason, or NULL. */
void job_hold(struct job *j, const char *why, bool error);
const char *job_held(const struct job *j);

/* True while something is queued or being pushed. */
bool job_busy(const struct job *j);

/* The job's entry of the status answer (control.h). */
json_t *job_status_json(const struct job *j);

/* Saves this process recorded lost (job_lost.c), and the last one's name
 * and reason (NULL when none; valid until the next loss). */
uint64_t job_lost(const struct job *j, const char **last_name, const char **last_reason);

/* One line for systemd's STATUS=, with the lost count and the last error while
 * there is one. */
void job_status_line(const struct job *j, char *out, size_t n);

#endif
