/*
 * test_watcher_ckpt.c — Lightning's check of a .ckpt written in place: a
 * torch.save zip archive is complete only once its end-of-central-directory
 * record is there and points at a directory that ends where it starts (a
 * poll scan of a writer descheduled mid-save saw a quiet, half-written file
 * and reported it twice under load); a file that is not a zip (the legacy
 * pickle format) is taken as it is; a symlink or a vanished file is gone.
 */
#include "internal.h"
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A stored zip with one entry: local header + name + 4 data bytes (35),
 * central directory entry (47), end record (22). */
static size_t make_zip(unsigned char *z)
{
    memset(z, 0, 104);
    put32(z, 0x04034b50);
    z[26] = 1; /* name length */
    z[30] = 'a';
    memcpy(z + 31, "data", 4);
    put32(z + 35, 0x02014b50);
    z[35 + 28] = 1;
    z[35 + 46] = 'a';
    put32(z + 82, 0x06054b50);
    z[82 + 8] = z[82 + 10] = 1;
    put32(z + 82 + 12, 47);
    put32(z + 82 + 16, 35);
    return 104;
}

static enum watcher__check check_file(const char *dir, const void *data, size_t n, char *why)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/epoch=1-step=20.ckpt", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    struct watcher__probe pr = {.folder = path, .number = -1, .world = 1};
    enum watcher__check r = watcher__layout_lightning.check(&pr);
    snprintf(why, 256, "%s", pr.why);
    if (r == WCHECK_COMPLETE) {
        assert_int_equal(pr.step, 20);
        assert_true(pr.epoch == 1.0);
    }
    return r;
}

static void test_zip_end_record(void **state)
{
    (void)state;
    char dir[] = "/tmp/hs-wt-ckpt-XXXXXX", why[256];
    assert_non_null(mkdtemp(dir));
    unsigned char z[104];
    size_t n = make_zip(z);
    assert_int_equal(check_file(dir, z, n, why), WCHECK_COMPLETE);
    /* every cut short of the end record: being written */
    for (size_t cut = 4; cut < n; cut += 13) {
        assert_int_equal(check_file(dir, z, cut, why), WCHECK_INCOMPLETE);
        assert_non_null(strstr(why, "end record"));
    }
    /* an end record whose directory does not end where it starts (a stray
     * signature in the data of a half-written archive) is not the end */
    put32(z + 82 + 16, 30);
    assert_int_equal(check_file(dir, z, n, why), WCHECK_INCOMPLETE);
    /* the legacy pickle format, and an empty file: nothing to check */
    assert_int_equal(check_file(dir, "\x80\x02}q\x00.", 6, why), WCHECK_COMPLETE);
    assert_int_equal(check_file(dir, "", 0, why), WCHECK_COMPLETE);
    char path[600], link[600];
    snprintf(path, sizeof(path), "%s/epoch=1-step=20.ckpt", dir);
    snprintf(link, sizeof(link), "%s/last.ckpt", dir);
    assert_int_equal(symlink(path, link), 0);
    struct watcher__probe pr = {.folder = link, .number = -1, .world = 1};
    assert_int_equal(watcher__layout_lightning.check(&pr), WCHECK_GONE);
    unlink(link);
    unlink(path);
    pr.folder = path;
    assert_int_equal(watcher__layout_lightning.check(&pr), WCHECK_GONE);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_zip_end_record)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
