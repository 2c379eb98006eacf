/*
 * uploader.c — the uploader object: one HTTP loop, one hash cache and one
 * hasher shared by every push on the loop; creation, the close sequence
 * (pushes cancelled, handles closed, memory freed in the last close
 * callback) and the public hashing entry point.
 */
#include "push_int.h"

#include <string.h>

const char *uploader_phase_name(enum uploader_phase phase)
{
    static const char *const names[] = {"prepare", "hash", "preupload", "upload", "commit"};
    return (unsigned)phase < HS_ARRAY_SIZE(names) ? names[phase] : "?";
}

int uploader_new(uv_loop_t *loop, const struct uploader_options *opt, struct uploader **out,
                 struct hs_err *err)
{
    struct uploader *u = calloc(1, sizeof(*u));
    if (!u)
        return hs_err_set(err, -ENOMEM, "out of memory");
    u->loop = loop;
    u->max_parallel = opt->max_parallel ? opt->max_parallel : 8;
    struct http_loop_options ho = {
        .endpoint = opt->endpoint,
        .token = opt->token,
        .ca_file = opt->ca_file,
        .user_agent = opt->user_agent,
        .max_parallel = u->max_parallel,
        .bandwidth_bytes_per_sec = opt->bandwidth_bytes_per_sec,
        .retry =
            {
                .max_retries = opt->max_retries ? opt->max_retries : 5,
                .base = opt->retry_base ? opt->retry_base : HS_USEC_PER_SEC,
                .max_wait = 600 * HS_USEC_PER_SEC,
            },
        .stall_seconds = opt->stall_seconds,
    };
    ho.retry.cap = ho.retry.base * 8;
    u->retry_base = ho.retry.base;
    int rc;
    if (!(u->endpoint = strdup(opt->endpoint ? opt->endpoint : "")) ||
        !(u->cache = uploader_hashcache_new(0))) {
        rc = hs_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = uploader__hasher_new(loop, u->cache, opt->hash_parallel, &u->hasher)) < 0 ||
        (rc = uploader__grow_new(loop, u->cache, &u->grow)) < 0) {
        hs_err_set(err, rc, "cannot create the hasher");
        goto fail;
    }
    uploader__hasher_set_grow(u->hasher, u->grow);
    if ((rc = uploader__http_loop_new(loop, &ho, &u->http, err)) < 0)
        goto fail;
    *out = u;
    return 0;
fail:
    uploader__grow_free(u->grow);
    uploader__hasher_free(u->hasher);
    uploader_hashcache_free(u->cache);
    free(u->endpoint);
    free(u);
    return rc;
}

static void maybe_free(struct uploader *u)
{
    if (u->closing && u->http_closed && !u->pushes) {
        uploader_hashcache_free(u->cache);
        free(u->endpoint);
        free(u);
    }
}

static void http_closed(void *ud)
{
    struct uploader *u = ud;
    u->http_closed = true;
    maybe_free(u);
}

void uploader__push_gone(struct uploader *u, struct push *p);
void uploader__push_gone(struct uploader *u, struct push *p)
{
    for (struct push **pp = &u->pushes; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    maybe_free(u);
}

void uploader_close(struct uploader *u)
{
    if (!u || u->closing)
        return;
    u->closing = true;
    struct hs_err e;
    hs_err_set(&e, -ECANCELED, "push cancelled");
    for (struct push *p = u->pushes; p; p = p->next)
        uploader__push_fail(p, -ECANCELED, &e);
    /* first the followed files: hash jobs waiting for one go back to the
     * hasher as cancelled, verifications report -ECANCELED */
    uploader__grow_free(u->grow);
    u->grow = NULL;
    uploader__hasher_free(u->hasher); /* queued and running jobs report -ECANCELED */
    u->hasher = NULL;
    uploader__http_loop_close(u->http, http_closed, u); /* requests report -ECANCELED */
}

void uploader_interrupt(struct uploader *u)
{
    if (!u || u->closing)
        return;
    for (struct push *p = u->pushes, *n; p; p = n) {
        n = p->next; /* p may be gone after this */
        uploader__push_interrupt(p);
    }
}

int uploader_hash_file(struct uploader *u, const char *path, uploader_hash_cb cb, void *userdata)
{
    if (u->closing)
        return -ECANCELED;
    return uploader__hasher_hash(u->hasher, path, cb, NULL, userdata);
}

unsigned uploader_hash_files_read(const struct uploader *u)
{
    return u->hasher ? uploader__hasher_files_read(u->hasher) : 0;
}

static void prehash_done(int status, const struct uploader_hash *h, const struct hs_err *err,
                         void *ud)
{
    (void)err;
    /* -ECANCELED may come after the uploader is gone: touch nothing then */
    if (status == 0 && !h->from_cache)
        ((struct uploader *)ud)->prehashed++;
}

int uploader_prehash(struct uploader *u, const char *path)
{
    if (u->closing)
        return -ECANCELED;
    if (uploader__grow_close(u->grow, path))
        return 0; /* followed as it was written: its hash is finished there */
    return uploader__hasher_hash(u->hasher, path, prehash_done, NULL, u);
}

int uploader_follow(struct uploader *u, const char *path)
{
    if (u->closing)
        return -ECANCELED;
    return uploader__grow_follow(u->grow, path);
}

void uploader_hash_cache_stats(const struct uploader *u, struct uploader_hashcache_stats *out)
{
    uploader_hashcache_stats(u->cache, out);
    out->prehashed = u->prehashed;
    struct grow_stats g;
    uploader__grow_stats(u->grow, &g);
    out->grown_followed = g.followed;
    out->grown_finished = g.finished;
    out->grown_verified = g.verified;
    out->grown_rejected = g.rejected;
    out->grown_verify_read = g.verify_read;
}
