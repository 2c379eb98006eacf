/*
 * test_tree_list.c — uploader_list_tree on the loop against a throwaway
 * HTTP/1.1 "Hub" in this process (and a second server on another port, a
 * different origin): the pages followed through Link rel="next" with every
 * file of every page kept and directories skipped, the token on each page;
 * a bare repo name resolved with whoami-v2 first; a 404 (RepoNotFound,
 * RevisionNotFound) is an empty list naming what was missing; a next page
 * outside the endpoint is an error and that server never sees a request;
 * a page answered 503 is retried; a malformed page, a 401 and a 403 are
 * errors with the Hub's message, never an empty list; close cancels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_httpd.h"

#include "uploader.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOKEN "hf_treetoken_DISTINCTIVE_1a2b3c4d"

static int g_hub_port, g_other_port;
static atomic_int g_other_hits, g_no_auth, g_flaky, g_pages;

#define FILE_ITEM(p, sz) "{\"type\":\"file\",\"oid\":\"0a1b\",\"size\":" #sz ",\"path\":\"" p "\"}"
#define LC               "/api/models/alice/m/tree/main/last-checkpoint"

/* The Hub: canned answers by request target. */
static void answer(int fd, const char *path)
{
    char link[512];
    atomic_fetch_add(&g_pages, 1);
    if (!strcmp(path, "/api/whoami-v2")) {
        th_respond(fd, 200, "application/json", "", "{\"type\":\"user\",\"name\":\"alice\"}");
    } else if (!strcmp(path, LC "?recursive=true")) {
        snprintf(link, sizeof(link),
                 "Link: <http://127.0.0.1:%d" LC "?recursive=true&cursor=Mg%%3D%%3D>; "
                 "rel=\"next\"\r\n",
                 g_hub_port);
        th_respond(fd, 200, "application/json", link,
                   "[{\"type\":\"directory\",\"oid\":\"aa\",\"size\":0,\"path\":\"last-checkpoint/"
                   "global_step5\"}," FILE_ITEM("last-checkpoint/global_step5/x", 3) "]");
    } else if (!strcmp(path, LC "?recursive=true&cursor=Mg%3D%3D")) {
        snprintf(link, sizeof(link),
                 "Link: <http://127.0.0.1:%d/other>; rel=\"prev\", <http://127.0.0.1:%d" LC
                 "?recursive=true&cursor=NA%%3D%%3D>; rel=\"next\"\r\n",
                 g_hub_port, g_hub_port);
        th_respond(
            fd, 200, "application/json", link,
            "[" FILE_ITEM("last-checkpoint/optimizer.pt",
                          1000) ",{\"type\":\"file\",\"oid\":"
                                "\"0c\",\"size\":7,\"path\":\"last-checkpoint/"
                                "model.safetensors\",\"lfs\":{\"oid\":"
                                "\"d88b0d6a1f2e3c4b5a69788796a5b4c3d2e1f00112233445566778899aab"
                                "bccd\",\"size\":7,"
                                "\"pointerSize\":130}}]");
    } else if (!strcmp(path, LC "?recursive=true&cursor=NA%3D%3D")) {
        th_respond(fd, 200, "application/json", "",
                   "[" FILE_ITEM("last-checkpoint/stale.bin", 6) "]");
    } else if (!strcmp(path, "/api/models/alice/gone/tree/main?recursive=true")) {
        th_respond(fd, 404, "application/json",
                   "X-Error-Code: RepoNotFound\r\nX-Error-Message: Repository not found\r\n",
                   "{\"error\":\"Repository not found\"}");
    } else if (!strcmp(path, "/api/models/alice/m/tree/dev/x?recursive=true")) {
        th_respond(fd, 404, "application/json", "X-Error-Code: RevisionNotFound\r\n",
                   "{\"error\":\"Invalid rev id\"}");
    } else if (!strcmp(path, "/api/models/alice/evil/tree/main?recursive=true")) {
        snprintf(link, sizeof(link),
                 "Link: <http://127.0.0.1:%d/api/models/alice/evil/tree/main?cursor=x>; "
                 "rel=\"next\"\r\n",
                 g_other_port);
        th_respond(fd, 200, "application/json", link, "[" FILE_ITEM("a", 1) "]");
    } else if (!strcmp(path, "/api/models/alice/flaky/tree/main?recursive=true")) {
        snprintf(link, sizeof(link),
                 "Link: <http://127.0.0.1:%d/api/models/alice/flaky/tree/main?p=2>; "
                 "rel=\"next\"\r\n",
                 g_hub_port);
        th_respond(fd, 200, "application/json", link, "[" FILE_ITEM("a", 1) "]");
    } else if (!strcmp(path, "/api/models/alice/flaky/tree/main?p=2")) {
        if (atomic_fetch_add(&g_flaky, 1) < 2)
            th_respond(fd, 503, "application/json", "Retry-After: 0\r\n", "{\"error\":\"busy\"}");
        else
            th_respond(fd, 200, "application/json", "", "[" FILE_ITEM("b", 2) "]");
    } else if (!strcmp(path, "/api/models/alice/bad/tree/main?recursive=true")) {
        th_respond(fd, 200, "application/json", "", "{\"files\":[]}");
    } else if (!strcmp(path, "/api/models/alice/private/tree/main?recursive=true")) {
        th_respond(fd, 401, "application/json",
                   "X-Error-Message: Invalid credentials in Authorization header\r\n",
                   "{\"error\":\"Invalid credentials in Authorization header\"}");
    } else if (!strcmp(path, "/api/models/alice/locked/tree/main?recursive=true")) {
        th_respond(fd, 403, "application/json", "",
                   "{\"error\":\"You don't have access to this repo\"}");
    } else {
        th_respond(fd, 500, "application/json", "", "{\"error\":\"unexpected request\"}");
        fprintf(stderr, "test_tree_list: unexpected request %s\n", path);
    }
}

static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    bool other = ntohs(a.sin_port) == g_other_port;
    char line[4096];
    for (;;) {
        if (th_read_line(fd, line, sizeof(line)) <= 0)
            break;
        char method[16], path[2048];
        if (sscanf(line, "%15s %2047s", method, path) != 2)
            break;
        bool auth_ok = false;
        while (th_read_line(fd, line, sizeof(line)) > 0 && strcmp(line, "\r\n") != 0)
            if (strncasecmp(line, "authorization:", 14) == 0)
                auth_ok = strstr(line, "Bearer " TOKEN) != NULL;
        if (other) {
            atomic_fetch_add(&g_other_hits, 1);
            th_respond(fd, 200, "application/json", "", "[]");
            continue;
        }
        if (!auth_ok)
            atomic_fetch_add(&g_no_auth, 1);
        answer(fd, path);
    }
    close(fd);
    return NULL;
}

/* ---- the listing ---------------------------------------------------------- */

static uv_loop_t g_loop;
static struct uploader *g_up;

struct result {
    bool done;
    int status;
    struct uploader_tree t; /* copy of the paths (oid/lfs of the first files) */
    char msg[HS_ERR_MAX];
};

static void on_tree(int status, const struct uploader_tree *t, const struct hs_err *err, void *ud)
{
    struct result *r = ud;
    r->done = true;
    r->status = status;
    if (status == 0) {
        snprintf(r->t.missing, sizeof(r->t.missing), "%s", t->missing);
        r->t.entries = calloc(t->n + 1, sizeof(*r->t.entries));
        for (size_t i = 0; i < t->n; i++) {
            r->t.entries[i].path = strdup(t->entries[i].path);
            r->t.entries[i].size = t->entries[i].size;
            r->t.entries[i].oid = t->entries[i].oid ? strdup(t->entries[i].oid) : NULL;
            r->t.entries[i].lfs_oid = t->entries[i].lfs_oid ? strdup(t->entries[i].lfs_oid) : NULL;
        }
        r->t.n = t->n;
    } else {
        snprintf(r->msg, sizeof(r->msg), "%s", err ? err->msg : "");
    }
}

static void list(const char *repo, const char *rev, const char *path, struct result *r)
{
    memset(r, 0, sizeof(*r));
    struct uploader_tree_request req = {.repo_id = repo, .revision = rev, .path = path};
    struct hs_err err = {0};
    assert_int_equal(uploader_list_tree(g_up, &req, on_tree, r, &err), 0);
    while (!r->done)
        uv_run(&g_loop, UV_RUN_ONCE);
}

static void result_clear(struct result *r)
{
    uploader_tree_clear(&r->t);
}

static void test_pages(void **s)
{
    (void)s;
    struct result r;
    atomic_store(&g_pages, 0);
    list("alice/m", NULL, "last-checkpoint/", &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.t.missing, "");
    assert_int_equal(r.t.n, 4); /* 3 pages, the directory skipped */
    assert_string_equal(r.t.entries[0].path, "last-checkpoint/global_step5/x");
    assert_int_equal(r.t.entries[0].size, 3);
    assert_string_equal(r.t.entries[1].path, "last-checkpoint/optimizer.pt");
    assert_string_equal(r.t.entries[2].path, "last-checkpoint/model.safetensors");
    assert_string_equal(r.t.entries[2].lfs_oid,
                        "d88b0d6a1f2e3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccd");
    assert_null(r.t.entries[1].lfs_oid);
    assert_string_equal(r.t.entries[3].path, "last-checkpoint/stale.bin");
    assert_int_equal(atomic_load(&g_pages), 3);
    result_clear(&r);
    /* a bare name: whoami-v2 says alice, then the same 3 pages */
    atomic_store(&g_pages, 0);
    list("m", "main", "last-checkpoint", &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.t.n, 4);
    assert_int_equal(atomic_load(&g_pages), 4);
    result_clear(&r);
    assert_int_equal(atomic_load(&g_no_auth), 0); /* the token on every page */
}

static void test_not_found(void **s)
{
    (void)s;
    struct result r;
    list("alice/gone", NULL, NULL, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.t.n, 0);
    assert_string_equal(r.t.missing, "RepoNotFound");
    result_clear(&r);
    list("alice/m", "dev", "x", &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.t.n, 0);
    assert_string_equal(r.t.missing, "RevisionNotFound");
    result_clear(&r);
}

static void test_errors(void **s)
{
    (void)s;
    struct result r;
    list("alice/evil", NULL, "", &r);
    assert_int_equal(r.status, HS_EPROTO);
    assert_non_null(strstr(r.msg, "not under the endpoint"));
    assert_int_equal(atomic_load(&g_other_hits), 0);
    list("alice/bad", NULL, "", &r);
    assert_int_equal(r.status, HS_EPROTO);
    assert_non_null(strstr(r.msg, "tree: answer is not an array"));
    list("alice/private", NULL, "", &r);
    assert_true(r.status < 0);
    assert_non_null(strstr(r.msg, "401"));
    assert_non_null(strstr(r.msg, "Invalid credentials"));
    assert_null(strstr(r.msg, TOKEN));
    list("alice/locked", NULL, "", &r);
    assert_true(r.status < 0);
    assert_non_null(strstr(r.msg, "403"));
    assert_non_null(strstr(r.msg, "listing alice/locked"));
    /* a later page answered 503 twice is retried */
    list("alice/flaky", NULL, "", &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.t.n, 2);
    assert_string_equal(r.t.entries[1].path, "b");
    assert_int_equal(atomic_load(&g_flaky), 3);
    result_clear(&r);
}

static void test_close_cancels(void **s)
{
    (void)s;
    struct result r = {0};
    struct uploader_tree_request req = {.repo_id = "alice/m", .path = "last-checkpoint"};
    struct hs_err err = {0};
    assert_int_equal(uploader_list_tree(g_up, &req, on_tree, &r, &err), 0);
    uploader_close(g_up);
    g_up = NULL;
    while (!r.done)
        uv_run(&g_loop, UV_RUN_ONCE);
    assert_int_equal(r.status, -ECANCELED);
}

static int setup(void **s)
{
    (void)s;
    static struct th_server hub = {.conn = conn_main}, other = {.conn = conn_main};
    g_hub_port = th_server_start(&hub);
    g_other_port = th_server_start(&other);
    assert_int_equal(uv_loop_init(&g_loop), 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", g_hub_port);
    struct uploader_options o = {
        .endpoint = url, .token = TOKEN, .retry_base = 10 * HS_USEC_PER_MSEC};
    struct hs_err err = {0};
    assert_int_equal(uploader_new(&g_loop, &o, &g_up, &err), 0);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    uploader_close(g_up);
    uv_run(&g_loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&g_loop), 0);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_close_cancels),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
