/*
 * test_hash_grow.c — hashing a file while it is written (uploader/hash_grow.c):
 *
 * - appended: a file written in stretches while followed is hashed as it
 *   grows (its SHA-256 is the file's, from the cache, marked unverified), and
 *   its verification agrees and marks it verified;
 * - rewritten: a stretch already hashed is rewritten in place before the
 *   close (same size): the digest finished at close is stale — the hazard is
 *   real — and the verification says so (HS_ECHANGED, the message names the
 *   file) and drops it from the cache;
 * - adopted: a hash asked of the hasher for a followed file that was never
 *   announced closed is finished by the follower: no second read, the
 *   digest is the file's;
 * - small: a file that never reached the size worth following is left to
 *   the hasher at close (the git SHA-1 of small files is the hasher's);
 * - inline: the bytes an upload's slots read are compared where they are
 *   read (any order; a slot off the block grid compares nothing), and the
 *   end reads only the block none brought; one byte different in what an
 *   upload read fails it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "grow_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1024u * 1024)

struct fix {
    uv_loop_t loop;
    struct uploader_hashcache *cache;
    struct hash_grow *g;
    char dir[64], path[128];
    int fd;
    unsigned counter;
};

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    f->cache = uploader_hashcache_new(64);
    assert_int_equal(uploader__grow_new(&f->loop, f->cache, &f->g), 0);
    snprintf(f->dir, sizeof(f->dir), "/tmp/hs-grow-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/model.safetensors", f->dir);
    f->fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(f->fd >= 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    if (f->fd >= 0)
        close(f->fd);
    uploader__grow_free(f->g);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    uploader_hashcache_free(f->cache);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void tick(uv_timer_t *t)
{
    (void)t;
}

/* Run the loop for about ms (the follower's timer and the pool's work). */
static void run_for(struct fix *f, unsigned ms)
{
    uv_timer_t t;
    uv_timer_init(&f->loop, &t);
    uv_timer_start(&t, tick, ms, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void append(struct fix *f, size_t n, unsigned char seed)
{
    unsigned char *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(seed + i * 31 + (i >> 12));
    assert_int_equal(write(f->fd, b, n), (ssize_t)n);
    free(b);
}

static struct hash_key key_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    struct hash_key k;
    uploader__key_from_stat(&st, &k);
    return k;
}

/* Written in 8 MiB stretches, the follower given time after each. */
static void write_followed(struct fix *f, unsigned stretches)
{
    append(f, 8 * MIB, 1);
    assert_int_equal(uploader__grow_follow(f->g, f->path), 0);
    for (unsigned i = 1; i < stretches; i++) {
        run_for(f, 250);
        append(f, 8 * MIB, (unsigned char)(i + 1));
    }
    run_for(f, 250);
}

/* Close, announce it, and wait until the digest is in the cache. */
static bool close_and_finish(struct fix *f, struct uploader_hash *out, struct hash_key *k)
{
    close(f->fd);
    f->fd = -1;
    bool followed = uploader__grow_close(f->g, f->path);
    for (int i = 0; i < 100; i++) {
        run_for(f, 20);
        *k = key_of(f->path);
        if (uploader__hashcache_get_key(f->cache, k, out))
            return followed;
    }
    fail_msg("no digest in the cache after the close");
    return followed;
}

static void real_sha256(const char *path, char *out)
{
    struct uploader_hash h;
    struct hs_err e;
    assert_int_equal(uploader__hash_file_sync(path, &h, NULL, &e), 0);
    memcpy(out, h.sha256, 65);
}

struct vres {
    int calls, status;
    char msg[HS_ERR_MAX];
};

static void vcb(int status, const struct hs_err *err, void *ud)
{
    struct vres *v = ud;
    v->calls++;
    v->status = status;
    snprintf(v->msg, sizeof(v->msg), "%s", err ? err->msg : "");
}

static void wait_calls(struct fix *f, const int *calls, int want)
{
    for (int i = 0; i < 300 && *calls < want; i++)
        run_for(f, 10);
    assert_int_equal(*calls, want);
}

static void test_appended(void **state)
{
    struct fix *f = *state;
    write_followed(f, 4); /* 32 MiB */
    struct uploader_hash h;
    struct hash_key k;
    assert_true(close_and_finish(f, &h, &k));
    char sha[65];
    real_sha256(f->path, sha);
    assert_string_equal(h.sha256, sha);
    assert_true(h.unverified);
    assert_string_equal(h.sha1, ""); /* > 10 MiB: no git blob id needed */
    struct grow_stats st;
    uploader__grow_stats(f->g, &st);
    assert_int_equal(st.followed, 1);
    assert_int_equal(st.finished, 1);

    struct vres v = {0};
    assert_int_equal(uploader__grow_verify(f->g, f->path, &k, vcb, &v), 0);
    wait_calls(f, &v.calls, 1);
    assert_int_equal(v.status, 0);
    assert_true(uploader__hashcache_get_key(f->cache, &k, &h));
    assert_false(h.unverified);
    assert_string_equal(h.sha256, sha);
    uploader__grow_stats(f->g, &st);
    assert_int_equal(st.verified, 1);
    assert_int_equal(st.rejected, 0);
}

static void test_rewritten(void **state)
{
    struct fix *f = *state;
    write_followed(f, 3); /* 24 MiB, hashed as written */
    /* the writer goes back and patches its first MiB, same size */
    unsigned char patch[4096];
    memset(patch, 0x5a, sizeof(patch));
    for (off_t off = 0; off < (off_t)MIB; off += (off_t)sizeof(patch))
        assert_int_equal(pwrite(f->fd, patch, sizeof(patch), off), (ssize_t)sizeof(patch));
    struct uploader_hash h;
    struct hash_key k;
    assert_true(close_and_finish(f, &h, &k));
    char sha[65];
    real_sha256(f->path, sha);
    assert_string_not_equal(h.sha256, sha); /* stale: what was read before the patch */
    assert_true(h.unverified);

    struct vres v = {0};
    assert_int_equal(uploader__grow_verify(f->g, f->path, &k, vcb, &v), 0);
    wait_calls(f, &v.calls, 1);
    assert_int_equal(v.status, HS_ECHANGED);
    assert_non_null(strstr(v.msg, f->path));
    assert_non_null(strstr(v.msg, "was rewritten while it was being written"));
    assert_false(uploader__hashcache_get_key(f->cache, &k, &h)); /* read again next time */
    struct grow_stats st;
    uploader__grow_stats(f->g, &st);
    assert_int_equal(st.rejected, 1);
    /* and a verification asked again has nothing to compare with: refused */
    assert_int_equal(uploader__grow_verify(f->g, f->path, &k, vcb, &v), HS_ECHANGED);
}

struct hres {
    int calls, status;
    struct uploader_hash h;
};

static void hcb(int status, const struct uploader_hash *h, const struct hs_err *err, void *ud)
{
    (void)err;
    struct hres *r = ud;
    r->calls++;
    r->status = status;
    if (h)
        r->h = *h;
}

static void test_adopted(void **state)
{
    struct fix *f = *state;
    struct hasher *hs;
    assert_int_equal(uploader__hasher_new(&f->loop, f->cache, 2, &hs), 0);
    uploader__hasher_set_grow(hs, f->g);
    write_followed(f, 3);
    close(f->fd); /* no close announced: the hasher asks first */
    f->fd = -1;
    run_for(f, 30); /* past the racy margin */
    struct hres r = {0};
    assert_int_equal(uploader__hasher_hash(hs, f->path, hcb, NULL, &r), 0);
    wait_calls(f, &r.calls, 1);
    assert_int_equal(r.status, 0);
    char sha[65];
    real_sha256(f->path, sha);
    assert_string_equal(r.h.sha256, sha);
    assert_true(r.h.from_cache);
    assert_true(r.h.unverified);
    assert_int_equal(uploader__hasher_files_read(hs), 0); /* the follower's read served */
    uploader__hasher_free(hs);
}

static void test_small(void **state)
{
    struct fix *f = *state;
    append(f, 4096, 3);
    assert_int_equal(uploader__grow_follow(f->g, f->path), 0);
    run_for(f, 250);
    close(f->fd);
    f->fd = -1;
    assert_false(uploader__grow_close(f->g, f->path)); /* the hasher's, as before */
    struct grow_stats st;
    uploader__grow_stats(f->g, &st);
    assert_int_equal(st.finished, 0);
}

/* Read the file in UPLOADER_BLOCK slots, as an upload's body does. */
static unsigned char *slurp(const char *path, size_t *len)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    unsigned char *b = malloc((size_t)st.st_size);
    int fd = open(path, O_RDONLY);
    assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return b;
}

static void test_verify_inline(void **state)
{
    struct fix *f = *state;
    write_followed(f, 3);
    append(f, 1000, 9); /* a short last block */
    struct uploader_hash h;
    struct hash_key k;
    assert_true(close_and_finish(f, &h, &k));
    int rc;
    struct grow_verify *v = uploader__grow_verify_begin(f->g, f->path, &k, &rc);
    assert_non_null(v);
    /* a second file of the same identity in the push: the same verification */
    struct grow_verify *v2 = uploader__grow_verify_begin(f->g, f->path, &k, &rc);
    assert_ptr_equal(v, v2);
    uploader__grow_verify_unref(v2);
    size_t len;
    unsigned char *b = slurp(f->path, &len);
    /* the upload's slots, last first (parts go in any order), all but block 3 */
    for (size_t off = (len - 1) / UPLOADER_BLOCK * UPLOADER_BLOCK;; off -= UPLOADER_BLOCK) {
        size_t n = len - off < UPLOADER_BLOCK ? len - off : UPLOADER_BLOCK;
        if (off != 3 * UPLOADER_BLOCK)
            uploader__grow_verify_bytes(v, off, b + off, n);
        if (off == 0)
            break;
    }
    /* a slot not at a block boundary compares no block of its own */
    uploader__grow_verify_bytes(v, 3 * UPLOADER_BLOCK + 1, b + 3 * UPLOADER_BLOCK + 1, 4096);
    struct vres r = {0};
    assert_int_equal(uploader__grow_verify_end(v, vcb, &r), 0);
    assert_int_equal(uploader__grow_verify_end(v, vcb, &r), -EALREADY);
    uploader__grow_verify_unref(v);
    wait_calls(f, &r.calls, 1);
    assert_int_equal(r.status, 0);
    struct grow_stats st;
    uploader__grow_stats(f->g, &st);
    assert_int_equal(st.verified, 1);
    assert_int_equal(st.verify_read, UPLOADER_BLOCK); /* only the block no slot brought */
    assert_true(uploader__hashcache_get_key(f->cache, &k, &h));
    assert_false(h.unverified);
    free(b);
}

static void test_verify_inline_differs(void **state)
{
    struct fix *f = *state;
    write_followed(f, 3);
    struct uploader_hash h;
    struct hash_key k;
    assert_true(close_and_finish(f, &h, &k));
    int rc;
    struct grow_verify *v = uploader__grow_verify_begin(f->g, f->path, &k, &rc);
    assert_non_null(v);
    size_t len;
    unsigned char *b = slurp(f->path, &len);
    b[5 * UPLOADER_BLOCK + 17] ^= 1; /* what an upload read differs in one byte */
    for (size_t off = 0; off < len; off += UPLOADER_BLOCK)
        uploader__grow_verify_bytes(v, off, b + off, UPLOADER_BLOCK);
    struct vres r = {0};
    assert_int_equal(uploader__grow_verify_end(v, vcb, &r), 0);
    uploader__grow_verify_unref(v);
    wait_calls(f, &r.calls, 1);
    assert_int_equal(r.status, HS_ECHANGED);
    assert_non_null(strstr(r.msg, "was rewritten while it was being written"));
    assert_false(uploader__hashcache_get_key(f->cache, &k, &h));
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_appended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewritten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adopted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_inline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_inline_differs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
