/* test_control.c — daemon/control: status and finish round trips between
 * the blocking client and the server on a libuv loop, malformed and
 * oversized requests, pipelined requests, half-close, idle timeout, the
 * client limit, stale socket replacement, mode 0660, the alias symlink,
 * and the client's "no daemon" error. The client side runs in a thread
 * while the main thread runs the loop; every test ends with
 * uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "control.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct fixture {
    char dir[64];
    char path[HS_PATH_MAX];
    char alias[HS_PATH_MAX];
    uv_loop_t loop;
    uv_async_t stop;
    struct control_server *srv;
    void (*client)(struct fixture *);
    int finishes;
    bool stopped;
    char failure[512]; /* the client thread's first failed check */
};

#define CHECK(f, cond)                                                                             \
    do {                                                                                           \
        if (!(cond) && !(f)->failure[0])                                                           \
            snprintf((f)->failure, sizeof((f)->failure), "%s:%d: %s", __FILE__, __LINE__, #cond);  \
    } while (0)

static json_t *handler(const char *cmd, const json_t *req, void *ud)
{
    struct fixture *f = ud;
    if (strcmp(cmd, "status") == 0)
        return json_pack("{s:i, s:[{s:s, s:s, s:s, s:I, s:I}]}", "pid", (int)getpid(), "jobs",
                         "name", "bert", "state", "uploading", "checkpoint", "checkpoint-500",
                         "bytes_done", (json_int_t)1000, "bytes_total", (json_int_t)4000);
    if (strcmp(cmd, "finish") == 0) {
        const char *job = json_string_value(json_object_get(req, "job"));
        if (!job || strcmp(job, "bert") != 0)
            return json_pack("{s:b, s:s}", "ok", 0, "error", "no job named that");
        f->finishes++;
        return json_pack("{s:s, s:s}", "job", job, "state", "finishing");
    }
    if (strcmp(cmd, "null") == 0)
        return NULL;
    return json_pack("{s:b, s:s}", "ok", 0, "error", "unknown command");
}

static void on_stop(uv_async_t *a)
{
    struct fixture *f = a->data;
    control_server_stop(f->srv, NULL, NULL);
    f->srv = NULL;
    uv_close((uv_handle_t *)&f->stop, NULL);
}

static void *client_thread(void *arg)
{
    struct fixture *f = arg;
    f->client(f);
    uv_async_send(&f->stop);
    return NULL;
}

static void run(void (*client)(struct fixture *), const struct control_options *opts)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/hs-ctl-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, CONTROL_SOCKET_NAME);
    snprintf(f->alias, sizeof(f->alias), "%s/alias.sock", f->dir);
    f->client = client;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_async_init(&f->loop, &f->stop, on_stop);
    f->stop.data = f;
    struct hs_err err = {0};
    struct control_options o = opts ? *opts : (struct control_options){0};
    o.alias = f->alias;
    int rc = control_server_start(&f->loop, f->path, &o, handler, f, &f->srv, &err);
    if (rc != 0)
        fail_msg("control_server_start: %s", err.msg);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, client_thread, f), 0);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    pthread_join(t, NULL);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    if (f->failure[0])
        fail_msg("client: %s", f->failure);
    /* the socket and its alias are gone after stop */
    assert_int_not_equal(access(f->path, F_OK), 0);
    struct stat st;
    assert_int_not_equal(lstat(f->alias, &st), 0);
    rmdir(f->dir);
    free(f);
}

/* The address of the socket at path; -1 when path does not fit sun_path. */
static int sun_init(struct sockaddr_un *sa, const char *path)
{
    *sa = (struct sockaddr_un){.sun_family = AF_UNIX};
    int w = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
    return w >= 0 && (size_t)w < sizeof(sa->sun_path) ? 0 : -1;
}

static int raw_connect(const char *path)
{
    struct sockaddr_un sa;
    if (sun_init(&sa, path) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read until EOF or timeout_ms; returns bytes read, -1 on timeout. */
static int raw_read_all(int fd, char *buf, size_t n, int timeout_ms)
{
    size_t got = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) <= 0)
            return -1;
        ssize_t r = recv(fd, buf + got, n - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    return (int)got;
}

static void client_round_trip(struct fixture *f)
{
    struct hs_err err = {0};
    json_t *resp = NULL;
    /* mode 0660 */
    struct stat st;
    CHECK(f, stat(f->path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0660);

    json_t *req = json_pack("{s:s}", "cmd", "status");
    CHECK(f, control_request(f->path, req, 5 * HS_USEC_PER_SEC, &resp, &err) == 0);
    CHECK(f, json_is_true(json_object_get(resp, "ok")));
    json_t *job = json_array_get(json_object_get(resp, "jobs"), 0);
    CHECK(f, strcmp(json_string_value(json_object_get(job, "checkpoint")), "checkpoint-500") == 0);
    CHECK(f, json_integer_value(json_object_get(job, "bytes_total")) == 4000);
    json_decref(resp);
    json_decref(req);

    /* through the alias symlink too */
    req = json_pack("{s:s, s:s}", "cmd", "finish", "job", "bert");
    CHECK(f, control_request(f->alias, req, 5 * HS_USEC_PER_SEC, &resp, &err) == 0);
    CHECK(f, json_is_true(json_object_get(resp, "ok")));
    CHECK(f, strcmp(json_string_value(json_object_get(resp, "state")), "finishing") == 0);
    json_decref(resp);
    json_decref(req);

    req = json_pack("{s:s, s:s}", "cmd", "finish", "job", "nope");
    CHECK(f, control_request(f->path, req, 5 * HS_USEC_PER_SEC, &resp, &err) == 0);
    CHECK(f, json_is_false(json_object_get(resp, "ok")));
    CHECK(f, strcmp(json_string_value(json_object_get(resp, "error")), "no job named that") == 0);
    json_decref(resp);
    json_decref(req);

    req = json_pack("{s:s}", "cmd", "null");
    CHECK(f, control_request(f->path, req, 5 * HS_USEC_PER_SEC, &resp, &err) == 0);
    CHECK(f, strcmp(json_string_value(json_object_get(resp, "error")), "internal error") == 0);
    json_decref(resp);
    json_decref(req);
    CHECK(f, f->finishes == 1);
}

static void test_round_trip(void **state)
{
    (void)state;
    run(client_round_trip, NULL);
}

static void client_framing(struct fixture *f)
{
    char buf[4096];
    /* two pipelined requests and a malformed one, then a half-close: three
     * answers in order, then EOF */
    int fd = raw_connect(f->path);
    CHECK(f, fd >= 0);
    const char *reqs = "{\"cmd\":\"status\"}\n[1,2]\n{\"cmd\":\"finish\",\"job\":\"bert\"}\n";
    CHECK(f, send(fd, reqs, strlen(reqs), MSG_NOSIGNAL) == (ssize_t)strlen(reqs));
    shutdown(fd, SHUT_WR);
    CHECK(f, raw_read_all(fd, buf, sizeof(buf), 5000) > 0);
    close(fd);
    char *l1 = buf, *l2 = strchr(l1, '\n'), *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
    CHECK(f, l2 && l3 && l3[1] != '\0' && strchr(l3 + 1, '\n'));
    if (!(l2 && l3))
        return;
    char *m1 = strstr(l1, "\"jobs\""), *m2 = strstr(l2 + 1, "a request is one JSON object");
    CHECK(f, m1 && m1 < l2);
    CHECK(f, m2 && m2 < l3);
    CHECK(f, strstr(l3 + 1, "\"finishing\"") != NULL);

    /* an oversized request gets an error and the connection is closed */
    fd = raw_connect(f->path);
    CHECK(f, fd >= 0);
    char *big = malloc(3000);
    memset(big, 'x', 3000);
    CHECK(f, send(fd, big, 3000, MSG_NOSIGNAL) == 3000);
    free(big);
    CHECK(f, raw_read_all(fd, buf, sizeof(buf), 5000) > 0);
    CHECK(f, strstr(buf, "request too large (max 1024 bytes)") != NULL);
    close(fd);

    /* an idle connection is closed by the server (idle timeout 1 s) */
    fd = raw_connect(f->path);
    CHECK(f, fd >= 0);
    hs_usec_t t0 = hs_now_monotonic();
    CHECK(f, raw_read_all(fd, buf, sizeof(buf), 5000) == 0);
    hs_usec_t waited = hs_now_monotonic() - t0;
    CHECK(f, waited >= 900 * HS_USEC_PER_MSEC && waited < 5 * HS_USEC_PER_SEC);
    close(fd);

    /* max_clients = 2: a third concurrent connection is closed at once */
    int a = raw_connect(f->path), b = raw_connect(f->path);
    usleep(50000);
    int c = raw_connect(f->path);
    CHECK(f, a >= 0 && b >= 0 && c >= 0);
    t0 = hs_now_monotonic();
    CHECK(f, raw_read_all(c, buf, sizeof(buf), 5000) == 0);
    CHECK(f, hs_now_monotonic() - t0 < 700 * HS_USEC_PER_MSEC); /* before the idle timeout */
    close(a);
    close(b);
    close(c);
}

static void test_framing_limits(void **state)
{
    (void)state;
    struct control_options o = {
        .idle_timeout = HS_USEC_PER_SEC, .max_clients = 2, .max_request = 1024};
    run(client_framing, &o);
}

static void test_no_daemon(void **state)
{
    (void)state;
    struct hs_err err = {0};
    json_t *resp = NULL;
    json_t *req = json_pack("{s:s}", "cmd", "status");
    assert_int_equal(
        control_request("/nonexistent/hubsync.sock", req, HS_USEC_PER_SEC, &resp, &err), -ENOENT);
    assert_null(resp);
    assert_non_null(strstr(err.msg, "no hubsync daemon is answering on /nonexistent/hubsync.sock"));

    /* a stale socket file (nobody listening): ECONNREFUSED, same message */
    char dir[] = "/tmp/hs-ctl-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/hubsync.sock", dir);
    struct sockaddr_un sa;
    assert_int_equal(sun_init(&sa, path), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    assert_int_equal(control_request(path, req, HS_USEC_PER_SEC, &resp, &err), -ECONNREFUSED);
    assert_non_null(strstr(err.msg, "no hubsync daemon is answering on"));

    /* ... which a server replaces; a live one is not replaced; a regular
     * file is never removed */
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct control_server *s1 = NULL, *s2 = NULL;
    assert_int_equal(control_server_start(&loop, path, NULL, handler, NULL, &s1, &err), 0);
    assert_int_equal(control_server_start(&loop, path, NULL, handler, NULL, &s2, &err),
                     -EADDRINUSE);
    assert_non_null(strstr(err.msg, "another process answers on"));
    assert_null(s2);
    control_server_stop(s1, NULL, NULL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(hs_write_file_atomic(path, "x", 1, 0600), 0);
    uv_loop_init(&loop);
    assert_int_equal(control_server_start(&loop, path, NULL, handler, NULL, &s2, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "is not a socket"));
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(path);
    rmdir(dir);
    json_decref(req);
}

/* A listener that never answers: the client gives up at its deadline. */
static void test_client_timeout(void **state)
{
    (void)state;
    char dir[] = "/tmp/hs-ctl-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/hubsync.sock", dir);
    struct sockaddr_un sa;
    assert_int_equal(sun_init(&sa, path), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    struct hs_err err = {0};
    json_t *resp = NULL, *req = json_pack("{s:s}", "cmd", "status");
    hs_usec_t t0 = hs_now_monotonic();
    assert_int_equal(control_request(path, req, 300 * HS_USEC_PER_MSEC, &resp, &err), -ETIMEDOUT);
    hs_usec_t waited = hs_now_monotonic() - t0;
    assert_true(waited >= 290 * HS_USEC_PER_MSEC && waited < 3 * HS_USEC_PER_SEC);
    assert_non_null(strstr(err.msg, "did not answer"));
    assert_non_null(strstr(err.msg, path));
    assert_null(resp);
    json_decref(req);
    close(fd);
    unlink(path);
    rmdir(dir);
}

static void test_socket_path(void **state)
{
    (void)state;
    char out[HS_PATH_MAX];
    unsetenv("RUNTIME_DIRECTORY");
    assert_int_equal(control_socket_path("/var/lib/hubsync", out, sizeof(out)), 0);
    assert_string_equal(out, "/var/lib/hubsync/hubsync.sock");
    setenv("RUNTIME_DIRECTORY", "/run/hubsync:/run/other", 1);
    assert_int_equal(control_socket_path("/var/lib/hubsync", out, sizeof(out)), 0);
    assert_string_equal(out, "/run/hubsync/hubsync.sock");
    unsetenv("RUNTIME_DIRECTORY");
    char longdir[200];
    memset(longdir, 'a', sizeof(longdir) - 1);
    longdir[0] = '/';
    longdir[sizeof(longdir) - 1] = '\0';
    assert_int_equal(control_socket_path(longdir, out, sizeof(out)), -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),  cmocka_unit_test(test_framing_limits),
        cmocka_unit_test(test_no_daemon),   cmocka_unit_test(test_client_timeout),
        cmocka_unit_test(test_socket_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
