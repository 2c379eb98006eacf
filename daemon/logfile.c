/*
 * logfile.c — the `log_file` sink with size-based rotation and zstd
 * compression of the rotated files on a compressor thread (see logfile.h).
 * Writing a line and renaming the full file aside happen in the sink (a
 * rename is one metadata operation); reading and compressing up to
 * max_bytes happens on the thread, so the logging thread never waits for
 * it. Does not decide what is logged or when a log file is used: service.c
 * does.
 */
#include "logfile.h"
#include "priority.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define ZSTD_LEVEL  3
#define CHUNK       (128u << 10)
#define PENDING_TAG ".pending-"

struct logfile {
    char *path;
    int fd;
    uint64_t size, max_bytes;
    unsigned keep;
    uint64_t seq; /* next pending number */
    bool write_failed;
    /* the compressor */
    pthread_t thr;
    bool thr_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char **pending; /* FIFO of files renamed aside, oldest first */
    size_t n_pending, cap_pending;
    bool stop;
    uint64_t rotations, compressed;
};

/* ---- compression (compressor thread) ---------------------------------------- */

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* src → dst (created) as one zstd frame. */
static int compress_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (out < 0) {
        int e = -errno;
        close(in);
        return e;
    }
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    char *ib = malloc(CHUNK), *ob = malloc(ZSTD_CStreamOutSize());
    int rc = cc && ib && ob ? 0 : -ENOMEM;
    if (rc == 0)
        ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, ZSTD_LEVEL);
    bool last = false;
    while (rc == 0 && !last) {
        ssize_t n = read(in, ib, CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        last = n == 0;
        ZSTD_inBuffer zin = {ib, (size_t)n, 0};
        bool done = false;
        while (rc == 0 && !done) {
            ZSTD_outBuffer zout = {ob, ZSTD_CStreamOutSize(), 0};
            size_t left =
                ZSTD_compressStream2(cc, &zout, &zin, last ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(left)) {
                rc = -EIO;
                break;
            }
            rc = write_all(out, ob, zout.pos);
            done = last ? left == 0 : zin.pos == zin.size;
        }
    }
    if (rc == 0 && fdatasync(out) < 0)
        rc = -errno;
    if (close(out) < 0 && rc == 0)
        rc = -errno;
    close(in);
    ZSTD_freeCCtx(cc);
    free(ib);
    free(ob);
    if (rc < 0)
        unlink(dst);
    return rc;
}

static void numbered(char *out, size_t n, const char *path, unsigned i)
{
    snprintf(out, n, "%s.%u.zst", path, i);
}

/* Compress one pending file into <path>.1.zst, the older ones moving up. */
static int rotate_in(struct logfile *lf, const char *pending)
{
    char tmp[HS_PATH_MAX], a[HS_PATH_MAX], b[HS_PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.zst.tmp", pending);
    int rc = compress_file(pending, tmp);
    if (rc < 0)
        return rc;
    numbered(a, sizeof(a), lf->path, lf->keep);
    if (unlink(a) < 0 && errno != ENOENT)
        rc = -errno;
    for (unsigned i = lf->keep; rc == 0 && i > 1; i--) {
        numbered(a, sizeof(a), lf->path, i - 1);
        numbered(b, sizeof(b), lf->path, i);
        if (rename(a, b) < 0 && errno != ENOENT)
            rc = -errno;
    }
    numbered(a, sizeof(a), lf->path, 1);
    if (rc == 0 && rename(tmp, a) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    unlink(pending);
    return 0;
}

static void *compressor(void *arg)
{
    struct logfile *lf = arg;
    priority_lower_self(); /* started at a reopen by the loop's thread, which keeps its priority */
    pthread_mutex_lock(&lf->mu);
    for (;;) {
        while (!lf->n_pending && !lf->stop)
            pthread_cond_wait(&lf->cv, &lf->mu);
        if (!lf->n_pending)
            break;
        char *p = lf->pending[0];
        pthread_mutex_unlock(&lf->mu);
        int rc = rotate_in(lf, p);
        if (rc < 0)
            hs_log_warn("log_file: cannot compress %s: %s (kept as it is)", p, hs_strerror(rc));
        pthread_mutex_lock(&lf->mu);
        memmove(lf->pending, lf->pending + 1, (lf->n_pending - 1) * sizeof(*lf->pending));
        lf->n_pending--;
        if (rc == 0)
            lf->compressed++;
        free(p);
    }
    pthread_mutex_unlock(&lf->mu);
    return NULL;
}

/* ---- the live file (logging thread, under hs_log's lock) ------------------------ */

static int queue_pending(struct logfile *lf, char *p)
{
    pthread_mutex_lock(&lf->mu);
    int rc = 0;
    if (lf->n_pending == lf->cap_pending) {
        size_t cap = lf->cap_pending ? 2 * lf->cap_pending : 8;
        char **v = realloc(lf->pending, cap * sizeof(*v));
        if (v) {
            lf->pending = v;
            lf->cap_pending = cap;
        } else {
            rc = -ENOMEM;
        }
    }
    if (rc == 0) {
        lf->pending[lf->n_pending++] = p;
        lf->rotations++;
        pthread_cond_signal(&lf->cv);
    }
    pthread_mutex_unlock(&lf->mu);
    return rc;
}

static int open_live(struct logfile *lf)
{
    int fd = open(lf->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    off_t end = lseek(fd, 0, SEEK_END);
    lf->fd = fd;
    lf->size = end > 0 ? (uint64_t)end : 0;
    return 0;
}

/* Rename the live file aside and start a new one. Failing that, keep
 * writing to the old one (nothing is lost; the file only grows). */
static void rotate(struct logfile *lf)
{
    char *p = NULL;
    if (asprintf(&p, "%s" PENDING_TAG "%" PRIu64, lf->path, lf->seq) < 0)
        return;
    if (rename(lf->path, p) < 0) {
        free(p);
        return;
    }
    lf->seq++;
    int old = lf->fd;
    if (open_live(lf) < 0)
        lf->fd = old; /* still writes to the renamed file */
    else
        close(old);
    if (queue_pending(lf, p) < 0)
        free(p); /* stays as a pending file for the next start */
}

void logfile_sink(enum hs_log_level level, const char *line, void *userdata)
{
    struct logfile *lf = userdata;
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char ts[32], buf[4200];
    time_t now = time(NULL);
    struct tm tm;
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    int n = snprintf(buf, sizeof(buf), "%s %s: %s\n", ts, names[level], line);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
    if (lf->max_bytes && lf->size && lf->size + len > lf->max_bytes)
        rotate(lf);
    if (write_all(lf->fd, buf, len) < 0) {
        if (!lf->write_failed) /* once, to stderr: the sink cannot log itself */
            fprintf(stderr, "hubsync: log_file %s: %s\n", lf->path, strerror(errno));
        lf->write_failed = true;
        return;
    }
    lf->write_failed = false;
    lf->size += len;
}

/* ---- open / close ---------------------------------------------------------------- */

static int cmp_seq(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Pending files a crash left behind, oldest first. */
static int queue_leftovers(struct logfile *lf)
{
    char *copy = strdup(lf->path), *copy2 = strdup(lf->path);
    if (!copy || !copy2) {
        free(copy);
        free(copy2);
        return -ENOMEM;
    }
    const char *dir = dirname(copy), *base = basename(copy2);
    size_t blen = strlen(base), tlen = strlen(PENDING_TAG);
    uint64_t *seqs = NULL;
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, base, blen) || strncmp(e->d_name + blen, PENDING_TAG, tlen))
            continue;
        const char *num = e->d_name + blen + tlen;
        unsigned long long s = strtoull(num, &end, 10);
        if (end == num || *end)
            continue; /* e.g. a half-written .zst.tmp: replaced by the next try */
        uint64_t *v = realloc(seqs, (n + 1) * sizeof(*v));
        if (!v)
            break;
        seqs = v;
        seqs[n++] = s;
    }
    if (d)
        closedir(d);
    if (n)
        qsort(seqs, n, sizeof(*seqs), cmp_seq);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *p = NULL;
        if (asprintf(&p, "%s" PENDING_TAG "%" PRIu64, lf->path, seqs[i]) < 0)
            rc = -ENOMEM;
        else if ((rc = queue_pending(lf, p)) < 0)
            free(p);
        if (seqs[i] >= lf->seq)
            lf->seq = seqs[i] + 1;
    }
    free(seqs);
    free(copy);
    free(copy2);
    return rc;
}

int logfile_open(const char *path, uint64_t max_bytes, unsigned keep, struct logfile **out,
                 struct hs_err *err)
{
    *out = NULL;
    if (!path || strlen(path) + 48 >= HS_PATH_MAX)
        return hs_err_set(err, -ENAMETOOLONG, "log_file: path too long");
    struct logfile *lf = calloc(1, sizeof(*lf));
    if (!lf || !(lf->path = strdup(path))) {
        free(lf);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    lf->fd = -1;
    lf->max_bytes = max_bytes;
    lf->keep = keep < 1 ? 1 : keep > LOGFILE_KEEP_MAX ? LOGFILE_KEEP_MAX : keep;
    pthread_mutex_init(&lf->mu, NULL);
    pthread_cond_init(&lf->cv, NULL);
    int rc = open_live(lf);
    if (rc < 0) {
        hs_err_set(err, rc, "log_file %s: %s", path, hs_strerror(rc));
        logfile_close(lf);
        return rc;
    }
    rc = queue_leftovers(lf);
    if (rc == 0) {
        rc = -pthread_create(&lf->thr, NULL, compressor, lf);
        lf->thr_started = rc == 0;
    }
    if (rc < 0) {
        hs_err_set(err, rc, "log_file %s: %s", path, hs_strerror(rc));
        logfile_close(lf);
        return rc;
    }
    *out = lf;
    return 0;
}

struct logfile *logfile_close(struct logfile *lf)
{
    if (!lf)
        return NULL;
    pthread_mutex_lock(&lf->mu);
    lf->stop = true;
    pthread_cond_signal(&lf->cv);
    pthread_mutex_unlock(&lf->mu);
    if (lf->thr_started)
        pthread_join(lf->thr, NULL);
    for (size_t i = 0; i < lf->n_pending; i++)
        free(lf->pending[i]);
    free(lf->pending);
    if (lf->fd >= 0)
        close(lf->fd);
    pthread_cond_destroy(&lf->cv);
    pthread_mutex_destroy(&lf->mu);
    free(lf->path);
    free(lf);
    return NULL;
}

void logfile_stats(struct logfile *lf, uint64_t *rotations, uint64_t *compressed)
{
    pthread_mutex_lock(&lf->mu);
    *rotations = lf->rotations;
    *compressed = lf->compressed;
    pthread_mutex_unlock(&lf->mu);
}
