/*
 * test_http_tls.c — uploader/http_loop.c over real TLS against
 * tls_echo_server.py (a TLS server that offers h2 first in ALPN but speaks
 * HTTP/1.1 only, serves static files and echoes PUT/POST bodies; the Python
 * Hub emulator speaks plain HTTP only). The test makes its own CA and a
 * server certificate for 127.0.0.1 with the openssl command, then:
 *
 *   - with the CA given through http_loop_options.ca_file (the daemon's
 *     `ca_file` key): eight requests in flight at once — six GETs of static
 *     files and two PUTs streaming a file body through the loop's buffers —
 *     each over HTTP/1.1 on a connection of its own (http_loop.c never asks
 *     for HTTP/2, though the server offers it), bytes checked by SHA-256;
 *     then the same eight again over the kept-alive connections (no new
 *     connection); then a not_idempotent POST (the commit) on a fresh one;
 *   - without it (the system store, which does not know this CA): a clear
 *     certificate verification error, one attempt, and the server's log
 *     shows the request never reached it (nothing was sent insecurely).
 *
 * Skipped (with a message) when openssl or python3 is not installed;
 * scripts/deps.sh installs both.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "push_int.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define N_GET 6
#define N_PUT 2

static char g_dir[64];
static char g_url[64];
static char g_ca[128], g_log[128];
static pid_t g_server = -1;
static bool g_skip;
static const char *g_skip_why = "";

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static void sha256_file(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof(buf), f)) > 0)
        EVP_DigestUpdate(md, buf, k);
    unsigned char d[32];
    unsigned dl;
    EVP_DigestFinal_ex(md, d, &dl);
    EVP_MD_CTX_free(md);
    fclose(f);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static void sha256_mem(const void *data, size_t len, char hex[65])
{
    unsigned char d[32];
    unsigned dl;
    EVP_Digest(data, len, d, &dl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* ---- CA, certificate, server ------------------------------------------- */

/* Spawn argv (argv[port_at] is replaced by a free port), its output to
 * /dev/null, and wait until it listens; its base URL in url. */
static pid_t start_server(char **argv, int port_at, char url[64])
{
    for (int attempt = 0; attempt < 5; attempt++) {
        int port = free_port();
        assert_true(port > 0);
        char ports[16];
        snprintf(ports, sizeof(ports), "%d", port);
        argv[port_at] = ports;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        pid_t pid;
        assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        for (int i = 0; i < 250 && !port_open(port) && waitpid(pid, NULL, WNOHANG) == 0; i++)
            usleep(20000);
        if (port_open(port) && waitpid(pid, NULL, WNOHANG) == 0) {
            snprintf(url, 64, "https://127.0.0.1:%d", port);
            return pid;
        }
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    fail_msg("%s did not start", argv[0]);
    return -1;
}

static int setup(void **s)
{
    (void)s;
    signal(SIGPIPE, SIG_IGN);
    if (sh("command -v openssl >/dev/null 2>&1") != 0 || access(HS_PYTHON_BIN, X_OK) != 0) {
        g_skip = true;
        g_skip_why = access(HS_PYTHON_BIN, X_OK) != 0 ? "python3 not installed"
                                                      : "openssl command not installed";
        return 0;
    }
    snprintf(g_dir, sizeof(g_dir), "/tmp/hs-tls-test.XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    snprintf(g_ca, sizeof(g_ca), "%s/ca.pem", g_dir);
    snprintf(g_log, sizeof(g_log), "%s/server.log", g_dir);
    /* A throwaway CA and a server certificate for 127.0.0.1 signed by it. */
    assert_int_equal(
        sh("(cd %s && mkdir www && "
           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           "-keyout ca.key -out ca.pem -days 2 -subj '/CN=hubsync test CA' && "
           "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           "-keyout srv.key -out srv.csr -subj '/CN=127.0.0.1' && "
           "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\n"
           "extendedKeyUsage=serverAuth\\n' > ext.cnf && "
           "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
           "-out srv.pem -days 2 -extfile ext.cnf && "
           "for i in 0 1 2 3 4 5; do head -c $((200000 + i * 777)) /dev/urandom > www/f$i; done "
           "&& head -c 3000000 /dev/urandom > body.bin) >/dev/null 2>&1",
           g_dir),
        0);
    char key[96], crt[96], www[96];
    snprintf(key, sizeof(key), "%s/srv.key", g_dir);
    snprintf(crt, sizeof(crt), "%s/srv.pem", g_dir);
    snprintf(www, sizeof(www), "%s/www", g_dir);
    char *argv[] = {HS_PYTHON_BIN, HS_TLS_ECHO, "PORT", crt, key, g_log, www, NULL};
    g_server = start_server(argv, 2, g_url);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    if (g_server > 0) {
        kill(g_server, SIGTERM);
        waitpid(g_server, NULL, 0);
    }
    if (g_dir[0])
        sh("rm -rf %s", g_dir);
    return 0;
}

/* ---- the loop ---------------------------------------------------------- */

static uv_loop_t g_loop;

static void on_done(struct http_request *r, void *ud)
{
    (void)r;
    (*(int *)ud)++;
}

static struct http_loop *loop_new(const char *ca_file, const char *endpoint)
{
    struct http_loop_options o = {
        .endpoint = endpoint,
        .token = "hf_tls_test_token_0123456789",
        .ca_file = ca_file,
        .max_parallel = 8,
        .retry = {.max_retries = 3, .base = 10000, .cap = 80000, .max_wait = 1000000},
        .stall_seconds = 10,
    };
    struct http_loop *h = NULL;
    struct hs_err err;
    assert_int_equal(uploader__http_loop_new(&g_loop, &o, &h, &err), 0);
    return h;
}

static void closed(void *ud)
{
    *(bool *)ud = true;
}

static void loop_close(struct http_loop *h)
{
    bool c = false;
    uploader__http_loop_close(h, closed, &c);
    uv_run(&g_loop, UV_RUN_DEFAULT);
    assert_true(c);
}

static size_t count_in_log(const char *log, const char *needle)
{
    char *data = NULL;
    size_t len = 0, n = 0;
    if (hs_read_file(log, 64u << 20, &data, &len) < 0)
        return 0;
    for (const char *p = data; (p = strstr(p, needle)); p++)
        n++;
    free(data);
    return n;
}

/* ---- tests ------------------------------------------------------------- */

/* Eight requests in flight at once (six GETs, two PUTs streamed from a
 * file); returns the connections they opened. */
static long round_of_eight(struct http_loop *h, int round)
{
    struct http_request *r[N_GET + N_PUT];
    char body[128];
    snprintf(body, sizeof(body), "%s/body.bin", g_dir);
    int done = 0;
    for (int i = 0; i < N_GET + N_PUT; i++) {
        char url[128];
        if (i < N_GET)
            snprintf(url, sizeof(url), "%s/f%d", g_url, i);
        else
            snprintf(url, sizeof(url), "%s/upload/%d", g_url, i);
        r[i] = uploader__http_request_new(i < N_GET ? "GET" : "PUT", url);
        r[i]->retry = HTTP_RETRY_NONE; /* a failure must show, not be healed */
        r[i]->done = on_done;
        r[i]->userdata = &done;
        if (i >= N_GET) { /* streamed from the file through the two buffers */
            r[i]->file_path = strdup(body);
            r[i]->file_off = 1000 * (uint64_t)i + (uint64_t)round;
            r[i]->file_len = 2000000;
        }
    }
    /* All submitted before the loop runs: in flight at the same time. */
    for (int i = 0; i < N_GET + N_PUT; i++)
        assert_int_equal(uploader__http_submit(h, r[i]), 0);
    while (done < N_GET + N_PUT)
        uv_run(&g_loop, UV_RUN_ONCE);
    long connects = 0;
    for (int i = 0; i < N_GET + N_PUT; i++) {
        if (r[i]->error || r[i]->resp.status != 200)
            fprintf(stderr, "round %d request %d: error %d status %ld curl %d %s\n", round, i,
                    r[i]->error, r[i]->resp.status, r[i]->resp.curl_code, r[i]->resp.curl_err);
        assert_int_equal(r[i]->error, 0);
        assert_int_equal(r[i]->resp.status, 200);
        assert_int_equal(r[i]->resp.http_version, CURL_HTTP_VERSION_1_1);
        connects += r[i]->resp.num_connects;
        char want[65], got[65];
        if (i < N_GET) {
            char path[128];
            snprintf(path, sizeof(path), "%s/www/f%d", g_dir, i);
            sha256_file(path, want);
        } else {
            /* The echoed body is the file range we streamed. */
            FILE *f = fopen(body, "rb");
            assert_non_null(f);
            char *buf = malloc(r[i]->file_len);
            assert_non_null(buf);
            fseek(f, (long)r[i]->file_off, SEEK_SET);
            assert_int_equal(fread(buf, 1, r[i]->file_len, f), r[i]->file_len);
            fclose(f);
            sha256_mem(buf, r[i]->file_len, want);
            free(buf);
            assert_int_equal(r[i]->resp.body.len, r[i]->file_len);
        }
        sha256_mem(r[i]->resp.body.data, r[i]->resp.body.len, got);
        assert_string_equal(got, want);
    }
    for (int i = 0; i < N_GET + N_PUT; i++)
        uploader__http_request_free(r[i]);
    return connects;
}

static void test_http11_with_ca_file(void **s)
{
    (void)s;
    if (g_skip)
        skip();
    assert_int_equal(uv_loop_init(&g_loop), 0);
    struct http_loop *h = loop_new(g_ca, g_url);
    /* Eight at once: eight HTTP/1.1 connections, though the server offered
     * h2 first: no transfer shares a connection with another. */
    assert_int_equal(round_of_eight(h, 0), N_GET + N_PUT);
    assert_int_equal(count_in_log(g_log, "refused alpn=h2"), 0);
    assert_int_equal(count_in_log(g_log, "GET /f"), N_GET);
    assert_int_equal(count_in_log(g_log, "HTTP/1.1 alpn=http/1.1 len=2000000"), N_PUT);
    /* The same again: every request on a kept-alive connection. */
    assert_int_equal(round_of_eight(h, 1), 0);
    assert_int_equal(count_in_log(g_log, "HTTP/1.1 alpn=http/1.1 len=2000000"), 2 * N_PUT);

    /* The commit POST (not idempotent) takes a connection of its own, though
     * eight idle ones are kept alive. */
    char url[128];
    snprintf(url, sizeof(url), "%s/api/models/a/b/commit/main", g_url);
    struct http_request *c = uploader__http_request_new("POST", url);
    const char *ndjson = "{\"key\":\"header\",\"value\":{\"summary\":\"x\"}}\n";
    uploader__http_request_set_body(c, strdup(ndjson), strlen(ndjson), "application/x-ndjson");
    c->auth = true;
    c->retry = HTTP_RETRY_RATELIMIT;
    c->not_idempotent = true;
    c->done = on_done;
    int done = 0;
    c->userdata = &done;
    assert_int_equal(uploader__http_submit(h, c), 0);
    while (!done)
        uv_run(&g_loop, UV_RUN_ONCE);
    assert_int_equal(c->error, 0);
    assert_int_equal(c->resp.status, 200);
    assert_int_equal(c->resp.http_version, CURL_HTTP_VERSION_1_1);
    assert_int_equal(c->resp.num_connects, 1);
    assert_int_equal(c->resp.body.len, strlen(ndjson));
    assert_memory_equal(c->resp.body.data, ndjson, strlen(ndjson));
    uploader__http_request_free(c);
    loop_close(h);
    assert_int_equal(uv_loop_close(&g_loop), 0);
}

static void test_unknown_ca_refused(void **s)
{
    (void)s;
    if (g_skip)
        skip();
    assert_int_equal(uv_loop_init(&g_loop), 0);
    struct http_loop *h = loop_new(NULL, g_url); /* the system store: does not know our CA */
    char url[128];
    snprintf(url, sizeof(url), "%s/f0?insecure-probe", g_url);
    struct http_request *r = uploader__http_request_new("GET", url);
    r->auth = true; /* under the endpoint: the token would go with it */
    r->retry = HTTP_RETRY_ALL;
    int done = 0;
    r->done = on_done;
    r->userdata = &done;
    assert_int_equal(uploader__http_submit(h, r), 0);
    while (!done)
        uv_run(&g_loop, UV_RUN_ONCE);
    assert_int_equal(r->error, HS_EHTTP);
    assert_int_equal(r->resp.status, 0);
    assert_int_equal(r->resp.curl_code, CURLE_PEER_FAILED_VERIFICATION);
    assert_int_equal(r->attempts, 1); /* not a failure that heals: never retried */
    struct hs_err err;
    uploader__http_describe_failure(r, "checking the token", &err);
    fprintf(stderr, "message: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "checking the token"));
    assert_non_null(strstr(err.msg, "certificate"));
    assert_non_null(strstr(err.msg, "set ca_file"));
    assert_null(strstr(err.msg, "hf_tls_test_token"));
    uploader__http_request_free(r);
    loop_close(h);
    assert_int_equal(uv_loop_close(&g_loop), 0);
    /* The server never saw the request: no HTTP byte went out. */
    assert_int_equal(count_in_log(g_log, "insecure-probe"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http11_with_ca_file),
        cmocka_unit_test(test_unknown_ca_refused),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    if (g_skip)
        fprintf(stderr, "test_http_tls: skipped: %s\n", g_skip_why);
    return rc;
}
