/*
 * test_watcher_accounting.c — every save seen complete is accounted for
 * (issue 12, items 5 and 8, watcher side): a checkpoint whose
 * trainer_state.json is truncated, not JSON, or has a global_step that is
 * not a number is READY after settle with a WARN naming the file and the
 * problem (step from the folder name) instead of never; NaN/Infinity in it
 * do not delay READY and an epoch of NaN is reported as -1; with no inotify
 * instance to be had (EMFILE from inotify_init) the job polls, says why and
 * which sysctl to raise, and still reports saves; a file 70 levels deep in a
 * checkpoint is part of it (the listing stopped at 64 levels, silently).
 */
#include "harness.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static int64_t got_step;
static double got_epoch;
static hs_usec_t got_marker, got_ready;

static void record_ready(struct wt *t, struct watcher_job *job, const struct watcher_checkpoint *cp)
{
    (void)t;
    (void)job;
    got_step = cp->step;
    got_epoch = cp->epoch;
    got_marker = cp->marker_at;
    got_ready = cp->ready_at;
}

static bool ready_one(struct wt *t)
{
    return t->n_ready >= 1;
}

static void start(struct wt *t, const char *name, bool custom)
{
    wt_init(t, name);
    assert_int_equal(mkdir(t->root, 0755), 0);
    if (custom)
        t->on_ready = record_ready;
    got_step = -2;
    got_epoch = -2;
}

/* checkpoint-7 with weights and the given trainer_state.json. */
static void write_with_state(struct wt *t, const char *state)
{
    char base[320];
    snprintf(base, sizeof(base), "%s/checkpoint-7", t->root);
    wt_write(NULL, base, "model.safetensors", NULL, 20000);
    wt_write_text(NULL, base, "trainer_state.json", NULL, state);
}

static void unreadable_case(const char *label, const char *state, const char *problem)
{
    static struct wt t; /* large: not on the stack */
    start(&t, label, true);
    wt_add_job(&t);
    wt_wait_scanned(&t);
    write_with_state(&t, state);
    wt_run_until(&t, ready_one, 10000);
    assert_false(t.timed_out);
    assert_int_equal(t.n_ready, 1);
    assert_int_equal(got_step, 7);
    /* not at once: after settle without writes */
    assert_true(got_ready >= got_marker + t.o.settle);
    assert_true(wt_has_notice(&t, "checkpoint-7: trainer_state.json is unreadable"));
    assert_true(wt_has_notice(&t, problem));
    assert_int_equal(t.n_lost, 0);
    wt_fini(&t);
}

static void test_state_truncated(void **state)
{
    (void)state;
    unreadable_case("st-trunc", "{\"global_step\": 7, \"epoch\": 1.5, \"log_hist", "1:");
}

static void test_state_garbage(void **state)
{
    (void)state;
    unreadable_case("st-garbage", "\x01\x02 not json at all", "1:");
}

static void test_state_wrong_type(void **state)
{
    (void)state;
    unreadable_case("st-type", "{\"global_step\": \"fifty\", \"epoch\": 1.0}",
                    "global_step is a string, not a number");
}

static void test_state_wrong_step(void **state)
{
    (void)state;
    unreadable_case("st-step", "{\"global_step\": 70, \"epoch\": 1.0}",
                    "global_step is 70, not 7 as the folder name says");
}

/* Python's json writes NaN and Infinity: READY as usual, epoch unknown. */
static void test_state_non_finite(void **state)
{
    (void)state;
    static struct wt t;
    start(&t, "st-nan", true);
    t.o.settle = 30 * HS_USEC_PER_SEC; /* READY must not wait for it */
    wt_add_job(&t);
    wt_wait_scanned(&t);
    write_with_state(&t, "{\"global_step\": 7, \"epoch\": NaN, \"best_metric\": Infinity, "
                         "\"log_history\": [{\"loss\": -Infinity}]}");
    wt_run_until(&t, ready_one, 10000);
    assert_false(t.timed_out);
    assert_int_equal(got_step, 7);
    assert_true(got_epoch == -1.0);
    assert_false(wt_has_notice(&t, "unreadable"));
    wt_fini(&t);
}

/* inotify_init failing with EMFILE (fs.inotify.max_user_instances): poll. */
static void test_instance_limit_polls(void **state)
{
    (void)state;
    static struct wt t;
    start(&t, "inst-limit", false);
    watcher_test_inotify_init_error(t.w, -EMFILE);
    wt_add_job(&t);
    assert_string_equal(wt_status(&t).mode, "poll");
    assert_true(wt_has_notice(&t, "fs.inotify.max_user_instances"));
    assert_true(wt_has_notice(&t, "Too many open files"));
    assert_true(wt_has_notice(&t, "polling this directory"));
    wt_wait_scanned(&t);
    char base[320];
    snprintf(base, sizeof(base), "%s/checkpoint-3", t.root);
    struct wt_save *s = wt_declare(&t, "checkpoint-3");
    wt_write(s, base, "model.safetensors", NULL, 30000);
    wt_write_text(s, base, "trainer_state.json", NULL, "{\"global_step\": 3}");
    t.writer_done = true;
    wt_run_until(&t, wt_all_declared_ready, 10000);
    wt_assert_all_ready(&t);
    wt_fini(&t);
}

/* A file 70 directories deep inside a checkpoint is listed and snapshotted. */
static void test_deep_file_included(void **state)
{
    (void)state;
    static struct wt t;
    start(&t, "deep", false);
    t.take_snapshot = true;
    wt_add_job(&t);
    wt_wait_scanned(&t);
    char base[320], rel[400] = "";
    snprintf(base, sizeof(base), "%s/checkpoint-6", t.root);
    for (int i = 0; i < 70; i++)
        strcat(rel, "d/");
    strcat(rel, "deep.bin");
    struct wt_save *s = wt_declare(&t, "checkpoint-6");
    wt_write(s, base, "model.safetensors", NULL, 10000);
    wt_write(s, base, rel, NULL, 4321);
    wt_write_text(s, base, "trainer_state.json", NULL, "{\"global_step\": 6}");
    t.writer_done = true;
    wt_run_until(&t, wt_all_declared_ready, 10000);
    wt_assert_all_ready(&t); /* every file listed, hashed, and in the snapshot */
    assert_int_equal(s->snap->cp->n_files, 3);
    wt_fini(&t);
}

int main(void)
{
    wt_select_tests();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_truncated),    cmocka_unit_test(test_state_garbage),
        cmocka_unit_test(test_state_wrong_type),   cmocka_unit_test(test_state_wrong_step),
        cmocka_unit_test(test_state_non_finite),   cmocka_unit_test(test_instance_limit_polls),
        cmocka_unit_test(test_deep_file_included),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
