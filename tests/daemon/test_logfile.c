/* test_logfile.c — daemon/logfile: the log_file sink rotates by size while
 * running, the compressor thread writes <path>.N.zst (newest .1), keeps
 * `keep` of them, and the `zstd` CLI reads back every line in order with
 * nothing lost between files; a pending file a crash left is compressed at
 * the next open; the token never reaches the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../unit/test_tmpdir.h"

#include "logfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool exists(const char *dir, const char *name)
{
    char p[HS_PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0;
}

/* The text of a file, through `zstd -dc` for .zst names. */
static char *read_text(const char *dir, const char *name, size_t *len)
{
    char cmd[HS_PATH_MAX + 64];
    bool z = strstr(name, ".zst") != NULL;
    snprintf(cmd, sizeof(cmd), z ? "zstd -q -dc '%s/%s'" : "cat '%s/%s'", dir, name);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    assert_int_equal(pclose(f), 0);
    *len = n;
    return buf;
}

/* Check that text holds "info: line N" for consecutive N from *next on;
 * returns how many. */
static int check_lines(const char *text, int *next)
{
    int count = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        int n = -1;
        const char *at = strstr(p, " info: line ");
        assert_true(at && at < nl);
        assert_int_equal(sscanf(at, " info: line %d", &n), 1);
        if (*next >= 0 && n != *next)
            fail_msg("line %d where %d was expected", n, *next);
        *next = n + 1;
        count++;
        p = nl + 1;
    }
    return count;
}

static void wait_compressed(struct logfile *lf)
{
    uint64_t rot = 0, done = 0;
    for (int i = 0; i < 500; i++) {
        logfile_stats(lf, &rot, &done);
        if (rot && done == rot)
            return;
        usleep(10000);
    }
    fail_msg("compressor did not catch up: %llu of %llu", (unsigned long long)done,
             (unsigned long long)rot);
}

static void test_rotation(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("logfile"), path[HS_PATH_MAX];
    snprintf(path, sizeof(path), "%s/hubsync.log", dir);
    struct logfile *lf = NULL;
    struct hs_err err = {0};
    assert_int_equal(logfile_open(path, 4096, 3, &lf, &err), 0);
    const int total = 400;
    char line[128];
    for (int i = 0; i < total; i++) {
        snprintf(line, sizeof(line), "line %d of the rotation test, some padding here", i);
        logfile_sink(HS_LOG_INFO, line, lf);
    }
    /* compressed while the process goes on, not only at close */
    wait_compressed(lf);
    uint64_t rot = 0, done = 0;
    logfile_stats(lf, &rot, &done);
    assert_true(rot >= 5); /* ~30 KB of lines, 4 KiB per file */
    assert_true(exists(dir, "hubsync.log.1.zst"));
    logfile_close(lf);

    assert_true(exists(dir, "hubsync.log.2.zst"));
    assert_true(exists(dir, "hubsync.log.3.zst"));
    assert_false(exists(dir, "hubsync.log.4.zst")); /* keep 3 */
    assert_false(exists(dir, "hubsync.log.pending-0"));
    /* oldest to newest: .3, .2, .1, the live file — consecutive lines */
    const char *order[] = {"hubsync.log.3.zst", "hubsync.log.2.zst", "hubsync.log.1.zst",
                           "hubsync.log"};
    int next = -1, lines = 0, first = -1;
    for (size_t i = 0; i < 4; i++) {
        size_t len = 0;
        char *text = read_text(dir, order[i], &len);
        assert_true(len > 0 && len <= 4096);
        if (i == 0)
            assert_int_equal(sscanf(strstr(text, " info: line "), " info: line %d", &first), 1);
        lines += check_lines(text, &next);
        free(text);
    }
    assert_int_equal(next, total); /* the newest line is the last written */
    assert_true(first > 0);        /* older files were deleted */
    assert_int_equal(lines, total - first);
    test_tmpdir_remove(dir);
}

static void test_leftover_and_token(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("logfile"), path[HS_PATH_MAX], left[HS_PATH_MAX];
    snprintf(path, sizeof(path), "%s/run.log", dir);
    snprintf(left, sizeof(left), "%s/run.log.pending-7", dir);
    FILE *f = fopen(left, "w");
    assert_non_null(f);
    fputs("2026-01-01T00:00:00Z info: line 41\n", f);
    fclose(f);
    struct logfile *lf = NULL;
    struct hs_err err = {0};
    assert_int_equal(logfile_open(path, 1 << 20, 5, &lf, &err), 0);
    /* through hs_log: the scrubber runs before the sink */
    assert_int_equal(hs_secret_register("hf_secret_token_value_123"), 0);
    hs_log_set_sink(logfile_sink, lf);
    hs_log_info("line 42 token hf_secret_token_value_123");
    hs_log_set_sink(NULL, NULL);
    hs_secret_clear_all();
    logfile_close(lf);
    assert_false(exists(dir, "run.log.pending-7"));
    size_t len = 0;
    char *old = read_text(dir, "run.log.1.zst", &len);
    assert_string_equal(old, "2026-01-01T00:00:00Z info: line 41\n");
    free(old);
    char *live = read_text(dir, "run.log", &len);
    assert_non_null(strstr(live, "info: line 42 token hf_***"));
    assert_null(strstr(live, "secret_token"));
    free(live);
    /* a new pending file continues the numbering after the leftover */
    assert_int_equal(logfile_open(path, 16, 5, &lf, &err), 0);
    logfile_sink(HS_LOG_WARN, "line 43", lf);
    logfile_close(lf);
    assert_true(exists(dir, "run.log.2.zst"));
    char *prev = read_text(dir, "run.log.1.zst", &len);
    assert_non_null(strstr(prev, "line 42"));
    free(prev);
    live = read_text(dir, "run.log", &len);
    assert_non_null(strstr(live, "warn: line 43"));
    free(live);
    test_tmpdir_remove(dir);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct logfile *lf = NULL;
    struct hs_err err = {0};
    assert_int_equal(logfile_open("/nonexistent-dir/x/hubsync.log", 0, 5, &lf, &err), -ENOENT);
    assert_null(lf);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x/hubsync.log"));
    assert_null(logfile_close(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_leftover_and_token),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
