/*
 * test_watcher_check_async.c — the per-save disk checks (listing a save,
 * parsing trainer_state.json) run on libuv's thread pool, not on the loop:
 * with every pool thread held by a gate, a complete save is not reported
 * (its check waits in the pool) while the loop keeps running; once the gate
 * opens, saves that became due together are reported in the order they
 * completed; a job removed or a watcher closed while its check waits in the
 * pool reports nothing and the loop still closes (uv_loop_close() == 0,
 * checked by wt_fini; ASan checks the rest).
 */
#include "writers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define POOL 2 /* UV_THREADPOOL_SIZE, set before the pool starts */

/* ---- a gate holding every thread of the pool ------------------------------ */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static int gate_held;
static uv_work_t blockers[POOL];

static void block_cb(uv_work_t *w)
{
    (void)w;
    pthread_mutex_lock(&gate_lock);
    gate_held++;
    pthread_cond_broadcast(&gate_cond);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    gate_held--;
    pthread_mutex_unlock(&gate_lock);
}

static void block_done(uv_work_t *w, int status)
{
    (void)w;
    (void)status;
}

static void gate_close(struct wt *t)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = false;
    pthread_mutex_unlock(&gate_lock);
    for (int i = 0; i < POOL; i++)
        assert_int_equal(uv_queue_work(&t->loop, &blockers[i], block_cb, block_done), 0);
    pthread_mutex_lock(&gate_lock);
    while (gate_held < POOL)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
}

static void gate_release(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

static bool never(struct wt *t)
{
    (void)t;
    return false;
}

static void start(struct wt *t, const char *label)
{
    wt_init(t, label);
    t->o.mode = WATCHER_MODE_INOTIFY;
    t->o.layout = WATCHER_LAYOUT_TRAINER;
    mkdir(t->root, 0755);
    wt_add_job(t);
    wt_wait_scanned(t);
}

/* Two saves complete while the pool is busy: nothing is reported while the
 * loop runs, then both, oldest first, each checked and complete. */
static void test_checks_off_loop_in_order(void **state)
{
    (void)state;
    struct wt *t = calloc(1, sizeof(*t));
    start(t, "check-order");
    gate_close(t);
    struct wt_save *a = write_trainer_save(t, 10, 1, false, false, true, true);
    uv_sleep(30);
    struct wt_save *b = write_trainer_save(t, 20, 1, true, false, true, true);
    t->writer_done = true;
    /* the loop runs (its timers fire), the checks wait in the pool */
    wt_run_until(t, never, 300);
    assert_int_equal(t->n_ready, 0);
    struct watcher_job_status st;
    watcher_job_status(t->job, &st);
    assert_int_equal(st.pending, 2);
    gate_release();
    wt_run_until(t, wt_all_declared_ready, 5000);
    assert_false(t->timed_out);
    wt_assert_all_ready(t);
    assert_true(a->ready_at < b->ready_at);
    printf("check-order: checkpoint-10 READY %.1f ms before checkpoint-20\n",
           (b->ready_at - a->ready_at) / 1000.0);
    wt_fini(t);
    free(t);
}

/* The job is removed while its save's check waits in the pool. */
static void test_remove_job_during_check(void **state)
{
    (void)state;
    struct wt *t = calloc(1, sizeof(*t));
    start(t, "check-remove");
    gate_close(t);
    write_trainer_save(t, 10, 1, false, false, false, true);
    wt_run_until(t, never, 200);
    struct watcher_job_status st;
    watcher_job_status(t->job, &st);
    assert_int_equal(st.pending, 1);
    assert_int_equal(watcher_remove_job(t->w, t->job), 0);
    t->job = NULL;
    gate_release();
    wt_run_until(t, never, 200);
    assert_int_equal(t->n_ready, 0);
    wt_fini(t);
    free(t);
}

/* The watcher is closed while a check waits in the pool. */
static void test_close_during_check(void **state)
{
    (void)state;
    struct wt *t = calloc(1, sizeof(*t));
    start(t, "check-close");
    gate_close(t);
    write_trainer_save(t, 10, 1, false, false, false, true);
    wt_run_until(t, never, 200);
    watcher_close(t->w);
    gate_release();
    wt_fini(t); /* runs the loop until everything is closed */
    assert_int_equal(t->n_ready, 0);
    free(t);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    wt_select_tests();
    setenv("UV_THREADPOOL_SIZE", "2", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checks_off_loop_in_order),
        cmocka_unit_test(test_remove_job_during_check),
        cmocka_unit_test(test_close_during_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
