/*
 * test_hashcache.c — the hash cache (uploader/hashcache.c) and the hasher's
 * use of it (hash.c): the LRU bound and its counters, the identity rule (a
 * file rewritten in place with the same size and its mtime set back misses:
 * ctime is in the key), the racy rule (a file hashed right after it was
 * written is still cached, because the hasher waits out HASH_RACY_NS, and a
 * rewrite after that hash is never answered from the cache), two requests
 * for one file while it is read sharing one read, and uploader_prehash
 * feeding the cache a later hash finds. Small files are hashed in batches
 * (one pool work item for many files): checked by counting uv_queue_work
 * calls, and a file of a batch changed while it is read (pread wrapped:
 * the link passes -Wl,--wrap=pread,--wrap=preadv,--wrap=uv_queue_work)
 * fails alone; uploader__read_file refuses a file grown or shrunk just
 * before its read (preadv wrapped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "uploader_int.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- link-time wraps (CMakeLists.txt): pass through unless armed ------- */

ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off);
int __real_uv_queue_work(uv_loop_t *loop, uv_work_t *req, uv_work_cb work, uv_after_work_cb after);
int __wrap_uv_queue_work(uv_loop_t *loop, uv_work_t *req, uv_work_cb work, uv_after_work_cb after);

static unsigned queued_work; /* uv_queue_work calls (loop thread) */
static ino_t change_ino;     /* pread of this inode appends to change_path */
static const char *change_path;

int __wrap_uv_queue_work(uv_loop_t *loop, uv_work_t *req, uv_work_cb work, uv_after_work_cb after)
{
    queued_work++;
    return __real_uv_queue_work(loop, req, work, after);
}

/* Pool thread: after the read of the armed file, a writer appends to it
 * (once), so its identity at the end of the hash is another. */
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off)
{
    ssize_t k = __real_pread(fd, buf, n, off);
    struct stat st;
    if (change_path && fstat(fd, &st) == 0 && st.st_ino == change_ino) {
        FILE *f = fopen(change_path, "a");
        if (f) {
            fputc('!', f);
            fclose(f);
        }
        change_path = NULL;
    }
    return k;
}

/* preadv (fileio.c's uploader__read_file): when armed, the file is resized
 * to preadv_size first — a change between the identity check and the read. */
ssize_t __real_preadv(int fd, const struct iovec *iov, int n, off_t off);
ssize_t __wrap_preadv(int fd, const struct iovec *iov, int n, off_t off);
static off_t preadv_size = -1;
static unsigned preadv_calls;

ssize_t __wrap_preadv(int fd, const struct iovec *iov, int n, off_t off)
{
    preadv_calls++;
    if (preadv_size >= 0) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        char target[256];
        ssize_t tl = readlink(path, target, sizeof(target) - 1);
        assert_true(tl > 0);
        target[tl] = 0;
        assert_int_equal(truncate(target, preadv_size), 0);
        preadv_size = -1;
    }
    return __real_preadv(fd, iov, n, off);
}

static void fill_hash(struct uploader_hash *h, uint64_t ino, char digit)
{
    memset(h, 0, sizeof(*h));
    memset(h->sha256, digit, 64);
    h->dev = 1;
    h->ino = ino;
    h->size = 100;
    h->mtime_ns = 5;
    h->ctime_ns = 7;
}

static struct stat stat_of(const struct uploader_hash *h)
{
    struct stat st = {0};
    st.st_dev = h->dev;
    st.st_ino = h->ino;
    st.st_size = (off_t)h->size;
    st.st_mtim.tv_nsec = h->mtime_ns;
    st.st_ctim.tv_nsec = h->ctime_ns;
    return st;
}

static void test_lru_bound(void **s)
{
    (void)s;
    struct uploader_hashcache *c = uploader_hashcache_new(3);
    struct uploader_hash h[5], out;
    for (int i = 0; i < 5; i++)
        fill_hash(&h[i], (uint64_t)i + 10, (char)('a' + i));
    for (int i = 0; i < 3; i++)
        assert_int_equal(uploader_hashcache_put(c, &h[i]), 0);
    struct stat st = stat_of(&h[0]);
    assert_true(uploader_hashcache_get(c, &st, &out)); /* 0 is now the most recent */
    assert_string_equal(out.sha256, h[0].sha256);
    assert_false(out.from_cache);
    assert_int_equal(out.ino, 10);
    assert_int_equal(out.sha1[0], 0);
    assert_int_equal(uploader_hashcache_put(c, &h[3]), 0); /* evicts 1, the LRU */
    st = stat_of(&h[1]);
    assert_false(uploader_hashcache_get(c, &st, &out));
    st = stat_of(&h[0]);
    assert_true(uploader_hashcache_get(c, &st, &out));
    st = stat_of(&h[2]);
    assert_true(uploader_hashcache_get(c, &st, &out));
    /* updating an entry keeps the count */
    memset(h[2].sha256, 'f', 64);
    memset(h[2].sha1, '0', 40);
    assert_int_equal(uploader_hashcache_put(c, &h[2]), 0);
    assert_true(uploader_hashcache_get(c, &st, &out));
    assert_string_equal(out.sha256, h[2].sha256);
    assert_string_equal(out.sha1, h[2].sha1);
    struct uploader_hashcache_stats stt;
    uploader_hashcache_stats(c, &stt);
    assert_int_equal(stt.entries, 3);
    assert_int_equal(stt.max_entries, 3);
    assert_int_equal(stt.hits, 4);
    assert_int_equal(stt.misses, 1);
    assert_int_equal(stt.evictions, 1);
    /* one field of the identity differs: a miss (each field, ctime too) */
    struct stat o = stat_of(&h[0]);
    o.st_ctim.tv_nsec++;
    assert_false(uploader_hashcache_get(c, &o, &out));
    o = stat_of(&h[0]);
    o.st_mtim.tv_nsec++;
    assert_false(uploader_hashcache_get(c, &o, &out));
    o = stat_of(&h[0]);
    o.st_size++;
    assert_false(uploader_hashcache_get(c, &o, &out));
    /* digests that are not hex are refused */
    h[4].sha256[3] = 'G';
    assert_int_equal(uploader_hashcache_put(c, &h[4]), -EINVAL);
    uploader_hashcache_free(c);
    uploader_hashcache_free(NULL);
    /* many entries stay within the bound */
    c = uploader_hashcache_new(100);
    for (int i = 0; i < 1000; i++) {
        fill_hash(&h[0], (uint64_t)i, 'c');
        assert_int_equal(uploader_hashcache_put(c, &h[0]), 0);
    }
    uploader_hashcache_stats(c, &stt);
    assert_int_equal(stt.entries, 100);
    assert_int_equal(stt.evictions, 900);
    uploader_hashcache_free(c);
}

static void write_all(const char *path, const char *mode, char byte, size_t size)
{
    FILE *f = fopen(path, mode);
    assert_non_null(f);
    char buf[4096];
    memset(buf, byte, sizeof(buf));
    for (size_t done = 0; done < size; done += sizeof(buf))
        fwrite(buf, 1, size - done < sizeof(buf) ? size - done : sizeof(buf), f);
    assert_int_equal(fclose(f), 0);
}

static void sha_file(const char *path, char out[65])
{
    unsigned char d[32], buf[65536];
    unsigned dl;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_DigestInit_ex(m, EVP_sha256(), NULL);
    int fd = open(path, O_RDONLY);
    ssize_t k;
    while ((k = read(fd, buf, sizeof(buf))) > 0)
        EVP_DigestUpdate(m, buf, (size_t)k);
    close(fd);
    EVP_DigestFinal_ex(m, d, &dl);
    EVP_MD_CTX_free(m);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

struct hash_out {
    bool done;
    int status;
    struct uploader_hash h;
    char msg[HS_ERR_MAX];
};

static void hash_cb(int status, const struct uploader_hash *h, const struct hs_err *err, void *ud)
{
    struct hash_out *o = ud;
    o->done = true;
    o->status = status;
    snprintf(o->msg, sizeof(o->msg), "%s", err ? err->msg : "");
    if (h)
        o->h = *h;
}

static void run_until(uv_loop_t *loop, const bool *flag)
{
    while (!*flag)
        uv_run(loop, UV_RUN_ONCE);
}

/* The trainer writes, closes, the hash runs at once (the racy wait makes it
 * cacheable); the file is then rewritten in place with the same size and
 * its mtime set back: the next hash reads it again and gives the new
 * digest. A large file (read in slices of its own) and a small one (read
 * within a batch). */
static void rewrite_in_place(size_t size)
{
    const char *path = "/tmp/hs_hashcache_rewrite.bin";
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct uploader_hashcache *c = uploader_hashcache_new(0);
    struct hasher *hs = NULL;
    assert_int_equal(uploader__hasher_new(&loop, c, 2, &hs), 0);
    write_all(path, "w", 'a', size);
    struct hash_out a = {0}, b = {0}, d = {0};
    assert_int_equal(uploader__hasher_hash(hs, path, hash_cb, NULL, &a), 0);
    run_until(&loop, &a.done);
    assert_int_equal(a.status, 0);
    char want[65];
    sha_file(path, want);
    assert_string_equal(a.h.sha256, want);
    assert_int_equal(uploader__hasher_files_read(hs), 1);
    assert_int_equal(uploader__hasher_hash(hs, path, hash_cb, NULL, &b), 0);
    run_until(&loop, &b.done);
    assert_true(b.h.from_cache); /* cached although hashed right after the write */
    assert_int_equal(uploader__hasher_files_read(hs), 1);
    struct stat before;
    assert_int_equal(stat(path, &before), 0);
    write_all(path, "r+", 'b', size); /* same inode, same size, new bytes */
    struct timespec ts[2] = {before.st_atim, before.st_mtim};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0); /* mtime set back */
    struct stat after;
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    assert_int_equal(uploader__hasher_hash(hs, path, hash_cb, NULL, &d), 0);
    run_until(&loop, &d.done);
    assert_int_equal(d.status, 0);
    assert_false(d.h.from_cache);
    sha_file(path, want);
    assert_string_equal(d.h.sha256, want);
    assert_string_not_equal(d.h.sha256, a.h.sha256);
    assert_int_equal(uploader__hasher_files_read(hs), 2);
    uploader__hasher_free(hs);
    uploader_hashcache_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(path);
}

static void test_rewrite_in_place(void **s)
{
    (void)s;
    rewrite_in_place(3u << 20);
    rewrite_in_place(4096);
}

#define N_SMALL 200

static void small_path(char *out, size_t n, unsigned i)
{
    snprintf(out, n, "/tmp/hs_hashcache_small_%u.bin", i);
}

/* The git blob id of a file: SHA-1 of "blob SIZE\0" and its bytes. */
static void sha1_blob(const char *path, char out[41])
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char buf[65536], d[20];
    size_t k = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    char hdr[40];
    int hl = snprintf(hdr, sizeof(hdr), "blob %zu", k);
    unsigned dl;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_DigestInit_ex(m, EVP_sha1(), NULL);
    EVP_DigestUpdate(m, hdr, (size_t)hl + 1);
    EVP_DigestUpdate(m, buf, k);
    EVP_DigestFinal_ex(m, d, &dl);
    EVP_MD_CTX_free(m);
    for (int i = 0; i < 20; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* Hash paths 0..n-1 all queued at once; returns the work items used. */
static unsigned hash_all(struct hasher *hs, uv_loop_t *loop, struct hash_out *o, unsigned n)
{
    unsigned before = queued_work;
    for (unsigned i = 0; i < n; i++) {
        char path[64];
        small_path(path, sizeof(path), i);
        o[i] = (struct hash_out){0};
        assert_int_equal(uploader__hasher_hash(hs, path, hash_cb, NULL, &o[i]), 0);
    }
    for (unsigned i = 0; i < n; i++)
        run_until(loop, &o[i].done);
    return queued_work - before;
}

/* 200 small files queued together go through the pool in a few work items
 * (before: two per file, 400), each with its own correct SHA-256 and git
 * SHA-1; hashed again, every one comes from the cache, again in a few. */
static void test_small_batches(void **s)
{
    (void)s;
    static struct hash_out o[N_SMALL];
    for (unsigned i = 0; i < N_SMALL; i++) {
        char path[64];
        small_path(path, sizeof(path), i);
        write_all(path, "w", (char)('a' + i % 26), 100 + i * 37);
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct uploader_hashcache *c = uploader_hashcache_new(0);
    struct hasher *hs = NULL;
    assert_int_equal(uploader__hasher_new(&loop, c, 2, &hs), 0);
    unsigned items = hash_all(hs, &loop, o, N_SMALL);
    assert_in_range(items, 1, 8);
    uint64_t bytes = 0;
    for (unsigned i = 0; i < N_SMALL; i++) {
        char path[64], want[65], want1[41];
        small_path(path, sizeof(path), i);
        sha_file(path, want);
        sha1_blob(path, want1);
        assert_int_equal(o[i].status, 0);
        assert_false(o[i].h.from_cache);
        assert_string_equal(o[i].h.sha256, want);
        assert_string_equal(o[i].h.sha1, want1);
        assert_int_equal(o[i].h.size, 100 + i * 37);
        bytes += 100 + i * 37;
    }
    assert_int_equal(uploader__hasher_files_read(hs), N_SMALL);
    assert_int_equal(uploader__hasher_bytes_read(hs), bytes);
    items = hash_all(hs, &loop, o, N_SMALL);
    assert_in_range(items, 1, 8);
    for (unsigned i = 0; i < N_SMALL; i++) {
        assert_int_equal(o[i].status, 0);
        assert_true(o[i].h.from_cache);
    }
    assert_int_equal(uploader__hasher_files_read(hs), N_SMALL);
    uploader__hasher_free(hs);
    uploader_hashcache_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    for (unsigned i = 0; i < N_SMALL; i++) {
        char path[64];
        small_path(path, sizeof(path), i);
        unlink(path);
    }
}

/* One small file of a batch grows while it is read: it alone fails with
 * HS_ECHANGED ("file changed while being hashed") and is not cached; the
 * others of its batch are hashed and cached; hashed again, it is read
 * again and gives the digest of its new content. */
static void test_batch_file_changes(void **s)
{
    (void)s;
    enum { N = 20, VICTIM = 7 };
    struct hash_out o[N];
    for (unsigned i = 0; i < N; i++) {
        char path[64];
        small_path(path, sizeof(path), i);
        write_all(path, "w", 'q', 1000 + i);
    }
    char victim[64];
    small_path(victim, sizeof(victim), VICTIM);
    struct stat st;
    assert_int_equal(stat(victim, &st), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct uploader_hashcache *c = uploader_hashcache_new(0);
    struct hasher *hs = NULL;
    assert_int_equal(uploader__hasher_new(&loop, c, 2, &hs), 0);
    change_ino = st.st_ino;
    change_path = victim;
    hash_all(hs, &loop, o, N);
    assert_null(change_path); /* the write happened, during the read */
    for (unsigned i = 0; i < N; i++) {
        if (i == VICTIM)
            continue;
        char path[64], want[65];
        small_path(path, sizeof(path), i);
        sha_file(path, want);
        assert_int_equal(o[i].status, 0);
        assert_string_equal(o[i].h.sha256, want);
    }
    assert_int_equal(o[VICTIM].status, HS_ECHANGED);
    char msg[128];
    snprintf(msg, sizeof(msg), "%s: file changed while being hashed", victim);
    assert_string_equal(o[VICTIM].msg, msg);
    assert_int_equal(uploader__hasher_files_read(hs), N);
    struct uploader_hashcache_stats cs;
    uploader_hashcache_stats(c, &cs);
    assert_int_equal(cs.entries, N - 1); /* not the changed one */
    /* again: the others from the cache, the changed file read anew */
    hash_all(hs, &loop, o, N);
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(o[i].status, 0);
        assert_int_equal(o[i].h.from_cache, i != VICTIM);
    }
    char want[65];
    sha_file(victim, want);
    assert_string_equal(o[VICTIM].h.sha256, want);
    assert_int_equal(o[VICTIM].h.size, 1000 + VICTIM + 1);
    assert_int_equal(uploader__hasher_files_read(hs), N + 1);
    uploader__hasher_free(hs);
    uploader_hashcache_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    for (unsigned i = 0; i < N; i++) {
        char path[64];
        small_path(path, sizeof(path), i);
        unlink(path);
    }
}

/* uploader__hasher_hash_sample keeps a file's first bytes from the read that
 * hashed it: a small file (batch), a large one (slices), one shorter than
 * the sample; a cache hit leaves the length alone (nothing was read). */
static void test_hash_sample(void **s)
{
    (void)s;
    const char *path = "/tmp/hs_hashcache_sample.bin";
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct uploader_hashcache *c = uploader_hashcache_new(0);
    struct hasher *hs = NULL;
    assert_int_equal(uploader__hasher_new(&loop, c, 2, &hs), 0);
    const size_t sizes[] = {100, 4096, 3u << 20};
    for (size_t i = 0; i < 3; i++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        for (size_t k = 0; k < sizes[i]; k++)
            fputc((int)((k * 7 + i) % 251), f);
        assert_int_equal(fclose(f), 0);
        unsigned char sample[512];
        size_t len = SIZE_MAX;
        struct hash_out o = {0};
        assert_int_equal(
            uploader__hasher_hash_sample(hs, path, hash_cb, NULL, &o, sample, sizeof(sample), &len),
            0);
        run_until(&loop, &o.done);
        assert_int_equal(o.status, 0);
        size_t want = sizes[i] < 512 ? sizes[i] : 512;
        assert_int_equal(len, want);
        for (size_t k = 0; k < want; k++)
            assert_int_equal(sample[k], (k * 7 + i) % 251);
        len = SIZE_MAX;
        o = (struct hash_out){0};
        assert_int_equal(
            uploader__hasher_hash_sample(hs, path, hash_cb, NULL, &o, sample, sizeof(sample), &len),
            0);
        run_until(&loop, &o.done);
        assert_true(o.h.from_cache);
        assert_int_equal(len, SIZE_MAX);
    }
    uploader__hasher_free(hs);
    uploader_hashcache_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(path);
}

/* uploader__read_file reads exactly the bytes hashed: a file grown or shrunk
 * between the identity check and the read (one preadv reading a byte more
 * than asked when the read reaches the end) is HS_ECHANGED. */
static void test_read_file_races(void **s)
{
    (void)s;
    const char *path = "/tmp/hs_hashcache_race.bin";
    write_all(path, "w", 'r', 1000);
    struct uploader_hash h;
    struct hash_key k;
    struct hs_err err;
    assert_int_equal(uploader__hash_file_sync(path, &h, &k, &err), 0);
    char buf[1000], why[200];
    preadv_calls = 0;
    assert_int_equal(uploader__read_file(path, &k, 0, buf, 1000, why, sizeof(why)), 0);
    assert_int_equal(buf[999], 'r');
    assert_int_equal(preadv_calls, 1); /* the bytes and the end seen in one call */
    assert_int_equal(uploader__read_file(path, &k, 0, buf, 512, why, sizeof(why)), 0);
    preadv_size = 1001;
    assert_int_equal(uploader__read_file(path, &k, 0, buf, 1000, why, sizeof(why)), HS_ECHANGED);
    assert_string_equal(why, "grew after it was hashed");
    assert_int_equal(truncate(path, 1000), 0);
    assert_int_equal(uploader__hash_file_sync(path, &h, &k, &err), 0);
    preadv_size = 999;
    assert_int_equal(uploader__read_file(path, &k, 0, buf, 1000, why, sizeof(why)), HS_ECHANGED);
    assert_string_equal(why, "shrank after it was hashed");
    assert_int_equal(uploader__hash_file_sync(path, &h, &k, &err), 0);
    preadv_size = 2000; /* grown past a part read from its middle: not this read's business */
    assert_int_equal(uploader__read_file(path, &k, 100, buf, 500, why, sizeof(why)), 0);
    unlink(path);
}

/* Two requests for one file queued together: it is read once (the second
 * shares the first's read, or finds its result in the cache), both get its
 * digest. */
static void test_shared_read(void **s)
{
    (void)s;
    const char *path = "/tmp/hs_hashcache_shared.bin";
    write_all(path, "w", 'z', 48u << 20);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct uploader_hashcache *c = uploader_hashcache_new(0);
    struct hasher *hs = NULL;
    assert_int_equal(uploader__hasher_new(&loop, c, 2, &hs), 0);
    struct hash_out a = {0}, b = {0};
    assert_int_equal(uploader__hasher_hash(hs, path, hash_cb, NULL, &a), 0);
    assert_int_equal(uploader__hasher_hash(hs, path, hash_cb, NULL, &b), 0);
    run_until(&loop, &a.done);
    run_until(&loop, &b.done);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    assert_string_equal(a.h.sha256, b.h.sha256);
    assert_true(a.h.from_cache != b.h.from_cache);
    assert_int_equal(uploader__hasher_files_read(hs), 1);
    assert_int_equal(uploader__hasher_bytes_read(hs), 48u << 20);
    /* cancelled together: a shared read cut by uploader__hasher_free reports both */
    struct hash_out x = {0}, y = {0};
    write_all(path, "w", 'y', 48u << 20);
    assert_int_equal(uploader__hasher_hash(hs, path, hash_cb, NULL, &x), 0);
    assert_int_equal(uploader__hasher_hash(hs, path, hash_cb, NULL, &y), 0);
    uploader__hasher_free(hs);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(x.done && y.done);
    assert_true(x.status == -ECANCELED || x.status == 0);
    assert_true(y.status == -ECANCELED || y.status == 0);
    uploader_hashcache_free(c);
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(path);
}

/* uploader_prehash stores the digest; the hash of the push finds it. */
static void test_prehash_feeds_cache(void **s)
{
    (void)s;
    const char *path = "/tmp/hs_hashcache_pre.bin";
    write_all(path, "w", 'p', 1u << 20);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct uploader *u;
    struct uploader_options o = {.endpoint = "http://127.0.0.1:9", .token = "hf_x"};
    struct hs_err err;
    assert_int_equal(uploader_new(&loop, &o, &u, &err), 0);
    assert_int_equal(uploader_prehash(u, path), 0);
    struct uploader_hashcache_stats st;
    do {
        uv_run(&loop, UV_RUN_ONCE);
        uploader_hash_cache_stats(u, &st);
    } while (st.prehashed < 1);
    assert_int_equal(st.entries, 1);
    assert_int_equal(uploader_prehash(u, "/nonexistent/x"), 0); /* not reported */
    struct hash_out a = {0};
    assert_int_equal(uploader_hash_file(u, path, hash_cb, &a), 0);
    run_until(&loop, &a.done);
    assert_true(a.h.from_cache);
    char want[65];
    sha_file(path, want);
    assert_string_equal(a.h.sha256, want);
    assert_int_equal(uploader_hash_files_read(u), 1); /* read once, by the pre-hash */
    uploader_hash_cache_stats(u, &st);
    assert_int_equal(st.prehashed, 1);
    assert_int_equal(st.hits, 1);
    uploader_close(u);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lru_bound),       cmocka_unit_test(test_rewrite_in_place),
        cmocka_unit_test(test_small_batches),   cmocka_unit_test(test_batch_file_changes),
        cmocka_unit_test(test_read_file_races), cmocka_unit_test(test_hash_sample),
        cmocka_unit_test(test_shared_read),     cmocka_unit_test(test_prehash_feeds_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
