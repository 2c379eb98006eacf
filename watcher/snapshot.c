/*
 * snapshot.c — rotation safety: a save's files are put into the job's spool
 * (default <root>/.hubsync/spool, ignored by the watcher) so that
 * save_total_limit deleting the folder cannot lose them before upload. Files
 * inside the save's folder are written once, so a hard link is a faithful
 * copy at no cost; when links are impossible (another filesystem,
 * fs.protected_hardlinks) a FICLONE reflink, then a plain copy is used, and
 * the snapshot says which. Files outside the folder (DeepSpeed's latest) are
 * rewritten in place by the trainer, so they are never hard-linked. The
 * spool budget (spool_max_bytes) counts every snapshotted byte, linked or
 * not: held links keep rotated checkpoints on the training disk.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

const char *watcher_snapshot_method_name(enum watcher_snapshot_method m)
{
    switch (m) {
    case WATCHER_SNAPSHOT_HARDLINK:
        return "hardlink";
    case WATCHER_SNAPSHOT_REFLINK:
        return "reflink";
    default:
        return "copy";
    }
}

static int copy_bytes(int in, int out)
{
    char buf[1 << 16];
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (n == 0)
            return 0;
        if (n > 0)
            continue;
        if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
            return -errno;
        break; /* fall back to read/write */
    }
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            off += w;
        }
    }
}

int watcher__put_file(const char *src, const char *dst, bool may_link, bool may_copy)
{
    if (may_link) {
        if (link(src, dst) == 0)
            return WATCHER_SNAPSHOT_HARDLINK;
        if (errno != EXDEV && errno != EPERM && errno != EACCES && errno != EMLINK)
            return -errno;
    }
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return -errno;
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        int e = -errno;
        close(in);
        return e;
    }
    int rc = WATCHER_SNAPSHOT_REFLINK;
    if (ioctl(out, FICLONE, in) != 0) {
        if (!may_copy)
            rc = -errno;
        else if ((rc = copy_bytes(in, out)) == 0)
            rc = WATCHER_SNAPSHOT_COPY;
    }
    close(in);
    if (close(out) != 0 && rc >= 0)
        rc = -errno;
    if (rc < 0)
        unlink(dst);
    return rc;
}

static void sanitize(char *s)
{
    for (; *s; s++)
        if (*s == '/' || (unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '_';
}

/* Refuse cp past the budget (counting bytes reserved by snapshots still in
 * flight) and pick its spool directory name; runs on the loop. */
static int reserve(struct watcher__job *j, const struct watcher_checkpoint *cp, char *name,
                   size_t cap, struct hs_err *err)
{
    uint64_t held = j->spool_bytes + j->spool_reserved;
    if (j->o.spool_max_bytes && held + cp->total_bytes > j->o.spool_max_bytes) {
        j->spool_full = true;
        watcher__prot_keep(j, cp->id); /* for the retry, once room is made */
        watcher__notice(j, WATCHER_NOTICE_WARN,
                        "%s: spool budget reached (%llu of %llu bytes held); no snapshot of %s",
                        j->o.root, (unsigned long long)held,
                        (unsigned long long)j->o.spool_max_bytes, cp->id);
        return hs_err_set(err, -ENOSPC,
                          "spool budget of %llu bytes reached (%llu held, %s needs %llu); "
                          "release or supersede queued snapshots",
                          (unsigned long long)j->o.spool_max_bytes, (unsigned long long)held,
                          cp->id, (unsigned long long)cp->total_bytes);
    }
    watcher__spool_name(j, cp->id, name, cap);
    return 0;
}

void watcher__spool_name(struct watcher__job *j, const char *id, char *out, size_t cap)
{
    snprintf(out, cap, "%s-%llu", id, (unsigned long long)++j->snap_seq);
    sanitize(out);
}

/* Is dst, protected as pf, still the file f of the listing? A hard link
 * shares the inode: it must still have f's identity (same inode, rewritten
 * since READY: HS_ECHANGED); a reflink holds the bytes of the original as
 * pf recorded it. 1 yes, 0 take it again, HS_ECHANGED. */
static int protected_ok(const struct watcher__pfile *pf, const struct watcher_file *f,
                        const char *dst)
{
    struct stat st;
    if (!pf || lstat(dst, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    hs_usec_t m =
        (hs_usec_t)st.st_mtim.tv_sec * HS_USEC_PER_SEC + (hs_usec_t)st.st_mtim.tv_nsec / 1000;
    if (pf->method == WATCHER_SNAPSHOT_REFLINK)
        return pf->dev == f->dev && pf->ino == f->ino && pf->size == f->size &&
               pf->mtime == f->mtime;
    if (st.st_dev != f->dev || st.st_ino != f->ino)
        return 0;
    return (uint64_t)st.st_size == f->size && m == f->mtime ? 1 : HS_ECHANGED;
}

/* The filesystem work of a snapshot: touches no watcher state, so it may run
 * on the thread pool. spool_dir and root are the job's (stable) strings.
 * With p (the save's protected entry, adopted) the snapshot is made in its
 * directory: files still protected as listed are kept, others are taken
 * again, and protected files the listing does not name are removed. */
static int build(const char *spool_dir, const char *root, const struct watcher_checkpoint *cp,
                 const char *name, const struct watcher__prot *p, struct watcher_snapshot **out,
                 struct hs_err *err)
{
    char dir[HS_PATH_MAX];
    *out = NULL;
    int r = watcher__spool_prepare(root, spool_dir, err);
    if (r < 0)
        return r;
    if (hs_path_join(dir, sizeof(dir), spool_dir, p ? strrchr(p->dir, '/') + 1 : name) < 0)
        return hs_err_set(err, -ENAMETOOLONG, "spool path too long");
    if (mkdir(dir, 0700) != 0 && (!p || errno != EEXIST))
        return hs_err_set(err, -errno, "%s: %s", dir, strerror(errno));
    /* the save was checked on its protected copy (its folder vanished) */
    bool in_place = p && !strcmp(cp->base, dir);
    struct watcher_snapshot *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = strdup(dir)) || !(s->cp = watcher_checkpoint_dup(cp))) {
        r = hs_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    /* the folder relative to base: files under it are write-once */
    const char *inside = watcher__folder_in_base(cp);
    size_t ilen = strlen(inside);
    bool file_save =
        strcmp(cp->folder, cp->base) != 0 && cp->n_files == 1 && !strcmp(cp->files[0].path, inside);
    /* the output root's own files are rewritten in place: never linked */
    bool root_files = !strcmp(cp->folder, root);
    for (size_t i = 0; i < cp->n_files; i++) {
        const struct watcher_file *f = &cp->files[i];
        char src[HS_PATH_MAX], dst[HS_PATH_MAX];
        struct stat st;
        if (hs_path_join_under(src, sizeof(src), cp->base, f->path) < 0 ||
            hs_path_join_under(dst, sizeof(dst), dir, f->path) < 0) {
            r = hs_err_set(err, -EINVAL, "%s: unsafe path %s", cp->id, f->path);
            goto fail;
        }
        const struct watcher__pfile *pf = p ? watcher__prot_file(p, f->path) : NULL;
        int kept = in_place ? 1 : protected_ok(pf, f, dst);
        if (kept == HS_ECHANGED) {
            r = hs_err_set(err, HS_ECHANGED, "%s: %s changed since it was found complete", cp->id,
                           f->path);
            goto fail;
        }
        if (kept == 1 && lstat(dst, &st) == 0 && S_ISREG(st.st_mode)) {
            if (in_place && (uint64_t)st.st_size != f->size) {
                r = hs_err_set(err, HS_ECHANGED, "%s: %s changed since it was found complete",
                               cp->id, f->path);
                goto fail;
            }
            r = pf ? pf->method : WATCHER_SNAPSHOT_HARDLINK;
            goto counted;
        }
        if (in_place) {
            r = hs_err_set(err, -ENOENT, "%s: %s vanished from its protected copy", cp->id,
                           f->path);
            goto fail;
        }
        if (lstat(src, &st) != 0 || !S_ISREG(st.st_mode)) {
            r = hs_err_set(err, errno ? -errno : -ENOENT, "%s: %s vanished before the snapshot",
                           cp->id, f->path);
            goto fail;
        }
        if ((uint64_t)st.st_size != f->size || st.st_ino != f->ino) {
            r = hs_err_set(err, HS_ECHANGED, "%s: %s changed since it was found complete", cp->id,
                           f->path);
            goto fail;
        }
        char *slash = strrchr(dst, '/');
        *slash = 0;
        r = hs_mkdir_p(dst, 0700);
        *slash = '/';
        if (r < 0) {
            hs_err_set(err, r, "%s: %s", dst, hs_strerror(r));
            goto fail;
        }
        bool in_folder =
            !root_files && (file_save || strcmp(cp->folder, cp->base) == 0 ||
                            (ilen && !strncmp(f->path, inside, ilen) && f->path[ilen] == '/'));
        if (pf || p)
            unlink(dst); /* protected as another file: taken again */
        r = watcher__put_file(src, dst, in_folder, true);
        if (r < 0) {
            hs_err_set(err, r, "%s: snapshot of %s failed: %s", cp->id, f->path, strerror(-r));
            goto fail;
        }
    counted:
        if (r == WATCHER_SNAPSHOT_HARDLINK)
            s->n_link++;
        else if (r == WATCHER_SNAPSHOT_REFLINK)
            s->n_reflink++;
        else
            s->n_copy++;
        if ((int)s->method < r)
            s->method = (enum watcher_snapshot_method)r;
        s->bytes += f->size;
    }
    for (size_t i = 0; p && !in_place && i < p->n_files; i++) {
        bool listed = false;
        for (size_t k = 0; k < cp->n_files && !listed; k++)
            listed = !strcmp(cp->files[k].path, p->files[i].rel);
        char dst[HS_PATH_MAX];
        if (!listed && hs_path_join_under(dst, sizeof(dst), dir, p->files[i].rel) == 0)
            unlink(dst); /* deleted from the save before READY */
    }
    free(s->cp->base);
    s->cp->base = strdup(dir);
    if (!s->cp->base) {
        r = hs_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    *out = s;
    return 0;
fail:
    hs_rm_tree(dir);
    if (s) {
        free(s->dir);
        watcher_checkpoint_free(s->cp);
        free(s);
    }
    return r;
}

int watcher_snapshot(struct watcher_job *job, const struct watcher_checkpoint *cp,
                     struct watcher_snapshot **out, struct hs_err *err)
{
    struct watcher__job *j = watcher__job_of(job);
    char name[HS_PATH_MAX];
    *out = NULL;
    int r = reserve(j, cp, name, sizeof(name), err);
    if (r < 0)
        return r;
    struct watcher__prot *p = watcher__prot_adopt(j, cp->id);
    r = build(j->o.spool_dir, j->o.root, cp, name, p, out, err);
    watcher__prot_free(p);
    if (r < 0)
        return r;
    j->spool_bytes += (*out)->bytes;
    j->spool_full = false;
    return 0;
}

int watcher_snapshot_release(struct watcher_job *job, struct watcher_snapshot *snap,
                             struct hs_err *err)
{
    if (!snap)
        return 0;
    struct watcher__job *j = watcher__job_of(job);
    int r = hs_rm_tree(snap->dir);
    j->spool_bytes = j->spool_bytes >= snap->bytes ? j->spool_bytes - snap->bytes : 0;
    if (r < 0)
        hs_err_set(err, r, "%s: cannot remove: %s", snap->dir, strerror(-r));
    free(snap->dir);
    watcher_checkpoint_free(snap->cp);
    free(snap);
    return r;
}

/* ---- asynchronous snapshots ---------------------------------------------- */

struct snap_work {
    uv_work_t req;
    struct watcher__job *j;
    struct watcher_checkpoint *cp; /* our copy: the caller's may go away */
    char name[HS_PATH_MAX];
    struct watcher__prot *p; /* the save's protected entry, adopted */
    watcher_snapshot_cb cb;
    void *userdata;
    struct watcher_snapshot *snap;
    int rc;
    struct hs_err err;
};

static void snap_work_cb(uv_work_t *req)
{
    struct snap_work *w = req->data;
    w->rc = build(w->j->o.spool_dir, w->j->o.root, w->cp, w->name, w->p, &w->snap, &w->err);
}

static void snap_after_cb(uv_work_t *req, int status)
{
    struct snap_work *w = req->data;
    struct watcher__job *j = w->j;
    j->spool_reserved -= w->cp->total_bytes;
    if (w->rc == 0 && (status < 0 || j->removed)) {
        hs_rm_tree(w->snap->dir);
        free(w->snap->dir);
        watcher_checkpoint_free(w->snap->cp);
        free(w->snap);
        w->snap = NULL;
        w->rc = -ECANCELED;
    }
    if (w->rc == 0) {
        j->spool_bytes += w->snap->bytes;
        j->spool_full = false;
    } else if (w->rc == -ECANCELED && !w->err.msg[0]) {
        hs_err_set(&w->err, -ECANCELED, "%s: snapshot cancelled: job removed", w->cp->id);
    }
    w->cb(&j->pub, w->snap, w->rc, &w->err, w->userdata);
    watcher__prot_free(w->p);
    watcher_checkpoint_free(w->cp);
    free(w);
    watcher__job_work_done(j);
}

int watcher_snapshot_start(struct watcher_job *job, const struct watcher_checkpoint *cp,
                           watcher_snapshot_cb cb, void *userdata, struct hs_err *err)
{
    struct watcher__job *j = watcher__job_of(job);
    if (j->removed)
        return hs_err_set(err, -ECANCELED, "%s: job removed", cp->id);
    struct snap_work *w = calloc(1, sizeof(*w));
    if (!w || !(w->cp = watcher_checkpoint_dup(cp))) {
        free(w);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    int r = reserve(j, cp, w->name, sizeof(w->name), err);
    if (r < 0) {
        watcher_checkpoint_free(w->cp);
        free(w);
        return r;
    }
    w->j = j;
    w->cb = cb;
    w->userdata = userdata;
    w->req.data = w;
    w->p = watcher__prot_adopt(j, cp->id);
    r = uv_queue_work(j->w->loop, &w->req, snap_work_cb, snap_after_cb);
    if (r < 0) {
        watcher__prot_rm(w->p);
        watcher__prot_free(w->p);
        watcher_checkpoint_free(w->cp);
        free(w);
        return hs_err_set(err, r, "cannot queue snapshot: %s", uv_strerror(r));
    }
    j->spool_reserved += cp->total_bytes;
    watcher__job_work_start(j);
    return 0;
}
