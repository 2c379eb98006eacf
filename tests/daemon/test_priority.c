/*
 * test_priority.c — daemon/priority.c: the environment overrides (values,
 * errors naming the variable, settings untouched on error), and that
 * priority_lower() changes every thread of the process — a second thread
 * that already exists included — by the nice increment (capped at 19) and
 * to the I/O class/level, never raising an I/O priority that is already
 * weaker. Read back with getpriority() and the ioprio_get system call.
 *
 * The expectations are relative to the priority the test starts with, so
 * it passes under `nice -n 19` or `ionice -c 3` too: the I/O priority is
 * compared as the kernel applies it (class "none" is best-effort at level
 * (nice + 20) / 5, so at nice 15..19 it already is best-effort 7).
 */
#include "priority.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

static int io_get(pid_t tid)
{
    return (int)syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, (int)tid);
}

#define IO_CLASS_SHIFT     13
#define IO_VALUE(cls, lvl) ((cls) << IO_CLASS_SHIFT | (lvl))

static int nice_of(pid_t tid)
{
    errno = 0;
    int v = getpriority(PRIO_PROCESS, (id_t)tid);
    assert_int_equal(errno, 0);
    return v;
}

/* The I/O priority the kernel applies to tid: class "none" (0) resolved. */
static int io_effective(pid_t tid)
{
    int v = io_get(tid);
    assert_true(v >= 0);
    return v >> IO_CLASS_SHIFT ? v : IO_VALUE(PRIORITY_IO_BEST_EFFORT, (nice_of(tid) + 20) / 5);
}

static void test_env(void **state)
{
    (void)state;
    struct priority_settings p = PRIORITY_DEFAULTS;
    struct hs_err err = {0};
    unsetenv("HUBSYNC_NICE");
    unsetenv("HUBSYNC_IO_PRIORITY");
    assert_int_equal(priority_from_env(&p, &err), 0);
    assert_int_equal(p.nice, 10);
    assert_int_equal(p.io_class, PRIORITY_IO_BEST_EFFORT);
    assert_int_equal(p.io_level, 7);

    setenv("HUBSYNC_NICE", "5", 1);
    setenv("HUBSYNC_IO_PRIORITY", "idle", 1);
    assert_int_equal(priority_from_env(&p, &err), 0);
    assert_int_equal(p.nice, 5);
    assert_int_equal(p.io_class, PRIORITY_IO_IDLE);

    setenv("HUBSYNC_IO_PRIORITY", "be3", 1);
    assert_int_equal(priority_from_env(&p, &err), 0);
    assert_int_equal(p.io_class, PRIORITY_IO_BEST_EFFORT);
    assert_int_equal(p.io_level, 3);

    setenv("HUBSYNC_IO_PRIORITY", "unchanged", 1);
    setenv("HUBSYNC_NICE", "0", 1);
    assert_int_equal(priority_from_env(&p, &err), 0);
    assert_int_equal(p.io_class, PRIORITY_IO_UNCHANGED);
    assert_int_equal(p.nice, 0);

    const struct priority_settings before = p;
    const char *bad_nice[] = {"20", "-1", "ten", "", "5x"};
    for (size_t i = 0; i < sizeof(bad_nice) / sizeof(*bad_nice); i++) {
        setenv("HUBSYNC_NICE", bad_nice[i], 1);
        assert_int_equal(priority_from_env(&p, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "HUBSYNC_NICE"));
        assert_memory_equal(&p, &before, sizeof(p));
    }
    setenv("HUBSYNC_NICE", "3", 1);
    const char *bad_io[] = {"be8", "be", "realtime", "IDLE", "be-1"};
    for (size_t i = 0; i < sizeof(bad_io) / sizeof(*bad_io); i++) {
        setenv("HUBSYNC_IO_PRIORITY", bad_io[i], 1);
        assert_int_equal(priority_from_env(&p, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "HUBSYNC_IO_PRIORITY"));
        assert_non_null(strstr(err.msg, bad_io[i]));
        assert_memory_equal(&p, &before, sizeof(p)); /* HUBSYNC_NICE=3 not applied either */
    }
    unsetenv("HUBSYNC_NICE");
    unsetenv("HUBSYNC_IO_PRIORITY");
}

/* A second thread that exists before priority_lower() and waits to be checked. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static pid_t g_tid;
static int g_done;

static void *other_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_mu);
    g_tid = (pid_t)syscall(SYS_gettid);
    pthread_cond_broadcast(&g_cv);
    while (!g_done)
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

static void test_lower_all_threads(void **state)
{
    (void)state;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, other_thread, NULL), 0);
    pthread_mutex_lock(&g_mu);
    while (!g_tid)
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
    pid_t self = (pid_t)syscall(SYS_gettid), other = g_tid;
    int n0 = nice_of(self), io0 = io_effective(self);
    assert_int_equal(nice_of(other), n0);
    assert_int_equal(io_effective(other), io0);

    struct hs_err err = {0};
    struct priority_settings p = {4, PRIORITY_IO_BEST_EFFORT, 7};
    assert_int_equal(priority_lower(&p, &err), 0);
    int n1 = n0 + 4 > 19 ? 19 : n0 + 4;
    assert_int_equal(nice_of(self), n1);
    assert_int_equal(nice_of(other), n1);
    /* best-effort 7, unless the test started at idle, which is weaker: kept */
    int io1 =
        io0 >> IO_CLASS_SHIFT == PRIORITY_IO_IDLE ? io0 : IO_VALUE(PRIORITY_IO_BEST_EFFORT, 7);
    assert_int_equal(io_effective(self), io1);
    assert_int_equal(io_effective(other), io1);

    /* idle is weaker than best-effort 7: applied */
    p = (struct priority_settings){0, PRIORITY_IO_IDLE, 0};
    assert_int_equal(priority_lower(&p, &err), 0);
    assert_int_equal(nice_of(self), n1); /* increment 0: unchanged */
    assert_int_equal(io_get(self) >> IO_CLASS_SHIFT, PRIORITY_IO_IDLE);
    assert_int_equal(io_get(other) >> IO_CLASS_SHIFT, PRIORITY_IO_IDLE);

    /* best-effort 3 would raise it again: kept idle. The nice value is capped at 19. */
    p = (struct priority_settings){19, PRIORITY_IO_BEST_EFFORT, 3};
    assert_int_equal(priority_lower(&p, &err), 0);
    assert_int_equal(io_get(self) >> IO_CLASS_SHIFT, PRIORITY_IO_IDLE);
    assert_int_equal(io_get(other) >> IO_CLASS_SHIFT, PRIORITY_IO_IDLE);
    assert_int_equal(nice_of(self), 19);
    assert_int_equal(nice_of(other), 19);

    /* a thread created now inherits from its creator */
    pthread_mutex_lock(&g_mu);
    g_done = 1;
    g_tid = 0;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    assert_int_equal(pthread_join(th, NULL), 0);
    g_done = 0;
    assert_int_equal(pthread_create(&th, NULL, other_thread, NULL), 0);
    pthread_mutex_lock(&g_mu);
    while (!g_tid)
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
    assert_int_equal(nice_of(g_tid), 19);
    assert_int_equal(io_get(g_tid) >> IO_CLASS_SHIFT, PRIORITY_IO_IDLE);
    pthread_mutex_lock(&g_mu);
    g_done = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    assert_int_equal(pthread_join(th, NULL), 0);

    /* out of range */
    p = (struct priority_settings){20, PRIORITY_IO_BEST_EFFORT, 7};
    assert_int_equal(priority_lower(&p, &err), -EINVAL);
    p = (struct priority_settings){1, PRIORITY_IO_BEST_EFFORT, 8};
    assert_int_equal(priority_lower(&p, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "out of range"));
}

static void start_other(pthread_t *th)
{
    g_done = 0;
    g_tid = 0;
    assert_int_equal(pthread_create(th, NULL, other_thread, NULL), 0);
    pthread_mutex_lock(&g_mu);
    while (!g_tid)
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
}

static void stop_other(pthread_t th)
{
    pthread_mutex_lock(&g_mu);
    g_done = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    assert_int_equal(pthread_join(th, NULL), 0);
    g_done = 0;
    g_tid = 0;
}

static void *lower_self_thread(void *arg)
{
    priority_lower_self();
    *(int *)arg = nice_of((pid_t)syscall(SYS_gettid));
    return NULL;
}

/* The threads that keep their priority (the loop, the inotify reader, the
 * protect lane) are skipped; the others go to the start value + nice, and a
 * thread started later by a kept one lowers itself to the same value. */
static void test_kept_threads(void **state)
{
    (void)state;
    pid_t self = (pid_t)syscall(SYS_gettid);
    int n0 = nice_of(self);
    hs_thread_keep_priority();
    pthread_t th;
    start_other(&th);
    pid_t other = g_tid;
    struct hs_err err = {0};
    struct priority_settings p = {2, PRIORITY_IO_UNCHANGED, 0};
    assert_int_equal(priority_lower(&p, &err), 0);
    int n1 = n0 + 2 > 19 ? 19 : n0 + 2;
    assert_int_equal(nice_of(self), n0); /* kept */
    assert_int_equal(nice_of(other), n1);
    stop_other(th);
    int got = -100;
    assert_int_equal(pthread_create(&th, NULL, lower_self_thread, &got), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(got, n1); /* born at n0 from the kept thread, lowered itself */
    assert_int_equal(nice_of(self), n0);
    hs_thread_keep_priority_end();
}

static void test_describe(void **state)
{
    (void)state;
    char b[64];
    priority_describe(&PRIORITY_DEFAULTS, b, sizeof(b));
    assert_string_equal(b, "nice +10, I/O best-effort 7");
    priority_describe(&(struct priority_settings){0, PRIORITY_IO_IDLE, 0}, b, sizeof(b));
    assert_string_equal(b, "nice unchanged, I/O idle");
    priority_describe(&(struct priority_settings){5, PRIORITY_IO_UNCHANGED, 0}, b, sizeof(b));
    assert_string_equal(b, "nice +5, I/O unchanged");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env), cmocka_unit_test(test_describe),
        cmocka_unit_test(test_kept_threads),
        cmocka_unit_test(test_lower_all_threads), /* last: it lowers this process for good */
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
