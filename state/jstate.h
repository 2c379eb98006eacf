/*
 * jstate.h — part of state/ (state.h): the daemon's durable state, kept as
 * typed records in the journal (journal.h) and as an in-memory model
 * rebuilt from them at start. It implements the "Durability rules" of
 * docs/design.md: every transition of a save (a checkpoint-N, or the final
 * push) is recorded and fsync'd before the next step depends on it.
 *
 * Lifecycle of a save:
 *   READY (files and their identity recorded, spool entry made)
 *     → HASHED (every file's sha256 known)
 *     → COMMIT_SENT (part of a commit whose outcome is not known yet)
 *     → COMMITTED (commit oid and URL known; the spool entry can go)
 *   or → SUPERSEDED (a newer save replaced it while queued; never silent)
   or → LOST (it can never be committed: why is recorded; never silent)
 * A commit whose outcome is unknown after a crash stays COMMIT_SENT: the
 * daemon checks the repo's tree, then records confirmed or aborted (aborted
 * puts its saves back to HASHED so they are committed again).
 * What a push has sent (LFS objects, finished multipart parts and their
 * ETags) is not here: the uploader's resume state, which sync/ keeps in
 * <state_dir>/push/<commit id>.json (written at each durable step of the
 * push, removed once the commit is confirmed) is the one store for that.
 *
 * The live calls (jstate_save_ready, ...) append a record, make it durable
 * (or, after jstate_use_loop, have it made durable on the thread pool: see
 * "deferred durability" below), then apply it to the model with exactly
 * the code replay uses, so the state after a restart is the state before
 * it. Compaction (automatic past a log size, or jstate_compact) writes the
 * model itself as the snapshot.
 *
 * Record payloads (JSON objects; field names are the on-disk format):
 *   JREC_SAVE_READY      {"save":id, "job":s, "name":s, "meta":{...},
 *                         "spool":s, "files":[{"path":s, "size":n,
 *                         "dev":n, "ino":n, "mtime_ns":n}]}
 *   JREC_FILES_HASHED    {"save":id, "files":[{"path":s, "sha256":s}]}
 *   JREC_COMMIT_SENT     {"commit":id, "job":s, "saves":[id...],
 *                         "final":b, "parent":s, "message":s}
 *   JREC_COMMIT_CONFIRMED {"commit":id, "oid":s, "url":s, "time":n (unix usec;
 *                         absent in journals of older hubsync), "empty":true
 *                         (only when nothing changed: no commit was made)}
 *   JREC_COMMIT_ABORTED  {"commit":id, "error":s}
 *   JREC_SUPERSEDED      {"save":id, "by":id, "reason":s}
 *   JREC_FINISH          {"job":s, "phase":"requested"|"done", "status":n}
  JREC_SAVE_LOST       {"job":s, "name":s, "reason":s, "time":n (unix usec),
                        "save":id (absent when the save was lost before its
                        READY record: its snapshot failed)}
 *   JREC_TAG_DONE        {"save":id, "tag":s, "outcome":"created"|"existed"|
 *                         "elsewhere"|"refused", "detail":s (elsewhere: the
 *                         tag's commit; refused: why)}
 * tag_saves (docs/trainer-layouts.md "Tags"): the save's READY meta carries
 * "tag" (the tag pending); JREC_TAG_DONE sets "tag_outcome" and
 * "tag_detail" in its meta (so snapshots keep it without a new field; an
 * older hubsync skips the record and would tag again: a 409 "existed").
 * JREC_SNAP_JOB adds "lost":n, "lost_name":s, "lost_reason":s, "lost_time":n
 * when the job lost a save (older hubsync ignores them; it skips JREC_SAVE_LOST
 * records and snapshot saves in state "lost" as records it does not know, so
 * the format version stays 1).
 * Optional string fields are absent, never null. Snapshot records
 * (JREC_SNAP_*) hold whole entities in the same fields plus their state.
 * Unknown record types (from a newer hubsync) and records that do not fit
 * the model are counted (jstate_skipped_records) and skipped at replay.
 * Types 3, 4 and 102 (per-object upload records that were defined but never
 * written by the daemon) are retired: replay skips them as unknown.
 * Nothing is pruned at compaction yet: the model grows with the number of saves (small records;
 fine for the
 * thousands of checkpoints of a long run).
 */
#ifndef HUBSYNC_STATE_JSTATE_H
#define HUBSYNC_STATE_JSTATE_H

#include "common.h"
#include "journal.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

enum jrec_type {
    JREC_SAVE_READY = 1,
    JREC_FILES_HASHED = 2,
    /* 3, 4: retired (see above); never reuse */
    JREC_COMMIT_SENT = 5,
    JREC_COMMIT_CONFIRMED = 6,
    JREC_COMMIT_ABORTED = 7,
    JREC_SUPERSEDED = 8,
    JREC_FINISH = 9,
    JREC_SAVE_LOST = 10,
    JREC_TAG_DONE = 11,
    JREC_SNAP_META = 100,
    JREC_SNAP_SAVE = 101,
    /* 102: retired */
    JREC_SNAP_COMMIT = 103,
    JREC_SNAP_JOB = 104,
};

enum jstate_save_state {
    JSAVE_READY = 0,
    JSAVE_HASHED,
    JSAVE_COMMIT_SENT,
    JSAVE_COMMITTED,
    JSAVE_SUPERSEDED,
    JSAVE_LOST,
};
const char *jstate_save_state_name(enum jstate_save_state s);

/* A file of a save, identified as docs/design.md says (device, inode, size,
 * mtime), so a checkpoint-N re-created by a fresh run is a new save. */
struct jstate_file {
    char *path; /* relative to the checkpoint folder */
    uint64_t size;
    uint64_t dev;
    uint64_t ino;
    int64_t mtime_ns;
    char sha256[65]; /* "" until hashed */
};

struct jstate_save {
    uint64_t id;
    char *job;
    char *name;   /* "checkpoint-500" */
    json_t *meta; /* the daemon's own fields (step/epoch, strategy, ...) */
    char *spool;  /* NULL when not spooled */
    struct jstate_file *files;
    size_t n_files; /* sorted by path */
    enum jstate_save_state state;
    uint64_t commit; /* commit id while COMMIT_SENT / COMMITTED */
    uint64_t superseded_by;
    char *reason; /* why superseded or lost */
};

enum jstate_commit_state { JCOMMIT_SENT = 0, JCOMMIT_CONFIRMED, JCOMMIT_ABORTED };

struct jstate_commit {
    uint64_t id;
    char *job;
    uint64_t *saves;
    size_t n_saves;
    bool final; /* the finish commit */
    char *parent;
    char *message;
    enum jstate_commit_state state;
    char *oid;            /* when confirmed */
    char *url;            /* when confirmed */
    char *error;          /* when aborted */
    int64_t confirmed_at; /* when confirmed: unix usec (0 unknown) — the commit budget */
    bool empty;           /* confirmed, but nothing changed: no commit was made */
};

enum jstate_finish { JFINISH_NONE = 0, JFINISH_REQUESTED, JFINISH_DONE };

struct jstate_job {
    char *name;
    enum jstate_finish finish;
    int status;        /* exit status given with the finish, or 0 */
    uint64_t lost;     /* saves of the job recorded lost, ever */
    char *lost_name;   /* the last one: its name, why, when (unix usec) */
    char *lost_reason; /* NULL when none was lost */
    int64_t lost_time;
};

struct jstate;

/* Open <state_dir>/journal and replay it into a new model. Take the
 * state_dir lock (statelock.h) first. report may be NULL. */
int jstate_open(const char *state_dir, struct jstate **out, struct journal_report *report,
                struct hs_err *err);
struct jstate *jstate_close(struct jstate *js);

/* Compact automatically once the log is larger than this (default 4 MiB;
 * 0 turns automatic compaction off). */
void jstate_set_compact_threshold(struct jstate *js, uint64_t bytes);
int jstate_compact(struct jstate *js, struct hs_err *err);

/* Records replay skipped: unknown types (a newer hubsync wrote them) or
 * records that do not fit the model (e.g. a hash for an unknown save). */
uint64_t jstate_skipped_records(const struct jstate *js);

/* ---- deferred durability (the daemon's loop) ----------------------------
 *
 * By default every transition below is durable (fdatasync) before it
 * returns, on the calling thread. After jstate_use_loop() a transition
 * only writes its record (page cache) and applies it; one fdatasync runs
 * on loop's thread pool for every record written so far (group commit:
 * records written while it runs share the next one). Whoever is about to
 * do something that depends on the records (send the commit after
 * COMMIT_SENT, remove a spool entry after CONFIRMED or SUPERSEDED) calls
 * jstate_when_durable() and does it in the callback. A failed fdatasync
 * fails every waiter and every later transition with -EIO (reopen to
 * recover, as after a failed synchronous append). Close only after the
 * loop has run (no sync in flight); jstate_close() syncs what is left. */
int jstate_use_loop(struct jstate *js, uv_loop_t *loop);

typedef void (*jstate_durable_cb)(int status, void *userdata);
/* cb(0, ud) once every record written before this call is durable —
 * right now, before returning, when they already are (or without a loop);
 * else later on the loop. cb(-EIO, ud) after a failed fdatasync. */
void jstate_when_durable(struct jstate *js, jstate_durable_cb cb, void *userdata);

/* fdatasyncs done on the thread pool since jstate_use_loop (tests). */
uint64_t jstate_pool_syncs(const struct jstate *js);

/* ---- transitions (each durable before it returns, see above) ----------- */

/* A completed save was snapshotted: files (any order; copied) and meta
 * (borrowed, copied). *id receives the new save's id. */
int jstate_save_ready(struct jstate *js, const char *job, const char *name, const json_t *meta,
                      const char *spool, const struct jstate_file *files, size_t n_files,
                      uint64_t *id, struct hs_err *err);

/* sha256 of some files of a save (paths of that save). When every file has
 * one the save becomes HASHED. */
int jstate_files_hashed(struct jstate *js, uint64_t save, const char *const *paths,
                        const char *const *sha256, size_t n, struct hs_err *err);

/* A commit request is about to be sent: saves (may be empty for the final
 * commit) become COMMIT_SENT. *id receives the commit id. */
int jstate_commit_sent(struct jstate *js, const char *job, const uint64_t *saves, size_t n,
                       bool final, const char *parent, const char *message, uint64_t *id,
                       struct hs_err *err);
/* The commit is in the repo: oid and url of it; time (unix usec, 0: not
 * recorded) and empty (nothing changed, so the Hub made no commit) let the
 * commit budget count it again after a restart. */
int jstate_commit_confirmed(struct jstate *js, uint64_t commit, const char *oid, const char *url,
                            int64_t time, bool empty, struct hs_err *err);
/* Definitely not applied (the Hub refused, or the tree check showed it is
 * absent): its saves return to HASHED. */
int jstate_commit_aborted(struct jstate *js, uint64_t commit, const char *error,
                          struct hs_err *err);

int jstate_superseded(struct jstate *js, uint64_t save, uint64_t by, const char *reason,
                      struct hs_err *err);

int jstate_finish(struct jstate *js, const char *job, enum jstate_finish phase, int status,
                  struct hs_err *err);

/* A save of job can never be committed (deleted before any file was
 * protected, unreadable, refused by the Hub, spool gone and checkpoint
 * changed): save is its id (READY or HASHED; a COMMIT_SENT one is aborted
 * first), or 0 when it never got a READY record. The job's lost count and
 * last lost save follow. time: unix usec. */
int jstate_save_lost(struct jstate *js, const char *job, uint64_t save, const char *name,
                     const char *reason, int64_t time, struct hs_err *err);

/* The tag a committed save asked for (meta "tag") was handled: outcome is
 * "created", "existed", "elsewhere" or "refused"; detail (may be NULL) the
 * other commit or the reason. */
int jstate_tag_done(struct jstate *js, uint64_t save, const char *outcome, const char *detail,
                    struct hs_err *err);

/* ---- queries (pointers valid until the next transition) ---------------- */

const struct jstate_save *jstate_save_get(const struct jstate *js, uint64_t id);

/* The save of job with this name whose files have exactly these
 * identities (path, size, dev, ino, mtime), or NULL: "is this checkpoint
 * already known?". */
const struct jstate_save *jstate_save_find(const struct jstate *js, const char *job,
                                           const char *name, const struct jstate_file *files,
                                           size_t n_files);

/* Iterate saves in id order: i from 0 while the result is not NULL. */
const struct jstate_save *jstate_save_at(const struct jstate *js, size_t i);

const struct jstate_commit *jstate_commit_get(const struct jstate *js, uint64_t id);
const struct jstate_commit *jstate_commit_at(const struct jstate *js, size_t i);
const struct jstate_job *jstate_job_get(const struct jstate *js, const char *job);

/* The whole model as JSON (for tests, debugging and `status`). */
json_t *jstate_dump(const struct jstate *js);

#endif
