/* test_journal.c — state/journal: append/replay round trip, torn last
 * record at every byte offset and bit flips, corruption in the middle,
 * compaction and a crash at each of its steps, ENOSPC injection, a real
 * RLIMIT_FSIZE failure, and kill -9 of a child in the middle of an append
 * loop (replay must show a clean prefix). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../unit/test_tmpdir.h"

#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define T_EVENT 7
#define T_SNAP  9

struct seen {
    long vals[20000];
    uint16_t types[20000];
    bool snap[20000];
    size_t n;
};

static int collect(const struct journal_record *r, void *ud)
{
    struct seen *s = ud;
    assert_true(s->n < HS_ARRAY_SIZE(s->vals));
    s->vals[s->n] = (long)json_integer_value(json_object_get(r->payload, "i"));
    s->types[s->n] = r->type;
    s->snap[s->n] = r->from_snapshot;
    s->n++;
    return 0;
}

static void append_i(struct journal *j, uint16_t type, long i)
{
    struct hs_err err = {0};
    json_t *p = json_pack("{s:I, s:s}", "i", (json_int_t)i, "pad", "checkpoint-payload");
    int rc = journal_append(j, type, p, &err);
    if (rc != 0)
        fail_msg("append %ld: %s", i, err.msg);
    json_decref(p);
}

static struct journal *reopen(const char *dir, struct seen *s, struct journal_report *rep)
{
    struct hs_err err = {0};
    struct journal *j = NULL;
    memset(s, 0, sizeof(*s));
    int rc = journal_open(dir, collect, s, &j, rep, &err);
    if (rc != 0)
        fail_msg("journal_open: %s", err.msg);
    return j;
}

static void expect_range(const struct seen *s, long first, long count)
{
    assert_int_equal(s->n, count);
    for (long k = 0; k < count; k++)
        assert_int_equal(s->vals[k], first + k);
}

static int read_all(const char *path, unsigned char **buf, size_t *len)
{
    return hs_read_file(path, 1 << 24, (char **)buf, len);
}

static void write_all(const char *path, const unsigned char *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void test_crc32c(void **state)
{
    (void)state;
    assert_int_equal(journal_crc32c(0, "123456789", 9), 0xe3069283u);
    uint32_t a = journal_crc32c(0, "1234", 4);
    assert_int_equal(journal_crc32c(a, "56789", 5), 0xe3069283u);
    assert_int_equal(journal_crc32c(0, "", 0), 0);
}

static void test_round_trip(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("journal");
    struct seen *s = calloc(1, sizeof(*s));
    struct journal_report rep;
    struct journal *j = reopen(dir, s, &rep);
    assert_int_equal(s->n, 0);
    for (long i = 0; i < 50; i++)
        append_i(j, T_EVENT, i);
    /* group commit */
    json_t *p[10];
    struct journal_entry e[10];
    for (int k = 0; k < 10; k++) {
        p[k] = json_pack("{s:I}", "i", (json_int_t)(50 + k));
        e[k] = (struct journal_entry){(uint16_t)(100 + k), p[k]};
    }
    struct hs_err err = {0};
    assert_int_equal(journal_append_batch(j, e, 10, &err), 0);
    for (int k = 0; k < 10; k++)
        json_decref(p[k]);
    assert_int_equal(journal_log_records(j), 60);
    /* refused payloads leave nothing behind */
    json_t *arr = json_array();
    assert_int_equal(journal_append(j, T_EVENT, arr, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not a JSON object"));
    json_decref(arr);
    uint64_t bytes = journal_log_bytes(j);
    journal_close(j);

    j = reopen(dir, s, &rep);
    expect_range(s, 0, 60);
    assert_int_equal(s->types[0], T_EVENT);
    assert_int_equal(s->types[55], 105);
    assert_false(s->snap[0]);
    assert_int_equal(rep.log_records, 60);
    assert_int_equal(rep.torn_bytes, 0);
    assert_false(rep.corrupt);
    assert_int_equal(journal_log_bytes(j), bytes);
    append_i(j, T_EVENT, 60);
    journal_close(j);
    j = reopen(dir, s, &rep);
    expect_range(s, 0, 61);
    journal_close(j);
    free(s);
    test_tmpdir_remove(dir);
}

/* Truncate the last record at every byte offset, and flip one bit at every
 * byte of it: replay returns the records before it, cuts the damage away,
 * and later appends replay fine. */
static void test_torn_last_record(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("journal");
    char log[HS_PATH_MAX];
    snprintf(log, sizeof(log), "%s/log-0.jnl", dir);
    struct seen *s = calloc(1, sizeof(*s));
    struct journal_report rep;
    struct journal *j = reopen(dir, s, &rep);
    for (long i = 0; i < 4; i++)
        append_i(j, T_EVENT, i);
    uint64_t start = journal_log_bytes(j);
    append_i(j, T_EVENT, 4);
    uint64_t end = journal_log_bytes(j);
    journal_close(j);
    unsigned char *orig;
    size_t len;
    assert_int_equal(read_all(log, &orig, &len), 0);
    assert_int_equal(len, end);

    for (int mode = 0; mode < 2; mode++) {
        for (uint64_t k = start; k < end; k++) {
            if (mode == 0) {
                write_all(log, orig, k); /* cut at k */
            } else {
                unsigned char *copy = malloc(len);
                memcpy(copy, orig, len);
                copy[k] ^= (unsigned char)(1u << (k % 8));
                write_all(log, copy, len);
                free(copy);
            }
            j = reopen(dir, s, &rep);
            expect_range(s, 0, 4);
            assert_false(rep.corrupt);
            assert_int_equal(rep.torn_bytes, mode == 0 ? k - start : end - start);
            assert_int_equal(journal_log_bytes(j), start);
            append_i(j, T_EVENT, 99);
            journal_close(j);
            j = reopen(dir, s, &rep);
            assert_int_equal(s->n, 5);
            assert_int_equal(s->vals[4], 99);
            assert_int_equal(rep.torn_bytes, 0);
            journal_close(j);
        }
    }
    free(orig);
    free(s);
    test_tmpdir_remove(dir);
}

static void test_corrupt_middle(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("journal");
    char log[HS_PATH_MAX];
    snprintf(log, sizeof(log), "%s/log-0.jnl", dir);
    struct seen *s = calloc(1, sizeof(*s));
    struct journal_report rep;
    struct journal *j = reopen(dir, s, &rep);
    uint64_t off3 = 0;
    for (long i = 0; i < 10; i++) {
        if (i == 3)
            off3 = journal_log_bytes(j);
        append_i(j, T_EVENT, i);
    }
    journal_close(j);
    unsigned char *orig;
    size_t len;
    assert_int_equal(read_all(log, &orig, &len), 0);
    orig[off3 + 30] ^= 0x20; /* inside record 3's payload */
    write_all(log, orig, len);

    j = reopen(dir, s, &rep);
    expect_range(s, 0, 3);
    assert_true(rep.corrupt);
    assert_int_equal(rep.corrupt_offset, off3);
    assert_int_equal(rep.lost_bytes, len - off3);
    assert_int_equal(rep.torn_bytes, 0);
    assert_non_null(strstr(rep.corrupt_copy, "log-0.jnl.corrupt-"));
    unsigned char *kept;
    size_t kept_len;
    assert_int_equal(read_all(rep.corrupt_copy, &kept, &kept_len), 0);
    assert_int_equal(kept_len, len);
    assert_memory_equal(kept, orig, len);
    free(kept);
    append_i(j, T_EVENT, 42);
    journal_close(j);
    j = reopen(dir, s, &rep);
    assert_int_equal(s->n, 4);
    assert_int_equal(s->vals[3], 42);
    assert_false(rep.corrupt);
    journal_close(j);
    free(orig);
    free(s);
    test_tmpdir_remove(dir);
}

/* A file written by a future format version is refused with a clear
 * message, never misread; so is a log without its snapshot. */
static void test_versions_and_orphans(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("journal");
    char log[HS_PATH_MAX];
    snprintf(log, sizeof(log), "%s/log-0.jnl", dir);
    struct seen *s = calloc(1, sizeof(*s));
    struct journal_report rep;
    struct hs_err err = {0};
    struct journal *j = reopen(dir, s, &rep);
    append_i(j, T_EVENT, 0);
    journal_close(j);
    unsigned char *buf;
    size_t len;
    assert_int_equal(read_all(log, &buf, &len), 0);
    unsigned char *orig = malloc(len);
    memcpy(orig, buf, len);
    buf[8] = 2; /* header version 2, with a valid CRC */
    uint32_t crc = journal_crc32c(0, buf, 24);
    for (int i = 0; i < 4; i++)
        buf[24 + i] = (unsigned char)(crc >> (8 * i));
    write_all(log, buf, len);
    assert_int_equal(journal_open(dir, collect, s, &j, &rep, &err), -EPROTONOSUPPORT);
    assert_non_null(strstr(err.msg, "format version 2; this hubsync reads 1"));
    /* a record of a future version inside a current log */
    memcpy(buf, orig, len);
    buf[28 + 4] = 2; /* record header version */
    crc = journal_crc32c(journal_crc32c(0, buf + 28, 20), buf + 28 + 24, len - 28 - 24);
    for (int i = 0; i < 4; i++)
        buf[28 + 20 + i] = (unsigned char)(crc >> (8 * i));
    write_all(log, buf, len);
    assert_int_equal(journal_open(dir, collect, s, &j, &rep, &err), -EPROTONOSUPPORT);
    assert_non_null(strstr(err.msg, "unknown format version"));
    write_all(log, orig, len);
    /* log-3 without snapshot-3: refuse to guess */
    char orphan[HS_PATH_MAX];
    snprintf(orphan, sizeof(orphan), "%s/log-3.jnl", dir);
    write_all(orphan, orig, len);
    assert_int_equal(journal_open(dir, collect, s, &j, &rep, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "log-3.jnl is newer than every snapshot"));
    unlink(orphan);
    j = reopen(dir, s, &rep);
    expect_range(s, 0, 1);
    journal_close(j);
    free(buf);
    free(orig);
    free(s);
    test_tmpdir_remove(dir);
}

/* The owner's state for the compaction tests: the list of values seen. */
static int compact_values(struct journal *j, const struct seen *s, struct hs_err *err)
{
    struct journal_entry *e = calloc(s->n ? s->n : 1, sizeof(*e));
    for (size_t k = 0; k < s->n; k++)
        e[k] = (struct journal_entry){T_SNAP, json_pack("{s:I}", "i", (json_int_t)s->vals[k])};
    int rc = journal_compact(j, e, s->n, err);
    for (size_t k = 0; k < s->n; k++)
        json_decref((json_t *)e[k].payload);
    free(e);
    return rc;
}

static bool exists(const char *dir, const char *name)
{
    char p[HS_PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void test_compaction(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("journal");
    struct seen *s = calloc(1, sizeof(*s));
    struct journal_report rep;
    struct hs_err err = {0};
    struct journal *j = reopen(dir, s, &rep);
    for (long i = 0; i < 20; i++)
        append_i(j, T_EVENT, i);
    journal_close(j);
    j = reopen(dir, s, &rep); /* s holds 0..19 */
    assert_int_equal(compact_values(j, s, &err), 0);
    assert_int_equal(journal_generation(j), 1);
    assert_false(exists(dir, "log-0.jnl"));
    assert_true(exists(dir, "snapshot-1.zst"));
    for (long i = 20; i < 23; i++)
        append_i(j, T_EVENT, i);
    journal_close(j);
    j = reopen(dir, s, &rep);
    expect_range(s, 0, 23);
    assert_true(s->snap[19]);
    assert_int_equal(s->types[19], T_SNAP);
    assert_false(s->snap[20]);
    assert_int_equal(rep.snapshot_records, 20);
    assert_int_equal(rep.log_records, 3);
    assert_int_equal(rep.generation, 1);
    /* second compaction, then an empty one */
    assert_int_equal(compact_values(j, s, &err), 0);
    assert_false(exists(dir, "snapshot-1.zst"));
    append_i(j, T_EVENT, 23);
    journal_close(j);
    j = reopen(dir, s, &rep);
    expect_range(s, 0, 24);
    assert_int_equal(rep.generation, 2);
    struct seen empty = {.n = 0};
    assert_int_equal(compact_values(j, &empty, &err), 0);
    journal_close(j);
    j = reopen(dir, s, &rep);
    assert_int_equal(s->n, 0);
    journal_close(j);

    /* a damaged snapshot fails closed, naming the file */
    char snap[HS_PATH_MAX];
    snprintf(snap, sizeof(snap), "%s/snapshot-3.zst", dir);
    unsigned char *buf;
    size_t len;
    assert_int_equal(read_all(snap, &buf, &len), 0);
    buf[len / 2] ^= 0xff;
    write_all(snap, buf, len);
    free(buf);
    struct journal *bad = NULL;
    assert_int_equal(journal_open(dir, collect, s, &bad, &rep, &err), -EBADMSG);
    assert_null(bad);
    assert_non_null(strstr(err.msg, "snapshot-3.zst"));
    assert_true(exists(dir, "snapshot-3.zst"));
    free(s);
    test_tmpdir_remove(dir);
}

static enum journal_step crash_step;
static int crash_hook(enum journal_step step)
{
    return step == crash_step;
}

static void test_compaction_crash(void **state)
{
    (void)state;
    for (int step = JOURNAL_STEP_SNAPSHOT_WRITTEN; step <= JOURNAL_STEP_LOG_CREATED; step++) {
        char *dir = test_tmpdir_make("journal");
        struct seen *s = calloc(1, sizeof(*s));
        struct journal_report rep;
        struct hs_err err = {0};
        struct journal *j = reopen(dir, s, &rep);
        for (long i = 0; i < 5; i++)
            append_i(j, T_EVENT, i);
        journal_close(j);
        j = reopen(dir, s, &rep);
        crash_step = (enum journal_step)step;
        struct journal_hooks h = {.crash_point = crash_hook};
        journal_set_test_hooks(&h);
        assert_int_equal(compact_values(j, s, &err), -ECANCELED);
        journal_set_test_hooks(NULL);
        journal_close(j); /* the "crash" */
        j = reopen(dir, s, &rep);
        expect_range(s, 0, 5); /* nothing lost, nothing twice */
        assert_int_equal(rep.generation, step == JOURNAL_STEP_SNAPSHOT_WRITTEN ? 0 : 1);
        assert_true(rep.removed_files >= 1);
        assert_false(exists(dir, "snapshot-1.zst.tmp"));
        if (step != JOURNAL_STEP_SNAPSHOT_WRITTEN)
            assert_false(exists(dir, "log-0.jnl"));
        append_i(j, T_EVENT, 5);
        journal_close(j);
        j = reopen(dir, s, &rep);
        expect_range(s, 0, 6);
        journal_close(j);
        free(s);
        test_tmpdir_remove(dir);
    }
}

static int fail_after; /* bytes the fake pwrite accepts before ENOSPC */
static ssize_t enospc_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    if (fail_after <= 0) {
        errno = ENOSPC;
        return -1;
    }
    size_t n = len < (size_t)fail_after ? len : (size_t)fail_after;
    fail_after -= (int)n;
    return pwrite(fd, buf, n, off);
}

static int eio_fdatasync(int fd)
{
    (void)fd;
    errno = EIO;
    return -1;
}

static void test_enospc(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("journal");
    char log[HS_PATH_MAX];
    snprintf(log, sizeof(log), "%s/log-0.jnl", dir);
    struct seen *s = calloc(1, sizeof(*s));
    struct journal_report rep;
    struct hs_err err = {0};
    struct journal *j = reopen(dir, s, &rep);
    append_i(j, T_EVENT, 0);
    uint64_t before = journal_log_bytes(j);
    /* a batch of 3 whose write stops with ENOSPC after 40 bytes */
    json_t *p = json_pack("{s:i}", "i", 1);
    struct journal_entry e[3] = {{T_EVENT, p}, {T_EVENT, p}, {T_EVENT, p}};
    fail_after = 40;
    struct journal_hooks h = {.pwrite = enospc_pwrite};
    journal_set_test_hooks(&h);
    assert_int_equal(journal_append_batch(j, e, 3, &err), -ENOSPC);
    journal_set_test_hooks(NULL);
    assert_non_null(strstr(err.msg, "cannot append 3 record(s)"));
    assert_int_equal(journal_log_bytes(j), before);
    struct stat st;
    assert_int_equal(stat(log, &st), 0);
    assert_int_equal((uint64_t)st.st_size, before); /* nothing half-written */
    append_i(j, T_EVENT, 1);                        /* space is back */
    /* a failed fdatasync poisons the journal until reopen */
    h = (struct journal_hooks){.fdatasync = eio_fdatasync};
    journal_set_test_hooks(&h);
    assert_int_equal(journal_append(j, T_EVENT, p, &err), -EIO);
    journal_set_test_hooks(NULL);
    assert_int_equal(journal_append(j, T_EVENT, p, &err), -EIO);
    assert_non_null(strstr(err.msg, "reopen"));
    journal_close(j);
    json_decref(p);
    j = reopen(dir, s, &rep);
    /* the record whose fsync "failed" did reach the page cache here */
    assert_int_equal(s->n, 3);
    assert_int_equal(s->vals[0], 0);
    assert_int_equal(s->vals[1], 1);
    assert_false(rep.corrupt);
    assert_int_equal(rep.torn_bytes, 0);
    journal_close(j);
    free(s);
    test_tmpdir_remove(dir);
}

/* ENOSPC while writing the compaction snapshot: nothing changes, no tmp
 * file is left, and the journal keeps working on its generation. */
static void test_compaction_enospc(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("journal");
    struct seen *s = calloc(1, sizeof(*s));
    struct journal_report rep;
    struct hs_err err = {0};
    struct journal *j = reopen(dir, s, &rep);
    for (long i = 0; i < 30; i++)
        append_i(j, T_EVENT, i);
    journal_close(j);
    j = reopen(dir, s, &rep);
    fail_after = 20;
    struct journal_hooks h = {.pwrite = enospc_pwrite};
    journal_set_test_hooks(&h);
    assert_int_equal(compact_values(j, s, &err), -ENOSPC);
    journal_set_test_hooks(NULL);
    assert_non_null(strstr(err.msg, "snapshot-1.zst"));
    assert_int_equal(journal_generation(j), 0);
    assert_false(exists(dir, "snapshot-1.zst.tmp"));
    assert_false(exists(dir, "snapshot-1.zst"));
    append_i(j, T_EVENT, 30);
    journal_close(j);
    j = reopen(dir, s, &rep);
    expect_range(s, 0, 31);
    assert_int_equal(rep.generation, 0);
    journal_close(j);
    free(s);
    test_tmpdir_remove(dir);
}

/* A real write failure: RLIMIT_FSIZE in a child makes pwrite fail (EFBIG)
 * or write short; the child reports how many appends succeeded. */
static void test_rlimit_fsize(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("journal");
    struct seen *s = calloc(1, sizeof(*s));
    struct journal_report rep;
    struct journal *j = reopen(dir, s, &rep);
    journal_close(j);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct seen cs;
        struct hs_err err = {0};
        struct journal *cj = NULL;
        if (journal_open(dir, collect, &cs, &cj, NULL, &err) != 0)
            _exit(200);
        struct rlimit rl = {1000, 1000};
        setrlimit(RLIMIT_FSIZE, &rl);
        int n = 0;
        for (;; n++) {
            json_t *p = json_pack("{s:i, s:s}", "i", n, "pad", "0123456789012345678901234567");
            int rc = journal_append(cj, T_EVENT, p, &err);
            json_decref(p);
            if (rc == -EFBIG)
                break;
            if (rc != 0 || n > 100)
                _exit(201);
        }
        /* still refused, and still consistent */
        json_t *p = json_pack("{s:i}", "i", 1);
        if (journal_append(cj, T_EVENT, p, &err) != -EFBIG)
            _exit(202);
        _exit(n);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    int n = WEXITSTATUS(status);
    assert_in_range(n, 5, 100);
    j = reopen(dir, s, &rep);
    expect_range(s, 0, n);
    assert_int_equal(rep.torn_bytes, 0);
    assert_false(rep.corrupt);
    journal_close(j);
    free(s);
    test_tmpdir_remove(dir);
}

/* A child appends 0, 1, 2, ... (compacting every 37 records) until it is
 * killed with SIGKILL at a random moment; after each kill the journal must
 * replay a contiguous prefix, and the next child continues from there. */
static void test_kill9_prefix(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("journal");
    struct seen *s = calloc(1, sizeof(*s));
    struct journal_report rep;
    srand(12345);
    long total = 0;
    for (int round = 0; round < 20; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            struct seen *cs = calloc(1, sizeof(*cs));
            struct hs_err err = {0};
            struct journal *cj = NULL;
            if (journal_open(dir, collect, cs, &cj, NULL, &err) != 0)
                _exit(200);
            for (long i = (long)cs->n; i < 19000; i++) {
                json_t *p = json_pack("{s:I}", "i", (json_int_t)i);
                if (journal_append(cj, T_EVENT, p, &err) != 0)
                    _exit(201);
                json_decref(p);
                cs->vals[cs->n++] = i;
                if (i % 37 == 36 && compact_values(cj, cs, &err) != 0)
                    _exit(202);
            }
            pause();
            _exit(0);
        }
        struct timespec ts = {0, (long)(1 + rand() % 40) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
            fail_msg("child exited with %d instead of being killed", WEXITSTATUS(status));
        struct journal *j = reopen(dir, s, &rep);
        assert_false(rep.corrupt);
        assert_true((long)s->n >= total); /* never loses what was durable */
        expect_range(s, 0, (long)s->n);
        total = (long)s->n;
        journal_close(j);
    }
    print_message("kill -9 test: %ld records after 20 kills\n", total);
    assert_true(total > 20);
    free(s);
    test_tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_torn_last_record),
        cmocka_unit_test(test_corrupt_middle),
        cmocka_unit_test(test_versions_and_orphans),
        cmocka_unit_test(test_compaction),
        cmocka_unit_test(test_compaction_crash),
        cmocka_unit_test(test_enospc),
        cmocka_unit_test(test_compaction_enospc),
        cmocka_unit_test(test_rlimit_fsize),
        cmocka_unit_test(test_kill9_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
