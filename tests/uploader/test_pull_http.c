/*
 * test_pull_http.c — the HTTP loop's download hooks (uploader/http_loop.c)
 * that `hubsync pull` builds on, against an in-process server: an
 * anonymous loop sends no Authorization even when a request asks for it;
 * "Range: bytes=N-" is sent when asked; a 2xx body goes to the sink (never
 * into resp.body) with Content-Range captured; an error body is kept for
 * the message and never reaches the sink; Location of a redirect is kept
 * (follow off); a sink error ends the transfer with that error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <strings.h>

#include "test_httpd.h"
#include "uploader_int.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char seen_auth[256], seen_range[256];

static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char line[1024], path[256];
    for (;;) {
        if (th_read_line(fd, line, sizeof(line)) < 0)
            break;
        if (sscanf(line, "GET %255s", path) != 1)
            break;
        char auth[256] = "", range[256] = "";
        while (th_read_line(fd, line, sizeof(line)) > 2) {
            if (strncasecmp(line, "Authorization:", 14) == 0)
                snprintf(auth, sizeof(auth), "%.200s", line);
            if (strncasecmp(line, "Range:", 6) == 0) {
                line[strcspn(line, "\r\n")] = 0;
                snprintf(range, sizeof(range), "%.200s", line);
            }
        }
        pthread_mutex_lock(&mu);
        snprintf(seen_auth, sizeof(seen_auth), "%.200s", auth);
        snprintf(seen_range, sizeof(seen_range), "%.200s", range);
        pthread_mutex_unlock(&mu);
        if (strcmp(path, "/file") == 0)
            th_respond(fd, 206, "application/octet-stream", "Content-Range: bytes 5-9/10\r\n",
                       "56789");
        else if (strcmp(path, "/redirect") == 0)
            th_respond(fd, 302, "text/plain",
                       "Location: http://storage.invalid/download/abc?sig=1\r\n", "Found");
        else
            th_respond(fd, 404, "application/json", "X-Error-Code: EntryNotFound\r\n",
                       "{\"error\": \"Entry not found\"}");
    }
    close(fd);
    return NULL;
}

static struct th_server srv = {.conn = conn_main};
static char base[64];

struct got {
    char data[64];
    size_t len;
    int calls;
    int fail_with;
    bool done;
};

static int sink(const char *data, size_t len, void *ud)
{
    struct got *g = ud;
    g->calls++;
    if (g->fail_with)
        return g->fail_with;
    assert_true(g->len + len < sizeof(g->data));
    memcpy(g->data + g->len, data, len);
    g->len += len;
    return 0;
}

static void done(struct http_request *r, void *ud)
{
    (void)r;
    ((struct got *)ud)->done = true;
}

/* Run one GET on a loop with token (NULL = anonymous); r stays for checks. */
static struct http_request *run_get(uv_loop_t *loop, struct http_loop **hp, const char *token,
                                    const char *path, bool range, uint64_t from, struct got *g)
{
    struct http_loop_options o = {.endpoint = base, .token = token, .max_parallel = 2};
    struct hs_err err = {0};
    assert_int_equal(uploader__http_loop_new(loop, &o, hp, &err), 0);
    char url[128];
    snprintf(url, sizeof(url), "%s%s", base, path);
    struct http_request *r = uploader__http_request_new("GET", url);
    r->auth = true;
    r->retry = HTTP_RETRY_NONE;
    r->range = range;
    r->range_from = from;
    r->sink = sink;
    r->done = done;
    r->userdata = g;
    assert_int_equal(uploader__http_submit(*hp, r), 0);
    while (!g->done)
        uv_run(loop, UV_RUN_ONCE);
    return r;
}

static void close_loop(uv_loop_t *loop, struct http_loop *h, struct http_request *r)
{
    uploader__http_request_free(r);
    uploader__http_loop_close(h, NULL, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
}

static void test_anonymous_range_sink(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct http_loop *h;
    struct got g = {0};
    struct http_request *r = run_get(&loop, &h, NULL, "/file", true, 5, &g);
    assert_int_equal(r->error, 0);
    assert_int_equal(r->resp.status, 206);
    pthread_mutex_lock(&mu);
    assert_string_equal(seen_auth, ""); /* no token: no Authorization, auth asked or not */
    assert_string_equal(seen_range, "Range: bytes=5-");
    pthread_mutex_unlock(&mu);
    assert_int_equal(g.len, 5);
    assert_memory_equal(g.data, "56789", 5);
    assert_int_equal(r->resp.body.len, 0); /* the body went to the sink only */
    assert_non_null(r->resp.content_range);
    assert_string_equal(r->resp.content_range, "bytes 5-9/10");
    close_loop(&loop, h, r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_token_sent_and_error_body_kept(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct http_loop *h;
    struct got g = {0};
    struct http_request *r =
        run_get(&loop, &h, "hf_pull_test_token_0123456789", "/missing", false, 0, &g);
    assert_int_equal(r->resp.status, 404);
    pthread_mutex_lock(&mu);
    assert_string_equal(seen_auth, "Authorization: Bearer hf_pull_test_token_0123456789\r\n");
    assert_string_equal(seen_range, ""); /* not asked: not sent */
    pthread_mutex_unlock(&mu);
    assert_int_equal(g.calls, 0); /* an error body never reaches the sink */
    assert_non_null(strstr(r->resp.body.data, "Entry not found"));
    close_loop(&loop, h, r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_redirect_location_kept(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct http_loop *h;
    struct got g = {0};
    struct http_request *r = run_get(&loop, &h, NULL, "/redirect", false, 0, &g);
    assert_int_equal(r->resp.status, 302);
    assert_int_equal(g.calls, 0);
    assert_non_null(r->resp.location);
    assert_string_equal(r->resp.location, "http://storage.invalid/download/abc?sig=1");
    close_loop(&loop, h, r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_sink_error_ends_transfer(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct http_loop *h;
    struct got g = {.fail_with = -ENOSPC};
    struct http_request *r = run_get(&loop, &h, NULL, "/file", true, 5, &g);
    assert_int_equal(r->error, -ENOSPC);
    assert_int_equal(g.calls, 1);
    close_loop(&loop, h, r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    int port = th_server_start(&srv);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anonymous_range_sink),
        cmocka_unit_test(test_token_sent_and_error_body_kept),
        cmocka_unit_test(test_redirect_location_kept),
        cmocka_unit_test(test_sink_error_ends_transfer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
