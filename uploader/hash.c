/*
 * hash.c — file hashing on libuv's thread pool: SHA-256 with OpenSSL's EVP
 * interface, plus in the same pass the size the preupload call needs and
 * the git blob SHA-1 for files small enough to be
 * regular (≤ 10 MiB, compared with preupload's remote oid). A file is read in
 * work items of at most 16 MiB so a multi-GB hash does not hold a pool thread
 * for minutes, and at most `parallel` files are in flight; after each work
 * item the caller's progress callback (optional) gets the bytes of that file
 * hashed so far, on the loop thread. Files queued together are opened in
 * batches, one work item for up to 64 of them: a small file (≤ 1 MiB) is
 * looked up in the cache and, when missing, read and hashed within its
 * batch (one pool hand-off and one loop wake-up for many small files, where
 * each file cost two of each before); a large one leaves the batch opened
 * and keyed, and is looked up, shared and read in slices of its own as
 * below. A file that
 * changes while being read (short read, size/mtime/ctime differ at the end)
 * fails with HS_ECHANGED. Results go to the uploader's hash cache
 * (hashcache.c) under the identity fstat gave for the descriptor read, and
 * each file is looked up there by that identity before it is read; a file
 * whose ctime is fresh (within HASH_RACY_NS) is read only once that much time
 * has passed, so a write in the same timestamp granule cannot hide behind an
 * unchanged identity (git's "racy" entries), and one written all the time is
 * hashed but not cached. Two requests for the same large file's identity
 * while it is being read share the one read (the second waits for the
 * first; two small ones are simply read twice). Files are
 * opened through fileio.c: a symlink is never followed (-ELOOP), a FIFO
 * never blocks.
 */
#include "uploader_int.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* A file this size or smaller is read within its batch, in one pread; at most
 * BATCH_MAX files and BATCH_BYTES bytes read per batch work item. */
#define SMALL_MAX   HASH_READ_BUF
#define BATCH_MAX   64
#define BATCH_BYTES HASH_WORK_SLICE

/* ---- one file ---------------------------------------------------------- */

struct hash_job {
    struct hasher *hs;
    char *path;
    uploader_hash_cb cb;
    hasher_progress_cb progress;
    void *userdata;
    uv_work_t work;
    int fd;
    bool statted;             /* opened and keyed by a batch: the loop looks it up next */
    bool finished;            /* a batch hashed it, found it in the cache, or failed it */
    bool started;             /* digests initialised: the file is being read */
    bool racy;                /* the file was written within HASH_RACY_NS of the read: not cached */
    struct hash_job *waiters; /* same identity, waiting for this read (next_waiter) */
    struct hash_job *next_waiter;
    struct hash_job *next_reading; /* hasher's list of files being read */
    EVP_MD_CTX *sha256, *sha1;
    char *buf;
    uint64_t done, counted; /* bytes hashed; of them counted in bytes_read */
    unsigned char *sample;  /* the caller's: the file's first sample_cap bytes, as read */
    size_t sample_cap, *sample_len;
    struct hash_key key;
    struct uploader_hash res;
    int err;
    char msg[300];
    struct hash_job *next;
};

struct hasher {
    uv_loop_t *loop;
    struct uploader_hashcache *cache;
    unsigned parallel, running; /* work items in flight: batches and slices of large files */
    struct hash_job *head, *tail;
    size_t queued;            /* jobs between head and tail */
    struct hash_job *reading; /* being read (not from the cache), for sharing */
    struct hash_grow *grow;   /* files hashed as they are written: asked before a read */
    unsigned files_read;
    uint64_t bytes_read;
    bool freeing;
};

/* Files queued together, opened (and small ones hashed) in one work item:
 * one pool hand-off and one wake-up of the loop for up to BATCH_MAX small
 * files instead of two each. */
struct hash_batch {
    struct hasher *hs;
    uv_work_t work;
    size_t n;
    struct hash_job *jobs[BATCH_MAX];
};

static int64_t now_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* How long after its last change a file must be before its digests may be
 * cached: HASH_RACY_NS where time stamps have ns resolution; where both are
 * whole seconds (ext4 with 128-byte inodes, some NFS servers, FAT) a rewrite
 * in the same second keeps the identity, so two seconds (one stamp in a
 * billion is a whole second by chance: only not cached). */
static int64_t racy_margin(const struct hash_key *k)
{
    return k->ctime_ns % 1000000000 == 0 && k->mtime_ns % 1000000000 == 0 ? 2000000000ll
                                                                          : HASH_RACY_NS;
}

int uploader__hash_settle(int fd, struct hash_key *key, bool *racy)
{
    int64_t now = now_realtime_ns(), margin = racy_margin(key);
    if (key->ctime_ns + margin > now) {
        /* at most HASH_RACY_NS: a longer margin, or a ctime further ahead —
         * another clock's, an NFS server's — is not waited for, and then the
         * file is simply not cached */
        int64_t wait = key->ctime_ns + margin - now;
        if (wait <= HASH_RACY_NS) {
            struct timespec ts = {.tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000};
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
            int rc = uploader__key_of_fd(fd, key);
            if (rc < 0)
                return rc;
        }
    }
    *racy = key->ctime_ns + racy_margin(key) > now_realtime_ns();
    return 0;
}

int uploader__hash_feed(int fd, char *buf, uint64_t *done, uint64_t end, EVP_MD_CTX *sha256,
                        EVP_MD_CTX *sha1, struct XXH3_state_s *check, unsigned char *sample,
                        size_t sample_cap)
{
    while (*done < end) {
        uint64_t left = end - *done;
        size_t want = left < HASH_READ_BUF ? (size_t)left : HASH_READ_BUF;
        ssize_t k = pread(fd, buf, want, (off_t)*done);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            return HS_ECHANGED;
        if (sha256)
            EVP_DigestUpdate(sha256, buf, (size_t)k);
        if (sha1)
            EVP_DigestUpdate(sha1, buf, (size_t)k);
        if (check)
            XXH3_64bits_update(check, buf, (size_t)k);
        if (sample && *done < sample_cap) {
            size_t n = sample_cap - (size_t)*done;
            memcpy(sample + *done, buf, n < (size_t)k ? n : (size_t)k);
        }
        *done += (uint64_t)k;
    }
    return 0;
}

bool uploader__digest_from_hash(const struct uploader_hash *h, struct file_digest *d)
{
    memset(d, 0, sizeof(*d));
    d->has_sha1 = h->sha1[0] != 0;
    d->unverified = h->unverified;
    return uploader__hex_decode(h->sha256, d->sha256, sizeof(d->sha256)) &&
           (!d->has_sha1 || uploader__hex_decode(h->sha1, d->sha1, sizeof(d->sha1)));
}

void uploader__digest_sha256_hex(const struct file_digest *d, char *out)
{
    uploader__hex_encode(d->sha256, sizeof(d->sha256), out);
}

void uploader__digest_sha1_hex(const struct file_digest *d, char *out)
{
    if (d->has_sha1)
        uploader__hex_encode(d->sha1, sizeof(d->sha1), out);
    else
        out[0] = 0;
}

static void job_fail(struct hash_job *j, int err, const char *what)
{
    j->err = err;
    snprintf(j->msg, sizeof(j->msg), "%s: %s", j->path, what);
}

/* Pool thread: open the file (fileio.c) and settle its identity. */
static void job_open(struct hash_job *j)
{
    char why[160];
    int fd = uploader__open_file(j->path, NULL, &j->key, why, sizeof(why));
    if (fd < 0)
        return job_fail(j, fd, why);
    j->fd = fd;
    if ((fd = uploader__hash_settle(j->fd, &j->key, &j->racy)) < 0)
        return job_fail(j, fd, strerror(-fd));
}

static bool wants_sha1(const struct hash_job *j)
{
    return j->key.size <= HASH_SHA1_MAX_SIZE;
}

/* Pool thread: the digests started; contexts and buffer are allocated when
 * the job has none (a batch lends its own). */
static bool digest_start(struct hash_job *j)
{
    if ((!j->sha256 && !(j->sha256 = EVP_MD_CTX_new())) ||
        (!j->buf && !(j->buf = malloc(HASH_READ_BUF))) ||
        !EVP_DigestInit_ex(j->sha256, EVP_sha256(), NULL)) {
        job_fail(j, -ENOMEM, "cannot start SHA-256");
        return false;
    }
    if (wants_sha1(j)) {
        char hdr[40];
        int hl = snprintf(hdr, sizeof(hdr), "blob %llu", (unsigned long long)j->key.size);
        if ((!j->sha1 && !(j->sha1 = EVP_MD_CTX_new())) ||
            !EVP_DigestInit_ex(j->sha1, EVP_sha1(), NULL) ||
            !EVP_DigestUpdate(j->sha1, hdr, (size_t)hl + 1)) {
            job_fail(j, -ENOMEM, "cannot start SHA-1");
            return false;
        }
    }
    j->started = true;
    return true;
}

/* Pool thread: one work item of reading an open file (at most
 * HASH_WORK_SLICE bytes); at its end, the identity checked again and the
 * digests. */
static void job_read(struct hash_job *j)
{
    if (!j->started && !digest_start(j))
        return;
    uint64_t end =
        j->key.size - j->done > HASH_WORK_SLICE ? j->done + HASH_WORK_SLICE : j->key.size;
    int rc = uploader__hash_feed(j->fd, j->buf, &j->done, end, j->sha256,
                                 wants_sha1(j) ? j->sha1 : NULL, NULL, j->sample, j->sample_cap);
    if (rc == HS_ECHANGED)
        return job_fail(j, rc, "file shrank while being hashed");
    if (rc < 0)
        return job_fail(j, rc, strerror(-rc));
    if (j->done < j->key.size)
        return; /* next slice */
    struct hash_key now;
    if ((rc = uploader__key_of_fd(j->fd, &now)) < 0)
        return job_fail(j, rc, strerror(-rc));
    if (!uploader__hash_key_eq(&now, &j->key))
        return job_fail(j, HS_ECHANGED, "file changed while being hashed");
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dl;
    EVP_DigestFinal_ex(j->sha256, d, &dl);
    uploader__hex_encode(d, 32, j->res.sha256);
    j->res.sha1[0] = 0;
    if (wants_sha1(j)) {
        EVP_DigestFinal_ex(j->sha1, d, &dl);
        uploader__hex_encode(d, 20, j->res.sha1);
    }
    if (j->sample) /* the bytes hashed, from the identity hashed */
        *j->sample_len = j->key.size < j->sample_cap ? (size_t)j->key.size : j->sample_cap;
    j->res.size = j->key.size;
    j->res.dev = j->key.dev;
    j->res.ino = j->key.ino;
    j->res.mtime_ns = j->key.mtime_ns;
    j->res.ctime_ns = j->key.ctime_ns;
}

/* Runs on a pool thread (and in uploader__hash_file_sync). */
static void job_step(struct hash_job *j)
{
    if (j->fd < 0) {
        job_open(j);
        if (j->err)
            return;
    }
    job_read(j);
}

static void job_free(struct hash_job *j)
{
    if (j->fd >= 0)
        close(j->fd);
    EVP_MD_CTX_free(j->sha256);
    EVP_MD_CTX_free(j->sha1);
    free(j->buf);
    free(j->path);
    free(j);
}

/* ---- batches ------------------------------------------------------------ */

/* Pool thread: the batch's files in order, each opened and keyed; a small
 * one looked up in the cache (thread-safe) and, when missing, hashed here
 * with the batch's contexts and buffer. The batch stops after its first
 * large file (opened and keyed only: statted, the loop looks it up and
 * reads it in slices) or once BATCH_BYTES were read; the files after that
 * are left as they came (back to the queue). */
static void batch_work(uv_work_t *w)
{
    struct hash_batch *b = w->data;
    struct hash_job lent = {0}; /* the contexts and buffer the small files share */
    uint64_t bytes = 0;
    for (size_t k = 0; k < b->n && bytes < BATCH_BYTES; k++) {
        struct hash_job *j = b->jobs[k];
        job_open(j);
        if (!j->err && j->key.size > SMALL_MAX) {
            j->statted = true;
            break;
        }
        j->finished = true;
        if (j->err)
            continue;
        if (uploader__hashcache_get_key(b->hs->cache, &j->key, &j->res)) {
            j->res.from_cache = true;
            j->done = j->counted = j->key.size;
        } else {
            j->sha256 = lent.sha256;
            j->sha1 = lent.sha1;
            j->buf = lent.buf;
            job_read(j); /* whole: SMALL_MAX is one HASH_READ_BUF, less than a slice */
            lent.sha256 = j->sha256;
            lent.sha1 = j->sha1;
            lent.buf = j->buf;
            j->sha256 = j->sha1 = NULL;
            j->buf = NULL;
            bytes += j->done;
        }
        close(j->fd);
        j->fd = -1;
    }
    EVP_MD_CTX_free(lent.sha256);
    EVP_MD_CTX_free(lent.sha1);
    free(lent.buf);
}

static void hasher_pump(struct hasher *hs);

static void work_cb(uv_work_t *w)
{
    job_read(w->data);
}

static void cancel(struct hash_job *j)
{
    struct hs_err e;
    hs_err_set(&e, -ECANCELED, "%s: hashing cancelled", j->path);
    j->cb(-ECANCELED, NULL, &e, j->userdata);
    job_free(j);
}

static void unlist_reading(struct hasher *hs, struct hash_job *j)
{
    for (struct hash_job **pp = &hs->reading; *pp; pp = &(*pp)->next_reading)
        if (*pp == j) {
            *pp = j->next_reading;
            return;
        }
}

/* j is cancelled: so are the jobs waiting for its read. */
static void cancel_waiters(struct hasher *hs, struct hash_job *j)
{
    unlist_reading(hs, j);
    for (struct hash_job *wt = j->waiters, *n; wt; wt = n) {
        n = wt->next_waiter;
        cancel(wt);
    }
    j->waiters = NULL;
}

static void push_front(struct hasher *hs, struct hash_job *j)
{
    j->next = hs->head;
    hs->head = j;
    if (!hs->tail)
        hs->tail = j;
    hs->queued++;
}

/* j opens and looks up its file again, first in the queue. */
static void requeue_first(struct hasher *hs, struct hash_job *j)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    j->statted = false;
    j->racy = false;
    push_front(hs, j);
}

/* hash_grow.c finished (or gave up) the hash of a file j was about to read. */
static void adopted_resume(void *arg, bool cancelled)
{
    struct hash_job *j = arg;
    struct hasher *hs = j->hs;
    if (cancelled || hs->freeing)
        return cancel(j);
    requeue_first(hs, j);
    hasher_pump(hs);
}

static struct hash_job *pop_front(struct hasher *hs)
{
    struct hash_job *j = hs->head;
    hs->head = j->next;
    if (!hs->head)
        hs->tail = NULL;
    j->next = NULL;
    hs->queued--;
    return j;
}

/* Loop: j is done (hashed, from the cache, or failed; its work item's slot
 * already accounted by the caller): cached, reported, its waiters answered
 * (or queued again after a failed read), freed. */
static void job_finish(struct hasher *hs, struct hash_job *j)
{
    hs->bytes_read += j->done - j->counted;
    j->counted = j->done;
    if (!j->err && !j->res.from_cache && !j->racy)
        uploader__hashcache_put_key(hs->cache, &j->key, &j->res);
    struct hash_job *wt = j->waiters;
    j->waiters = NULL;
    unlist_reading(hs, j);
    if (j->err) {
        struct hs_err e;
        hs_err_set(&e, j->err, "%s", j->msg);
        j->cb(j->err, NULL, &e, j->userdata);
    } else {
        j->cb(0, &j->res, NULL, j->userdata);
    }
    /* the waiters: the same identity, so the same digests; after a failed
     * read each opens the file itself again (first in the queue) */
    while (wt) {
        struct hash_job *n = wt->next_waiter;
        wt->next_waiter = NULL;
        if (!j->err) {
            wt->res = j->res;
            wt->res.from_cache = true;
            wt->cb(0, &wt->res, NULL, wt->userdata);
            job_free(wt);
        } else {
            requeue_first(hs, wt);
        }
        wt = n;
    }
    job_free(j);
}

static void after_cb(uv_work_t *w, int status)
{
    struct hash_job *j = w->data;
    struct hasher *hs = j->hs;
    if (hs->freeing || status < 0) {
        hs->running--;
        cancel_waiters(hs, j);
        cancel(j);
        if (hs->freeing && hs->running == 0)
            free(hs);
        else if (!hs->freeing)
            hasher_pump(hs);
        return;
    }
    hs->bytes_read += j->done - j->counted; /* read from disk in this work item */
    j->counted = j->done;
    if (!j->err && j->done < j->key.size) {
        if (j->progress)
            j->progress(j->done, j->userdata);
        uv_queue_work(hs->loop, &j->work, work_cb, after_cb);
        return hasher_pump(hs); /* files queued meanwhile wait at most a slice */
    }
    hs->running--;
    job_finish(hs, j);
    hasher_pump(hs);
}

/* Loop: a large file a batch opened, holding a work slot: answered from the
 * cache, or waiting for the same identity's read in progress (the slot
 * freed), or read in slices of its own. */
static void begin_read(struct hasher *hs, struct hash_job *j)
{
    j->statted = false;
    if (uploader__hashcache_get_key(hs->cache, &j->key, &j->res)) {
        j->res.from_cache = true;
        j->done = j->counted = j->key.size;
        hs->running--;
        return job_finish(hs, j);
    }
    for (struct hash_job *r = hs->reading; r && !j->racy; r = r->next_reading) {
        if (r->racy || !uploader__hash_key_eq(&r->key, &j->key))
            continue;
        /* being read right now: wait for that read, free the slot */
        j->next_waiter = r->waiters;
        r->waiters = j;
        hs->running--;
        return;
    }
    if (hs->grow && uploader__grow_adopt(hs->grow, &j->key, adopted_resume, j)) {
        /* followed as it is written: its hash is finished there, then
         * looked up again (adopted_resume) */
        close(j->fd);
        j->fd = -1;
        hs->running--;
        return;
    }
    hs->files_read++;
    j->next_reading = hs->reading;
    hs->reading = j;
    if (uv_queue_work(hs->loop, &j->work, work_cb, after_cb) < 0) {
        hs->running--;
        job_fail(j, -EIO, "cannot queue hashing work");
        job_finish(hs, j);
    }
}

static void batch_after(uv_work_t *w, int status)
{
    struct hash_batch *b = w->data;
    struct hasher *hs = b->hs;
    /* the files the batch did not finish go back first, in their order, so
     * that uploader__hasher_free (maybe called from a callback below)
     * finds them */
    bool dead = hs->freeing || status < 0, fin[BATCH_MAX];
    for (size_t k = b->n; k-- > 0;)
        if (!(fin[k] = b->jobs[k]->finished) && !dead)
            push_front(hs, b->jobs[k]);
    for (size_t k = 0; k < b->n; k++) {
        struct hash_job *j = b->jobs[k];
        if (!dead && !fin[k])
            continue; /* queued again: not ours any more (hasher_free may free it) */
        if (hs->freeing || status < 0)
            cancel(j); /* the slot is still held: hs stays allocated */
        else {
            if (j->started)
                hs->files_read++;
            job_finish(hs, j);
        }
    }
    hs->running--; /* held until every callback ran: they queue the next files */
    free(b);
    if (hs->freeing) {
        if (hs->running == 0)
            free(hs);
        return;
    }
    hasher_pump(hs);
}

static void hasher_pump(struct hasher *hs)
{
    while (!hs->freeing && hs->running < hs->parallel && hs->head) {
        if (hs->head->statted) {
            hs->running++;
            begin_read(hs, pop_front(hs));
            continue;
        }
        struct hash_batch *b = calloc(1, sizeof(*b));
        if (!b) {
            struct hash_job *j = pop_front(hs);
            struct hs_err e;
            hs_err_set(&e, -ENOMEM, "%s: out of memory", j->path);
            j->cb(-ENOMEM, NULL, &e, j->userdata);
            job_free(j);
            continue;
        }
        b->hs = hs;
        b->work.data = b;
        while (b->n < BATCH_MAX && hs->head && !hs->head->statted)
            b->jobs[b->n++] = pop_front(hs);
        hs->running++;
        if (uv_queue_work(hs->loop, &b->work, batch_work, batch_after) < 0) {
            hs->running--;
            for (size_t k = 0; k < b->n; k++) {
                struct hs_err e;
                hs_err_set(&e, -EIO, "%s: cannot queue hashing work", b->jobs[k]->path);
                b->jobs[k]->cb(-EIO, NULL, &e, b->jobs[k]->userdata);
                job_free(b->jobs[k]);
            }
            free(b);
        }
    }
}

int uploader__hasher_new(uv_loop_t *loop, struct uploader_hashcache *cache, unsigned parallel,
                         struct hasher **out)
{
    struct hasher *hs = calloc(1, sizeof(*hs));
    if (!hs)
        return -ENOMEM;
    hs->loop = loop;
    hs->cache = cache;
    hs->parallel = parallel ? parallel : 2;
    *out = hs;
    return 0;
}

void uploader__hasher_free(struct hasher *hs)
{
    if (!hs)
        return;
    hs->freeing = true;
    struct hash_job *j = hs->head, *n;
    for (; j; j = n) {
        n = j->next;
        cancel(j);
    }
    hs->head = hs->tail = NULL;
    hs->queued = 0;
    if (hs->running == 0)
        free(hs);
}

int uploader__hasher_hash(struct hasher *hs, const char *path, uploader_hash_cb cb,
                          hasher_progress_cb progress, void *userdata)
{
    return uploader__hasher_hash_sample(hs, path, cb, progress, userdata, NULL, 0, NULL);
}

int uploader__hasher_hash_sample(struct hasher *hs, const char *path, uploader_hash_cb cb,
                                 hasher_progress_cb progress, void *userdata, void *sample,
                                 size_t sample_cap, size_t *sample_len)
{
    struct hash_job *j = calloc(1, sizeof(*j));
    if (!j || !(j->path = strdup(path))) {
        free(j);
        return -ENOMEM;
    }
    j->hs = hs;
    j->cb = cb;
    j->progress = progress;
    j->userdata = userdata;
    j->sample = sample;
    j->sample_cap = sample_cap;
    j->sample_len = sample_len;
    j->fd = -1;
    j->work.data = j;
    if (hs->tail)
        hs->tail->next = j;
    else
        hs->head = j;
    hs->tail = j;
    hs->queued++;
    /* With work in flight, its end pumps: files queued meanwhile go as one
     * batch (each callback of a batch queues the caller's next file) unless
     * a whole batch is waiting already. */
    if (hs->running == 0 || hs->queued >= BATCH_MAX)
        hasher_pump(hs);
    return 0;
}

void uploader__hasher_set_grow(struct hasher *hs, struct hash_grow *g)
{
    hs->grow = g;
}

unsigned uploader__hasher_files_read(const struct hasher *hs)
{
    return hs->files_read;
}

uint64_t uploader__hasher_bytes_read(const struct hasher *hs)
{
    return hs->bytes_read;
}

int uploader__hash_file_sync(const char *path, struct uploader_hash *out, struct hash_key *key,
                             struct hs_err *err)
{
    struct hash_job j = {.path = (char *)path, .fd = -1};
    do
        job_step(&j);
    while (!j.err && j.done < j.key.size);
    int rc = j.err;
    if (rc)
        hs_err_set(err, rc, "%s", j.msg);
    else {
        *out = j.res;
        if (key)
            *key = j.key;
    }
    if (j.fd >= 0)
        close(j.fd);
    EVP_MD_CTX_free(j.sha256);
    EVP_MD_CTX_free(j.sha1);
    free(j.buf);
    return rc;
}
