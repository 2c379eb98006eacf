/*
 * commit_body.c — the NDJSON commit body of a push, streamed: never held in
 * memory, generated line by line on the thread pool while curl sends it
 * (http_request.body_fill, http_loop.c). uploader__push_build_commit (thread pool,
 * queued once every LFS object is stored) only measures it: the header, a
 * line per file to commit, the deletions, so the request carries its exact
 * Content-Length. commit_fill then renders each line as curl asks for the
 * next bytes: for each file it opens it through fileio.c — no symlink, and
 * still the file that was hashed (device, inode, size, mtime) — and reads a
 * regular file's bytes from that descriptor into the line (base64). A file
 * that changed fails the fill with HS_ECHANGED naming it: the transfer ends
 * before the body is complete, so the Hub never sees a whole request and
 * nothing is committed. Memory: one line (one small file's content) at a
 * time, whatever the number of files.
 */
#include "push_int.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool wanted(const struct pfile *f)
{
    return !f->ignore && !f->unchanged;
}

/* oid: 65 bytes for the hex of the file's SHA-256 (op->oid). */
static void op_of(const struct pfile *f, struct hub_commit_op *op, const char *b64, char *oid)
{
    uploader__digest_sha256_hex(&f->sf->dg, oid);
    *op = (struct hub_commit_op){.path = f->sf->repo_path,
                                 .lfs = f->lfs,
                                 .oid = oid,
                                 .size = f->sf->key.size,
                                 .content_b64 = b64};
}

/* Thread pool: the body's length and number of operations (p->commit_len,
 * p->commit_ops); errors in p->err. Touches only those and reads p->files. */
void uploader__push_build_commit(uv_work_t *w)
{
    struct push *p = w->data;
    char *hl = uploader__hub_commit_header_line(p->summary, p->description, p->parent);
    if (!hl) {
        hs_err_set(&p->err, -ENOMEM, "cannot build the commit body");
        return;
    }
    uint64_t len = strlen(hl);
    free(hl);
    unsigned ops = 0;
    for (size_t i = 0; i < p->n_files; i++) {
        const struct pfile *f = &p->files[i];
        if (!wanted(f))
            continue;
        if (!f->lfs && f->sf->key.size > HASH_SHA1_MAX_SIZE * 2) {
            hs_err_set(&p->err, -EFBIG, "%s: %s", f->local, hs_strerror(-EFBIG));
            return;
        }
        struct hub_commit_op op;
        char oid[65];
        op_of(f, &op, NULL, oid);
        uint64_t n = uploader__hub_commit_op_line_len(&op);
        if (!n) {
            hs_err_set(&p->err, -ENOMEM, "cannot build the commit body");
            return;
        }
        len += n;
        ops++;
    }
    for (size_t i = 0; i < p->n_deletes; i++) {
        char *l = uploader__hub_commit_delete_line(p->deletes[i]);
        if (!l) {
            hs_err_set(&p->err, -ENOMEM, "cannot build the commit body");
            return;
        }
        len += strlen(l);
        free(l);
        ops++;
    }
    p->commit_len = len;
    p->commit_ops = ops;
}

/* The line of item k (0 the header, then the files, then the deletions) in
 * *line, NULL when it has none (a file not committed); 0 or an error. */
static int render(struct push *p, size_t k, char **line, char *why, size_t why_len)
{
    *line = NULL;
    if (k == 0) {
        *line = uploader__hub_commit_header_line(p->summary, p->description, p->parent);
        return *line ? 0 : -ENOMEM;
    }
    if (k - 1 >= p->n_files) {
        *line = uploader__hub_commit_delete_line(p->deletes[k - 1 - p->n_files]);
        return *line ? 0 : -ENOMEM;
    }
    const struct pfile *f = &p->files[k - 1];
    if (!wanted(f))
        return 0;
    char w[200];
    int rc = 0;
    char *data = NULL;
    if (f->lfs) {
        /* not sent here, but still the file that was hashed */
        int fd = uploader__open_file(f->local, &f->sf->key, NULL, w, sizeof(w));
        if (fd >= 0)
            close(fd);
        rc = fd < 0 ? fd : 0;
    } else {
        data = malloc(f->sf->key.size + 1);
        rc = data ? uploader__read_file(f->local, &f->sf->key, 0, data, f->sf->key.size, w,
                                        sizeof(w))
                  : -ENOMEM;
        if (rc == -ENOMEM && !data)
            snprintf(w, sizeof(w), "out of memory");
    }
    if (rc < 0) {
        free(data);
        snprintf(why, why_len, "%s %s; nothing was committed%s", f->local, w,
                 rc == HS_ECHANGED ? " (run the push again)" : "");
        return rc;
    }
    if (!f->lfs) {
        *line = uploader__hub_commit_file_line(f->sf->repo_path, data, f->sf->key.size);
        free(data);
        return *line ? 0 : -ENOMEM;
    }
    struct hub_commit_op op;
    char oid[65];
    op_of(f, &op, NULL, oid);
    *line = uploader__hub_commit_op_line(&op);
    return *line ? 0 : -ENOMEM;
}

/* http_request.body_fill (thread pool): bytes [off, off+len) of the body. */
static int commit_fill(void *src, uint64_t off, char *buf, size_t len, char *why, size_t why_len)
{
    struct push *p = src;
    struct commit_stream *cs = &p->cstream;
    if (off == 0) { /* first attempt, or a retry from the start */
        free(cs->line);
        *cs = (struct commit_stream){0};
    }
    if (off != cs->pos) {
        snprintf(why, why_len, "commit body asked out of order");
        return -EIO;
    }
    size_t n_items = 1 + p->n_files + p->n_deletes;
    while (len > 0) {
        if (cs->line_off == cs->line_len) {
            free(cs->line);
            cs->line = NULL;
            cs->line_off = cs->line_len = 0;
            while (!cs->line && cs->item < n_items) {
                int rc = render(p, cs->item++, &cs->line, why, why_len);
                if (rc < 0) {
                    if (rc == -ENOMEM)
                        snprintf(why, why_len, "out of memory building the commit body");
                    return rc;
                }
            }
            if (!cs->line) {
                snprintf(why, why_len, "the commit body is shorter than measured");
                return -EIO;
            }
            cs->line_len = strlen(cs->line);
        }
        size_t k = cs->line_len - cs->line_off < len ? cs->line_len - cs->line_off : len;
        memcpy(buf, cs->line + cs->line_off, k);
        cs->line_off += k;
        cs->pos += k;
        buf += k;
        len -= k;
    }
    return 0;
}

void uploader__push_commit_body(struct push *p, struct http_request *r)
{
    r->body_fill = commit_fill;
    r->body_src = p;
    r->file_off = 0;
    r->file_len = p->commit_len;
    r->content_type = "application/x-ndjson";
}

void uploader__push_commit_body_free(struct push *p)
{
    free(p->cstream.line);
    p->cstream = (struct commit_stream){0};
}
