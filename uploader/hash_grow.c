/*
 * hash_grow.c — hashing a file while the trainer writes it, and the second
 * read that makes it safe to use (issue 14: time to Hub).
 *
 * Follow: the daemon names a file of a pending checkpoint as soon as it sees
 * it written (uploader_follow; watcher.h on_file_growing). Every GROW_TICK_MS
 * a work item on libuv's pool (at the daemon's low priority, daemon/priority.c)
 * takes the file's size and hashes what was added since, from the page cache
 * the trainer just filled: SHA-256 and, beside it, an XXH3-128 check value.
 * Nothing is read before the file is GROW_MIN big (small files are hashed at
 * close as before; they need the git SHA-1 too). When the file is closed
 * (uploader_prehash from on_file_protected) or the hasher is about to read
 * it (uploader__grow_adopt: a push or READY's hashes came first), the rest is
 * read, the identity settled as hash.c does (the racy margin), and read
 * again: an identity that moved is read on, at most GROW_ROUNDS times. The
 * digests go to the hash cache marked unverified, the check value stays here.
 *
 * Why unverified: a writer that goes back and rewrites a stretch already
 * hashed (a header patched in place, an mmap'ed array filled out of order)
 * leaves an identity that says nothing about it — the mtime moves on every
 * write anyway. So before a push commits such a digest it calls
 * uploader__grow_verify: the file is read once more, XXH3 only (memory speed,
 * while its bytes upload), and the check value compared. Agreed: the digest
 * is verified in the cache. Differs: it is dropped from the cache and the push
 * fails with HS_ECHANGED naming the file, so the next try hashes it afresh —
 * a stale digest is never committed.
 *
 * A followed file holds one descriptor. It is let go when it shrinks, is
 * deleted, stops growing for GROW_IDLE_MS without a close, or the uploader
 * closes; at most GROW_MAX files are followed at once.
 */
#include "uploader_int.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define GROW_MAX     8
#define GROW_MIN     (16ull * 1024 * 1024)
#define GROW_TICK_MS 100
#define GROW_IDLE_MS 60000
#define GROW_ROUNDS  3
#define CHECKS_MAX   256 /* check values of unverified digests kept */

enum gmode { G_FOLLOW, G_VERIFY };

struct gwaiter {
    void (*resume)(void *arg, bool cancelled); /* a hash job (follow) */
    void *arg;
    grow_verify_cb cb; /* or a verification of the same identity (verify) */
    void *ud;
    struct gwaiter *next;
};

struct gfile {
    struct hash_grow *g;
    enum gmode mode;
    char *path;
    int fd;
    /* follow: dev and ino as opened, the settled identity once finished;
     * verify: the identity the digest is for */
    struct hash_key key;
    EVP_MD_CTX *sha256;
    XXH3_state_t *check;
    uint64_t done;
    uv_work_t work;
    /* written by the loop before a step is queued, read by the step */
    bool step_closing;
    /* written by the step, read by the loop after it */
    bool more, finished, racy, read_growing;
    unsigned settles; /* closing rounds whose identity moved */
    int err;
    char why[200];
    struct file_digest dg;
    XXH128_hash_t value; /* follow: the check value; verify: what was read */
    /* the loop's own */
    bool busy, closing, abandon, grew_seen;
    uint64_t done_seen;
    hs_usec_t last_growth;
    struct gwaiter *waiters;
    XXH128_hash_t expect;
    grow_verify_cb cb;
    void *ud;
    struct gfile *next;
};

struct gcheck {
    struct hash_key key;
    XXH128_hash_t value;
};

struct hash_grow {
    uv_loop_t *loop;
    struct uploader_hashcache *cache;
    uv_timer_t timer;
    bool timer_on, timer_closed, freeing;
    struct gfile *files;
    unsigned n_follow, running;
    struct gcheck checks[CHECKS_MAX];
    size_t n_checks, next_check;
    struct grow_stats st;
};

/* ---- check values ----------------------------------------------------- */

static struct gcheck *check_find(struct hash_grow *g, const struct hash_key *k)
{
    for (size_t i = 0; i < g->n_checks; i++)
        if (uploader__hash_key_eq(&g->checks[i].key, k))
            return &g->checks[i];
    return NULL;
}

static void check_put(struct hash_grow *g, const struct hash_key *k, XXH128_hash_t v)
{
    struct gcheck *c = check_find(g, k);
    if (!c) {
        if (g->n_checks < CHECKS_MAX)
            c = &g->checks[g->n_checks++];
        else { /* the oldest goes: its digest, if still unverified, is read again */
            c = &g->checks[g->next_check];
            uploader__hashcache_drop(g->cache, &c->key);
            g->next_check = (g->next_check + 1) % CHECKS_MAX;
        }
    }
    c->key = *k;
    c->value = v;
}

static void check_remove(struct hash_grow *g, const struct hash_key *k)
{
    struct gcheck *c = check_find(g, k);
    if (c)
        c->key = (struct hash_key){0}; /* never equal to a real identity (ino 0) */
}

/* ---- work on the pool --------------------------------------------------- */

static void step_fail(struct gfile *f, int err, const char *what)
{
    f->err = err;
    snprintf(f->why, sizeof(f->why), "%s: %s", f->path, what);
}

static bool step_start(struct gfile *f)
{
    if (!f->sha256 && f->mode == G_FOLLOW) {
        f->sha256 = EVP_MD_CTX_new();
        if (!f->sha256 || !EVP_DigestInit_ex(f->sha256, EVP_sha256(), NULL)) {
            step_fail(f, -ENOMEM, "cannot start SHA-256");
            return false;
        }
    }
    if (!f->check) {
        if (!(f->check = XXH3_createState()) || XXH3_128bits_reset(f->check) != XXH_OK) {
            step_fail(f, -ENOMEM, "cannot start the check value");
            return false;
        }
    }
    return true;
}

/* Read [f->done, end): the digests of the mode. */
static bool step_read(struct gfile *f, uint64_t end)
{
    char *buf = malloc(HASH_READ_BUF);
    if (!buf) {
        step_fail(f, -ENOMEM, "out of memory");
        return false;
    }
    int rc = uploader__hash_feed(f->fd, buf, &f->done, end, f->mode == G_FOLLOW ? f->sha256 : NULL,
                                 NULL, f->check, NULL, 0);
    free(buf);
    if (rc == HS_ECHANGED)
        step_fail(f, rc, "shrank while being read");
    else if (rc < 0)
        step_fail(f, rc, strerror(-rc));
    return rc == 0;
}

/* The whole file is read and its identity stood still: the digests. */
static void follow_finish(struct gfile *f, const struct hash_key *k, bool racy)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dl;
    EVP_DigestFinal_ex(f->sha256, d, &dl);
    memset(&f->dg, 0, sizeof(f->dg));
    memcpy(f->dg.sha256, d, sizeof(f->dg.sha256));
    f->dg.unverified = f->read_growing;
    f->value = XXH3_128bits_digest(f->check);
    f->key = *k;
    f->racy = racy;
    f->finished = true;
}

static void follow_step(struct gfile *f)
{
    struct stat st;
    struct hash_key now;
    if (fstat(f->fd, &st) < 0)
        return step_fail(f, -errno, strerror(errno));
    uploader__key_from_stat(&st, &now);
    if (now.size < f->done)
        return step_fail(f, HS_ECHANGED, "shrank while being written");
    if (st.st_nlink == 0 && !f->step_closing)
        return step_fail(f, -ENOENT, "deleted while being written");
    if (!f->step_closing && now.size < GROW_MIN)
        return; /* not worth it yet: small files are hashed at close */
    if (!step_start(f))
        return;
    uint64_t end = now.size - f->done > HASH_WORK_SLICE ? f->done + HASH_WORK_SLICE : now.size;
    if (!f->step_closing && end > f->done)
        f->read_growing = true;
    if (!step_read(f, end))
        return;
    if (f->done < now.size || !f->step_closing) {
        f->more = f->done < now.size;
        return;
    }
    /* closed: settle the identity, then nothing may have moved since */
    bool racy;
    int rc = uploader__hash_settle(f->fd, &now, &racy);
    if (rc < 0)
        return step_fail(f, rc, strerror(-rc));
    if (now.size == f->done) {
        struct hash_key after;
        if ((rc = uploader__key_of_fd(f->fd, &after)) < 0)
            return step_fail(f, rc, strerror(-rc));
        if (uploader__hash_key_eq(&after, &now))
            return follow_finish(f, &now, racy);
    }
    if (++f->settles > GROW_ROUNDS)
        return step_fail(f, HS_ECHANGED, "still being written after it was closed");
    f->more = true; /* written again at the last moment: read on */
}

static void verify_step(struct gfile *f)
{
    if (f->fd < 0) {
        struct hash_key got;
        int fd = uploader__open_file(f->path, &f->key, &got, f->why, sizeof(f->why));
        if (fd < 0) {
            f->err = fd;
            return;
        }
        f->fd = fd;
    }
    if (!step_start(f))
        return;
    uint64_t left = f->key.size - f->done;
    if (!step_read(f, left > HASH_WORK_SLICE ? f->done + HASH_WORK_SLICE : f->key.size))
        return;
    if ((f->more = f->done < f->key.size))
        return;
    struct hash_key now;
    int rc = uploader__key_of_fd(f->fd, &now);
    if (rc < 0)
        return step_fail(f, rc, strerror(-rc));
    if (!uploader__hash_key_eq(&now, &f->key))
        return step_fail(f, HS_ECHANGED, "changed while its hash was being verified");
    f->value = XXH3_128bits_digest(f->check);
    f->finished = true;
}

static void work_cb(uv_work_t *w)
{
    struct gfile *f = w->data;
    f->more = false;
    if (f->mode == G_FOLLOW)
        follow_step(f);
    else
        verify_step(f);
}

/* ---- the loop side ------------------------------------------------------ */

static void after_cb(uv_work_t *w, int status);

static void queue_step(struct gfile *f)
{
    f->step_closing = f->closing;
    f->busy = true;
    f->g->running++;
    if (uv_queue_work(f->g->loop, &f->work, work_cb, after_cb) < 0) {
        step_fail(f, -EIO, "cannot queue work on the thread pool");
        after_cb(&f->work, 0);
    }
}

static void timer_cb(uv_timer_t *t);

static void timer_closed(uv_handle_t *h)
{
    struct hash_grow *g = h->data;
    g->timer_closed = true;
    if (g->running == 0)
        free(g);
}

static void gfile_free(struct gfile *f)
{
    struct hash_grow *g = f->g;
    for (struct gfile **pp = &g->files; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    if (f->mode == G_FOLLOW)
        g->n_follow--;
    if (g->n_follow == 0 && g->timer_on) {
        uv_timer_stop(&g->timer);
        g->timer_on = false;
    }
    if (f->fd >= 0)
        close(f->fd);
    EVP_MD_CTX_free(f->sha256);
    XXH3_freeState(f->check);
    free(f->path);
    free(f);
}

/* Followed no more: the hash jobs that waited for it look in the cache. */
static void follow_end(struct gfile *f, bool cancelled)
{
    struct gwaiter *w = f->waiters;
    f->waiters = NULL;
    gfile_free(f);
    while (w) {
        struct gwaiter *n = w->next;
        w->resume(w->arg, cancelled);
        free(w);
        w = n;
    }
}

static void verify_end(struct gfile *f)
{
    struct hash_grow *g = f->g;
    struct hs_err e = {0};
    int rc = f->err;
    if (rc)
        hs_err_set(&e, rc, "%s", f->why);
    else if (!XXH128_isEqual(f->value, f->expect))
        rc = hs_err_set(&e, HS_ECHANGED,
                        "%s was rewritten while it was being written: its bytes differ from "
                        "those hashed as it grew, so nothing was committed; it is hashed again "
                        "on the next try",
                        f->path);
    if (rc == 0) {
        struct uploader_hash h;
        struct file_digest d;
        if (uploader__hashcache_get_key(g->cache, &f->key, &h) &&
            uploader__digest_from_hash(&h, &d)) {
            d.unverified = false;
            uploader__hashcache_put_digest(g->cache, &f->key, &d);
        }
        g->st.verified++;
    } else if (rc == HS_ECHANGED) {
        uploader__hashcache_drop(g->cache, &f->key);
        g->st.rejected++;
    }
    check_remove(g, &f->key);
    grow_verify_cb cb = f->cb;
    void *ud = f->ud;
    struct gwaiter *w = f->waiters;
    gfile_free(f);
    cb(rc, rc ? &e : NULL, ud);
    for (struct gwaiter *n; w; w = n) {
        n = w->next;
        w->cb(rc, rc ? &e : NULL, w->ud);
        free(w);
    }
}

static void cancel_file(struct gfile *f)
{
    if (f->mode == G_VERIFY) {
        f->err = -ECANCELED;
        snprintf(f->why, sizeof(f->why), "%s: verification cancelled", f->path);
        return verify_end(f);
    }
    follow_end(f, true);
}

static void after_cb(uv_work_t *w, int status)
{
    struct gfile *f = w->data;
    struct hash_grow *g = f->g;
    g->running--;
    f->busy = false;
    if (g->freeing || status < 0) {
        cancel_file(f);
        if (g->freeing && g->running == 0 && g->timer_closed)
            free(g);
        return;
    }
    if (f->mode == G_VERIFY)
        return !f->err && f->more ? queue_step(f) : verify_end(f);
    if (f->err) {
        hs_log_debug("hash while written: %s; hashed when closed instead", f->why);
        return follow_end(f, false);
    }
    if (f->done > f->done_seen) {
        f->done_seen = f->done;
        f->last_growth = hs_now_monotonic();
    }
    if (f->finished) {
        if (f->abandon || f->racy) /* read again by the hasher: not cached */
            return follow_end(f, false);
        if (uploader__hashcache_put_digest(g->cache, &f->key, &f->dg) == 0) {
            g->st.finished++;
            if (f->dg.unverified)
                check_put(g, &f->key, f->value);
        }
        return follow_end(f, false);
    }
    if (f->abandon)
        return follow_end(f, false);
    if (f->more || f->closing)
        return queue_step(f);
}

static void timer_cb(uv_timer_t *t)
{
    struct hash_grow *g = t->data;
    hs_usec_t now = hs_now_monotonic();
    for (struct gfile *f = g->files, *n; f; f = n) {
        n = f->next;
        if (f->mode != G_FOLLOW || f->busy)
            continue;
        if (now - f->last_growth > (hs_usec_t)GROW_IDLE_MS * 1000) {
            hs_log_debug("hash while written: %s stopped growing without being closed; let go",
                         f->path);
            follow_end(f, false);
            continue;
        }
        queue_step(f);
    }
}

int uploader__grow_new(uv_loop_t *loop, struct uploader_hashcache *cache, struct hash_grow **out)
{
    struct hash_grow *g = calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    g->loop = loop;
    g->cache = cache;
    uv_timer_init(loop, &g->timer);
    uv_unref((uv_handle_t *)&g->timer);
    g->timer.data = g;
    *out = g;
    return 0;
}

void uploader__grow_free(struct hash_grow *g)
{
    if (!g)
        return;
    g->freeing = true;
    if (g->timer_on)
        uv_timer_stop(&g->timer);
    g->timer_on = false;
    for (struct gfile *f = g->files, *n; f; f = n) {
        n = f->next;
        if (!f->busy)
            cancel_file(f);
    }
    uv_close((uv_handle_t *)&g->timer, timer_closed);
}

static struct gfile *find_follow(struct hash_grow *g, uint64_t dev, uint64_t ino)
{
    for (struct gfile *f = g->files; f; f = f->next)
        if (f->mode == G_FOLLOW && f->key.dev == dev && f->key.ino == ino)
            return f;
    return NULL;
}

int uploader__grow_follow(struct hash_grow *g, const char *path)
{
    if (g->freeing)
        return -ECANCELED;
    struct stat st;
    if (lstat(path, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || find_follow(g, (uint64_t)st.st_dev, (uint64_t)st.st_ino) ||
        g->n_follow >= GROW_MAX)
        return 0;
    struct gfile *f = calloc(1, sizeof(*f));
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return -ENOMEM;
    }
    char why[160];
    int fd = uploader__open_file(path, NULL, &f->key, why, sizeof(why));
    if (fd < 0) {
        free(f->path);
        free(f);
        return fd;
    }
    f->g = g;
    f->fd = fd;
    f->mode = G_FOLLOW;
    f->work.data = f;
    f->last_growth = hs_now_monotonic();
    f->next = g->files;
    g->files = f;
    g->n_follow++;
    g->st.followed++;
    if (!g->timer_on) {
        uv_timer_start(&g->timer, timer_cb, GROW_TICK_MS, GROW_TICK_MS);
        g->timer_on = true;
    }
    return 0;
}

/* Finish f now. False when nothing was read while it grew: then the hasher
 * reads it as any closed file (the git SHA-1 of small files is its). */
static bool finish_now(struct gfile *f)
{
    if (f->done_seen == 0) {
        if (f->busy)
            f->abandon = true; /* its step may be reading: let go after it */
        else
            follow_end(f, false);
        return false;
    }
    f->closing = true;
    if (!f->busy)
        queue_step(f);
    return true;
}

bool uploader__grow_close(struct hash_grow *g, const char *path)
{
    struct stat st;
    if (g->freeing || lstat(path, &st) < 0)
        return false;
    struct gfile *f = find_follow(g, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
    return f && !f->abandon && finish_now(f);
}

bool uploader__grow_adopt(struct hash_grow *g, const struct hash_key *key,
                          void (*resume)(void *arg, bool cancelled), void *arg)
{
    struct gfile *f = g->freeing ? NULL : find_follow(g, key->dev, key->ino);
    if (!f || f->abandon)
        return false;
    struct gwaiter *w = malloc(sizeof(*w));
    if (!w)
        return false;
    if (!finish_now(f)) {
        free(w);
        return false;
    }
    w->resume = resume;
    w->arg = arg;
    w->next = f->waiters;
    f->waiters = w;
    return true;
}

int uploader__grow_verify(struct hash_grow *g, const char *path, const struct hash_key *key,
                          grow_verify_cb cb, void *userdata)
{
    if (g->freeing)
        return -ECANCELED;
    for (struct gfile *v = g->files; v; v = v->next) {
        if (v->mode != G_VERIFY || !uploader__hash_key_eq(&v->key, key))
            continue;
        /* the same file in two places of a commit: one read answers both */
        struct gwaiter *w = calloc(1, sizeof(*w));
        if (!w)
            return -ENOMEM;
        w->cb = cb;
        w->ud = userdata;
        w->next = v->waiters;
        v->waiters = w;
        return 0;
    }
    struct gcheck *c = check_find(g, key);
    if (!c) { /* its check value is gone (CHECKS_MAX newer ones): read it again */
        uploader__hashcache_drop(g->cache, key);
        g->st.rejected++;
        return HS_ECHANGED;
    }
    struct gfile *f = calloc(1, sizeof(*f));
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return -ENOMEM;
    }
    f->g = g;
    f->mode = G_VERIFY;
    f->fd = -1;
    f->key = *key;
    f->expect = c->value;
    f->cb = cb;
    f->ud = userdata;
    f->work.data = f;
    f->next = g->files;
    g->files = f;
    queue_step(f);
    return 0;
}

void uploader__grow_stats(const struct hash_grow *g, struct grow_stats *out)
{
    *out = g ? g->st : (struct grow_stats){0};
}
