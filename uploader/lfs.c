/*
 * lfs.c — getting every LFS object of a push into storage
 * (docs/hub-protocol.md §6): the batch call (≤256 objects, "basic" and
 * "multipart"), basic PUTs, multipart part PUTs in parallel with their ETags
 * kept in the push state, and the completion POST. Objects the Hub already
 * has (no upload action) are skipped. Storage and completion URLs are handed
 * out by the Hub: they are requested WITHOUT Authorization, whatever their
 * host. An expired or refused URL (403, or 404 for an unknown upload), or an
 * answer too close to its expiry (a quarter of the URLs' lifetime, at most
 * 120 s), gets the object batched again: at most REBATCH_MAX rounds per
 * object per push, each waiting longer (the API backoff), then the push fails
 * naming the file. A completion that refuses the recorded parts (400
 * InvalidPart / InvalidPartOrder, "Part N was never uploaded", a bad digest:
 * any 4xx but auth, 404, 408 and 429) can never succeed with the same parts,
 * so the object's parts and ETags are forgotten (resume state too) and it is
 * uploaded again as a new upload, at most REFUSED_MAX times per push; then
 * the push fails with the Hub's answer (HS_EREFUSED). The verify action is
 * never called. Bodies are streamed from the file by http_loop.c, never held
 * in memory.
 */
#include "push_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX     256
#define REBATCH_MAX   8   /* batch calls for one object after its first, per push */
#define REFUSED_MAX   2   /* new uploads of an object after refused completions, per push */
#define EXPIRY_MARGIN 120 /* seconds: do not start a part on a URL this close to expiry */

struct xfer_ctx {
    struct push *p;
    size_t obj;
    size_t part;
    uint64_t len;
    size_t *batch; /* batch requests: object indexes */
    size_t n_batch;
};

static struct push_state_object *sobj(struct push *p, const struct pobj *o)
{
    return uploader__push_state_object_find(&p->st, o->oid);
}

/* Are the answer's URLs worth starting on? Not within a margin of their
 * expiry, the margin scaling with their lifetime (a quarter of it, at most
 * EXPIRY_MARGIN): a Hub that hands out 2-second URLs gets them used at once,
 * where a fixed 120 s margin refused every answer and re-batched forever. */
static bool action_usable(const struct push_state_object *so)
{
    if (!so || !so->action.href)
        return false;
    const struct hub_lfs_action *a = &so->action;
    if (a->expires_at == 0)
        return true;
    int64_t margin = EXPIRY_MARGIN;
    if (a->issued_at > 0 && a->expires_at > a->issued_at &&
        (a->expires_at - a->issued_at) / 4 < margin)
        margin = (a->expires_at - a->issued_at) / 4;
    return a->expires_at > (int64_t)time(NULL) + margin;
}

/* The wait before re-batch round k (1-based) of an object: the API backoff
 * doubled each round, capped at 8 times its base. */
static hs_usec_t rebatch_delay(const struct push *p, unsigned k)
{
    hs_usec_t d = p->u->retry_base;
    for (unsigned i = 1; i < k && d < 8 * p->u->retry_base; i++)
        d *= 2;
    return d < 8 * p->u->retry_base ? d : 8 * p->u->retry_base;
}

/* An object batched again more than REBATCH_MAX times in this push: its URLs
 * keep expiring (or storage keeps refusing them) before it is stored. Transient
 * as far as we know (HS_EHTTP): a later push may get longer-lived URLs. */
static void fail_rebatches(struct push *p, const struct pobj *o)
{
    const struct push_state_object *so = sobj(p, o);
    struct hs_err e;
    long life = so && so->action.issued_at && so->action.expires_at >= so->action.issued_at
                    ? (long)(so->action.expires_at - so->action.issued_at)
                    : -1;
    char lifes[64] = "";
    if (life >= 0)
        snprintf(lifes, sizeof(lifes), "; the last ones were valid for %ld s", life);
    hs_err_set(&e, HS_EHTTP,
               "uploading %s: the Hub's upload URLs expired or were refused before the object "
               "could be stored, %u batch answers in a row%s (last: %s); giving up",
               o->local, o->rebatches, lifes, o->why[0] ? o->why : "expired before use");
    uploader__push_fail(p, HS_EHTTP, &e);
}

static void batch_next(struct push *p);

static void batch_done(struct http_request *r, void *ud)
{
    struct xfer_ctx *c = ud;
    struct push *p = c->p;
    p->batching = false;
    if (!uploader__push_settle(p, r)) {
        free(c->batch);
        free(c);
        return;
    }
    if (!(r->error == 0 && r->resp.status >= 200 && r->resp.status < 300)) {
        free(c->batch);
        free(c);
        return uploader__push_fail_http(p, r, "LFS batch");
    }
    struct hub_lfs_action *acts = calloc(c->n_batch, sizeof(*acts));
    int rc = acts ? 0 : -ENOMEM;
    struct hs_err e = {0};
    for (size_t k = 0; rc == 0 && k < c->n_batch; k++) {
        snprintf(acts[k].oid, sizeof(acts[k].oid), "%s", p->objs[c->batch[k]].oid);
        acts[k].size = p->objs[c->batch[k]].size;
    }
    if (rc == 0)
        rc = uploader__hub_parse_lfs_batch(r->resp.body.data, acts, c->n_batch, (int64_t)time(NULL),
                                           &e);
    uploader__http_request_free(r);
    for (size_t k = 0; k < c->n_batch; k++) {
        struct pobj *o = &p->objs[c->batch[k]];
        struct push_state_object *so = sobj(p, o);
        if (rc == 0 && acts[k].present) {
            o->done = so->done = true;
            p->res.objects_skipped++;
            p->prog.send_total -= o->size;
            p->prog.objects_done++;
            uploader__hub_lfs_action_clear(&acts[k]);
        } else if (rc == 0) {
            rc = uploader__push_state_object_set_action(so, &acts[k]);
            memset(&acts[k], 0, sizeof(acts[k]));
            o->need_batch = false;
            o->next_part = 0;
        } else if (acts) {
            uploader__hub_lfs_action_clear(&acts[k]);
        }
    }
    free(acts);
    free(c->batch);
    free(c);
    if (rc < 0)
        return uploader__push_fail(p, rc, e.code ? &e : NULL);
    if (uploader__push_persist_soon(p) < 0)
        return;
    uploader__push_progress(p, false); /* objects the Hub had may end the upload stage */
    batch_next(p);
}

/* Batch every object that has no usable answer yet, BATCH_MAX at a time. */
static void batch_next(struct push *p)
{
    if (p->failed || p->batching)
        return;
    size_t *idx = malloc(BATCH_MAX * sizeof(size_t));
    const char **oids = malloc(BATCH_MAX * sizeof(char *));
    uint64_t *sizes = malloc(BATCH_MAX * sizeof(uint64_t));
    size_t n = 0;
    hs_usec_t delay = 0;
    if (!idx || !oids || !sizes) {
        free(idx);
        free(oids);
        free(sizes);
        return uploader__push_fail(p, -ENOMEM, NULL);
    }
    for (size_t i = 0; i < p->n_objs && n < BATCH_MAX; i++) {
        struct pobj *o = &p->objs[i];
        if (o->done || o->inflight)
            continue;
        if (!o->need_batch && action_usable(sobj(p, o)))
            continue;
        if (o->batched && ++o->rebatches > REBATCH_MAX) {
            free(idx);
            free(oids);
            free(sizes);
            return fail_rebatches(p, o);
        }
        if (o->batched && rebatch_delay(p, o->rebatches) > delay)
            delay = rebatch_delay(p, o->rebatches);
        o->batched = true;
        idx[n] = i;
        oids[n] = o->oid;
        sizes[n] = o->size;
        n++;
    }
    if (n == 0) {
        free(idx);
        free(oids);
        free(sizes);
        return uploader__lfs_pump(p);
    }
    char *body = uploader__hub_body_lfs_batch(oids, sizes, n, p->repo.revision);
    free(oids);
    free(sizes);
    struct xfer_ctx *c = calloc(1, sizeof(*c));
    struct http_request *r =
        uploader__push_api(p, "POST", uploader__hub_url_lfs_batch(&p->repo), batch_done);
    if (!r || !c || !body) {
        free(body);
        free(idx);
        free(c);
        if (r) {
            uploader__http_request_free(r);
            uploader__push_fail(p, -ENOMEM, NULL);
        }
        return;
    }
    c->p = p;
    c->batch = idx;
    c->n_batch = n;
    r->userdata = c;
    r->accept = "application/vnd.git-lfs+json";
    r->delay = delay; /* a re-batch backs off: the same answer may come again */
    uploader__http_request_set_body(r, body, strlen(body), "application/vnd.git-lfs+json");
    if (uploader__push_submit(p, r) == 0)
        p->batching = true;
    else {
        free(idx);
        free(c);
    }
}

void uploader__lfs_start(struct push *p)
{
    batch_next(p);
}

/* Storage answered: 2xx = stored; 403/404 = URL expired or upload unknown →
 * batch again (batch_next bounds and backs off the rounds); anything else
 * fails the push. Returns true when handled (r consumed). */
static bool rebatch_if_refused(struct pobj *o, struct http_request *r)
{
    if (r->error != 0 || (r->resp.status != 403 && r->resp.status != 404))
        return false;
    struct hs_err e;
    uploader__http_describe_failure(r, "storage", &e);
    snprintf(o->why, sizeof(o->why), "%.300s", e.msg);
    o->need_batch = true;
    uploader__http_request_free(r);
    return true;
}

static void xfer_end(struct xfer_ctx *c, struct http_request *r, bool *live)
{
    struct push *p = c->p;
    p->xfers--;
    p->objs[c->obj].inflight--;
    *live = uploader__push_settle(p, r);
}

static void part_done(struct http_request *r, void *ud)
{
    struct xfer_ctx *c = ud;
    struct push *p = c->p;
    struct pobj *o = &p->objs[c->obj];
    bool live;
    xfer_end(c, r, &live);
    if (!live) {
        free(c);
        return;
    }
    size_t k = c->part;
    uint64_t len = c->len;
    free(c);
    if (r->error == 0 && r->resp.status >= 200 && r->resp.status < 300) {
        if (!r->resp.etag || !*r->resp.etag) {
            struct hs_err e;
            hs_err_set(&e, HS_EPROTO, "storage answered part %zu of %s without an ETag", k + 1,
                       o->local);
            uploader__http_request_free(r);
            return uploader__push_fail(p, HS_EPROTO, &e);
        }
        struct push_state_object *so = sobj(p, o);
        free(so->etags[k]);
        so->etags[k] = strdup(r->resp.etag);
        uploader__http_request_free(r);
        p->prog.sent_bytes += len;
        if (uploader__push_persist(p) < 0) /* a part storage has is never sent again */
            return;
        uploader__push_progress(p, false);
        return uploader__lfs_pump(p);
    }
    if (rebatch_if_refused(o, r))
        return uploader__lfs_pump(p);
    char what[HS_PATH_MAX + 64];
    snprintf(what, sizeof(what), "uploading part %zu of %s", k + 1, o->local);
    uploader__push_fail_http(p, r, what);
}

static void object_stored(struct push *p, struct pobj *o)
{
    struct push_state_object *so = sobj(p, o);
    o->done = so->done = true;
    p->res.objects_uploaded++;
    p->prog.objects_done++;
    /* lost in a crash, the Hub's batch answer says the object is there */
    if (uploader__push_persist_soon(p) < 0)
        return;
    uploader__push_progress(p, true);
    uploader__lfs_pump(p);
}

static void basic_done(struct http_request *r, void *ud)
{
    struct xfer_ctx *c = ud;
    struct push *p = c->p;
    struct pobj *o = &p->objs[c->obj];
    bool live;
    xfer_end(c, r, &live);
    free(c);
    if (!live)
        return;
    if (r->error == 0 && r->resp.status >= 200 && r->resp.status < 300) {
        uploader__http_request_free(r);
        p->prog.sent_bytes += o->size;
        return object_stored(p, o);
    }
    if (rebatch_if_refused(o, r))
        return uploader__lfs_pump(p);
    char what[HS_PATH_MAX + 64];
    snprintf(what, sizeof(what), "uploading %s", o->local);
    uploader__push_fail_http(p, r, what);
}

/* The completion refused the parts themselves (not the URL, not a transient
 * answer): retrying it with the same ETags cannot succeed. */
static bool parts_refused(const struct http_request *r)
{
    long st = r->resp.status;
    return r->error == 0 && st >= 400 && st < 500 && st != 401 && st != 403 && st != 404 &&
           st != 408 && st != 429;
}

/* Forget the object's upload (parts, ETags, batch answer; persisted, so a
 * resumed push does not complete it either) and batch it again, or fail the
 * push once REFUSED_MAX new uploads were refused too. Consumes r. */
static void reupload_refused(struct push *p, struct pobj *o, struct http_request *r)
{
    uploader__push_state_object_forget(sobj(p, o));
    o->next_part = 0;
    o->need_batch = true;
    p->prog.send_total += o->size; /* sent once more */
    if (++o->refusals > REFUSED_MAX) {
        char what[HS_PATH_MAX + 160];
        snprintf(what, sizeof(what),
                 "completing the multipart upload of %s (refused %u times, the object was "
                 "uploaded again after each refusal)",
                 o->local, o->refusals);
        if (uploader__push_persist(p) < 0) {
            uploader__http_request_free(r);
            return;
        }
        return uploader__push_fail_http(p, r, what);
    }
    uploader__http_request_free(r);
    if (uploader__push_persist(p) < 0)
        return;
    uploader__lfs_pump(p);
}

static void complete_done(struct http_request *r, void *ud)
{
    struct xfer_ctx *c = ud;
    struct push *p = c->p;
    struct pobj *o = &p->objs[c->obj];
    bool live;
    xfer_end(c, r, &live);
    free(c);
    if (!live)
        return;
    o->completing = false;
    if (r->error == 0 && r->resp.status >= 200 && r->resp.status < 300) {
        uploader__http_request_free(r);
        return object_stored(p, o);
    }
    if (rebatch_if_refused(o, r))
        return uploader__lfs_pump(p);
    if (parts_refused(r))
        return reupload_refused(p, o, r);
    char what[HS_PATH_MAX + 64];
    snprintf(what, sizeof(what), "completing the multipart upload of %s", o->local);
    uploader__push_fail_http(p, r, what);
}

static int start_xfer(struct push *p, size_t oi, const char *method, const char *url,
                      http_done_cb done, size_t part, uint64_t off, uint64_t len, char *body)
{
    struct pobj *o = &p->objs[oi];
    struct http_request *r = uploader__http_request_new(method, url);
    struct xfer_ctx *c = calloc(1, sizeof(*c));
    if (!r || !c) {
        uploader__http_request_free(r);
        free(c);
        free(body);
        uploader__push_fail(p, -ENOMEM, NULL);
        return -ENOMEM;
    }
    /* A handed-out URL: no Authorization, no redirects, clean headers. */
    r->auth = false;
    r->follow = false;
    r->retry = HTTP_RETRY_ALL;
    r->done = done;
    r->userdata = c;
    c->p = p;
    c->obj = oi;
    c->part = part;
    c->len = len;
    if (body) {
        uploader__http_request_set_body(r, body, strlen(body), "application/vnd.git-lfs+json");
        r->accept = "application/vnd.git-lfs+json";
    } else {
        r->file_path = strdup(o->local);
        r->file_off = off;
        r->file_len = len;
        r->file_check = true; /* the file hashed, or nothing is sent */
        r->file_key = *o->key;
        if ((r->verify = uploader__push_verify_for(p, o->key))) /* its bytes are compared too */
            uploader__grow_verify_ref(r->verify);
        if (!r->file_path) {
            free(c);
            uploader__http_request_free(r);
            uploader__push_fail(p, -ENOMEM, NULL);
            return -ENOMEM;
        }
    }
    int rc = uploader__push_submit(p, r);
    if (rc < 0) {
        free(c);
        return rc;
    }
    p->xfers++;
    o->inflight++;
    return 0;
}

void uploader__lfs_pump(struct push *p)
{
    if (p->failed)
        return;
    unsigned max = p->u->max_parallel;
    bool all_done = true, want_batch = false;
    /* objects end roughly in order: the scan starts at the first not done,
     * so a push of n objects does not look at n objects per event */
    while (p->pump_from < p->n_objs && p->objs[p->pump_from].done)
        p->pump_from++;
    for (size_t i = p->pump_from; i < p->n_objs; i++) {
        struct pobj *o = &p->objs[i];
        if (o->done)
            continue;
        all_done = false;
        struct push_state_object *so = sobj(p, o);
        if (o->need_batch || !so->action.href) {
            if (o->inflight == 0)
                want_batch = true;
            continue;
        }
        if (o->completing)
            continue;
        const struct hub_lfs_action *a = &so->action;
        if (a->n_parts == 0) {
            if (o->inflight == 0 && p->xfers < max &&
                start_xfer(p, i, "PUT", a->href, basic_done, 0, 0, o->size, NULL) < 0)
                return;
            continue;
        }
        while (p->xfers < max && o->next_part < a->n_parts) {
            size_t k = o->next_part++;
            if (so->etags[k])
                continue; /* finished by an earlier run or attempt */
            uint64_t off = (uint64_t)k * a->chunk_size;
            uint64_t len = o->size - off < a->chunk_size ? o->size - off : a->chunk_size;
            if (start_xfer(p, i, "PUT", a->part_urls[k], part_done, k, off, len, NULL) < 0)
                return;
        }
        if (o->next_part >= a->n_parts && o->inflight == 0 && p->xfers < max) {
            bool all = true;
            for (size_t k = 0; k < a->n_parts; k++)
                all = all && so->etags[k];
            if (!all) {
                o->next_part = 0; /* a part is missing: send it again */
                continue;
            }
            char *body = uploader__hub_body_multipart_complete(o->oid, so->etags, a->n_parts);
            if (!body)
                return uploader__push_fail(p, -ENOMEM, NULL);
            o->completing = true;
            if (start_xfer(p, i, "POST", a->href, complete_done, 0, 0, 0, body) < 0)
                return;
        }
    }
    if (all_done) {
        if (p->xfers == 0 && !p->batching && p->step == STEP_BATCH) {
            p->step = STEP_UPLOAD;
            uploader__lfs_all_done(p);
        }
        return;
    }
    if (want_batch)
        batch_next(p);
}
