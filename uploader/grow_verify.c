/*
 * grow_verify.c — verifying a digest hashed while its file was written
 * (hash_grow.c) before a commit uses it: every UPLOADER_BLOCK of the file is
 * read once more and its XXH3-64 compared with the one kept from the first
 * read.
 *
 * Most blocks are compared where they are read anyway: a push attaches the
 * verification to the file's upload requests, and the body's slots, filled on
 * the pool (http_body.c), hand their bytes over (uploader__grow_verify_bytes)
 * — a slot is one block at a block-aligned offset for a basic PUT and for
 * multipart parts whose size is a multiple of it. uploader__grow_verify_end
 * then reads only the blocks no upload sent (an object the Hub already had, a
 * part boundary inside a block), checks the identity once more, and calls
 * back: 0, the digest now verified in the cache; HS_ECHANGED, a block
 * differed — the digest is dropped from the cache and the message names the
 * file. A verification is shared by the files of one push with the same
 * identity, and lives while its push or a request holds it.
 */
#include "grow_int.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct grow_verify {
    struct hash_grow *g;
    struct hash_key key;
    char *path;
    uint64_t *expect; /* a check value per block */
    size_t n;
    unsigned char *seen; /* per block: compared equal (any thread, atomic) */
    int bad;             /* a block differed (any thread, atomic) */
    unsigned refs;       /* the loop's */
    bool ending;
    grow_verify_cb cb;
    void *ud;
    /* the read of the blocks not seen, on the pool */
    uv_work_t work;
    int fd;
    size_t next;
    bool more;
    int err;
    char why[200];
    uint64_t read_bytes;
    struct grow_verify *next_v;
};

static uint64_t block_len(const struct grow_verify *v, size_t i)
{
    uint64_t start = (uint64_t)i * UPLOADER_BLOCK;
    return v->key.size - start < UPLOADER_BLOCK ? v->key.size - start : UPLOADER_BLOCK;
}

static void compare(struct grow_verify *v, size_t i, const void *bytes)
{
    if (XXH3_64bits(bytes, (size_t)block_len(v, i)) == v->expect[i])
        __atomic_store_n(&v->seen[i], 1, __ATOMIC_RELAXED);
    else
        __atomic_store_n(&v->bad, 1, __ATOMIC_RELAXED);
}

void uploader__grow_verify_bytes(struct grow_verify *v, uint64_t off, const void *buf, size_t len)
{
    uint64_t end = off + len;
    for (size_t i = (size_t)((off + UPLOADER_BLOCK - 1) / UPLOADER_BLOCK); i < v->n; i++) {
        uint64_t start = (uint64_t)i * UPLOADER_BLOCK;
        if (start + block_len(v, i) > end)
            break;
        compare(v, i, (const char *)buf + (start - off));
    }
}

struct grow_verify *uploader__grow_verify_begin(struct hash_grow *g, const char *path,
                                                const struct hash_key *key, int *err)
{
    *err = -ECANCELED;
    if (g->freeing)
        return NULL;
    for (struct grow_verify *v = g->verifies; v; v = v->next_v)
        if (!v->ending && uploader__hash_key_eq(&v->key, key)) {
            v->refs++; /* the same file twice in a push: one verification */
            return v;
        }
    struct gcheck *c = uploader__grow_check_find(g, key);
    if (!c || c->n != uploader__grow_blocks(key->size)) {
        /* its check values are gone (GROW_CHECKS_MAX newer files): read it again */
        uploader__hashcache_drop(g->cache, key);
        g->st.rejected++;
        *err = HS_ECHANGED;
        return NULL;
    }
    *err = -ENOMEM;
    struct grow_verify *v = calloc(1, sizeof(*v));
    if (!v || !(v->path = strdup(path)) || !(v->expect = malloc(c->n * sizeof(*v->expect) + 1)) ||
        !(v->seen = calloc(c->n + 1, 1))) {
        if (v) {
            free(v->path);
            free(v->expect);
        }
        free(v);
        return NULL;
    }
    memcpy(v->expect, c->blocks, c->n * sizeof(*v->expect));
    v->n = c->n;
    v->g = g;
    v->key = *key;
    v->fd = -1;
    v->refs = 1;
    v->work.data = v;
    v->next_v = g->verifies;
    g->verifies = v;
    *err = 0;
    return v;
}

void uploader__grow_verify_ref(struct grow_verify *v)
{
    v->refs++;
}

void uploader__grow_verify_unref(struct grow_verify *v)
{
    if (!v || --v->refs)
        return;
    struct hash_grow *g = v->g;
    for (struct grow_verify **pp = &g->verifies; *pp; pp = &(*pp)->next_v)
        if (*pp == v) {
            *pp = v->next_v;
            break;
        }
    if (v->fd >= 0)
        close(v->fd);
    free(v->path);
    free(v->expect);
    free(v->seen);
    free(v);
    uploader__grow_maybe_free(g);
}

const struct hash_key *uploader__grow_verify_key(const struct grow_verify *v)
{
    return &v->key;
}

/* ---- the blocks no upload sent ----------------------------------------- */

static void read_fail(struct grow_verify *v, int err, const char *what)
{
    v->err = err;
    snprintf(v->why, sizeof(v->why), "%s: %s", v->path, what);
}

/* Pool: up to HASH_WORK_SLICE bytes of blocks not seen; at the end the identity. */
static void read_work(uv_work_t *w)
{
    struct grow_verify *v = w->data;
    v->more = false;
    char *buf = NULL;
    uint64_t budget = HASH_WORK_SLICE;
    for (; v->next < v->n && budget && !__atomic_load_n(&v->bad, __ATOMIC_RELAXED); v->next++) {
        if (__atomic_load_n(&v->seen[v->next], __ATOMIC_RELAXED))
            continue;
        if (v->fd < 0) {
            int fd = uploader__open_file(v->path, &v->key, NULL, v->why, sizeof(v->why));
            if (fd < 0) {
                v->err = fd;
                break;
            }
            v->fd = fd;
        }
        if (!buf && !(buf = malloc(UPLOADER_BLOCK))) {
            read_fail(v, -ENOMEM, "out of memory");
            break;
        }
        uint64_t off = (uint64_t)v->next * UPLOADER_BLOCK, done = off;
        int rc = uploader__hash_feed(v->fd, buf, &done, off + block_len(v, v->next), NULL, NULL,
                                     NULL, NULL, 0);
        if (rc < 0) {
            read_fail(v, rc,
                      rc == HS_ECHANGED ? "shrank while its hash was being verified"
                                        : strerror(-rc));
            break;
        }
        compare(v, v->next, buf);
        v->read_bytes += block_len(v, v->next);
        budget -= budget < block_len(v, v->next) ? budget : block_len(v, v->next);
    }
    free(buf);
    if (v->err || __atomic_load_n(&v->bad, __ATOMIC_RELAXED))
        return;
    if ((v->more = v->next < v->n))
        return;
    if (v->fd >= 0) {
        struct hash_key now;
        int rc = uploader__key_of_fd(v->fd, &now);
        if (rc < 0)
            return read_fail(v, rc, strerror(-rc));
        if (!uploader__hash_key_eq(&now, &v->key))
            return read_fail(v, HS_ECHANGED, "changed while its hash was being verified");
    }
}

static void finish(struct grow_verify *v, int rc, struct hs_err *e)
{
    struct hash_grow *g = v->g;
    if (rc == 0) {
        uploader__hashcache_set_verified(g->cache, &v->key);
        g->st.verified++;
    } else if (rc == HS_ECHANGED) {
        uploader__hashcache_drop(g->cache, &v->key);
        g->st.rejected++;
    }
    if (rc != -ECANCELED)
        uploader__grow_check_remove(g, &v->key);
    g->st.verify_read += v->read_bytes;
    v->cb(rc, rc ? e : NULL, v->ud);
    uploader__grow_verify_unref(v);
}

static void read_done(uv_work_t *w, int status)
{
    struct grow_verify *v = w->data;
    struct hash_grow *g = v->g;
    g->running--;
    struct hs_err e = {0};
    int rc = v->err;
    if (g->freeing || status < 0)
        rc = hs_err_set(&e, -ECANCELED, "%s: verification cancelled", v->path);
    else if (__atomic_load_n(&v->bad, __ATOMIC_RELAXED))
        rc = hs_err_set(&e, HS_ECHANGED,
                        "%s was rewritten while it was being written: its bytes differ from "
                        "those hashed as it grew, so nothing was committed; it is hashed again "
                        "on the next try",
                        v->path);
    else if (rc)
        hs_err_set(&e, rc, "%s", v->why);
    else if (v->more) {
        g->running++;
        if (uv_queue_work(g->loop, &v->work, read_work, read_done) == 0)
            return;
        g->running--;
        rc = hs_err_set(&e, -EIO, "%s: cannot queue work on the thread pool", v->path);
    }
    finish(v, rc, &e);
}

int uploader__grow_verify_end(struct grow_verify *v, grow_verify_cb cb, void *userdata)
{
    if (v->ending)
        return -EALREADY;
    if (v->g->freeing)
        return -ECANCELED;
    v->ending = true;
    v->cb = cb;
    v->ud = userdata;
    v->refs++; /* until the callback */
    v->g->running++;
    if (uv_queue_work(v->g->loop, &v->work, read_work, read_done) < 0) {
        v->g->running--;
        v->refs--;
        v->ending = false;
        return -EIO;
    }
    return 0;
}

int uploader__grow_verify(struct hash_grow *g, const char *path, const struct hash_key *key,
                          grow_verify_cb cb, void *userdata)
{
    int rc;
    struct grow_verify *v = uploader__grow_verify_begin(g, path, key, &rc);
    if (!v)
        return rc;
    rc = uploader__grow_verify_end(v, cb, userdata);
    uploader__grow_verify_unref(v);
    return rc;
}
