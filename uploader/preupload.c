/*
 * preupload.c — the preupload stage of a push's pipeline (docs/hub-protocol.md
 * §5): files enter it as soon as they are hashed (push.c hands their index to
 * uploader__preupload_ready) and leave it with their upload mode, shouldIgnore and the
 * repo's oid. A group is at most 256 files, huggingface_hub's chunk
 * (_commit_api.py: chunk_iterable(additions, 256)); at most PRE_PARALLEL
 * groups are in flight, and a smaller group goes out only when the stage is
 * idle or every file is hashed, so the first call leaves while the rest is
 * still being hashed and later calls carry full groups. A file's 512-byte
 * sample is the first bytes the hasher read for its digests, kept in one of
 * SAMPLE_SLOTS slots from the hash until its group's body is built (so
 * nothing of a file's content is kept per file, and a push of many small
 * files opens each one once less): hashing waits for a free slot, i.e. runs
 * at most SAMPLE_SLOTS files ahead of the groups. A file hashed without
 * filling its slot (digests from the cache, a read shared with another
 * request) or while samples are off (a commit an earlier run sent is looked
 * for first: no group goes until every file is hashed) has its sample read
 * on the thread pool from the very file that was hashed (fileio.c). Each
 * answer hands its files to uploader__push_plan_files, whose LFS objects start to
 * upload at once; when every file is answered, uploader__push_plan goes on to the
 * commit.
 */
#include "push_int.h"

#include <stdio.h>
#include <string.h>

#define PREUPLOAD_BATCH 256
#define PRE_PARALLEL    2
#define SAMPLE_MAX      PRE_SAMPLE_MAX
/* Enough for the hasher's queue (push.c HASH_AHEAD), the groups being built
 * and a full group waiting, so a slot always frees: 512 KiB. */
#define SAMPLE_SLOTS 1024

struct pre_samples {
    unsigned char buf[SAMPLE_SLOTS][SAMPLE_MAX];
    uint16_t free[SAMPLE_SLOTS]; /* free slots: free[0..n_free) */
    size_t n_free;
    bool waiting; /* a file waits for a slot */
};

struct pre_group {
    struct push *p;
    uv_work_t work;
    size_t n;
    size_t idx[PREUPLOAD_BATCH];
    char *body;
    struct hs_err err;
};

/* Thread pool: the samples and the request body. Reads only the files'
 * paths, keys and sizes, which are fixed once a file is hashed. */
static void group_work(uv_work_t *w)
{
    struct pre_group *g = w->data;
    struct push *p = g->p;
    unsigned char *samples = malloc((size_t)SAMPLE_MAX * g->n);
    struct hub_preupload_item *items = calloc(g->n, sizeof(*items));
    if (!samples || !items) {
        hs_err_set(&g->err, -ENOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < g->n; k++) {
        const struct pfile *f = &p->files[g->idx[k]];
        size_t len = f->sf->key.size < SAMPLE_MAX ? (size_t)f->sf->key.size : SAMPLE_MAX;
        items[k].path = f->sf->repo_path;
        items[k].size = f->sf->key.size;
        items[k].sample_len = len;
        if (f->has_sample) {
            items[k].sample = p->samples->buf[f->sample_slot];
            continue;
        }
        char why[200];
        int rc = uploader__read_file(f->local, &f->sf->key, 0, samples + k * SAMPLE_MAX, len, why,
                                     sizeof(why));
        if (rc < 0) {
            hs_err_set(&g->err, rc, "%s %s; nothing was committed%s", f->local, why,
                       rc == HS_ECHANGED ? " (run the push again)" : "");
            goto out;
        }
        items[k].sample = samples + k * SAMPLE_MAX;
    }
    if (!(g->body = uploader__hub_body_preupload(items, g->n)))
        hs_err_set(&g->err, -ENOMEM, "out of memory");
out:
    free(samples);
    free(items);
}

static void group_done(struct http_request *r, void *ud)
{
    struct pre_group *g = ud;
    struct push *p = g->p;
    p->pre_inflight--;
    if (!uploader__push_settle(p, r)) {
        free(g);
        return;
    }
    if (r->error || r->resp.status < 200 || r->resp.status >= 300) {
        free(g);
        return uploader__push_fail_http(p, r, "preupload");
    }
    struct hub_preupload_item *items = calloc(g->n, sizeof(*items));
    if (!items) {
        free(g);
        uploader__http_request_free(r);
        return uploader__push_fail(p, -ENOMEM, NULL);
    }
    for (size_t k = 0; k < g->n; k++)
        items[k].path = p->files[g->idx[k]].sf->repo_path;
    struct hs_err e;
    char *head = NULL;
    int rc = uploader__hub_parse_preupload(r->resp.body.data, items, g->n, &head, &e);
    uploader__http_request_free(r);
    for (size_t k = 0; k < g->n; k++) {
        struct pfile *f = &p->files[g->idx[k]];
        if (rc == 0) {
            f->lfs = items[k].lfs && f->sf->key.size > 0; /* empty files are always regular */
            f->ignore = items[k].should_ignore;
            f->remote_oid = items[k].remote_oid;
        } else {
            free(items[k].remote_oid);
        }
    }
    if (rc == 0 && head && !p->parent)
        p->parent = head;
    else
        free(head);
    free(items);
    if (rc < 0) {
        free(g);
        return uploader__push_fail(p, rc, &e);
    }
    p->pre_answered += g->n;
    p->inflight++; /* hold the push: planning may fail it, the pump comes after */
    uploader__push_plan_files(p, g->idx, g->n);
    free(g);
    p->inflight--;
    if (p->failed)
        return uploader__push_maybe_end(p);
    if (p->pre_answered == p->n_files)
        return uploader__push_plan(p);
    uploader__preupload_pump(p);
}

/* Loop: the group's body is built; its samples' slots are free again. */
static void release_samples(struct pre_group *g)
{
    struct push *p = g->p;
    for (size_t k = 0; k < g->n; k++) {
        struct pfile *f = &p->files[g->idx[k]];
        if (f->has_sample) {
            f->has_sample = false;
            p->samples->free[p->samples->n_free++] = f->sample_slot;
        }
    }
    if (p->samples && p->samples->waiting && !p->failed) {
        p->samples->waiting = false;
        uploader__push_queue_hashes(p);
    }
}

static void group_read(uv_work_t *w, int status)
{
    struct pre_group *g = w->data;
    struct push *p = g->p;
    p->inflight--;
    release_samples(g);
    if (p->failed || status < 0 || g->err.code) {
        struct hs_err e = g->err;
        free(g->body);
        free(g);
        p->pre_inflight--;
        if (p->failed)
            return uploader__push_maybe_end(p);
        return uploader__push_fail(p, e.code ? e.code : -ECANCELED, e.code ? &e : NULL);
    }
    struct http_request *r =
        uploader__push_api_json(p, uploader__hub_url_preupload(&p->repo), g->body, group_done);
    g->body = NULL;
    if (!r) {
        p->pre_inflight--;
        free(g);
        return;
    }
    r->userdata = g;
    if (uploader__push_submit(p, r) < 0) {
        p->pre_inflight--;
        free(g);
    }
}

int uploader__preupload_sample_slot(struct push *p, size_t idx, void **buf)
{
    *buf = NULL;
    if (!p->pre_open)
        return 0;
    if (!p->samples) {
        if (!(p->samples = malloc(sizeof(*p->samples))))
            return 0; /* read from the file instead */
        p->samples->n_free = SAMPLE_SLOTS;
        p->samples->waiting = false;
        for (size_t i = 0; i < SAMPLE_SLOTS; i++)
            p->samples->free[i] = (uint16_t)(SAMPLE_SLOTS - 1 - i);
    }
    if (p->samples->n_free == 0) {
        p->samples->waiting = true;
        return -EAGAIN;
    }
    struct pfile *f = &p->files[idx];
    f->sample_slot = p->samples->free[--p->samples->n_free];
    *buf = p->samples->buf[f->sample_slot];
    return 0;
}

void uploader__preupload_sample_done(struct push *p, size_t idx, size_t len)
{
    struct pfile *f = &p->files[idx];
    size_t want = f->sf->key.size < SAMPLE_MAX ? (size_t)f->sf->key.size : SAMPLE_MAX;
    if (len != SIZE_MAX && len == want)
        f->has_sample = true;
    else
        p->samples->free[p->samples->n_free++] = f->sample_slot;
}

void uploader__preupload_free(struct push *p)
{
    free(p->samples);
    p->samples = NULL;
}

void uploader__preupload_ready(struct push *p, size_t idx)
{
    p->ready[p->ready_tail++] = idx;
}

void uploader__preupload_pump(struct push *p)
{
    while (!p->failed && p->pre_open && p->pre_inflight < PRE_PARALLEL &&
           p->ready_head < p->ready_tail) {
        size_t n = p->ready_tail - p->ready_head;
        bool all_hashed = p->hash_done == p->n_files;
        if (n < PREUPLOAD_BATCH && !all_hashed && p->pre_inflight > 0)
            return; /* let the group fill while one is in flight */
        if (n > PREUPLOAD_BATCH)
            n = PREUPLOAD_BATCH;
        struct pre_group *g = calloc(1, sizeof(*g));
        if (!g)
            return uploader__push_fail(p, -ENOMEM, NULL);
        g->p = p;
        g->n = n;
        memcpy(g->idx, p->ready + p->ready_head, n * sizeof(size_t));
        p->ready_head += n;
        g->work.data = g;
        if (uv_queue_work(p->u->loop, &g->work, group_work, group_read) < 0) {
            free(g);
            return uploader__push_fail(p, -EIO, NULL);
        }
        p->inflight++;
        p->pre_inflight++;
    }
}
