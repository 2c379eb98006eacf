/* test_notify.c — daemon/notify: the exact datagrams sd_notify sends to
 * NOTIFY_SOCKET (READY, STATUS with newlines flattened, RELOADING with
 * MONOTONIC_USEC, STOPPING), the watchdog timer at half WATCHDOG_USEC, and
 * no-ops (no timer, nothing sent) outside systemd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "notify.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char sock_path[64];

static int listen_dgram(void)
{
    snprintf(sock_path, sizeof(sock_path), "/tmp/hs-notify-%ld.sock", (long)getpid());
    unlink(sock_path);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setenv("NOTIFY_SOCKET", sock_path, 1);
    return fd;
}

/* Next datagram as a string, or "" after timeout_ms. */
static const char *next_msg(int fd, int timeout_ms)
{
    static char buf[1024];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
        return "";
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    assert_true(n >= 0);
    buf[n] = '\0';
    return buf;
}

static void test_messages(void **state)
{
    (void)state;
    int fd = listen_dgram();
    assert_true(notify_enabled());
    assert_int_equal(notify_ready("watching 2 jobs"), 0);
    assert_string_equal(next_msg(fd, 1000), "READY=1\nSTATUS=watching 2 jobs");
    assert_int_equal(notify_status("bert: %d%% of %s\nREADY=1", 42, "checkpoint-500"), 0);
    assert_string_equal(next_msg(fd, 1000), "STATUS=bert: 42% of checkpoint-500 READY=1");
    assert_int_equal(notify_reloading(), 0);
    const char *m = next_msg(fd, 1000);
    assert_true(strncmp(m, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
    assert_true(strtoull(m + 27, NULL, 10) > 0);
    assert_int_equal(notify_ready(NULL), 0);
    assert_string_equal(next_msg(fd, 1000), "READY=1");
    assert_int_equal(notify_stopping("stopping: 1 upload in flight"), 0);
    assert_string_equal(next_msg(fd, 1000), "STOPPING=1\nSTATUS=stopping: 1 upload in flight");

    /* outside systemd: nothing is sent, nothing fails */
    unsetenv("NOTIFY_SOCKET");
    assert_false(notify_enabled());
    assert_int_equal(notify_ready("x"), 0);
    assert_int_equal(notify_status("y"), 0);
    assert_int_equal(notify_stopping(NULL), 0);
    assert_string_equal(next_msg(fd, 100), "");
    close(fd);
    unlink(sock_path);
}

struct wd_test {
    struct notify_watchdog wd;
    uv_timer_t stop;
};

static void on_stop(uv_timer_t *t)
{
    struct wd_test *w = t->data;
    notify_watchdog_stop(&w->wd, NULL);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_watchdog(void **state)
{
    (void)state;
    int fd = listen_dgram();
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("WATCHDOG_USEC", "100000", 1); /* ping every 50 ms */
    setenv("WATCHDOG_PID", pid, 1);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct wd_test w;
    assert_int_equal(notify_watchdog_start(&w.wd, &loop), 1);
    assert_int_equal(w.wd.interval, 50000);
    uv_timer_init(&loop, &w.stop);
    w.stop.data = &w;
    uv_timer_start(&w.stop, on_stop, 330, 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    unsigned pings = 0;
    const char *m;
    while (*(m = next_msg(fd, 50))) {
        assert_string_equal(m, "WATCHDOG=1");
        pings++;
    }
    assert_int_equal(pings, w.wd.pings);
    assert_in_range(pings, 3, 8); /* one at start, then ~every 50 ms for 330 ms */

    /* another process's watchdog (WATCHDOG_PID) or none at all: no timer */
    setenv("WATCHDOG_PID", "1", 1);
    uv_loop_init(&loop);
    assert_int_equal(notify_watchdog_start(&w.wd, &loop), 0);
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(notify_watchdog_start(&w.wd, &loop), 0);
    notify_watchdog_stop(&w.wd, NULL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    unsetenv("NOTIFY_SOCKET");
    close(fd);
    unlink(sock_path);
}

static void test_private_env(void **state)
{
    (void)state;
    assert_true(notify_env_is_private("NOTIFY_SOCKET=/run/systemd/notify"));
    assert_true(notify_env_is_private("WATCHDOG_USEC=30000000"));
    assert_true(notify_env_is_private("WATCHDOG_PID=12"));
    assert_false(notify_env_is_private("NOTIFY_SOCKETX=1"));
    assert_false(notify_env_is_private("HF_TOKEN=x"));
    assert_false(notify_env_is_private("WATCHDOG_USEC"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_watchdog),
        cmocka_unit_test(test_private_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
