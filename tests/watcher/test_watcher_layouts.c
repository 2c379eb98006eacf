/*
 * test_watcher_layouts.c — each writer layout played at full speed, under
 * inotify and under polling: exactly one READY per save, with the complete
 * file list and every byte already written (hashed at READY), snapshots
 * that survive save_total_limit=1 rotation, existing_checkpoints at start,
 * the final save reported as training output, and latency from the marker
 * to READY printed in the test log (not asserted).
 */
#include "writers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static bool has_output(struct wt *t, const char *name)
{
    for (size_t i = 0; i < t->n_outputs; i++)
        if (!strcmp(t->outputs[i], name))
            return true;
    return false;
}

static bool outputs_done(struct wt *t)
{
    return wt_all_declared_ready(t) && has_output(t, "README.md");
}

static void run_trainer(enum watcher_mode mode, unsigned world, const char *label)
{
    struct wt *t = calloc(1, sizeof(*t));
    wt_init(t, label);
    t->o.mode = mode;
    t->o.layout = WATCHER_LAYOUT_AUTO;
    t->o.world_size = world;
    t->take_snapshot = true;
    mkdir(t->root, 0755);
    wt_add_job(t);
    wt_wait_scanned(t);
    trainer_writer_plan = (struct trainer_plan){
        .saves = 6,
        .save_steps = 10,
        .world = world,
        .save_total_limit = 1,
        .sharded_every_other = true,
        .staged_every_third = true,
        .final_save = true,
        .pause_ms = mode == WATCHER_MODE_POLL || world > 1 ? 400 : 150,
    };
    wt_start_writer(t, trainer_writer);
    wt_run_until(t, outputs_done, 20000);
    wt_join_writer(t);
    assert_false(t->timed_out);
    wt_assert_all_ready(t);
    assert_int_equal(t->n_saves, 6);
    /* rotation deleted all but the last checkpoint: the snapshots hold them */
    char p[512];
    snprintf(p, sizeof(p), "%s/checkpoint-10", t->root);
    assert_int_not_equal(access(p, F_OK), 0);
    assert_non_null(t->saves[0].snap);
    assert_true(t->saves[0].snap->n_link > 0);
    printf("snapshot method: %s\n", watcher_snapshot_method_name(t->saves[0].snap->method));
    assert_true(has_output(t, "model.safetensors"));
    assert_true(has_output(t, "config.json"));
    assert_false(has_output(t, "checkpoint-60/trainer_state.json"));
    wt_report_latency(t, label);
    struct watcher_job_status st;
    watcher_job_status(t->job, &st);
    assert_string_equal(st.mode, mode == WATCHER_MODE_POLL ? "poll" : "inotify");
    assert_int_equal(st.pending, 0);
    if (mode != WATCHER_MODE_POLL)
        assert_int_equal(wt_active_timers(t), 0); /* idle costs nothing */
    wt_fini(t);
    free(t);
}

static void test_trainer_inotify(void **state)
{
    (void)state;
    run_trainer(WATCHER_MODE_INOTIFY, 1, "trainer-inotify");
}

static void test_trainer_world2_inotify(void **state)
{
    (void)state;
    run_trainer(WATCHER_MODE_INOTIFY, 2, "trainer-w2-inotify");
}

static void test_trainer_poll(void **state)
{
    (void)state;
    run_trainer(WATCHER_MODE_POLL, 1, "trainer-poll");
}

static void run_simple(enum watcher_mode mode, enum watcher_layout layout, unsigned world,
                       void *(*writer)(void *), size_t expect, const char *label)
{
    struct wt *t = calloc(1, sizeof(*t));
    wt_init(t, label);
    t->o.mode = mode;
    t->o.layout = layout;
    t->o.world_size = world;
    t->take_snapshot = true;
    mkdir(t->root, 0755);
    wt_add_job(t);
    wt_wait_scanned(t);
    wt_start_writer(t, writer);
    wt_run_until(t, wt_all_declared_ready, 20000);
    wt_join_writer(t);
    /* a little longer: nothing else may be reported (last.ckpt symlink…) */
    uv_sleep(300);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    wt_assert_all_ready(t);
    assert_false(t->timed_out);
    assert_int_equal(t->n_saves, expect);
    wt_report_latency(t, label);
    wt_fini(t);
    free(t);
}

static void test_accelerate_inotify(void **state)
{
    (void)state;
    run_simple(WATCHER_MODE_INOTIFY, WATCHER_LAYOUT_AUTO, 1, accelerate_writer, 4,
               "accelerate-inotify");
}

static void test_accelerate_poll(void **state)
{
    (void)state;
    run_simple(WATCHER_MODE_POLL, WATCHER_LAYOUT_ACCELERATE, 1, accelerate_writer, 4,
               "accelerate-poll");
}

static void test_accelerate_world2_inotify(void **state)
{
    (void)state;
    run_simple(WATCHER_MODE_INOTIFY, WATCHER_LAYOUT_AUTO, 2, accelerate_writer, 4,
               "accelerate-w2-inotify");
}

static void test_lightning_inotify(void **state)
{
    (void)state;
    run_simple(WATCHER_MODE_INOTIFY, WATCHER_LAYOUT_AUTO, 1, lightning_writer, 4,
               "lightning-inotify");
}

/* Lightning has one writer (global rank 0): world_size changes nothing */
static void test_lightning_world2_inotify(void **state)
{
    (void)state;
    run_simple(WATCHER_MODE_INOTIFY, WATCHER_LAYOUT_AUTO, 2, lightning_writer, 4,
               "lightning-w2-inotify");
}

static void test_lightning_poll(void **state)
{
    (void)state;
    run_simple(WATCHER_MODE_POLL, WATCHER_LAYOUT_LIGHTNING, 1, lightning_writer, 4,
               "lightning-poll");
}

static void test_deepspeed_inotify(void **state)
{
    (void)state;
    run_simple(WATCHER_MODE_INOTIFY, WATCHER_LAYOUT_AUTO, 2, deepspeed_writer, 3,
               "deepspeed-inotify");
}

static void test_deepspeed_world1_inotify(void **state)
{
    (void)state;
    run_simple(WATCHER_MODE_INOTIFY, WATCHER_LAYOUT_AUTO, 1, deepspeed_writer, 3,
               "deepspeed-w1-inotify");
}

static void test_deepspeed_poll(void **state)
{
    (void)state;
    run_simple(WATCHER_MODE_POLL, WATCHER_LAYOUT_DEEPSPEED, 2, deepspeed_writer, 3,
               "deepspeed-poll");
}

/* ---- existing_checkpoints ------------------------------------------------ */

static bool one_ready(struct wt *t)
{
    return t->n_ready >= 1;
}

static void run_existing(enum watcher_existing policy, enum watcher_mode mode, const char *label)
{
    struct wt *t = calloc(1, sizeof(*t));
    wt_init(t, label);
    t->o.mode = mode;
    t->o.existing = policy;
    mkdir(t->root, 0755);
    /* three complete saves and one in progress (no trainer_state.json yet) */
    struct wt_save *s[3];
    for (int i = 0; i < 3; i++)
        s[i] = write_trainer_save(
            t, (i + 1) * 10, 1, false, false,
            policy == WATCHER_EXISTING_ALL || (policy == WATCHER_EXISTING_LATEST && i == 2), true);
    (void)s;
    write_trainer_save(t, 40, 1, false, false, false, false);
    wt_add_job(t);
    wt_wait_scanned(t); /* "existing" is what the first scan found */
    t->writer_done = true;
    if (policy != WATCHER_EXISTING_NONE)
        wt_run_until(t, wt_all_declared_ready, 5000);
    else
        wt_run_until(t, one_ready, 600); /* must time out: nothing reported */
    assert_int_equal(t->n_ready, policy == WATCHER_EXISTING_ALL    ? 3
                                 : policy == WATCHER_EXISTING_NONE ? 0
                                                                   : 1);
    /* the save in progress completes: reported as a new save */
    t->writer_done = false;
    struct wt_save *late = wt_declare(t, "checkpoint-40");
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/checkpoint-40", t->root);
    /* declare the files already written, then write the marker */
    const char *names[] = {"config.json",       "generation_config.json", "model.safetensors",
                           "tokenizer.json",    "tokenizer_config.json",  "special_tokens_map.json",
                           "training_args.bin", "optimizer.pt",           "scheduler.pt",
                           "rng_state.pth"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char p[640];
        struct wt_file *f = &late->files[late->n_files++];
        snprintf(f->rel, sizeof(f->rel), "%s", names[i]);
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        f->hash = wt_hash_file(p, &f->size);
    }
    wt_write_text(late, dir, "trainer_state.json", NULL, "{\"global_step\": 40, \"epoch\": 4.0}");
    wt_marker(t, late);
    t->writer_done = true;
    wt_run_until(t, wt_all_declared_ready, 5000);
    assert_false(t->timed_out);
    wt_assert_all_ready(t);
    for (size_t i = 0; i < t->n_saves; i++)
        if (strcmp(t->saves[i].id, "checkpoint-40") != 0)
            assert_int_equal(t->saves[i].n_ready, 1);
    wt_fini(t);
    free(t);
}

static void test_existing_latest(void **state)
{
    (void)state;
    run_existing(WATCHER_EXISTING_LATEST, WATCHER_MODE_INOTIFY, "existing-latest");
}

static void test_existing_all_poll(void **state)
{
    (void)state;
    run_existing(WATCHER_EXISTING_ALL, WATCHER_MODE_POLL, "existing-all-poll");
}

static void test_existing_none(void **state)
{
    (void)state;
    run_existing(WATCHER_EXISTING_NONE, WATCHER_MODE_INOTIFY, "existing-none");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    wt_select_tests();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trainer_inotify),
        cmocka_unit_test(test_trainer_world2_inotify),
        cmocka_unit_test(test_trainer_poll),
        cmocka_unit_test(test_accelerate_inotify),
        cmocka_unit_test(test_accelerate_poll),
        cmocka_unit_test(test_lightning_inotify),
        cmocka_unit_test(test_lightning_poll),
        cmocka_unit_test(test_deepspeed_inotify),
        cmocka_unit_test(test_deepspeed_poll),
        cmocka_unit_test(test_existing_latest),
        cmocka_unit_test(test_existing_all_poll),
        cmocka_unit_test(test_existing_none),
        cmocka_unit_test(test_accelerate_world2_inotify),
        cmocka_unit_test(test_deepspeed_world1_inotify),
        cmocka_unit_test(test_lightning_world2_inotify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
