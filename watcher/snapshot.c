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
#include <ftw.h>
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

/* Put src at dst by the best method allowed; returns the method or -errno. */
static int put_file(const char *src, const char *dst, bool may_link)
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
        rc = copy_bytes(in, out);
        if (rc == 0)
            rc = WATCHER_SNAPSHOT_COPY;
    }
    close(in);
    if (close(out) != 0 && rc >= 0)
        rc = -errno;
    if (rc < 0)
        unlink(dst);
    return rc;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)f;
    if ((flag == FTW_DP ? rmdir(p) : unlink(p)) != 0 && errno != ENOENT)
        return -errno;
    return 0;
}

static int rm_tree(const char *dir)
{
    int r = nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (r < 0)
        return errno == ENOENT ? 0 : -errno;
    return r;
}

static void sanitize(char *s)
{
    for (; *s; s++)
        if (*s == '/' || (unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '_';
}

int watcher_snapshot(struct watcher_job *job, const struct watcher_checkpoint *cp,
                     struct watcher_snapshot **out, struct hs_err *err)
{
    struct watcher__job *j = (struct watcher__job *)job;
    *out = NULL;
    if (j->o.spool_max_bytes && j->spool_bytes + cp->total_bytes > j->o.spool_max_bytes) {
        j->spool_full = true;
        watcher__notice(j, WATCHER_NOTICE_WARN,
                        "%s: spool budget reached (%llu of %llu bytes held); no snapshot of %s",
                        j->o.root, (unsigned long long)j->spool_bytes,
                        (unsigned long long)j->o.spool_max_bytes, cp->id);
        return hs_err_set(err, -ENOSPC,
                          "spool budget of %llu bytes reached (%llu held, %s needs %llu); "
                          "release or supersede queued snapshots",
                          (unsigned long long)j->o.spool_max_bytes,
                          (unsigned long long)j->spool_bytes, cp->id,
                          (unsigned long long)cp->total_bytes);
    }
    char name[HS_PATH_MAX], dir[HS_PATH_MAX];
    snprintf(name, sizeof(name), "%s-%llu", cp->id, (unsigned long long)++j->snap_seq);
    sanitize(name);
    int r = hs_mkdir_p(j->o.spool_dir, 0700);
    if (r < 0)
        return hs_err_set(err, r, "%s: cannot create spool: %s", j->o.spool_dir, hs_strerror(r));
    if (hs_path_join(dir, sizeof(dir), j->o.spool_dir, name) < 0)
        return hs_err_set(err, -ENAMETOOLONG, "spool path too long");
    if (mkdir(dir, 0700) != 0)
        return hs_err_set(err, -errno, "%s: %s", dir, strerror(errno));

    struct watcher_snapshot *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = strdup(dir)) || !(s->cp = watcher_checkpoint_dup(cp))) {
        r = hs_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    /* the folder relative to base: files under it are write-once */
    size_t blen = strlen(cp->base);
    const char *inside = "";
    if (!strncmp(cp->folder, cp->base, blen) && cp->folder[blen] == '/')
        inside = cp->folder + blen + 1;
    size_t ilen = strlen(inside);
    bool file_save =
        strcmp(cp->folder, cp->base) != 0 && cp->n_files == 1 && !strcmp(cp->files[0].path, inside);
    /* the output root's own files are rewritten in place: never linked */
    bool root_files = !strcmp(cp->folder, j->o.root);
    for (size_t i = 0; i < cp->n_files; i++) {
        const struct watcher_file *f = &cp->files[i];
        char src[HS_PATH_MAX], dst[HS_PATH_MAX];
        struct stat st;
        if (hs_path_join_under(src, sizeof(src), cp->base, f->path) < 0 ||
            hs_path_join_under(dst, sizeof(dst), dir, f->path) < 0) {
            r = hs_err_set(err, -EINVAL, "%s: unsafe path %s", cp->id, f->path);
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
        r = put_file(src, dst, in_folder);
        if (r < 0) {
            hs_err_set(err, r, "%s: snapshot of %s failed: %s", cp->id, f->path, strerror(-r));
            goto fail;
        }
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
    free(s->cp->base);
    s->cp->base = strdup(dir);
    if (!s->cp->base) {
        r = hs_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    j->spool_bytes += s->bytes;
    j->spool_full = false;
    *out = s;
    return 0;
fail:
    rm_tree(dir);
    if (s) {
        free(s->dir);
        watcher_checkpoint_free(s->cp);
        free(s);
    }
    return r;
}

int watcher_snapshot_release(struct watcher_job *job, struct watcher_snapshot *snap,
                             struct hs_err *err)
{
    if (!snap)
        return 0;
    struct watcher__job *j = (struct watcher__job *)job;
    int r = rm_tree(snap->dir);
    j->spool_bytes = j->spool_bytes >= snap->bytes ? j->spool_bytes - snap->bytes : 0;
    if (r < 0)
        hs_err_set(err, r, "%s: cannot remove: %s", snap->dir, strerror(-r));
    free(snap->dir);
    watcher_checkpoint_free(snap->cp);
    free(snap);
    return r;
}
