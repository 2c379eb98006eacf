/*
 * protect.c — protect-on-sight: each file of a folder save (checkpoint-N,
 * global_stepN, accelerate's checkpoint_i…) is hard-linked, else reflinked,
 * into an entry of the job's spool as soon as the watcher sees it complete
 * (closed after writing, renamed in, or found by the scan of a folder that
 * appeared), so that a rotation right after the save's marker (the
 * Trainer's end-of-training cleanup deletes the last checkpoint ~100 ms
 * after writing it) cannot lose it. The entry is named like a snapshot
 * (<sanitized id>-<seq>) and becomes the snapshot's directory at READY
 * (snapshot.c adopts it); an entry whose save never becomes READY is
 * removed. The links and removals run on the watcher's protect lane
 * (lane.c: a thread of their own, at the priority hubsync started with),
 * one batch per job at a time; the records (which file, how, the identity of the
 * original) live on the loop. Not here: when a save is complete (detect.c)
 * and the snapshot itself (snapshot.c).
 *
 * Where neither a hard link nor a reflink is possible (another filesystem,
 * fs.protected_hardlinks without a reflink-capable filesystem), copying every
 * file at close would double the trainer's I/O: protection is switched off
 * for the job with one notice and snapshots copy at READY as before.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

enum { POP_FILE, POP_WALK, POP_REMOVE };

/* One operation on one entry. */
struct watcher__pop {
    struct watcher__pop *next;
    struct watcher__prot *p; /* pinned by p->busy */
    int kind;
    char *rel; /* relative to the base (FILE, WALK) */
    /* results, filled on the pool */
    struct watcher__pfile *got;
    size_t n_got, cap_got;
    bool no_method;
    char why[320];
};

struct pwork {
    struct watcher__lane_req req; /* first: the lane hands it back */
    struct watcher__job *j;
    const char *root, *spool_dir; /* the job's, stable while the work pins it */
    int spool_ok;                 /* 0 unchecked, 1 prepared, < 0 refused (spool_why) */
    char spool_why[HS_ERR_MAX];
    struct watcher__pop *ops;
    struct watcher__notes notes;
};

static void start_batch(struct watcher__job *j);

/* ---- the work (any thread) ----------------------------------------------------- */

static void got_add(struct watcher__pop *op, const char *rel, int method, const struct stat *st)
{
    if (op->n_got == op->cap_got) {
        size_t n = op->cap_got ? op->cap_got * 2 : 4;
        struct watcher__pfile *v = realloc(op->got, n * sizeof(*v));
        if (!v)
            return; /* not recorded: taken again at READY */
        op->got = v;
        op->cap_got = n;
    }
    char *r = strdup(rel);
    if (!r)
        return;
    op->got[op->n_got++] = (struct watcher__pfile){
        .rel = r,
        .method = method,
        .size = (uint64_t)st->st_size,
        .dev = st->st_dev,
        .ino = st->st_ino,
        .mtime =
            (hs_usec_t)st->st_mtim.tv_sec * HS_USEC_PER_SEC + (hs_usec_t)st->st_mtim.tv_nsec / 1000,
    };
}

/* Hard link, else reflink, one file of the save into the entry. */
static void protect_one(struct pwork *w, struct watcher__pop *op, const char *rel)
{
    struct watcher__prot *p = op->p;
    char src[HS_PATH_MAX], dst[HS_PATH_MAX];
    struct stat s, d;
    if (hs_path_join_under(src, sizeof(src), p->src, rel) < 0 ||
        hs_path_join_under(dst, sizeof(dst), p->dir, rel) < 0)
        return;
    if (lstat(src, &s) != 0 || !S_ISREG(s.st_mode))
        return; /* gone already (or not a file): nothing to protect */
    /* nothing in the spool is touched before it is known to be ours */
    if (!w->spool_ok) { /* once per batch: a real directory of ours (spool.c) */
        struct hs_err e = {0};
        w->spool_ok = watcher__spool_prepare(w->root, w->spool_dir, &e) < 0 ? -1 : 1;
        snprintf(w->spool_why, sizeof(w->spool_why), "%s", e.msg);
    }
    if (w->spool_ok < 0) {
        snprintf(op->why, sizeof(op->why), "%.300s", w->spool_why);
        return;
    }
    if (!p->created && mkdir(p->dir, 0700) != 0) {
        /* an entry of that name that we did not make is not ours to fill */
        snprintf(op->why, sizeof(op->why), "%.200s: %s", p->dir,
                 errno == EEXIST ? "exists already" : strerror(errno));
        return;
    }
    p->created = true;
    if (lstat(dst, &d) == 0) {
        if (d.st_dev == s.st_dev && d.st_ino == s.st_ino) {
            got_add(op, rel, WATCHER_SNAPSHOT_HARDLINK, &s); /* seen again: same inode */
            return;
        }
        unlink(dst); /* replaced or rewritten since: take it again */
    }
    char *slash = strrchr(dst, '/');
    *slash = 0;
    int r = hs_mkdir_p(dst, 0700);
    *slash = '/';
    if (r < 0) {
        snprintf(op->why, sizeof(op->why), "%.200s: %s", p->dir, hs_strerror(r));
        return;
    }
    if (link(src, dst) == 0) {
        if (lstat(dst, &d) == 0)
            got_add(op, rel, WATCHER_SNAPSHOT_HARDLINK, &d);
        return;
    }
    int link_err = errno;
    if (link_err == ENOENT)
        return; /* deleted meanwhile */
    if (link_err != EXDEV && link_err != EPERM && link_err != EACCES && link_err != EMLINK) {
        snprintf(op->why, sizeof(op->why), "cannot link %.120s into %.120s: %s", src, p->dir,
                 strerror(link_err));
        return;
    }
    r = watcher__put_file(src, dst, false, false); /* FICLONE only */
    if (r == WATCHER_SNAPSHOT_REFLINK) {
        got_add(op, rel, WATCHER_SNAPSHOT_REFLINK, &s); /* the original as it was cloned */
        return;
    }
    op->no_method = r == -EXDEV || r == -EOPNOTSUPP || r == -EINVAL || r == -ENOTTY ||
                    r == -EPERM || r == -EACCES;
    if (r == -ENOENT)
        return;
    snprintf(op->why, sizeof(op->why), "hard link: %s; reflink: %s", strerror(link_err),
             strerror(r < 0 ? -r : EOPNOTSUPP));
}

void watcher__prot_rm(struct watcher__prot *p)
{
    if (p && p->created)
        hs_rm_tree(p->dir);
}

static void work_cb(struct watcher__lane_req *req)
{
    struct pwork *w = (struct pwork *)req;
    for (struct watcher__pop *op = w->ops; op; op = op->next) {
        struct watcher__prot *p = op->p;
        if (op->kind == POP_REMOVE) {
            watcher__prot_rm(p);
        } else if (op->kind == POP_FILE) {
            protect_one(w, op, op->rel);
        } else {
            /* a directory renamed in: every file below it, at once */
            struct watcher_checkpoint tmp = {.id = p->id};
            char dir[HS_PATH_MAX];
            if (hs_path_join_under(dir, sizeof(dir), p->src, op->rel) == 0)
                watcher__list_files(&w->notes, w->root, &tmp, dir, op->rel);
            for (size_t i = 0; i < tmp.n_files && !op->no_method; i++)
                protect_one(w, op, tmp.files[i].path);
            for (size_t i = 0; i < tmp.n_files; i++)
                free(tmp.files[i].path);
            free(tmp.files);
        }
    }
}

/* ---- records (loop) ------------------------------------------------------------ */

const struct watcher__pfile *watcher__prot_file(const struct watcher__prot *p, const char *rel)
{
    for (size_t i = 0; p && i < p->n_files; i++)
        if (!strcmp(p->files[i].rel, rel))
            return &p->files[i];
    return NULL;
}

/* Record what an operation took (taking over its strings). */
static void record(struct watcher__job *j, struct watcher__prot *p, struct watcher__pfile *f)
{
    struct watcher__pfile *old = (struct watcher__pfile *)watcher__prot_file(p, f->rel);
    if (old) {
        p->bytes -= old->size;
        j->protect_bytes -= old->size;
        free(old->rel);
        *old = *f;
    } else {
        if (p->n_files == p->cap_files) {
            size_t n = p->cap_files ? p->cap_files * 2 : 8;
            struct watcher__pfile *v = realloc(p->files, n * sizeof(*v));
            if (!v) {
                free(f->rel); /* not recorded: taken again at READY */
                return;
            }
            p->files = v;
            p->cap_files = n;
        }
        p->files[p->n_files++] = *f;
    }
    p->bytes += f->size;
    j->protect_bytes += f->size;
}

void watcher__prot_free(struct watcher__prot *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_files; i++)
        free(p->files[i].rel);
    free(p->files);
    free(p->id);
    free(p->src);
    free(p->prefix);
    free(p->dir);
    free(p);
}

static void unlist(struct watcher__job *j, struct watcher__prot *p)
{
    for (struct watcher__prot **pp = &j->prots; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            p->next = NULL;
            return;
        }
}

static void queue_op(struct watcher__job *j, struct watcher__prot *p, int kind, const char *rel)
{
    struct watcher__pop *op = calloc(1, sizeof(*op));
    if (!op || (rel && !(op->rel = strdup(rel)))) {
        free(op);
        return; /* out of memory: the file is taken at READY */
    }
    op->p = p;
    op->kind = kind;
    p->busy++;
    if (!j->pops_tail)
        j->pops_tail = &j->pops;
    *j->pops_tail = op;
    j->pops_tail = &op->next;
    start_batch(j);
}

/* ---- the batch on the pool -------------------------------------------------------- */

/* The file is protected: tell the caller (on_file_protected), who may read
 * it ahead. */
static void announce(struct watcher__job *j, struct watcher__prot *p, const char *rel)
{
    char path[HS_PATH_MAX];
    if (j->removed || !j->w->cb.on_file_protected ||
        hs_path_join_under(path, sizeof(path), p->dir, rel) < 0)
        return;
    j->w->cb.on_file_protected(&j->pub, p->id, path, j->w->userdata);
}

static void after_cb(struct watcher__lane_req *req)
{
    struct pwork *w = (struct pwork *)req;
    struct watcher__job *j = w->j;
    j->pwork = false;
    for (size_t i = 0; i < w->notes.n; i++) {
        if (!j->removed)
            watcher__notice(j, WATCHER_NOTICE_WARN, "%s", w->notes.v[i]);
        free(w->notes.v[i]);
    }
    for (struct watcher__pop *op = w->ops, *next; op; op = next) {
        next = op->next;
        struct watcher__prot *p = op->p;
        for (size_t i = 0; i < op->n_got; i++) {
            if (op->kind != POP_REMOVE && !p->release) {
                announce(j, p, op->got[i].rel);
                record(j, p, &op->got[i]);
            } else
                free(op->got[i].rel);
        }
        if (op->no_method && !j->protect_off && !j->removed) {
            j->protect_off = true;
            watcher__notice(j, WATCHER_NOTICE_WARN,
                            "%s: cannot protect checkpoint files on sight in the spool %s (%s); "
                            "this job copies each checkpoint when it is complete instead, so a "
                            "save deleted right after it is written can be lost",
                            j->o.root, j->o.spool_dir, op->why);
        } else if (op->why[0] && !op->no_method && !j->removed) {
            watcher__notice(j, WATCHER_NOTICE_WARN, "%s: %s: %s (taken at READY instead)",
                            j->o.root, p->id, op->why);
        }
        p->busy--;
        if (op->kind == POP_REMOVE)
            watcher__prot_free(p);
        else if (!p->busy && p->release)
            queue_op(j, p, POP_REMOVE, NULL);
        free(op->got);
        free(op->rel);
        free(op);
    }
    free(w);
    if (!j->removed) {
        start_batch(j);
        watcher__detect_protected(j);
    }
    watcher__job_work_done(j); /* may free j */
}

static void start_batch(struct watcher__job *j)
{
    if (j->pwork || !j->pops || j->removed)
        return;
    struct pwork *w = calloc(1, sizeof(*w));
    if (!w)
        return; /* retried with the next operation */
    w->req.work = work_cb;
    w->req.after = after_cb;
    w->j = j;
    w->root = j->o.root;
    w->spool_dir = j->o.spool_dir;
    w->ops = j->pops;
    watcher__lane_queue(&j->w->lane, &w->req);
    j->pops = NULL;
    j->pops_tail = &j->pops;
    j->pwork = true;
    watcher__job_work_start(j);
}

/* ---- the detector's entry points (loop) ----------------------------------------- */

bool watcher__prot_wanted(struct watcher__job *j, const struct watcher__cand *c)
{
    return !j->protect_off && !j->removed && c->is_dir && c->lay->rule != WRULE_SETTLE &&
           c->lay->id != WATCHER_LAYOUT_LIGHTNING && !c->done && !c->gone;
}

static struct watcher__prot *prot_new(struct watcher__job *j, struct watcher__cand *c)
{
    struct watcher__prot *p = calloc(1, sizeof(*p));
    char folder[HS_PATH_MAX], name[HS_PATH_MAX], dir[HS_PATH_MAX];
    if (!p || watcher__cand_path(j, c, folder, sizeof(folder)) < 0) {
        free(p);
        return NULL;
    }
    watcher__spool_name(j, c->key, name, sizeof(name));
    const char *slash = strrchr(folder, '/');
    /* the base of the checkpoint: the folder, or its parent (DeepSpeed) */
    bool parent = c->lay->id == WATCHER_LAYOUT_DEEPSPEED;
    p->id = strdup(c->key);
    p->src = parent ? strndup(folder, (size_t)(slash - folder)) : strdup(folder);
    p->prefix = strdup(parent ? slash + 1 : "");
    if (hs_path_join(dir, sizeof(dir), j->o.spool_dir, name) == 0)
        p->dir = strdup(dir);
    if (!p->id || !p->src || !p->prefix || !p->dir) {
        watcher__prot_free(p);
        return NULL;
    }
    p->next = j->prots;
    j->prots = p;
    return p;
}

void watcher__prot_add(struct watcher__job *j, struct watcher__cand *c, const char *rel, bool walk)
{
    if (!watcher__prot_wanted(j, c))
        return;
    if (!c->prot && !(c->prot = prot_new(j, c)))
        return;
    char based[HS_PATH_MAX];
    const char *pre = c->prot->prefix;
    if (snprintf(based, sizeof(based), "%s%s%s", pre, *pre && *rel ? "/" : "", rel) >=
        (int)sizeof(based))
        return;
    queue_op(j, c->prot, walk ? POP_WALK : POP_FILE, based);
}

void watcher__prot_release(struct watcher__job *j, struct watcher__prot *p)
{
    if (!p || p->release)
        return;
    p->release = true;
    j->protect_bytes -= p->bytes;
    p->bytes = 0;
    unlist(j, p);
    if (j->removed && !p->busy) {
        /* teardown: no pool work may start any more */
        watcher__prot_rm(p);
        watcher__prot_free(p);
    } else if (!p->busy) {
        queue_op(j, p, POP_REMOVE, NULL);
    }
}

struct watcher__prot *watcher__prot_adopt(struct watcher__job *j, const char *id)
{
    for (struct watcher__prot *p = j->prots; p; p = p->next) {
        if (!p->ready || p->busy || strcmp(p->id, id) != 0)
            continue;
        unlist(j, p);
        j->protect_bytes -= p->bytes;
        return p;
    }
    return NULL;
}

void watcher__prot_keep(struct watcher__job *j, const char *id)
{
    for (struct watcher__prot *p = j->prots; p; p = p->next)
        if (p->ready && !strcmp(p->id, id))
            p->keep = true;
}

void watcher__prot_ready(struct watcher__job *j, struct watcher__prot *p)
{
    /* an older entry of the same save kept for a refused snapshot is stale */
    for (struct watcher__prot *q = j->prots, *next; q; q = next) {
        next = q->next;
        if (q != p && q->ready && !strcmp(q->id, p->id))
            watcher__prot_release(j, q);
    }
    p->ready = true;
}

void watcher__prot_after_ready(struct watcher__job *j, struct watcher__prot *p)
{
    bool owned = false;
    for (struct watcher__prot *q = j->prots; q; q = q->next)
        owned = owned || q == p;
    if (owned && !p->keep)
        watcher__prot_release(j, p);
}

void watcher__prot_free_all(struct watcher__job *j)
{
    /* operations that never started (the job was removed first) */
    while (j->pops) {
        struct watcher__pop *op = j->pops;
        j->pops = op->next;
        struct watcher__prot *p = op->p;
        if (--p->busy == 0 && p->release) {
            watcher__prot_rm(p);
            watcher__prot_free(p);
        }
        free(op->rel);
        free(op);
    }
    j->pops_tail = &j->pops;
    while (j->prots)
        watcher__prot_release(j, j->prots);
}

void watcher__lost(struct watcher__job *j, struct watcher__cand *c, const char *fmt, ...)
{
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (j->w->cb.on_checkpoint_lost)
        j->w->cb.on_checkpoint_lost(&j->pub, c->key, why, j->w->userdata);
    else
        watcher__notice(j, WATCHER_NOTICE_ERROR, "%s: %s was lost: %s", j->o.root, c->key, why);
}
