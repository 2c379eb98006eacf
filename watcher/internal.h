/*
 * internal.h — what the files of watcher/ share and nobody else sees: the
 * normalised event, the event queue to the loop, the backend interface that
 * the inotify thread and the poll scanner both implement (redis ae-style: a
 * few operations, two implementations), the per-layout detector interface,
 * and the job structure that ties them together.
 */
#ifndef HUBSYNC_WATCHER_INTERNAL_H
#define HUBSYNC_WATCHER_INTERNAL_H

#include "watcher.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>

/* ---- events (backend thread → loop) ------------------------------------ */

enum watcher__ev_kind {
    WEV_CREATED,      /* a file appeared (inotify IN_CREATE, or found by a scan) */
    WEV_MODIFIED,     /* written (consecutive ones are coalesced) */
    WEV_CLOSED_WRITE, /* closed after writing (poll: unchanged over one interval) */
    WEV_MOVED_IN,     /* renamed into place (cookie pairs it with a MOVED_OUT) */
    WEV_MOVED_OUT,
    WEV_DELETED,
    WEV_DIR_CREATED,
    WEV_SCAN_BEGIN, /* a (re)scan of the whole root starts: everything is re-reported */
    WEV_SCAN_DONE,  /* ... and is complete; initial == first scan of the job */
    WEV_ROOT_GONE,  /* the root was deleted or is missing: forget pending saves */
    WEV_NOTICE,     /* path holds a sentence for on_notice, cookie the level */
    WEV_USE_POLL,   /* inotify cannot watch this root (limit): switch to polling */
};

struct watcher__event {
    struct watcher__event *next;
    uint32_t job_id;
    uint8_t kind;
    bool is_dir;
    bool from_scan;
    bool initial;
    uint32_t cookie;
    hs_usec_t time; /* monotonic */
    char path[];    /* relative to the root, "" for the root itself */
};

struct watcher__event *watcher__event_new(uint32_t job_id, int kind, const char *path);

/* A locked FIFO drained by the loop in one go (uv_async sends coalesce). */
struct watcher__queue {
    pthread_mutex_t lock;
    struct watcher__event *head, **tail;
    uv_async_t async;
};
int watcher__queue_init(struct watcher__queue *q, uv_loop_t *loop, uv_async_cb cb);
/* Append a chain (from any thread) and wake the loop. */
void watcher__queue_push(struct watcher__queue *q, struct watcher__event *first,
                         struct watcher__event **last_next);
struct watcher__event *watcher__queue_take(struct watcher__queue *q);
void watcher__events_free(struct watcher__event *e);

/* A batch under construction on a backend thread. */
struct watcher__batch {
    struct watcher__event *head, **tail;
    size_t n;
};
void watcher__batch_init(struct watcher__batch *b);
void watcher__batch_add(struct watcher__batch *b, struct watcher__event *e);
void watcher__batch_flush(struct watcher__batch *b, struct watcher__queue *q);
void watcher__batch_notice(struct watcher__batch *b, uint32_t job_id, int level, const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));

/* Names never watched nor reported: hidden (".hubsync", ".git", editors'
 * and tools' temp files) and tmp-checkpoint-* staging folders. */
bool watcher__name_ignored(const char *name);
/* True when name can be reported: valid UTF-8, no control characters. */
bool watcher__name_printable(const char *name);
/* name with bytes outside printable ASCII as \xNN, for messages. */
void watcher__name_escape(const char *name, char *out, size_t n);

/* Directory walks (the scans of both backends, the listing of a save) are
 * common/tree.c's hs_tree_walk; each skips ignored names in its visit. */

/* ---- backends ---------------------------------------------------------- */

struct watcher__backend;

/* The operations both backends offer. add_root makes the backend scan the
 * root (SCAN_BEGIN … SCAN_DONE initial) then report changes; remove_root
 * forgets it. All calls are made from the loop thread and return at once;
 * the work happens on the backend's thread. */
struct watcher__backend_ops {
    const char *name;
    int (*add_root)(struct watcher__backend *b, uint32_t job_id, const char *root,
                    hs_usec_t interval, struct hs_err *err);
    int (*remove_root)(struct watcher__backend *b, uint32_t job_id);
    void (*destroy)(struct watcher__backend *b); /* joins the thread(s) */
};

struct watcher__backend {
    const struct watcher__backend_ops *ops;
    struct watcher__queue *queue;
};

int watcher__inotify_new(struct watcher__queue *q, struct watcher__backend **out,
                         struct hs_err *err);
int watcher__inotify_pause(struct watcher__backend *b, bool paused);
int watcher__inotify_fake_limit(struct watcher__backend *b, size_t limit);
int watcher__poll_new(struct watcher__queue *q, struct watcher__backend **out, struct hs_err *err);

/* statfs f_type → name, and whether inotify is blind to remote writes there
 * ("unknown", false for a magic not in the table). */
const char *watcher__fs_name(unsigned long magic, bool *remote);
/* The same for the filesystem holding path. */
const char *watcher__fs_type(const char *path, bool *remote);
/* Does a job with this watch_mode on such a filesystem poll? */
bool watcher__use_poll(enum watcher_mode mode, bool remote);

/* ---- detector ---------------------------------------------------------- */

enum watcher__rule {
    WRULE_MARKER,       /* a marker file/rename proves completion (W==1: at once) */
    WRULE_MARKER_QUIET, /* a marker, then marker_quiet of no writes */
    WRULE_SETTLE,       /* no marker: settle of no writes */
};

struct watcher__match {
    enum watcher_layout layout;
    size_t key_len; /* bytes of the path that name the save ("checkpoint-5") */
    bool is_dir;    /* the save is a directory (else one file) */
    int64_t number; /* the number in the name, -1 none */
};

struct watcher__cand;
struct watcher__job;

/* Outcome of a disk check of one save. */
/* UNSURE: the completion marker is there but unreadable (truncated, not
 * JSON, wrong types): complete only once quiet for settle (probe.settled),
 * then COMPLETE with probe.warn naming the file and the problem. */
enum watcher__check { WCHECK_COMPLETE, WCHECK_INCOMPLETE, WCHECK_GONE, WCHECK_UNSURE };

/* What a layout's check reads and fills. Copied from the job and the save
 * on the loop; the check runs on the thread pool and touches nothing else. */
struct watcher__probe {
    const char *folder; /* absolute path of the save (directory or file) */
    int64_t number;     /* the number in its name, -1 none */
    unsigned world;     /* world_size */
    int64_t step;       /* out: global step, -1 unknown */
    double epoch;       /* out: < 0 unknown */
    bool is_dir;        /* in: as classified; out: as found (generic) */
    bool settled;       /* in: quiet for settle: an unreadable marker is accepted */
    hs_usec_t settle;   /* in (saves of the first scan): ... or when the marker is
                           older than this (realtime), 0 not */
    char why[256];      /* out: why it is not complete */
    char warn[320];     /* out: COMPLETE despite this (an unreadable marker) */
};

struct watcher__layout_ops {
    enum watcher_layout id;
    const char *name;
    enum watcher__rule rule;
    /* Does path (relative to the root) belong to a save of this layout? */
    bool (*classify)(const char *path, struct watcher__match *m);
    /* Is rel (relative to the save's folder) the layout's completion marker,
     * or is the save's own path being renamed in the marker? */
    bool (*is_marker)(const char *rel);
    /* The completion marker relative to the checkpoint's base, when it is a
     * file (trainer_state.json, DeepSpeed's latest), else NULL: with W > 1
     * files not seen closed must be older than it for READY at once. */
    const char *marker_file;
    /* Check the save on disk (any thread); fill step/epoch; why gets a short
     * reason. */
    enum watcher__check (*check)(struct watcher__probe *p);
};

extern const struct watcher__layout_ops watcher__layout_trainer;
extern const struct watcher__layout_ops watcher__layout_accelerate;
extern const struct watcher__layout_ops watcher__layout_lightning;
extern const struct watcher__layout_ops watcher__layout_deepspeed;
extern const struct watcher__layout_ops watcher__layout_generic;

/* A small set of paths (relative to a save's folder). */
struct watcher__strset {
    char **v;
    size_t n, cap;
};

/* A save seen on disk, from its first event until READY (and after, as a
 * "done" record so the same save is not reported twice). */
struct watcher__cand {
    struct watcher__cand *next;
    char *key; /* path relative to the root */
    const struct watcher__layout_ops *lay;
    bool is_dir;
    int64_t number;
    uint64_t seq; /* creation order among the job's candidates */
    bool done;
    bool existing;    /* seen by the initial scan */
    bool seen;        /* touched by the current rescan */
    bool marker;      /* marker seen (close-write, rename, or scan) */
    bool marker_live; /* ... by a live event rather than a scan */
    bool blocked;     /* checked and incomplete: wait for the next event in it */
    hs_usec_t marker_at;
    hs_usec_t last_activity;
    dev_t dev; /* identity of the folder/file when done */
    ino_t ino;
    hs_usec_t mtime; /* files: mtime when done */
    int64_t step;    /* filled by check() */
    double epoch;
    struct watcher__strset open;   /* files (relative to key) written, not closed yet */
    struct watcher__strset closed; /* ... seen closed after writing (live) */
    struct watcher__strset made;   /* ... seen created (live), not closed yet */
    hs_usec_t open_check;          /* when to look at files whose close never came, 0 = default */
    bool quiet_needed;             /* W > 1: a file not seen closed: marker_quiet applies */
    bool renamed;                  /* the folder was renamed into its final name */
    uint64_t events;               /* events seen in it: a check started before the last is stale */
    struct watcher__eval_item *checking; /* its check in flight, NULL none */
    struct watcher__prot *prot;          /* its protected entry in the spool, NULL none */
    struct watcher__strset files;        /* every file seen in it (relative to key) */
    bool gone;   /* its folder vanished after its marker: decided on the protected entry */
    bool unsure; /* its marker was unreadable: the settle rule applies */
};

/* A job as the loop sees it. */
/* The public handle (watcher.h declares it opaque) is a member of the
 * job: &j->pub out, watcher__job_of() back; no casts between the two. */
struct watcher_job {
    char unused; /* C wants a member; nothing reads it */
};

struct watcher__job {
    struct watcher_job pub;
    struct watcher *w;
    uint32_t id;
    struct watcher_options o; /* strings owned */
    char *spool_rel;          /* spool path relative to root when inside it */
    struct watcher__backend *backend;
    const char *mode;
    const char *fs_type;
    uv_timer_t timer;
    bool timer_armed;
    hs_usec_t timer_due;
    bool initial_done;
    bool removed;
    struct watcher__cand *cands;
    uint64_t cand_seq; /* the next candidate's seq */
    size_t n_pending;
    /* training output waiting for quiet */
    char **out;
    size_t n_out, cap_out;
    hs_usec_t out_activity;
    /* counters */
    uint64_t rescans, ready, spool_bytes, snap_seq;
    uint64_t spool_reserved; /* bytes of async snapshots in flight */
    bool spool_full;
    unsigned inflight;          /* thread-pool work holding this job */
    struct watcher__eval *eval; /* the check in flight (one at a time), NULL none */
    bool existing_wanted;       /* the first scan ended while a check ran */
    bool timer_closed;          /* freed once closed and inflight == 0 */
    /* protect-on-sight (protect.c) */
    struct watcher__prot *prots;            /* entries owned by the job */
    struct watcher__pop *pops, **pops_tail; /* operations waiting for the pool */
    bool pwork;                             /* a batch of them runs on the pool */
    uint64_t protect_bytes;                 /* bytes held by those entries */
    bool protect_off;                       /* neither link nor reflink works */
    struct watcher__job *next;
};

static inline struct watcher__job *watcher__job_of(struct watcher_job *pub)
{
    return (struct watcher__job *)((char *)pub - offsetof(struct watcher__job, pub));
}
static inline const struct watcher__job *watcher__job_cof(const struct watcher_job *pub)
{
    return (const struct watcher__job *)((const char *)pub - offsetof(struct watcher__job, pub));
}

/* lane.c: one thread for the protect links (why: lane.c). A request's
 * work() runs on the lane's thread, then after() on the loop. */
struct watcher__lane_req {
    struct watcher__lane_req *next;
    void (*work)(struct watcher__lane_req *r);
    void (*after)(struct watcher__lane_req *r);
};
struct watcher__lane {
    uv_async_t async;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct watcher__lane_req *todo, **todo_tail, *done, **done_tail;
    bool stop;
    void *data;
};
int watcher__lane_init(struct watcher__lane *l, uv_loop_t *loop, void *data);
void watcher__lane_queue(struct watcher__lane *l, struct watcher__lane_req *r);
/* Only once no request is queued or running; cb when the handle is closed. */
void watcher__lane_close(struct watcher__lane *l, uv_close_cb cb);

struct watcher {
    uv_loop_t *loop;
    struct watcher__lane lane; /* the protect links (protect.c) */
    struct watcher_callbacks cb;
    void *userdata;
    struct watcher__queue queue;
    struct watcher__backend *inotify;
    struct watcher__backend *poll;
    struct watcher__job *jobs;
    uint32_t next_id;
    unsigned pending_closes;
    bool closing;
    bool test_hold;      /* watcher_test_hold_checks */
    int test_init_error; /* watcher_test_inotify_init_error */
};

/* Thread-pool work pins the job (and the watcher) until it is done. */
void watcher__job_work_start(struct watcher__job *j);
void watcher__job_work_done(struct watcher__job *j);

/* Messages produced on the thread pool, given to on_notice on the loop. */
struct watcher__notes {
    char *v[16];
    size_t n;
};
void watcher__notes_add(struct watcher__notes *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One save's check (check.c): inputs copied on the loop, results filled on
 * the thread pool. c is cleared when the save is forgotten meanwhile. */
struct watcher__eval_item {
    struct watcher__cand *c;
    uint64_t seq; /* c->events when the check started */
    const struct watcher__layout_ops *lay;
    char *key;
    char folder[HS_PATH_MAX]; /* the save as reported (cp->folder) */
    char look[HS_PATH_MAX];   /* where it is checked and listed: folder, or its protected copy */
    int64_t number;
    struct watcher__probe probe;
    enum watcher__check result;
    struct watcher_checkpoint *cp; /* COMPLETE: the report (files unsorted) */
    hs_usec_t newest;              /* newest file mtime (realtime) */
    bool have_id;                  /* identity of the save when listed */
    dev_t dev;
    ino_t ino;
    hs_usec_t mtime;
};

struct watcher__eval {
    uv_work_t req;
    struct watcher__job *j;
    const char *root;
    bool existing; /* the saves found by the first scan (existing_checkpoints) */
    size_t n;
    struct watcher__eval_item *items;
    struct watcher__notes notes;
};

/* ---- protect-on-sight (protect.c) ------------------------------------------
 * A folder save's files are hard-linked (else reflinked) into an entry of
 * the spool as soon as each is seen complete; the entry becomes the
 * snapshot's directory at READY (watcher__prot_adopt). */

/* One protected file: its path relative to the checkpoint's base, how it
 * was taken and the identity of the original when it was. */
struct watcher__pfile {
    char *rel;
    int method; /* WATCHER_SNAPSHOT_HARDLINK or _REFLINK */
    uint64_t size, dev, ino;
    hs_usec_t mtime;
};

struct watcher__prot {
    struct watcher__prot *next; /* in j->prots while the job owns it */
    char *id;                   /* the save's id (its key) */
    char *src;                  /* absolute base of the original save */
    char *prefix;               /* the save's folder relative to that base ("" same) */
    char *dir;                  /* absolute entry directory in the spool */
    struct watcher__pfile *files;
    size_t n_files, cap_files;
    uint64_t bytes;
    unsigned busy; /* operations queued or running */
    bool release;  /* remove once idle */
    bool ready;    /* reported READY: a snapshot of id may adopt it */
    bool keep;     /* a snapshot was refused for the budget: kept for its retry */
    bool created;  /* dir was made by us (pool thread; read once the work is done):
                    * only then is it ever removed */
};

/* Remove p's entry directory if this process created it (never a folder
 * that was there before, e.g. reached through a planted link). */
void watcher__prot_rm(struct watcher__prot *p);

/* Is c a save whose files are protected on sight? */
bool watcher__prot_wanted(struct watcher__job *j, const struct watcher__cand *c);
/* Protect rel (relative to c's folder; "" or a directory: every file below
 * it) on the thread pool. */
void watcher__prot_add(struct watcher__job *j, struct watcher__cand *c, const char *rel, bool walk);
/* Give up p (not READY, or not adopted): its bytes leave the count now, its
 * directory is removed on the pool (at once when the job is torn down). */
void watcher__prot_release(struct watcher__job *j, struct watcher__prot *p);
/* The protected record of rel (relative to the base), NULL none. */
const struct watcher__pfile *watcher__prot_file(const struct watcher__prot *p, const char *rel);
/* The READY entry of save id, taken out of the job for a snapshot (NULL
 * none); freed with watcher__prot_free once the snapshot owns its dir. */
struct watcher__prot *watcher__prot_adopt(struct watcher__job *j, const char *id);
void watcher__prot_free(struct watcher__prot *p);
/* A snapshot of id was refused for the budget: keep its entry. */
void watcher__prot_keep(struct watcher__job *j, const char *id);
/* Before on_checkpoint_ready: p may be adopted (an older entry of the same
 * save is released). After it: an entry no snapshot adopted is released. */
void watcher__prot_ready(struct watcher__job *j, struct watcher__prot *p);
void watcher__prot_after_ready(struct watcher__job *j, struct watcher__prot *p);
/* Job teardown: remove every entry the job still owns (no work in flight). */
void watcher__prot_free_all(struct watcher__job *j);
/* The save c, seen complete, can never be READY: on_checkpoint_lost once. */
void watcher__lost(struct watcher__job *j, struct watcher__cand *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Called when a batch of protection ended (detect.c reschedules). */
void watcher__detect_protected(struct watcher__job *j);
/* Put src at dst: hard link (when may_link), else FICLONE, else a copy
 * (when may_copy); returns the watcher_snapshot_method or -errno. */
int watcher__put_file(const char *src, const char *dst, bool may_link, bool may_copy);
/* "<id>-<seq>" with '/' and control characters replaced (spool names). */
void watcher__spool_name(struct watcher__job *j, const char *id, char *out, size_t cap);

/* Check saves on the thread pool; watcher__detect_checked() gets the results
 * on the loop. One at a time per job (-EBUSY while one runs). */
int watcher__eval_start(struct watcher__job *j, struct watcher__cand **cands, size_t n,
                        bool existing);
void watcher__detect_checked(struct watcher__job *j, struct watcher__eval *ev);
/* Cut the link between an item and its save both ways (the save may then be
 * freed; the item's result is no longer applied to it). */
void watcher__eval_detach(struct watcher__eval_item *it);

void watcher__detect_event(struct watcher__job *j, const struct watcher__event *e);
/* Report c READY with its checkpoint (detect.c), or remember it as done
 * without reporting it. */
void watcher__fire(struct watcher__job *j, struct watcher__cand *c, struct watcher__eval_item *it);
void watcher__mark_done(struct watcher__job *j, struct watcher__cand *c,
                        const struct watcher__eval_item *it);
/* existing_checkpoints (detect_existing.c): check the saves of the first
 * scan, and apply the option to the results. */
void watcher__apply_existing(struct watcher__job *j);
void watcher__existing_done(struct watcher__job *j, struct watcher__eval *ev);

/* Small sets of paths (files.c). */
void watcher__set_clear(struct watcher__strset *s);
void watcher__set_free(struct watcher__strset *s);
bool watcher__set_has(const struct watcher__strset *s, const char *rel);
void watcher__set_add(struct watcher__strset *s, const char *rel);
void watcher__set_remove(struct watcher__strset *s, const char *rel);
void watcher__set_remove_tree(struct watcher__strset *s, const char *rel);
void watcher__detect_timer_cb(uv_timer_t *t);
void watcher__detect_free(struct watcher__job *j);
void watcher__notice(struct watcher__job *j, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Absolute path of a save. */
int watcher__cand_path(struct watcher__job *j, const struct watcher__cand *c, char *out, size_t n);
/* Fill a checkpoint's file list: regular files under folder (recursively,
 * relative to base with prefix), skipping ignored names and reporting
 * unprintable ones in notes (root names the job in them). Appends to
 * cp->files. Any thread. */
int watcher__list_files(struct watcher__notes *notes, const char *root,
                        struct watcher_checkpoint *cp, const char *dir, const char *prefix);
int watcher__add_file(struct watcher_checkpoint *cp, const char *rel, const struct stat *st);
/* DeepSpeed engine checkpoint in save_dir with tag folder `tag` (NULL: read
 * save_dir/latest): latest names tag or a later one, model states present,
 * one ZeRO optimizer shard per rank. */
bool watcher__deepspeed_consistent(const char *save_dir, const char *tag, int64_t number,
                                   unsigned world, char *why, size_t why_len);
/* Parse a decimal number filling all of s[0..n) (no sign); -1 if not one. */
int64_t watcher__parse_num(const char *s, size_t n);

/* A save directory named by the first or the second component of path
 * ("checkpoint-5/...", "out/checkpoint-5/..."): number() of that component
 * is >= 0. Fills m with layout id, the key length and the number. */
bool watcher__classify_dir(const char *path, enum watcher_layout id,
                           int64_t (*number)(const char *s, size_t n), struct watcher__match *m);
/* cp->folder relative to cp->base ("" when they are the same). */
const char *watcher__folder_in_base(const struct watcher_checkpoint *cp);
/* Does folder/rel exist as a regular file? */
bool watcher__file_exists(const char *folder, const char *rel);

/* ---- the spool (spool.c) ---- */

/* Make the spool path's missing components below root as real 0700
 * directories and check the existing ones (watcher_spool_check's rules),
 * writing the marker into an empty spool root. _open returns the spool's
 * descriptor (O_CLOEXEC; the caller closes it) for *at() calls that cannot
 * be redirected by a later swap; _prepare returns 0. Errors with err filled:
 * -ELOOP, -ENOTDIR, -EPERM, -EEXIST (not a hubsync spool), -errno. */
int watcher__spool_open(const char *root, const char *spool_dir, struct hs_err *err);
int watcher__spool_prepare(const char *root, const char *spool_dir, struct hs_err *err);
/* A name of hubsync's own spool entries: "<sanitized id>-<decimal seq>". */
bool watcher__spool_name_ok(const char *name);

#endif
