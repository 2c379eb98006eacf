/*
 * push_verify.c — a push's digests that were hashed while their files were
 * still written (the daemon's hash while written, hash_grow.c): each gets a
 * verification (grow_verify.c) as soon as the file is hashed; the upload
 * requests of its LFS object hand it the bytes they read (lfs.c sets
 * http_request.verify); before the commit — or the end of a push with
 * nothing to commit, which an unverified digest may have wrongly decided —
 * every verification reads what no upload sent and must agree. A digest
 * that differs fails the push with HS_ECHANGED naming the file; it was
 * dropped from the cache, so the next try hashes the file afresh. A push
 * that fails otherwise first finishes its verifications too (a stale oid is
 * a likely cause of a refused upload, and must not be tried again).
 */
#include "push_int.h"

#include <string.h>

struct verify_ctx {
    struct push *p;
    size_t idx;
};

int uploader__push_verify_add(struct push *p, size_t idx)
{
    struct pfile *f = &p->files[idx];
    if (p->n_verifs % 8 == 0) {
        struct pverify *nv = realloc(p->verifs, (p->n_verifs + 8) * sizeof(*nv));
        if (!nv) {
            uploader__push_fail(p, -ENOMEM, NULL);
            return -ENOMEM;
        }
        p->verifs = nv;
    }
    int rc;
    struct grow_verify *v = uploader__grow_verify_begin(p->u->grow, f->local, &f->sf->key, &rc);
    if (!v) {
        struct hs_err e;
        hs_err_set(&e, rc,
                   rc == HS_ECHANGED ? "%s was hashed while it was written and that hash can no "
                                       "longer be verified; nothing was committed, it is hashed "
                                       "again on the next try"
                                     : "%s: cannot verify its hash: %s",
                   f->local, hs_strerror(rc));
        uploader__push_fail(p, rc, &e);
        return rc;
    }
    p->verifs[p->n_verifs++] = (struct pverify){.v = v, .idx = idx};
    return 0;
}

struct grow_verify *uploader__push_verify_for(struct push *p, const struct hash_key *k)
{
    for (size_t i = 0; i < p->n_verifs; i++)
        if (!p->verifs[i].ended &&
            uploader__hash_key_eq(uploader__grow_verify_key(p->verifs[i].v), k))
            return p->verifs[i].v;
    return NULL;
}

static void verify_done(int status, const struct hs_err *err, void *ud)
{
    struct verify_ctx *c = ud;
    struct push *p = c->p;
    const struct hash_key k = p->files[c->idx].sf->key;
    free(c);
    p->inflight--;
    p->verifying--;
    if (p->failed && status == HS_ECHANGED && p->failed != -ECANCELED && p->failed != -EINTR) {
        /* the push failed on its way (storage refused bytes that do not hash
         * to the stale oid, say): the stale digest is the cause to report */
        p->failed = status;
        p->err = *err;
    }
    if (p->failed)
        return uploader__push_maybe_end(p);
    if (status < 0)
        return uploader__push_fail(p, status, err);
    for (size_t i = 0; i < p->n_files; i++) /* every file of this identity */
        if (p->files[i].sf->dg.unverified && uploader__hash_key_eq(&p->files[i].sf->key, &k))
            p->files[i].sf->dg.unverified = false;
    if (p->verifying == 0 && p->after_verify) {
        void (*then)(struct push *) = p->after_verify;
        p->after_verify = NULL;
        then(p);
    }
}

/* End every verification not ended yet: each reads what no upload sent. */
static int end_all(struct push *p)
{
    for (size_t i = 0; i < p->n_verifs; i++) {
        struct pverify *e = &p->verifs[i];
        if (e->ended)
            continue;
        e->ended = true;
        struct verify_ctx *c = malloc(sizeof(*c));
        int rc = c ? uploader__grow_verify_end(e->v, verify_done, c) : -ENOMEM;
        if (rc == -EALREADY) { /* the same verification, ended for another file */
            free(c);
            continue;
        }
        if (rc < 0) {
            free(c);
            return rc;
        }
        *c = (struct verify_ctx){.p = p, .idx = e->idx};
        p->verifying++;
        p->inflight++;
    }
    return 0;
}

bool uploader__push_verify_hold(struct push *p, void (*fn)(struct push *p))
{
    int rc = end_all(p);
    if (rc < 0) {
        uploader__push_fail(p, rc, NULL);
        return true;
    }
    if (p->verifying == 0)
        return false;
    p->after_verify = fn;
    return true;
}

void uploader__push_verify_flush(struct push *p)
{
    if (p->failed != -ECANCELED && p->failed != -EINTR)
        end_all(p); /* a failure to start one leaves its digest unverified, nothing else */
}

void uploader__push_verify_free(struct push *p)
{
    for (size_t i = 0; i < p->n_verifs; i++)
        uploader__grow_verify_unref(p->verifs[i].v);
    free(p->verifs);
    p->verifs = NULL;
    p->n_verifs = 0;
}
