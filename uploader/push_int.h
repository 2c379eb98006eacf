/*
 * push_int.h — the push object shared by push.c (the flow) and lfs.c (object
 * transfers), and the uploader object of uploader.c. Private to uploader/.
 */
#ifndef HUBSYNC_PUSH_INT_H
#define HUBSYNC_PUSH_INT_H

#include "uploader_int.h"

struct push;

struct uploader {
    uv_loop_t *loop;
    struct http_loop *http;
    struct uploader_hashcache *cache;
    uint64_t prehashed; /* files stored by uploader_prehash */
    struct hasher *hasher;
    struct hash_grow *grow; /* files hashed as they are written (hash_grow.c) */
    char *endpoint;
    unsigned max_parallel;
    hs_usec_t retry_base; /* API backoff base, also for re-batch rounds */
    struct push *pushes;
    bool closing, http_closed;
};

/* One file of a push, with its state entry: 40 + 104 bytes, and its paths
 * in the push's one block (issue 14: 100,000 files in a few hundred bytes
 * each, hash cache entry included). */
struct pfile {
    char *local;                /* in p->paths; sf->repo_path is its tail when the local
                                 * path ends with the repo path, else after its NUL */
    struct push_state_file *sf; /* repo path, identity and hashes (p->st.files) */
    uint64_t hash_progress;     /* bytes hashed so far while being hashed */
    bool lfs, ignore, unchanged;
    bool has_sample;      /* preupload sample kept from the hash read, in slot sample_slot */
    uint16_t sample_slot; /* (preupload.c) */
    char *remote_oid;     /* the repo's oid from preupload, until the file is planned */
};

/* One LFS object this run has to make sure the Hub has. */
struct pobj {
    char oid[65];
    uint64_t size;
    const char *local;          /* a file with this content */
    const struct hash_key *key; /* its identity when hashed (sent only if unchanged) */
    size_t next_part;           /* multipart: next part to consider */
    unsigned inflight;
    unsigned rebatches; /* batch calls after the first (bounded: lfs.c REBATCH_MAX) */
    bool batched;       /* batched at least once in this push */
    char why[320];      /* the last storage refusal that made it batch again */
    unsigned refusals;  /* completions that refused the recorded parts (lfs.c) */
    bool done, completing, need_batch;
};

/* Where the streamed commit body is (commit_body.c; thread pool only). */
struct commit_stream {
    uint64_t pos; /* body bytes produced */
    size_t item;  /* next item: 0 the header, then files, then deletions */
    char *line;   /* the current line */
    size_t line_len, line_off;
};

enum push_step {
    STEP_WHOAMI,
    STEP_CREATE,
    STEP_REPO_INFO_AFTER_CREATE,
    STEP_BRANCH,
    STEP_CHECK_SENT,
    STEP_HASH,
    STEP_PREUPLOAD,
    STEP_BATCH,
    STEP_UPLOAD,
    STEP_COMMIT_BUILD,
    STEP_COMMIT,
    STEP_HEAD,
    STEP_DONE,
};

struct push {
    struct uploader *u;
    struct push *next;
    struct hub_repo repo;
    char *summary, *description;
    bool private_repo;
    struct uploader_push_hooks hooks;
    struct pfile *files;
    size_t n_files;
    char *paths;       /* every file's local and repo path (pfile.local) */
    bool prepare_only; /* uploader_push_request.prepare_only: stop before STEP_BRANCH */
    char **deletes;    /* deletedFile paths of the commit; "dir/": deletedFolder */
    size_t n_deletes;
    struct push_state st;
    enum push_step step;
    char *parent;
    struct pobj *objs; /* grown as preupload answers (uploader__push_plan_files) */
    size_t n_objs, objs_cap;
    size_t pump_from;  /* objs before it are all done (lfs.c) */
    unsigned changed;  /* files to commit, counted as preupload answers */
    unsigned inflight; /* http requests, hash jobs and thread-pool work of this push */
    unsigned xfers;    /* storage transfers in flight (parts, basic PUTs, completions) */
    bool batching;
    /* digests hashed while their files were written (push_verify.c): their
     * verifications, and how many are still reading; the commit, or the end
     * without one, waits for them */
    struct pverify *verifs;
    size_t n_verifs;
    unsigned verifying;
    void (*after_verify)(struct push *p);
    /* the resume state (uploader__push_persist_soon): when last written, and
     * whether progress since is not written yet */
    hs_usec_t persisted_at;
    bool persist_dirty;
    size_t hash_next, hash_done, pre_next;
    /* the preupload stage (preupload.c): hashed files not yet in a group are
     * ready[ready_head..ready_tail) */
    size_t *ready, ready_head, ready_tail, pre_answered;
    unsigned pre_inflight;       /* groups being read or asked */
    struct pre_samples *samples; /* preupload.c: samples kept from the hash reads */
    bool pre_open;               /* groups may go (not while a sent commit is looked for) */
    unsigned commit_attempts;
    bool commit_refused; /* a 412: fail with commit_412 unless the tree has our files */
    struct hs_err commit_412;
    int failed;
    struct hs_err err;
    struct uploader_result res;
    struct uploader_progress prog;
    hs_usec_t last_progress;
    uint64_t bytes_out_start;
    char first_skipped[HS_ERR_MAX / 2]; /* the message of the first file skipped */
    uint64_t commit_len;                /* of the streamed body (commit_body.c) */
    struct commit_stream cstream;
    unsigned commit_ops;
    uv_work_t work;
};

/* push_verify.c: the digests of this push hashed while their files were
 * written (hash_grow.c), verified before they are committed. */
struct pverify {
    struct grow_verify *v;
    size_t idx; /* a file with it */
    bool ended;
};
/* File idx got an unverified digest: its verification begins (shared by
 * files of one identity). < 0 and the push failed. */
int uploader__push_verify_add(struct push *p, size_t idx);
/* The verification an upload of the file with identity k hands its bytes. */
struct grow_verify *uploader__push_verify_for(struct push *p, const struct hash_key *k);
/* Before committing (or ending without a commit): the verifications read what
 * no upload sent; true when fn must wait, called once they all agreed. */
bool uploader__push_verify_hold(struct push *p, void (*fn)(struct push *p));
/* The push failed: finish the verifications anyway (not when cancelled or
 * interrupted), so a stale digest is found and dropped, and is the reason. */
void uploader__push_verify_flush(struct push *p);
void uploader__push_verify_free(struct push *p);

/* push.c */
void uploader__push_fail(struct push *p, int code, const struct hs_err *err);
void uploader__push_queue_hashes(struct push *p); /* more files to the hasher, as allowed */
void uploader__push_maybe_end(struct push *p);    /* ends the push once nothing is in flight */
void uploader__push_plan_files(struct push *p, const size_t *idx, size_t n); /* a group answered */
void uploader__push_plan(struct push *p); /* every file answered by preupload: on to the commit */
void uploader__push_interrupt(struct push *p);
void uploader__push_progress(struct push *p, bool force);
/* Write the resume state now (a milestone: every file hashed, the commit
 * about to be sent, an interruption); < 0 and the push failed. */
int uploader__push_persist(struct push *p);
/* Progress a crash may lose because the Hub tells it again (an object
 * stored: the next batch answer says the Hub has it; a batch answer): written
 * at most every PERSIST_EVERY_MS, else with the next write or when the push
 * fails, so a push of n objects writes its O(n) state O(duration) times, not
 * n times. A part's ETag is written at once (uploader__push_persist): the
 * durability rule is that a part storage acknowledged is never sent again. */
int uploader__push_persist_soon(struct push *p);
int uploader__push_submit(struct push *p, struct http_request *r);
bool uploader__push_settle(struct push *p, struct http_request *r);
void uploader__push_fail_http(struct push *p, struct http_request *r, const char *what);
void uploader__lfs_all_done(struct push *p); /* push.c: every object is stored → commit */
struct http_request *uploader__push_api(struct push *p, const char *method, char *url_owned,
                                        void (*done)(struct http_request *, void *));
struct http_request *uploader__push_api_json(struct push *p, char *url_owned, char *body_owned,
                                             void (*done)(struct http_request *, void *));

/* commit_body.c: thread-pool work measuring the commit body (errors in
 * p->err); the body of the commit request r, streamed; its memory freed. */
void uploader__push_build_commit(uv_work_t *w);
void uploader__push_commit_body(struct push *p, struct http_request *r);
void uploader__push_commit_body_free(struct push *p);

/* preupload.c */
void uploader__preupload_ready(struct push *p, size_t idx); /* file idx is hashed */
void uploader__preupload_pump(struct push *p);
/* A sample slot for file idx's hash (*buf, PRE_SAMPLE_MAX bytes; NULL when
 * samples are not kept: the sample is read from the file), 0; or -EAGAIN
 * when every slot is taken: hash idx once a group frees some (the stage
 * calls uploader__push_queue_hashes). */
int uploader__preupload_sample_slot(struct push *p, size_t idx, void **buf);
/* The hash of idx ended: its sample is kept when len is not SIZE_MAX (the
 * hasher filled it), else its slot is freed. */
void uploader__preupload_sample_done(struct push *p, size_t idx, size_t len);
void uploader__preupload_free(struct push *p);
#define PRE_SAMPLE_MAX 512

/* lfs.c */
void uploader__lfs_start(struct push *p); /* STEP_BATCH: batch calls, then uploads, then commit */
void uploader__lfs_pump(struct push *p);

#endif
