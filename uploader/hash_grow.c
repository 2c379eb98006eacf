/*
 * hash_grow.c — hashing a file while the trainer writes it, and the second
 * read that makes it safe to use (issue 14: time to Hub).
 *
 * Follow: the daemon names a file of a pending checkpoint as soon as it sees
 * it written (uploader_follow; watcher.h on_file_growing). Every GROW_TICK_MS
 * a work item on libuv's pool (at the daemon's low priority, daemon/priority.c)
 * takes the file's size and hashes what was added since, from the page cache
 * the trainer just filled: SHA-256 and, beside it, a check value per 512 KiB
 * block (XXH3-64, UPLOADER_BLOCK: the slots request bodies are read in).
 * Nothing is read before the file is GROW_MIN big (small files are hashed at
 * close as before; they need the git SHA-1 too). When the file is closed
 * (uploader_prehash from on_file_protected) or the hasher is about to read
 * it (uploader__grow_adopt: a push or READY's hashes came first), the rest is
 * read, the identity settled as hash.c does (the racy margin), and read
 * again: an identity that moved is read on, at most GROW_ROUNDS times. The
 * digests go to the hash cache marked unverified, the check values stay here
 * (GROW_CHECKS_MAX files).
 *
 * Why unverified: a writer that goes back and rewrites a stretch already
 * hashed (a header patched in place, an mmap'ed array filled out of order)
 * leaves an identity that says nothing about it — the mtime moves on every
 * write anyway. So before a push commits such a digest, every block is read
 * once more and its check value compared (grow_verify.c): as the upload
 * sends it (the body's slots, on the pool), and what the upload did not send
 * by a read of its own. Agreed: the digest is verified in the cache.
 * Differs: it is dropped from the cache and the push fails with HS_ECHANGED
 * naming the file, so the next try hashes it afresh — a stale digest is never
 * committed.
 *
 * A followed file holds one descriptor. It is let go when it shrinks, is
 * deleted, stops growing for GROW_IDLE_MS without a close, or the uploader
 * closes; at most GROW_MAX files are followed at once.
 */
#include "grow_int.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GROW_MAX     8
#define GROW_MIN     (16ull * 1024 * 1024)
#define GROW_TICK_MS 100
#define GROW_IDLE_MS 60000
#define GROW_ROUNDS  3

struct gwaiter {
    void (*resume)(void *arg, bool cancelled); /* a hash job */
    void *arg;
    struct gwaiter *next;
};

struct gfile {
    struct hash_grow *g;
    char *path;
    int fd;
    struct hash_key key; /* dev and ino as opened; the settled identity once finished */
    EVP_MD_CTX *sha256;
    XXH3_state_t *check; /* the current block's */
    uint64_t *blocks;    /* check values of the whole blocks read */
    size_t n_blocks, cap_blocks;
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
    /* the loop's own */
    bool busy, closing, abandon;
    uint64_t done_seen;
    hs_usec_t last_growth;
    struct gwaiter *waiters;
    struct gfile *next;
};

/* ---- check values ----------------------------------------------------- */

struct gcheck *uploader__grow_check_find(struct hash_grow *g, const struct hash_key *k)
{
    for (size_t i = 0; i < g->n_checks; i++)
        if (g->checks[i].blocks && uploader__hash_key_eq(&g->checks[i].key, k))
            return &g->checks[i];
    return NULL;
}

/* Keep blocks (taken) for k. */
static void check_put(struct hash_grow *g, const struct hash_key *k, uint64_t *blocks, size_t n)
{
    struct gcheck *c = uploader__grow_check_find(g, k);
    for (size_t i = 0; i < g->n_checks && !c; i++)
        if (!g->checks[i].blocks)
            c = &g->checks[i];
    if (!c && g->n_checks < GROW_CHECKS_MAX)
        c = &g->checks[g->n_checks++];
    if (!c) { /* the oldest goes: its digest, if still unverified, is read again */
        c = &g->checks[g->next_check];
        uploader__hashcache_drop(g->cache, &c->key);
        g->next_check = (g->next_check + 1) % GROW_CHECKS_MAX;
    }
    free(c->blocks);
    c->key = *k;
    c->blocks = blocks;
    c->n = n;
}

void uploader__grow_check_remove(struct hash_grow *g, const struct hash_key *k)
{
    struct gcheck *c = uploader__grow_check_find(g, k);
    if (c) {
        free(c->blocks);
        c->blocks = NULL;
    }
}

/* ---- work on the pool --------------------------------------------------- */

static void step_fail(struct gfile *f, int err, const char *what)
{
    f->err = err;
    snprintf(f->why, sizeof(f->why), "%s: %s", f->path, what);
}

static bool step_start(struct gfile *f)
{
    if (!f->sha256) {
        f->sha256 = EVP_MD_CTX_new();
        if (!f->sha256 || !EVP_DigestInit_ex(f->sha256, EVP_sha256(), NULL)) {
            step_fail(f, -ENOMEM, "cannot start SHA-256");
            return false;
        }
    }
    if (!f->check) {
        if (!(f->check = XXH3_createState()) || XXH3_64bits_reset(f->check) != XXH_OK) {
            step_fail(f, -ENOMEM, "cannot start the check values");
            return false;
        }
    }
    return true;
}

/* The current block is complete (or the file ends in it): its check value. */
static bool block_end(struct gfile *f)
{
    if (f->n_blocks == f->cap_blocks) {
        size_t cap = f->cap_blocks ? 2 * f->cap_blocks : 64;
        uint64_t *nb = realloc(f->blocks, cap * sizeof(*nb));
        if (!nb) {
            step_fail(f, -ENOMEM, "out of memory");
            return false;
        }
        f->blocks = nb;
        f->cap_blocks = cap;
    }
    f->blocks[f->n_blocks++] = XXH3_64bits_digest(f->check);
    XXH3_64bits_reset(f->check);
    return true;
}

/* Read [f->done, end) block by block: SHA-256, and each whole block's check. */
static bool step_read(struct gfile *f, uint64_t end)
{
    if (f->done >= end)
        return true; /* a tick with nothing new written */
    char *buf = malloc(HASH_READ_BUF);
    if (!buf) {
        step_fail(f, -ENOMEM, "out of memory");
        return false;
    }
    int rc = 0;
    while (rc == 0 && f->done < end) {
        uint64_t bend = (f->done / UPLOADER_BLOCK + 1) * UPLOADER_BLOCK;
        rc = uploader__hash_feed(f->fd, buf, &f->done, bend < end ? bend : end, f->sha256, NULL,
                                 f->check, NULL, 0);
        if (rc == 0 && f->done % UPLOADER_BLOCK == 0 && !block_end(f))
            rc = -ENOMEM;
    }
    free(buf);
    if (rc == HS_ECHANGED)
        step_fail(f, rc, "shrank while being read");
    else if (rc < 0 && rc != -ENOMEM)
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
    if (f->done % UPLOADER_BLOCK != 0 && !block_end(f)) /* the last, short block */
        return;
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

static void work_cb(uv_work_t *w)
{
    struct gfile *f = w->data;
    f->more = false;
    follow_step(f);
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

void uploader__grow_maybe_free(struct hash_grow *g)
{
    if (g->freeing && g->timer_closed && g->running == 0 && !g->verifies) {
        for (size_t i = 0; i < g->n_checks; i++)
            free(g->checks[i].blocks);
        free(g);
    }
}

static void timer_closed(uv_handle_t *h)
{
    struct hash_grow *g = h->data;
    g->timer_closed = true;
    uploader__grow_maybe_free(g);
}

static void gfile_free(struct gfile *f)
{
    struct hash_grow *g = f->g;
    for (struct gfile **pp = &g->files; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    g->n_follow--;
    if (g->n_follow == 0 && g->timer_on) {
        uv_timer_stop(&g->timer);
        g->timer_on = false;
    }
    if (f->fd >= 0)
        close(f->fd);
    EVP_MD_CTX_free(f->sha256);
    XXH3_freeState(f->check);
    free(f->blocks);
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

static void after_cb(uv_work_t *w, int status)
{
    struct gfile *f = w->data;
    struct hash_grow *g = f->g;
    g->running--;
    f->busy = false;
    if (g->freeing || status < 0) {
        follow_end(f, true);
        return uploader__grow_maybe_free(g);
    }
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
            if (f->dg.unverified) {
                check_put(g, &f->key, f->blocks, f->n_blocks);
                f->blocks = NULL;
            }
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
        if (f->busy)
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
            follow_end(f, true);
    }
    uv_close((uv_handle_t *)&g->timer, timer_closed);
}

static struct gfile *find_follow(struct hash_grow *g, uint64_t dev, uint64_t ino)
{
    for (struct gfile *f = g->files; f; f = f->next)
        if (f->key.dev == dev && f->key.ino == ino)
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

void uploader__grow_stats(const struct hash_grow *g, struct grow_stats *out)
{
    *out = g ? g->st : (struct grow_stats){0};
}
