/* test_jstate.c — state/jstate: the daemon's durable model. Every
 * transition survives a reopen (the replayed model equals the live one,
 * compared as JSON), compaction preserves it (manual and automatic), save
 * identity (a re-created checkpoint-N is a new save), invalid transitions
 * are refused without writing anything, an aborted commit returns its saves
 * to the queue, and unknown record types are skipped and counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../unit/test_tmpdir.h"

#include "jstate.h"

#include <errno.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SHA_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static struct jstate *open_js(const char *dir, struct journal_report *rep)
{
    struct hs_err err = {0};
    struct jstate *js = NULL;
    if (jstate_open(dir, &js, rep, &err) != 0)
        fail_msg("jstate_open: %s", err.msg);
    return js;
}

/* Close, reopen, and check the replayed model equals the live one. */
static struct jstate *reopen_same(struct jstate *js, const char *dir)
{
    json_t *before = jstate_dump(js);
    jstate_close(js);
    js = open_js(dir, NULL);
    json_t *after = jstate_dump(js);
    if (!json_equal(before, after)) {
        char *a = json_dumps(before, JSON_COMPACT), *b = json_dumps(after, JSON_COMPACT);
        fail_msg("model changed across reopen:\nbefore %s\nafter  %s", a, b);
    }
    json_decref(before);
    json_decref(after);
    assert_int_equal(jstate_skipped_records(js), 0);
    return js;
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        struct hs_err e_ = {0};                                                                    \
        if ((call) != 0)                                                                           \
            fail_msg("%s: %s", #call, e_.msg);                                                     \
    } while (0)
#define E (&e_)

static const struct jstate_file files3[] = {
    {.path = "model.safetensors", .size = 1000, .dev = 2049, .ino = 11, .mtime_ns = 5000},
    {.path = "config.json", .size = 10, .dev = 2049, .ino = 12, .mtime_ns = 5001},
    {.path = "optimizer.pt", .size = 2000, .dev = 2049, .ino = 13, .mtime_ns = 5002},
};

static void test_lifecycle(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("jstate");
    struct jstate *js = open_js(dir, NULL);
    json_t *meta = json_pack("{s:i, s:s}", "step", 500, "unit", "step");
    uint64_t s1 = 0, s2 = 0, s3 = 0, c1 = 0;
    OK(jstate_save_ready(js, "bert", "checkpoint-500", meta, "/spool/bert/500", files3, 3, &s1, E));
    json_decref(meta);
    assert_int_equal(s1, 1);
    const struct jstate_save *s = jstate_save_get(js, s1);
    assert_int_equal(s->state, JSAVE_READY);
    assert_string_equal(s->files[0].path, "config.json"); /* sorted */
    js = reopen_same(js, dir);

    const char *p2[] = {"model.safetensors", "config.json"}, *h2[] = {SHA_A, SHA_B};
    OK(jstate_files_hashed(js, s1, p2, h2, 2, E));
    assert_int_equal(jstate_save_get(js, s1)->state, JSAVE_READY);
    const char *p1[] = {"optimizer.pt"}, *h1[] = {SHA_C};
    OK(jstate_files_hashed(js, s1, p1, h1, 1, E));
    assert_int_equal(jstate_save_get(js, s1)->state, JSAVE_HASHED);
    assert_string_equal(jstate_save_get(js, s1)->files[1].sha256, SHA_A);

    OK(jstate_commit_sent(js, "bert", &s1, 1, false, "0123abcd", "Training in progress, step 500",
                          &c1, E));
    assert_int_equal(jstate_save_get(js, s1)->state, JSAVE_COMMIT_SENT);
    js = reopen_same(js, dir); /* a crash here: outcome unknown, still COMMIT_SENT */
    assert_int_equal(jstate_commit_get(js, c1)->state, JCOMMIT_SENT);
    OK(jstate_commit_confirmed(js, c1, "feedbeef", "https://hub/acme/bert/commit/feedbeef",
                               1700000000000000, false, E));
    assert_int_equal(jstate_save_get(js, s1)->state, JSAVE_COMMITTED);
    /* the time feeds the commit budget after a restart */
    assert_int_equal(jstate_commit_get(js, c1)->confirmed_at, 1700000000000000);
    assert_false(jstate_commit_get(js, c1)->empty);

    OK(jstate_save_ready(js, "bert", "checkpoint-1000", NULL, NULL, files3, 1, &s2, E));
    OK(jstate_save_ready(js, "bert", "checkpoint-1500", NULL, NULL, files3, 1, &s3, E));
    OK(jstate_superseded(js, s2, s3, "superseded by checkpoint-1500 while queued", E));
    OK(jstate_finish(js, "bert", JFINISH_REQUESTED, 0, E));
    js = reopen_same(js, dir);
    assert_int_equal(jstate_save_get(js, s2)->state, JSAVE_SUPERSEDED);
    assert_int_equal(jstate_save_get(js, s2)->superseded_by, s3);
    assert_int_equal(jstate_job_get(js, "bert")->finish, JFINISH_REQUESTED);
    assert_null(jstate_job_get(js, "gpt"));

    /* compaction keeps everything, and ids continue after it */
    struct hs_err err = {0};
    assert_int_equal(jstate_compact(js, &err), 0);
    js = reopen_same(js, dir);
    uint64_t s4 = 0;
    OK(jstate_save_ready(js, "bert", "checkpoint-2000", NULL, NULL, NULL, 0, &s4, E));
    assert_int_equal(s4, s3 + 1);
    assert_int_equal(jstate_save_get(js, s4)->state, JSAVE_HASHED); /* no files */
    uint64_t c2 = 0;
    OK(jstate_commit_sent(js, "bert", NULL, 0, true, NULL, "End of training", &c2, E));
    assert_int_equal(c2, c1 + 1);
    assert_true(jstate_commit_get(js, c2)->final);
    OK(jstate_commit_confirmed(js, c2, "abcd", "https://hub/c2", 1700000000123456, true, E));
    js = reopen_same(js, dir); /* replayed from the log */
    assert_int_equal(jstate_commit_get(js, c2)->confirmed_at, 1700000000123456);
    assert_true(jstate_commit_get(js, c2)->empty);
    assert_int_equal(jstate_commit_get(js, c1)->confirmed_at, 1700000000000000);
    assert_int_equal(jstate_compact(js, &err), 0);
    js = reopen_same(js, dir); /* and from the compaction snapshot */
    assert_int_equal(jstate_commit_get(js, c2)->confirmed_at, 1700000000123456);
    assert_true(jstate_commit_get(js, c2)->empty);
    assert_int_equal(jstate_commit_get(js, c1)->confirmed_at, 1700000000000000);
    assert_false(jstate_commit_get(js, c1)->empty);
    jstate_close(js);
    test_tmpdir_remove(dir);
}

static void test_identity(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("jstate");
    struct jstate *js = open_js(dir, NULL);
    uint64_t id = 0;
    OK(jstate_save_ready(js, "bert", "checkpoint-500", NULL, NULL, files3, 3, &id, E));
    struct jstate_file again[3] = {files3[2], files3[0], files3[1]};
    const struct jstate_save *s = jstate_save_find(js, "bert", "checkpoint-500", again, 3);
    assert_non_null(s);
    assert_int_equal(s->id, id);
    again[1].mtime_ns++; /* a fresh run re-created checkpoint-500 */
    assert_null(jstate_save_find(js, "bert", "checkpoint-500", again, 3));
    again[1].mtime_ns--;
    again[0].ino = 99;
    assert_null(jstate_save_find(js, "bert", "checkpoint-500", again, 3));
    assert_null(jstate_save_find(js, "gpt", "checkpoint-500", files3, 3));
    assert_null(jstate_save_find(js, "bert", "checkpoint-500", files3, 2));
    jstate_close(js);
    test_tmpdir_remove(dir);
}

static void test_refusals(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("jstate");
    struct jstate *js = open_js(dir, NULL);
    struct hs_err err = {0};
    uint64_t s1 = 0, c = 0;
    OK(jstate_save_ready(js, "bert", "checkpoint-500", NULL, NULL, files3, 3, &s1, E));
    json_t *before = jstate_dump(js);

    assert_int_equal(jstate_commit_sent(js, "bert", &s1, 1, false, NULL, "m", &c, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "is not a hashed save of job bert (ready)"));
    const char *p[] = {"nope.bin"}, *h[] = {SHA_A};
    assert_int_equal(jstate_files_hashed(js, s1, p, h, 1, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "unknown file nope.bin"));
    const char *p2[] = {"config.json"}, *h2[] = {"not-a-sha"};
    assert_int_equal(jstate_files_hashed(js, s1, p2, h2, 1, &err), -EINVAL);
    assert_int_equal(jstate_files_hashed(js, 77, p2, h, 1, &err), -ENOENT);
    assert_int_equal(jstate_commit_confirmed(js, 5, "x", "y", 0, false, &err), -EINVAL);
    struct jstate_file dup[2] = {files3[0], files3[0]};
    assert_int_equal(jstate_save_ready(js, "bert", "checkpoint-9", NULL, NULL, dup, 2, NULL, &err),
                     -EINVAL);
    assert_non_null(strstr(err.msg, "invalid file list"));
    json_t *after = jstate_dump(js);
    assert_true(json_equal(before, after));
    json_decref(after);

    /* an aborted commit returns its saves to the queue; a commit in flight
     * cannot be superseded */
    const char *pa[] = {"config.json", "model.safetensors", "optimizer.pt"};
    const char *ha[] = {SHA_A, SHA_B, SHA_C};
    OK(jstate_files_hashed(js, s1, pa, ha, 3, E));
    OK(jstate_commit_sent(js, "bert", &s1, 1, false, NULL, "step 500", &c, E));
    assert_int_equal(jstate_superseded(js, s1, 9, "x", &err), -EINVAL);
    assert_int_equal(jstate_commit_sent(js, "bert", &s1, 1, false, NULL, "again", NULL, &err),
                     -EINVAL);
    OK(jstate_commit_aborted(js, c, "400: invalid metadata", E));
    assert_int_equal(jstate_save_get(js, s1)->state, JSAVE_HASHED);
    assert_int_equal(jstate_commit_get(js, c)->state, JCOMMIT_ABORTED);
    js = reopen_same(js, dir);
    uint64_t c2 = 0;
    OK(jstate_commit_sent(js, "bert", &s1, 1, false, NULL, "step 500", &c2, E));
    assert_int_not_equal(c2, c);
    json_decref(before);
    jstate_close(js);
    test_tmpdir_remove(dir);
}

static void test_auto_compaction(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("jstate");
    struct jstate *js = open_js(dir, NULL);
    jstate_set_compact_threshold(js, 3000);
    for (int i = 0; i < 60; i++) {
        char name[32];
        snprintf(name, sizeof(name), "checkpoint-%d", i);
        uint64_t id = 0;
        OK(jstate_save_ready(js, "bert", name, NULL, NULL, files3, 3, &id, E));
        const char *p[] = {"config.json", "model.safetensors", "optimizer.pt"};
        const char *h[] = {SHA_A, SHA_B, SHA_C};
        OK(jstate_files_hashed(js, id, p, h, 3, E));
        if (i > 0)
            OK(jstate_superseded(js, id - 1, id, "newer", E));
    }
    js = reopen_same(js, dir);
    struct journal_report rep;
    jstate_close(js);
    js = open_js(dir, &rep);
    assert_true(rep.generation >= 3);       /* compacted several times */
    assert_true(rep.snapshot_records > 10); /* meta + the saves known at the last compaction */
    assert_int_equal(jstate_save_at(js, 59)->state, JSAVE_HASHED);
    assert_int_equal(jstate_save_at(js, 58)->state, JSAVE_SUPERSEDED);
    assert_null(jstate_save_at(js, 60));
    jstate_close(js);
    test_tmpdir_remove(dir);
}

/* A lost save (issue 12): one with a READY record becomes LOST with its
 * reason, one that never got a record only counts; the job's count and last
 * lost save survive a reopen from the log and from a compaction snapshot; a
 * save on its way to the repo (or already lost) cannot be lost. */
static void test_lost(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("jstate");
    struct jstate *js = open_js(dir, NULL);
    uint64_t s1 = 0, s2 = 0, c1 = 0;
    OK(jstate_save_ready(js, "bert", "checkpoint-10", NULL, "/spool/10", files3, 3, &s1, E));
    OK(jstate_save_ready(js, "bert", "checkpoint-20", NULL, "/spool/20", NULL, 0, &s2, E));
    OK(jstate_save_lost(js, "bert", 0, "checkpoint-5", "it vanished before the snapshot", 111, E));
    assert_int_equal(jstate_job_get(js, "bert")->lost, 1);
    OK(jstate_save_lost(js, "bert", s1, "checkpoint-10", "the Hub refused it: 400 Invalid path",
                        222, E));
    assert_int_equal(jstate_save_get(js, s1)->state, JSAVE_LOST);
    assert_string_equal(jstate_save_get(js, s1)->reason, "the Hub refused it: 400 Invalid path");
    js = reopen_same(js, dir);
    const struct jstate_job *jb = jstate_job_get(js, "bert");
    assert_int_equal(jb->lost, 2);
    assert_string_equal(jb->lost_name, "checkpoint-10");
    assert_string_equal(jb->lost_reason, "the Hub refused it: 400 Invalid path");
    assert_int_equal(jb->lost_time, 222);
    assert_int_equal(jb->finish, JFINISH_NONE);
    struct hs_err err = {0};
    /* already lost; on its way to the repo; unknown */
    assert_int_equal(jstate_save_lost(js, "bert", s1, "checkpoint-10", "again", 0, &err), -EINVAL);
    OK(jstate_commit_sent(js, "bert", &s2, 1, false, NULL, "m", &c1, E));
    assert_int_equal(jstate_save_lost(js, "bert", s2, "checkpoint-20", "x", 0, &err), -EINVAL);
    assert_int_equal(jstate_save_lost(js, "bert", 77, "checkpoint-77", "x", 0, &err), -EINVAL);
    /* an aborted commit puts the save back in the queue: it can be lost then */
    OK(jstate_commit_aborted(js, c1, "400 Invalid path", E));
    OK(jstate_save_lost(js, "bert", s2, "checkpoint-20", "refused", 333, E));
    assert_int_equal(jstate_compact(js, &err), 0);
    js = reopen_same(js, dir);
    jb = jstate_job_get(js, "bert");
    assert_int_equal(jb->lost, 3);
    assert_string_equal(jb->lost_name, "checkpoint-20");
    assert_int_equal(jstate_save_get(js, s2)->state, JSAVE_LOST);
    assert_string_equal(jstate_save_state_name(JSAVE_LOST), "lost");
    jstate_close(js);
    test_tmpdir_remove(dir);
}

/* tag_saves: the tag pending is the READY meta's "tag"; JREC_TAG_DONE puts the
 * outcome in the meta, which replay and compaction keep. */
static void test_tag_done(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("jstate");
    struct jstate *js = open_js(dir, NULL);
    uint64_t s1 = 0, s2 = 0, c1 = 0;
    json_t *meta = json_pack("{s:I, s:s}", "step", (json_int_t)10, "tag", "step-10");
    OK(jstate_save_ready(js, "bert", "checkpoint-10", meta, "/spool/10", NULL, 0, &s1, E));
    OK(jstate_save_ready(js, "bert", "checkpoint-20", NULL, "/spool/20", NULL, 0, &s2, E));
    json_decref(meta);
    struct hs_err err = {0};
    /* not committed yet; a save without a tag */
    assert_int_equal(jstate_tag_done(js, s1, "created", NULL, &err), -EINVAL);
    uint64_t both[] = {s1, s2};
    OK(jstate_commit_sent(js, "bert", both, 2, false, NULL, "m", &c1, E));
    OK(jstate_commit_confirmed(js, c1, SHA_A, "u", 1, false, E));
    assert_int_equal(jstate_tag_done(js, s2, "created", NULL, &err), -EINVAL);
    js = reopen_same(js, dir);
    assert_null(json_object_get(jstate_save_get(js, s1)->meta, "tag_outcome"));
    OK(jstate_tag_done(js, s1, "elsewhere", SHA_B, E));
    js = reopen_same(js, dir);
    const json_t *m = jstate_save_get(js, s1)->meta;
    assert_string_equal(json_string_value(json_object_get(m, "tag_outcome")), "elsewhere");
    assert_string_equal(json_string_value(json_object_get(m, "tag_detail")), SHA_B);
    assert_int_equal(jstate_compact(js, &err), 0);
    js = reopen_same(js, dir);
    m = jstate_save_get(js, s1)->meta;
    assert_string_equal(json_string_value(json_object_get(m, "tag_outcome")), "elsewhere");
    jstate_close(js);
    test_tmpdir_remove(dir);
}

static void test_unknown_records(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("jstate");
    struct jstate *js = open_js(dir, NULL);
    uint64_t id;
    OK(jstate_save_ready(js, "bert", "checkpoint-1", NULL, NULL, files3, 1, &id, E));
    json_t *before = jstate_dump(js);
    jstate_close(js);
    /* a newer hubsync's record type, and a record that fits no save */
    char jdir[HS_PATH_MAX];
    snprintf(jdir, sizeof(jdir), "%s/journal", dir);
    struct journal *j = NULL;
    struct hs_err err = {0};
    assert_int_equal(journal_open(jdir, NULL, NULL, &j, NULL, &err), 0);
    json_t *p = json_pack("{s:s}", "future", "field");
    assert_int_equal(journal_append(j, 999, p, &err), 0);
    json_decref(p);
    p = json_pack("{s:i, s:[]}", "save", 42, "files");
    assert_int_equal(journal_append(j, JREC_FILES_HASHED, p, &err), 0);
    json_decref(p);
    journal_close(j);
    js = open_js(dir, NULL);
    assert_int_equal(jstate_skipped_records(js), 2);
    json_t *after = jstate_dump(js);
    assert_true(json_equal(before, after));
    json_decref(before);
    json_decref(after);
    jstate_close(js);
    test_tmpdir_remove(dir);
}

/* The daemon's resume loop in miniature: take the newest save one step
 * further (ready → hashed → commit sent → confirmed), or add the next save.
 * Runs until `total` saves are committed, then waits to be killed. */
static void resume_worker(const char *dir, int total, int done_fd)
{
    struct jstate *js = NULL;
    struct hs_err err = {0};
    if (jstate_open(dir, &js, NULL, &err) != 0)
        _exit(200);
    jstate_set_compact_threshold(js, 4096);
    const char *paths[] = {"config.json", "model.safetensors", "optimizer.pt"};
    const char *shas[] = {SHA_A, SHA_B, SHA_C};
    for (;;) {
        size_t n = 0;
        while (jstate_save_at(js, n))
            n++;
        const struct jstate_save *last = n ? jstate_save_at(js, n - 1) : NULL;
        int rc = 0;
        if (!last || last->state == JSAVE_COMMITTED) {
            if ((int)n == total) {
                if (write(done_fd, "d", 1) != 1)
                    _exit(203);
                pause();
            }
            char name[32];
            snprintf(name, sizeof(name), "checkpoint-%zu", n + 1);
            rc = jstate_save_ready(js, "bert", name, NULL, NULL, files3, 3, NULL, &err);
        } else if (last->state == JSAVE_READY) {
            rc = jstate_files_hashed(js, last->id, paths, shas, 3, &err);
        } else if (last->state == JSAVE_HASHED) {
            uint64_t id = last->id;
            rc = jstate_commit_sent(js, "bert", &id, 1, false, NULL, last->name, NULL, &err);
        } else if (last->state == JSAVE_COMMIT_SENT) {
            /* outcome unknown after a crash: the daemon checks the tree;
             * here the commit always landed */
            rc = jstate_commit_confirmed(js, last->commit, "feedbeef", "https://hub/c", 0, false,
                                         &err);
        } else {
            _exit(201);
        }
        if (rc != 0)
            _exit(202);
    }
}

/* Invariants after any crash: saves 1..n in order, all committed exactly
 * once except possibly the newest one, which may be at any step. */
static size_t check_committed_once(const char *dir)
{
    struct jstate *js = open_js(dir, NULL);
    size_t n = 0;
    while (jstate_save_at(js, n))
        n++;
    size_t confirmed = 0;
    for (size_t i = 0;; i++) {
        const struct jstate_commit *c = jstate_commit_at(js, i);
        if (!c)
            break;
        assert_int_equal(c->n_saves, 1);
        assert_int_not_equal(c->state, JCOMMIT_ABORTED);
        if (c->state == JCOMMIT_CONFIRMED) {
            confirmed++;
            assert_int_equal(jstate_save_get(js, c->saves[0])->state, JSAVE_COMMITTED);
        }
    }
    size_t committed = 0;
    for (size_t i = 0; i < n; i++) {
        const struct jstate_save *s = jstate_save_at(js, i);
        char name[32];
        snprintf(name, sizeof(name), "checkpoint-%zu", i + 1);
        assert_int_equal(s->id, i + 1);
        assert_string_equal(s->name, name);
        if (i + 1 < n)
            assert_int_equal(s->state, JSAVE_COMMITTED);
        committed += s->state == JSAVE_COMMITTED;
    }
    assert_int_equal(confirmed, committed); /* no save committed twice */
    assert_int_equal(jstate_skipped_records(js), 0);
    jstate_close(js);
    return committed;
}

static void test_kill9_resume(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("jstate");
    srand(4242);
    const int total = 150;
    size_t committed = 0;
    int done[2];
    assert_int_equal(pipe(done), 0);
    for (int round = 0; round <= 20; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            resume_worker(dir, total, done[1]);
        if (round < 20) {
            struct timespec ts = {0, (long)(1 + rand() % 30) * 1000000L};
            nanosleep(&ts, NULL);
        } else { /* the last round runs to completion before the kill */
            print_message("kill -9 resume: %zu of %d saves committed after 20 kills\n", committed,
                          total);
            struct pollfd p = {.fd = done[0], .events = POLLIN};
            assert_int_equal(poll(&p, 1, 60000), 1);
        }
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
            fail_msg("worker exited with %d", WEXITSTATUS(status));
        size_t now = check_committed_once(dir);
        assert_true(now >= committed);
        committed = now;
    }
    close(done[0]);
    close(done[1]);
    assert_int_equal(committed, total);
    test_tmpdir_remove(dir);
}

/* ---- deferred durability: the fdatasync on the thread pool ------------------ */

static sem_t g_gate;              /* the pool's fdatasync waits here while g_hold */
static bool g_hold;               /* set by the test thread, read on the pool: atomic */
static volatile int g_fail;       /* errno the hook fails with (0: none) */
static volatile int g_hook_syncs; /* fdatasyncs that reached the hook */

static int hook_fdatasync(int fd)
{
    if (__atomic_load_n(&g_hold, __ATOMIC_SEQ_CST))
        sem_wait(&g_gate);
    __atomic_add_fetch(&g_hook_syncs, 1, __ATOMIC_SEQ_CST);
    if (g_fail) {
        errno = g_fail;
        return -1;
    }
    return fdatasync(fd);
}

struct order {
    int calls[8];
    int status[8];
    int n;
};
static struct order g_order;

static void durable_cb(int status, void *ud)
{
    int id = (int)(intptr_t)ud;
    g_order.calls[g_order.n] = id;
    g_order.status[g_order.n++] = status;
}

static void test_deferred_sync(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("jstate");
    struct journal_hooks h = {.fdatasync = hook_fdatasync};
    journal_set_test_hooks(&h);
    sem_init(&g_gate, 0, 0);
    g_hold = true;
    g_fail = 0;
    g_hook_syncs = 0;
    memset(&g_order, 0, sizeof(g_order));
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct jstate *js = open_js(dir, NULL);
    assert_int_equal(jstate_use_loop(js, &loop), 0);
    uint64_t s1 = 0, s2 = 0, s3 = 0;
    /* the first record starts a sync on the pool, held at the gate */
    OK(jstate_save_ready(js, "bert", "checkpoint-1", NULL, NULL, files3, 1, &s1, E));
    jstate_when_durable(js, durable_cb, (void *)1);
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(g_order.n, 0); /* not durable yet: nothing may depend on it */
    /* two more while it is held: they share the next sync (group commit) */
    OK(jstate_save_ready(js, "bert", "checkpoint-2", NULL, NULL, files3, 1, &s2, E));
    OK(jstate_save_ready(js, "bert", "checkpoint-3", NULL, NULL, files3, 1, &s3, E));
    jstate_when_durable(js, durable_cb, (void *)2);
    jstate_when_durable(js, durable_cb, (void *)3);
    assert_int_equal(g_order.n, 0);
    __atomic_store_n(&g_hold, false, __ATOMIC_SEQ_CST);
    sem_post(&g_gate);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(g_order.n, 3);
    assert_int_equal(g_order.calls[0], 1);
    assert_int_equal(g_order.calls[1], 2);
    assert_int_equal(g_order.calls[2], 3);
    assert_int_equal(g_order.status[0] | g_order.status[1] | g_order.status[2], 0);
    assert_int_equal(jstate_pool_syncs(js), 2); /* three records, two fdatasyncs */
    assert_int_equal(g_hook_syncs, 2);
    /* everything durable: the callback runs at once */
    jstate_when_durable(js, durable_cb, (void *)4);
    assert_int_equal(g_order.n, 4);
    assert_int_equal(g_order.calls[3], 4);

    /* a failed fdatasync fails its waiter and every later transition */
    g_fail = EIO;
    uint64_t s4 = 0;
    OK(jstate_save_ready(js, "bert", "checkpoint-4", NULL, NULL, files3, 1, &s4, E));
    jstate_when_durable(js, durable_cb, (void *)5);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(g_order.n, 5);
    assert_int_equal(g_order.calls[4], 5);
    assert_int_equal(g_order.status[4], -EIO);
    struct hs_err err = {0};
    assert_int_equal(jstate_superseded(js, s2, s3, "x", &err), -EIO);
    assert_non_null(strstr(err.msg, "fdatasync failed"));
    jstate_when_durable(js, durable_cb, (void *)6);
    assert_int_equal(g_order.status[5], -EIO);
    jstate_close(js);
    g_fail = 0;

    /* a fresh journal: each record is durable through the pool, close has
     * nothing left to sync, and a reopen replays them */
    test_tmpdir_remove(dir);
    dir = test_tmpdir_make("jstate");
    js = open_js(dir, NULL);
    jstate_use_loop(js, &loop);
    int before = g_hook_syncs;
    OK(jstate_save_ready(js, "bert", "checkpoint-1", NULL, NULL, files3, 1, &s1, E));
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(g_hook_syncs, before + 1);
    OK(jstate_save_ready(js, "bert", "checkpoint-2", NULL, NULL, files3, 1, &s2, E));
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(g_hook_syncs, before + 2);
    jstate_close(js); /* nothing left: no extra sync */
    assert_int_equal(g_hook_syncs, before + 2);
    journal_set_test_hooks(NULL);
    js = open_js(dir, NULL);
    assert_non_null(jstate_save_get(js, s2));
    jstate_close(js);
    assert_int_equal(uv_loop_close(&loop), 0);
    sem_destroy(&g_gate);
    test_tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),       cmocka_unit_test(test_identity),
        cmocka_unit_test(test_refusals),        cmocka_unit_test(test_auto_compaction),
        cmocka_unit_test(test_unknown_records), cmocka_unit_test(test_kill9_resume),
        cmocka_unit_test(test_deferred_sync),   cmocka_unit_test(test_lost),
        cmocka_unit_test(test_tag_done),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
