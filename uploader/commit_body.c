/*
 * commit_body.c — the NDJSON commit body of a push, built on the thread pool
 * (push.c queues it once every LFS object is stored): for each file to
 * commit, open it through fileio.c — no symlink, and still the file that was
 * hashed (device, inode, size, mtime), else HS_ECHANGED naming it and nothing
 * is committed — read a regular file's bytes from that descriptor into the
 * body (base64), then append the deletions. It touches only p->files, p->err
 * and the commit fields; errors go to p->err for build_done (push.c).
 */
#include "push_int.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Thread pool: read regular files, check nothing changed since hashing,
 * build the NDJSON body. Touches only p->files and the commit fields. */
void push__build_commit(uv_work_t *w)
{
    struct push *p = w->data;
    struct hub_commit_op *ops = calloc(p->n_files ? p->n_files : 1, sizeof(*ops));
    size_t n = 0;
    if (!ops) {
        hs_err_set(&p->err, -ENOMEM, "out of memory");
        return;
    }
    for (size_t i = 0; i < p->n_files; i++) {
        struct pfile *f = &p->files[i];
        if (f->ignore || f->unchanged)
            continue;
        /* The file that was hashed, not a symlink or another file swapped in
         * under its name (fileio.c); regular files are read from that fd. */
        char why[200];
        int fd = uploader__open_file(f->local, &f->key, NULL, why, sizeof(why));
        if (fd < 0) {
            if (fd == HS_ECHANGED)
                hs_err_set(&p->err, fd, "%s %s; nothing was committed (run the push again)",
                           f->local, why);
            else
                hs_err_set(&p->err, fd, "%s: %s; nothing was committed", f->local, why);
            goto out;
        }
        ops[n].path = f->repo_path;
        ops[n].lfs = f->lfs;
        ops[n].oid = f->hash.sha256;
        ops[n].size = f->hash.size;
        if (f->lfs) {
            close(fd);
        } else {
            size_t len = 0;
            char *data = f->hash.size <= HASH_SHA1_MAX_SIZE * 2 ? malloc(f->hash.size + 1) : NULL;
            int rc = data ? 0 : f->hash.size > HASH_SHA1_MAX_SIZE * 2 ? -EFBIG : -ENOMEM;
            while (rc == 0 && len < f->hash.size) {
                ssize_t k = pread(fd, data + len, f->hash.size - len, (off_t)len);
                if (k < 0 && errno == EINTR)
                    continue;
                if (k <= 0)
                    rc = k < 0 ? -errno : HS_ECHANGED;
                else
                    len += (size_t)k;
            }
            char extra;
            if (rc == 0 && pread(fd, &extra, 1, (off_t)len) > 0)
                rc = HS_ECHANGED; /* it grew */
            close(fd);
            if (rc < 0) {
                free(data);
                hs_err_set(&p->err, rc, "%s: %s", f->local,
                           rc == HS_ECHANGED ? "file changed after it was hashed"
                                             : hs_strerror(rc));
                goto out;
            }
            free(f->content_b64);
            f->content_b64 = b64_encode(data, len);
            free(data);
            if (!f->content_b64) {
                hs_err_set(&p->err, -ENOMEM, "out of memory");
                goto out;
            }
            ops[n].content_b64 = f->content_b64;
        }
        n++;
    }
    p->commit_body = hub_body_commit(p->summary, p->description, p->parent, ops, n, &p->commit_len);
    p->commit_ops = (unsigned)n;
    for (size_t i = 0; p->commit_body && i < p->n_deletes; i++) {
        size_t dl = strlen(p->deletes[i]);
        bool folder = dl && p->deletes[i][dl - 1] == '/';
        json_t *v = json_pack("{s:s, s:{s:s}}", "key", folder ? "deletedFolder" : "deletedFile",
                              "value", "path", p->deletes[i]);
        char *line = v ? json_dumps(v, JSON_COMPACT) : NULL;
        json_decref(v);
        size_t ll = line ? strlen(line) : 0;
        char *body = line ? realloc(p->commit_body, p->commit_len + ll + 2) : NULL;
        if (!body) {
            free(line);
            free(p->commit_body);
            p->commit_body = NULL;
            break;
        }
        memcpy(body + p->commit_len, line, ll);
        body[p->commit_len + ll] = '\n';
        body[p->commit_len + ll + 1] = 0;
        p->commit_len += ll + 1;
        p->commit_body = body;
        p->commit_ops++;
        free(line);
    }
    if (!p->commit_body)
        hs_err_set(&p->err, -ENOMEM, "cannot build the commit body");
out:
    free(ops);
}
