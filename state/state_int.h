/*
 * state_int.h — internal to state/ (jstate*.c): the model's struct and the pieces
 * jstate.c (journal I/O, live transitions) shares with jstate_model.c
 * (the in-memory model, its JSON form and the apply step replay uses).
 */
#ifndef HUBSYNC_STATE_INT_H
#define HUBSYNC_STATE_INT_H

#include "jstate.h"

/* json_unpack() does not modify its argument but is not declared const. */
#define UNPACK(v, ...) json_unpack((json_t *)(v), __VA_ARGS__)

/* A caller waiting until the records appended so far are durable. */
struct jstate_waiter {
    uint64_t target; /* records written when it started waiting */
    jstate_durable_cb cb;
    void *userdata;
    struct jstate_waiter *next;
};

struct jstate {
    struct journal *j;
    /* deferred durability (jstate_use_loop): records written / durable */
    uv_loop_t *loop;
    uint64_t written, synced;
    int sync_err;   /* a failed fdatasync: every waiter and append fails */
    bool sync_busy; /* a sync runs on the thread pool */
    uv_work_t sync_req;
    int sync_fd, sync_rc;
    uint64_t sync_target;
    uint64_t syncs; /* fdatasyncs done by the pool (tests) */
    struct jstate_waiter *waiters, **waiters_tail;
    uint64_t compact_threshold;
    uint64_t next_save, next_commit;
    uint64_t skipped;
    struct jstate_save *saves;
    size_t n_saves, cap_saves;
    struct jstate_commit *commits;
    size_t n_commits, cap_commits;
    struct jstate_job *jobs;
    size_t n_jobs, cap_jobs;
};

extern const char *const jstate__finish_phases[3];

/* Lookups (NULL when absent). */
struct jstate_save *jstate__save_mut(const struct jstate *js, uint64_t id);
struct jstate_commit *jstate__commit_mut(const struct jstate *js, uint64_t id);

bool jstate__is_sha256(const char *s);
int jstate__cmp_file(const void *a, const void *b); /* by path */

/* Parse and validate a "files" array (sorted by path on return). */
int jstate__parse_files(const json_t *arr, struct jstate_file **out, size_t *n);

/* Entities as record payloads; full adds the state fields (snapshots). */
json_t *jstate__save_json(const struct jstate_save *s, bool full);
json_t *jstate__commit_json(const struct jstate_commit *c, bool full);
json_t *jstate__job_json(const struct jstate_job *jb);

/* Apply one record to the model: what replay and live transitions share.
 * -EINVAL / -ENOENT when it does not fit, -ENOSYS for an unknown type. */
int jstate__apply(struct jstate *js, uint16_t type, const json_t *p);
/* journal_replay_fn: apply, counting what does not fit as skipped. */
int jstate__replay_cb(const struct journal_record *r, void *ud);

void jstate__free_save(struct jstate_save *s);
void jstate__free_commit(struct jstate_commit *c);

#endif
