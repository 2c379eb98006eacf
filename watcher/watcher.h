/*
 * watcher.h — the public interface of watcher/: turn filesystem noise under a
 * training output directory into one clean event per completed checkpoint
 * save (see docs/design.md "Data flow" and docs/trainer-layouts.md).
 * Other folders include only this header. watcher/ knows nothing about the
 * Hub, the config file or jobs' strategies: the daemon maps its config to a
 * struct watcher_options per job and decides what to do with each event.
 *
 * Threads and the loop
 *   Everything the caller sees runs on the caller's uv_loop_t (callbacks are
 *   called from the loop thread). Behind it, one thread owns libinotifytools
 *   for every inotify job, and each polling job has a small scanner thread;
 *   both hand batches of normalised events to the loop through a locked queue
 *   and one uv_async_t. A job's uv_timer_t runs only while one of its saves is
 *   pending: an idle watcher wakes nobody (polling jobs wake their scanner
 *   thread every poll interval, which is the point of polling).
 *
 * Lifetime
 *   watcher_new() → watcher_add_job()… → watcher_close(). watcher_close()
 *   stops the threads (joined before it returns) and uv_close()s every handle;
 *   memory is released by the close callbacks, so run the loop once more
 *   after it (uv_run(loop, UV_RUN_DEFAULT) returns when all is closed, and
 *   uv_loop_close() then returns 0). libinotifytools keeps global state, so at
 *   most one watcher per process may use inotify at a time (-EBUSY otherwise).
 *
 * When READY fires (docs/trainer-layouts.md)
 *   Never while a file of the save is seen written and not yet closed.
 *   Trainer (checkpoint-N, also under run-*), on the close of
 *   trainer_state.json (or the rename of tmp-checkpoint-* into checkpoint-N)
 *   once it parses with global_step == N and the file set is consistent
 *   (index shards, adapter config, rng_state_0..W-1, DeepSpeed latest +
 *   one optimizer shard per rank): ~20 ms later with world_size 1; with
 *   W > 1 ~20 ms after the last of the other ranks' files is seen closed
 *   (every file of the save seen closed or older than the marker), and
 *   after marker_quiet without writes only when that cannot be observed
 *   (a file whose close was not seen). Lightning (*.ckpt): the rename
 *   into place or the close, ~20 ms later; symlinks (last.ckpt) never.
 *   DeepSpeed (global_stepN): `latest` names it or a later tag and every
 *   rank's shard is there; same timing as the Trainer. Accelerate
 *   (checkpoint_i, epoch_E, step_N): random_states_0..W-1.pkl present, then
 *   marker_quiet. Generic: settle without writes. Saves seen only by a scan
 *   (start, rescan, polling's first look) wait marker_quiet (settle for
 *   generic). Polling sees a file "closed" when it did not change over one
 *   interval, so it adds about two intervals. A file seen written whose
 *   close never arrives counts as closed once unchanged for settle (with a
 *   notice). Checks (a readdir of the save, parsing trainer_state.json)
 *   run on libuv's thread pool, one at a time per job, so READY events
 *   keep the order in which saves completed.
 *   Ignored everywhere: names starting with '.', tmp-checkpoint-*, the
 *   spool; symlinks are never followed; names that are not printable UTF-8
 *   are skipped with a notice. There is no depth limit below PATH_MAX: a
 *   directory that cannot be listed (too long a path, out of descriptors)
 *   is skipped with a notice naming it.
 *   A trainer_state.json that is there but unreadable (truncated, not JSON,
 *   global_step not a number or not the folder's number) is not a reason to
 *   wait forever: the save is READY once it has been quiet for settle, with
 *   a WARN notice naming the file and the problem, step from the folder
 *   name. NaN/Infinity in it are read; a non-finite epoch is reported as -1.
 *
 * Protect on sight (rotation right after a save)
 *   With save_total_limit=1 and load_best_model_at_end the Trainer deletes
 *   the last checkpoint ~100 ms after writing it, long before a quiet
 *   period ends. So each file of a folder save (checkpoint-N, global_stepN,
 *   accelerate's checkpoint_i…; not single-file saves such as *.ckpt) is
 *   hard-linked, else reflinked, into an entry of the spool as soon as the
 *   watcher sees it complete: closed after writing, renamed in, found by the
 *   scan of a folder that appeared (a tmp-checkpoint-N renamed into
 *   checkpoint-N: every file at once); when polling, when a scan first sees
 *   it unchanged. The entry is named like a snapshot (<sanitized id>-<seq>)
 *   and becomes the snapshot's directory (watcher_snapshot() takes no second
 *   link for a file still protected as listed). READY waits until the
 *   save's pending links are done.
 *   Safe against rewrites: a hard link shares the inode, so the link is the
 *   file; the identity (dev, ino, size, mtime) of every listed file is
 *   checked against its protected link when the snapshot is taken (a file
 *   replaced or rewritten since is taken again, one changed after READY
 *   fails with HS_ECHANGED), and the uploader checks the identity again when
 *   it hashes. A reflink holds the bytes as they were when taken: it is
 *   kept only if the listed identity is the one it was taken from.
 *   Cost: nothing while the original exists (the links share its blocks);
 *   after rotation deletes the folder the spool holds the only copy, until
 *   the snapshot is released after the commit is confirmed. An entry whose
 *   save never becomes READY (a partial save deleted, a folder re-created or
 *   superseded, the job removed) is removed; so is a READY save's entry that
 *   no snapshot adopted in on_checkpoint_ready (one refused for the budget
 *   is kept for the retry). Entries count in watcher_job_status.spool_bytes;
 *   spool_max_bytes caps snapshots only (protection is never refused: it is
 *   at most one save per pending save, and free while the original exists).
 *   If the folder vanishes between the marker and READY, nothing is lost:
 *   the save is checked on its protected copy (the layout's rule applied to
 *   the entry) and reported READY with base = the entry, folder the
 *   original path; if nothing could be protected, or not every file seen in
 *   it was, on_checkpoint_lost says so, once. DeepSpeed's latest lives
 *   beside the tag folder and is not protected: a DeepSpeed save whose
 *   folder vanished before READY is reported lost. Where neither a hard link
 *   nor a reflink is possible (another filesystem, fs.protected_hardlinks),
 *   copying each file at close would double the trainer's I/O: the job
 *   copies at READY as before, and one WARN notice says so.
 *
 * Errors
 *   Functions return 0 or a negative errno and fill a struct hs_err. Nothing
 *   here logs: conditions the daemon should tell the user about (root missing,
 *   overflow and rescan, watch limit reached, names skipped, spool budget)
 *   arrive through on_notice with a ready-made sentence.
 */
#ifndef HUBSYNC_WATCHER_H
#define HUBSYNC_WATCHER_H

#include "common.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

/* ---- options (one set per job) ----------------------------------------- */

/* Which writer produced the directory (docs/trainer-layouts.md).
 * AUTO recognises each save by its name: checkpoint-N (Trainer),
 * global_stepN (DeepSpeed), checkpoint_N / epoch_N / step_N (Accelerate),
 * *.ckpt (Lightning); other files are training output. GENERIC treats every
 * top-level entry of the root as one save, complete after settle quiet. */
enum watcher_layout {
    WATCHER_LAYOUT_AUTO = 0,
    WATCHER_LAYOUT_TRAINER,
    WATCHER_LAYOUT_ACCELERATE,
    WATCHER_LAYOUT_LIGHTNING,
    WATCHER_LAYOUT_DEEPSPEED,
    WATCHER_LAYOUT_GENERIC,
};

/* AUTO: inotify, except on filesystems where inotify misses other hosts'
 * writes (NFS, Lustre, GPFS, CIFS/SMB, FUSE, Ceph…, by statfs f_type), and
 * after the inotify watch limit is reached (then on_notice says so). Any
 * job polls when no inotify instance can be had (inotify_init failing with
 * EMFILE/ENFILE: fs.inotify.max_user_instances or the descriptor limits),
 * with a WARN notice giving the reason and the sysctl to raise. */
enum watcher_mode {
    WATCHER_MODE_AUTO = 0,
    WATCHER_MODE_INOTIFY,
    WATCHER_MODE_POLL,
};

/* What to do with saves already complete when the job is added. */
enum watcher_existing {
    WATCHER_EXISTING_LATEST = 0, /* report only the newest (highest step) */
    WATCHER_EXISTING_ALL,        /* report all, oldest first */
    WATCHER_EXISTING_NONE,       /* report none */
};

struct watcher_options {
    const char *root;               /* absolute path; may not exist yet (copied) */
    enum watcher_layout layout;     /* default AUTO */
    enum watcher_mode mode;         /* default AUTO */
    hs_usec_t poll_interval;        /* poll mode: between two scans (default 10 s) */
    hs_usec_t settle;               /* quiet period for saves without a marker (30 s) */
    hs_usec_t marker_quiet;         /* quiet after a marker when other ranks write (2 s) */
    unsigned world_size;            /* processes writing the save (default 1) */
    const char *spool_dir;          /* NULL: <root>/.hubsync/spool (copied) */
    uint64_t spool_max_bytes;       /* bytes held by snapshots; 0 = no cap */
    enum watcher_existing existing; /* default LATEST */
    void *userdata;                 /* returned by watcher_job_userdata() */
};

/* Fill o with the defaults above (root NULL). */
void watcher_options_init(struct watcher_options *o);

/* ---- what the watcher reports ------------------------------------------ */

struct watcher_file {
    char *path;    /* relative to the checkpoint's base, '/'-separated */
    uint64_t size; /* bytes when the save was found complete */
    uint64_t dev, ino;
    hs_usec_t mtime; /* realtime usec */
};

/* One completed save. Valid only during the callback; keep it with
 * watcher_checkpoint_dup(). */
struct watcher_checkpoint {
    char *id;           /* its path relative to the root: "checkpoint-500",
                           "lightning_logs/version_0/checkpoints/epoch=1-step=20.ckpt" */
    const char *layout; /* "trainer", "accelerate", "lightning", "deepspeed", "generic" */
    int64_t step;       /* global step, -1 when the layout does not tell */
    double epoch;       /* epoch from trainer_state.json or the name; -1 unknown
                           (also for NaN/Infinity in trainer_state.json) */
    int64_t index;      /* the number in the name (checkpoint_<i>, epoch_<E>…), -1 none */
    char *folder;       /* absolute path of the save (directory, or the file) */
    char *base;         /* absolute directory the file paths are relative to: the
                           save's, or its protected entry in the spool when the
                           folder vanished before READY (see "Protect on sight") */
    size_t n_files;
    struct watcher_file *files; /* sorted by path; regular files only */
    uint64_t total_bytes;
    bool existing;       /* found complete when the job was added */
    hs_usec_t marker_at; /* monotonic time the completion marker was seen, 0 none */
    hs_usec_t ready_at;  /* monotonic time READY was decided */
};

struct watcher_checkpoint *watcher_checkpoint_dup(const struct watcher_checkpoint *cp);
/* Accepts NULL; returns NULL. */
struct watcher_checkpoint *watcher_checkpoint_free(struct watcher_checkpoint *cp);

/* Files written outside any save (the output root's top-level files such as
 * the final model and README.md, runs/ logs…), reported once their writes
 * have been quiet for marker_quiet. Valid during the callback only. Those
 * files are rewritten in place by the trainer: read them after training
 * ends or snapshot them (snapshots copy or reflink files outside saves). */
struct watcher_output {
    const char *base; /* the job root */
    size_t n_files;
    struct watcher_file *files; /* relative to base, sorted */
};

struct watcher_job;

enum watcher_notice_level { WATCHER_NOTICE_INFO, WATCHER_NOTICE_WARN, WATCHER_NOTICE_ERROR };

struct watcher_callbacks {
    void (*on_checkpoint_ready)(struct watcher_job *job, const struct watcher_checkpoint *cp,
                                void *userdata);
    void (*on_training_output)(struct watcher_job *job, const struct watcher_output *out,
                               void *userdata);
    /* A save that was seen complete (its completion marker seen, or found
     * complete by a check) but cannot be reported READY: it vanished before
     * any of its files could be protected in the spool, or what was
     * protected is not a complete save. `why` is a sentence naming the
     * cause. Called once per save, never for a save that was reported READY
     * or for one that was deleted before it was ever complete (a partial
     * save removed by the writer). May be NULL. */
    void (*on_checkpoint_lost)(struct watcher_job *job, const char *id, const char *why,
                               void *userdata);
    /* A sentence for the log: root missing/appeared/deleted, rescan after
     * overflow, inotify watch or instance limit (with the sysctl to raise
     * it) and the switch to polling, names skipped (newline, invalid UTF-8),
     * directories that cannot be listed, an unreadable trainer_state.json
     * taken after settle, protection on sight impossible, spool budget
     * reached. job may be NULL for watcher-wide notices. When
     * on_checkpoint_lost is NULL a lost save comes here as an ERROR. */
    void (*on_notice)(struct watcher_job *job, enum watcher_notice_level level, const char *msg,
                      void *userdata);
    /* A file of save `id` was just protected in the spool (see "Protect on
     * sight": seen complete, hard-linked or reflinked): path is the
     * absolute path of its protected copy, the inode a hard link shares
     * with the original. For reading ahead — the daemon hashes it while
     * the save is still pending (sync/job_prehash.c). Nothing is promised
     * about the save: the file may be rewritten, taken again, or the save
     * never become READY. Not called for saves that are not protected
     * (single files such as *.ckpt, the generic layout, protection off).
     * Valid during the call only. May be NULL. */
    void (*on_file_protected)(struct watcher_job *job, const char *id, const char *path,
                              void *userdata);
    /* A file of pending save `id` is being written (its first write seen,
     * inotify or poll): path is its absolute path where the trainer writes
     * it. For hashing it as it grows (sync/job_prehash.c, uploader_follow);
     * the close comes as on_file_protected (protected saves) — nothing else
     * is promised. Valid during the call only. May be NULL. */
    void (*on_file_growing)(struct watcher_job *job, const char *id, const char *path,
                            void *userdata);
};

/* ---- the watcher --------------------------------------------------------- */

struct watcher;

/* Create a watcher on loop; cb is copied, userdata is passed to every
 * callback. The inotify thread starts with the first inotify job. */
int watcher_new(uv_loop_t *loop, const struct watcher_callbacks *cb, void *userdata,
                struct watcher **out, struct hs_err *err);

/* Start watching a job root. The root may be missing: the job waits for it
 * (notice) and starts when it appears. Saves already on disk follow
 * o->existing once the first scan is complete. Two inotify jobs may not
 * watch overlapping trees (-EEXIST). */
int watcher_add_job(struct watcher *w, const struct watcher_options *o, struct watcher_job **out,
                    struct hs_err *err);

/* Stop watching and free the job (its timer is closed on the loop).
 * Snapshots already taken stay on disk until released. */
int watcher_remove_job(struct watcher *w, struct watcher_job *job);

/* Stop threads, close every handle; memory is freed from close callbacks. */
void watcher_close(struct watcher *w);

void *watcher_job_userdata(const struct watcher_job *job);

struct watcher_job_status {
    const char *mode;     /* "inotify", "poll" or "waiting" (root missing) */
    const char *fs_type;  /* "ext4", "nfs"… from statfs, "unknown" */
    uint64_t rescans;     /* rescans after overflow / root re-created */
    uint64_t ready;       /* READY events delivered */
    size_t pending;       /* saves seen but not complete yet */
    uint64_t spool_bytes; /* bytes held by live snapshots and protected entries */
    bool spool_full;      /* the last snapshot was refused for the budget */
    bool scanned;         /* the first scan of the root is complete */
};
void watcher_job_status(const struct watcher_job *job, struct watcher_job_status *st);

/* ---- snapshots (rotation safety) ----------------------------------------- */

enum watcher_snapshot_method {
    WATCHER_SNAPSHOT_HARDLINK = 0,
    WATCHER_SNAPSHOT_REFLINK,
    WATCHER_SNAPSHOT_COPY,
};
const char *watcher_snapshot_method_name(enum watcher_snapshot_method m);

struct watcher_snapshot {
    char *dir; /* spool directory holding the files under their relative paths */
    enum watcher_snapshot_method method; /* the weakest method any file needed */
    size_t n_link, n_reflink, n_copy;    /* files per method */
    uint64_t bytes;                      /* counted against spool_max_bytes */
    struct watcher_checkpoint *cp;       /* a copy of the save, base = dir */
};

/* Take a snapshot of cp into the job's spool: hard links for files inside
 * the save's folder (write-once files: rotation can then delete the folder
 * without losing them), falling back to FICLONE, then to a copy when links
 * are impossible (other filesystem, protected_hardlinks); files outside the
 * save's folder (DeepSpeed's latest, rewritten in place) are reflinked or
 * copied. The save's protected entry (see "Protect on sight") becomes the
 * snapshot's directory: files still protected as listed are kept as they
 * are, the others taken again. Call it from on_checkpoint_ready: an entry
 * no snapshot adopted there is removed when the callback returns (except
 * after -ENOSPC for the budget: kept for the retry), and with
 * save_total_limit the folder may be deleted right after the save. A file
 * that changed since READY fails the snapshot with HS_ECHANGED. Past
 * spool_max_bytes (counting snapshots, not protected entries) it returns
 * -ENOSPC without taking anything (release or supersede queued snapshots
 * first). To snapshot training output (struct watcher_output),
 * pass a checkpoint whose folder and base are the job root: those files are
 * reflinked or copied, never linked. Copies block the calling thread: fine for the small
 * in-place files, slow for a whole checkpoint on a filesystem without links. */
int watcher_snapshot(struct watcher_job *job, const struct watcher_checkpoint *cp,
                     struct watcher_snapshot **out, struct hs_err *err);

/* The save `id` (a watcher_checkpoint's id) changed after it was reported
 * READY — its snapshot failed with HS_ECHANGED (a file still being written
 * when a quiet period ended, or a rank's file closed late): look at it again
 * and report it READY a second time once it is quiet and complete, with its
 * new file list. -ENOENT when the watcher no longer knows it (deleted). */
int watcher_checkpoint_changed(struct watcher_job *job, const char *id);

/* The same snapshot taken on libuv's thread pool (copies of large files must
 * not block the loop). The budget check and a reservation of cp's bytes
 * happen now (an over-budget request fails here with -ENOSPC, like
 * watcher_snapshot); cp is copied. cb runs later on the loop with either
 * status 0 and snap (release it with watcher_snapshot_release), or status
 * < 0, snap NULL and err filled: -ECANCELED when the job was removed or the
 * watcher closed meanwhile (the job pointer is then only for identification;
 * the job is freed after cb returns). Returns 0 or -errno with err filled. */
typedef void (*watcher_snapshot_cb)(struct watcher_job *job, struct watcher_snapshot *snap,
                                    int status, const struct hs_err *err, void *userdata);
int watcher_snapshot_start(struct watcher_job *job, const struct watcher_checkpoint *cp,
                           watcher_snapshot_cb cb, void *userdata, struct hs_err *err);

/* After the upload is confirmed: remove the spool directory, give its bytes
 * back to the budget and free snap. Accepts NULL. */
int watcher_snapshot_release(struct watcher_job *job, struct watcher_snapshot *snap,
                             struct hs_err *err);

/* ---- the spool (spool.c) ------------------------------------------------- */

/* The spool is hubsync's alone: every component of spool_dir below root
 * (the job's watch dir; NULL or a spool outside it: the spool folder itself)
 * must be a real directory owned by the running user, never a symlink, and
 * the spool root holds this marker file once hubsync has used it. */
#define WATCHER_SPOOL_MARKER ".hubsync-spool"

/* For check-config: 0 when spool_dir is usable (absent counts: it is made at
 * the first snapshot); -ELOOP / -ENOTDIR / -EPERM when a component below
 * root is a symlink, not a directory or another user's; -EEXIST when it
 * exists, is not empty and has no marker ("... exists and is not a hubsync
 * spool"). err says which path and why. */
int watcher_spool_check(const char *root, const char *spool_dir, struct hs_err *err);

/* Remove the spool entries no live save needs, at start: only names of
 * hubsync's own pattern ("<sanitized id>-<decimal seq>"), only when the
 * marker is there, never through a symlink (descriptor-based removal that
 * never leaves the entry), never outside the spool. keep lists the live
 * entries as full paths (as the journal records them). fn (may be NULL) is
 * called with each entry's path and the removal's status. Returns the
 * number removed (0 when there is no spool, or an empty unmarked one), or
 * an error as watcher_spool_check with err filled (nothing removed). */
typedef void (*watcher_spool_removed_fn)(const char *path, int status, void *userdata);
int watcher_spool_clean(const char *root, const char *spool_dir, const char *const *keep,
                        size_t n_keep, watcher_spool_removed_fn fn, void *userdata,
                        struct hs_err *err);

/* ---- test hooks ---------------------------------------------------------- */

/* Stop (true) or resume (false) reading the inotify descriptor, so that a
 * test can make the kernel queue overflow (IN_Q_OVERFLOW) for real. */
int watcher_test_pause_inotify(struct watcher *w, bool paused);

/* Make the inotify thread behave as if fs.inotify.max_user_watches were
 * reached once it holds `limit` directory watches (0: off), so a test can
 * see the switch to polling. Applies to watches added after the call. */
int watcher_test_watch_limit(struct watcher *w, size_t limit);

/* Make the inotify backend fail to start with err (a negative errno, 0 off)
 * as inotifytools_initialize() does when fs.inotify.max_user_instances is
 * reached (-EMFILE), so a test can see inotify jobs fall back to polling.
 * Applies to jobs added after the call while no inotify job runs. */
void watcher_test_inotify_init_error(struct watcher *w, int err);

/* Hold (true) the disk checks that decide READY — events, protection and
 * snapshots go on — or let them run again (false), so a test can act
 * between a save's completion and its check (delete its folder). */
void watcher_test_hold_checks(struct watcher *w, bool hold);

/* Print the job's pending saves (why they are not READY) to out. */
void watcher_test_dump(const struct watcher_job *job, FILE *out);

#endif
