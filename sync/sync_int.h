/*
 * sync_int.h — internal to sync/: struct job and what job.c (queue,
 * snapshot, hash, push), job_ready.c, job_commit.c, job_finish.c (the "End
 * of training" commit) and job_lost.c share. Outside sync/ only
 * tests/unit/test_job_policy.c includes it.
 */
#ifndef HUBSYNC_SYNC_INT_H
#define HUBSYNC_SYNC_INT_H

#include "job.h"
#include "strategy.h"

#define JOB_NOTES_MAX 32

/* A save whose snapshot runs on the thread pool (job_ready.c); they wait
 * in start order so that their READY records keep the watcher's order. */
struct job_snap;

/* A queued save: its journal id and, when taken by this process, its
 * snapshot (NULL after a restart: the spool dir is then in the journal). */
struct job_qsave {
    uint64_t id;
    struct watcher_snapshot *snap;
    struct watcher_job *snap_owner; /* the watcher job that took it */
};

enum job_phase {
    JOB_IDLE = 0,
    JOB_HASHING,
    JOB_PUSHING,
    JOB_RETRY_WAIT,  /* a commit failed; the timer retries it */
    JOB_FINISH_WAIT, /* the watcher still has saves pending before the finish */
    JOB_BUDGET_WAIT, /* the commit budget is spent until the window moves on */
};

/* One push in flight (a save's commit or the finish commit). */
struct job_op {
    struct job *j;
    uint64_t *saves; /* the saves of this commit (none: the finish commit) */
    size_t n_saves;
    size_t hash_save;  /* index in saves being hashed */
    char *description; /* commit description (coalesced saves) */
    char **deletes;    /* stale repo paths of synced folders */
    size_t n_deletes;
    char **del_folders; /* checkpoint-N folders beyond hub_keep_checkpoints (job_keep.c) */
    size_t n_del_folders;
    uint64_t commit;
    bool final;
    bool with_card;
    struct strategy_commit plan;
    char state_path[HS_PATH_MAX];
    char card_path[HS_PATH_MAX];
    /* hashing (READY → HASHED) */
    size_t n_hash, hash_pending;
    size_t hash_cached; /* of them found in the hash cache (hashed while written) */
    char **hash_paths;
    char (*hash_sha)[65];
};

struct job {
    const struct job_env *env;
    const struct config_job *cfg;
    char *name;
    struct watcher_job *wj;
    struct job_qsave *q;
    size_t nq, capq;
    enum job_phase phase;
    struct job_op *op;
    enum uploader_phase up_phase;
    unsigned up_stages; /* uploader_stage bits of the last report (both while they overlap) */
    bool stopping;
    uv_timer_t timer;
    bool timer_init;
    unsigned closing;      /* handles whose uv_close has not called back yet */
    unsigned pending_rm;   /* removals waiting for the journal to be durable */
    uv_timer_t idle_timer; /* finish_after_idle_seconds: armed by activity only */
    unsigned attempts;
    hs_usec_t retry_at; /* JOB_RETRY_WAIT: when the next attempt starts */
    /* finish */
    bool finish_requested, finished;
    int finish_status;
    job_finish_cb finish_cb;
    void *finish_ud;
    uint64_t resume_final_commit; /* a finish commit COMMIT_SENT in the journal */
    hs_usec_t finish_deadline;    /* stop waiting for pending saves after this */
    char *card_error;             /* the Hub refused the card: why */
    /* status */
    char *current;
    uint64_t bytes_done, bytes_total, bytes_sent_total;
    hs_usec_t push_started, last_activity;
    char *last_commit_url, *last_error;
    char *held; /* job_hold's reason: no pushes start while set */
    bool held_error;
    uint64_t committed, superseded, resumed, coalesced;
    uint64_t lost;                 /* saves recorded lost by this process */
    char *lost_name, *lost_reason; /* the last lost save (from the journal at start) */
    hs_usec_t final_give_up;       /* `run`: the final push gives up after this (0: unset) */
    hs_usec_t *commit_times;       /* commits made in the budget window, oldest first */
    size_t n_commit_times;
    bool budget_noted;
    struct job_snap *snaps, **snaps_tail; /* snapshots in flight, oldest first */
    uint64_t no_deletes_commit;           /* a commit whose deletions got 404: sent without them */
    struct job_tags *tags;                /* tag_saves in flight (job_tag.c), or NULL */
    char *resume_warning;                 /* last-checkpoint/ not enough to resume (job_resume.c) */
    char *notes[JOB_NOTES_MAX];
    size_t n_notes;
};

/* job.c */
void job__set_str(char **dst, const char *s);
/* Remove a save's spool entry once its CONFIRMED / SUPERSEDED is durable. */
void job__release_spool(struct job *j, struct job_qsave *qs);
void job__queue_remove(struct job *j, size_t i);
void job__note(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void job__set_error(struct job *j, const char *msg);
void job__kick(struct job *j);
/* Send op's commit once the journal's records are durable. */
void job__push(struct job_op *op);
/* Remove a file once the records written so far are durable. */
void job__unlink_durable(struct job *j, const char *path);
void job__op_free(struct job_op *op);
/* In a callback of op's: true (op freed, the job's op cleared) when the
 * job is stopping — cancelled by the shutdown; the journal and the resume
 * state say where to continue. */
bool job__op_cancelled(struct job_op *op);
/* A failed attempt of op: status decides (job__error_permanent): a
 * permanent error ends the saves of op as lost and the queue moves on; a
 * transient one is retried with exponential backoff (job.c "retries"). */
void job__op_error(struct job_op *op, int status, const char *msg);
/* The wait before attempt attempts+1 of a commit that failed `attempts`
 * times in a row (>= 1): first (0: 5 s), doubling, capped at 5 min, or at
 * 30 s once `run`'s command has ended (run_final). */
hs_usec_t job__retry_delay(hs_usec_t first, unsigned attempts, bool run_final);
/* The same for a transient failure (retried). */
void job__op_failed(struct job_op *op, const char *msg);
/* True for an error retrying cannot fix: the Hub refused the request for
 * good (HS_EREFUSED), or a file of the plan is gone (ENOENT, ENOTDIR). */
bool job__error_permanent(int status);
/* A save that can never be committed (see jstate_save_lost): a warning
 * naming it and why, the journal record, the job's lost count and status
 * entry. id: its journal id (it leaves the queue, its spool entry is
 * released; a COMMIT_SENT one has its commit aborted first), or 0 for a
 * save that never got a READY record. Never silent, even when the journal
 * cannot record it. */
void job__save_lost(struct job *j, uint64_t id, const char *name, const char *why);
/* qs's spool entry holds every file, or is taken again from the checkpoint
 * on disk when every file still has its recorded identity (a synchronous
 * watcher_snapshot: hard links, instant; a copy fallback blocks the loop).
 * 0, or a negative errno with why filled: the save cannot be committed. */
int job__respool(struct job *j, struct job_qsave *qs, char *why, size_t n);
/* job_new after a restart: job__respool every queued save not yet sent,
 * recording lost the ones that cannot be. */
void job__check_spool(struct job *j);
void job__timer_start(struct job *j, hs_usec_t delay);
void job__changed(struct job *j);
void job__activity(struct job *j);

/* job_commit.c */
/* The save as the watcher reported it, rebuilt from its journal record with
 * its files under base (the spool entry, or the checkpoint on disk); its
 * strings are borrowed from s; free cp->files. */
int job__save_checkpoint(const struct jstate_save *s, const char *base,
                         struct watcher_checkpoint *cp, bool *per_epoch);
/* After a restart: the commits of the budget window, from the journal. */
void job__budget_restore(struct job *j);
void job__budget_count(struct job *j); /* a commit was made (budget window) */
/* Queue a save (snap: its snapshot taken by watcher job owner, or NULL). */
int job__enqueue(struct job *j, uint64_t id, struct watcher_snapshot *snap,
                 struct watcher_job *owner);
/* Supersede queued saves not on their way to the repo by save `by`. */
void job__supersede_queued(struct job *j, uint64_t by, const char *by_name, const char *reason);

/* job_ready.c */
/* The job is freed: snapshots still in flight only free themselves. */
void job__snaps_detach(struct job *j);
/* From the job's timer: a save waiting for disk space (its snapshot or its
 * READY record found the disk full) is tried again. */
void job__snaps_retry(struct job *j);

/* job_tag.c (tag_saves) */
/* Add the save's tag ("tag") to its READY meta when the job tags saves. */
void job__tag_meta(const struct job *j, const struct watcher_checkpoint *cp, json_t *meta);
/* Tag the committed saves whose tag has no outcome yet, one at a time. */
void job__tags_kick(struct job *j);
void job__tags_stop(struct job *j);
/* A tag request is in flight: the finish waits for its answer (not for
 * retries), so that `run` does not exit between a commit and its tag. */
bool job__tags_busy(const struct job *j);
/* Committed saves of the job still waiting for their tag. */
size_t job__tags_pending(const struct job *j);

/* job_keep.c (hub_keep_checkpoints) */
/* Add the best_model_checkpoint of the save's trainer_state.json ("best")
 * to its READY meta when the job keeps K checkpoints. */
void job__keep_meta(const struct job *j, const char *dir, json_t *meta);
/* Plan op's folder deletions from a listing of the repo, then call
 * next(op); returns 1 when the listing runs (or failed the op), 0 when
 * there is nothing to plan (call next yourself), -ENOMEM. */
int job__keep_plan(struct job_op *op, void (*next)(struct job_op *op));

/* job_resume.c */
/* checkpoint strategy: warn when op's last-checkpoint/ would not be enough
 * for resume_from_checkpoint (sets or clears j->resume_warning). */
void job__resume_check(struct job *j, const struct job_op *op);

/* job_finish.c */
void job__start_final(struct job *j);
/* The push of a finish commit ended (from the shared done callback). */
void job__final_done(struct job_op *op, int status, const struct uploader_result *res,
                     const struct hs_err *err);

#endif
