/*
 * test_tree.c — uploader/tree.c's pure parts: a tree page (files kept with
 * size, git oid and LFS sha256; directories skipped; pages appended; every
 * malformed answer refused with a message that says why) and the Link
 * header (rel="next" among several links, quoted and bare rel values, the
 * last page, a next URL outside the endpoint refused). The listing itself
 * (pagination against the emulator at page size 2, 404 = empty) is
 * exercised end to end by tests/integration/test_stale_checkpoint.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "uploader_int.h"

#include <stdio.h>
#include <string.h>

#define SHA "d88b0d6a1f2e3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccd"

#define PAGE1                                                                                      \
    "[{\"type\":\"directory\",\"oid\":\"aa53\",\"size\":0,\"path\":\"last-checkpoint\"},"          \
    "{\"type\":\"file\",\"oid\":\"2f9618c3\",\"size\":554,\"path\":\"last-checkpoint/"             \
    "config.json\"},"                                                                              \
    "{\"type\":\"file\",\"oid\":\"8095a62c\",\"size\":497764107,\"path\":\"last-checkpoint/"       \
    "model.safetensors\",\"lfs\":{\"oid\":\"" SHA "\",\"size\":497764107,\"pointerSize\":134},"    \
    "\"xetHash\":\"4bd7\"}]"
#define PAGE2                                                                                      \
    "[{\"type\":\"file\",\"size\":0,\"path\":\"last-checkpoint/global_step5/x\",\"lfs\":null}]"

static void test_parse_pages(void **s)
{
    (void)s;
    struct uploader_tree t = {0};
    struct hs_err err = {0};
    assert_int_equal(uploader_tree_parse(PAGE1, &t, &err), 0);
    assert_int_equal(t.n, 2); /* the directory is not listed */
    assert_string_equal(t.entries[0].path, "last-checkpoint/config.json");
    assert_int_equal(t.entries[0].size, 554);
    assert_string_equal(t.entries[0].oid, "2f9618c3");
    assert_null(t.entries[0].lfs_oid);
    assert_string_equal(t.entries[1].path, "last-checkpoint/model.safetensors");
    assert_int_equal(t.entries[1].size, 497764107);
    assert_string_equal(t.entries[1].lfs_oid, SHA);
    assert_int_equal(uploader_tree_parse(PAGE2, &t, &err), 0);
    assert_int_equal(t.n, 3); /* appended */
    assert_string_equal(t.entries[2].path, "last-checkpoint/global_step5/x");
    assert_null(t.entries[2].oid);
    assert_int_equal(uploader_tree_parse("[]", &t, &err), 0);
    assert_int_equal(t.n, 3);
    assert_string_equal(t.missing, "");
    uploader_tree_clear(&t);
    assert_int_equal(t.n, 0);
    assert_null(t.entries);
    uploader_tree_clear(NULL);
}

static void refused(const char *body, const char *needle)
{
    struct uploader_tree t = {0};
    struct hs_err err = {0};
    assert_int_equal(
        uploader_tree_parse("[{\"type\":\"file\",\"size\":1,\"path\":\"keep\"}]", &t, &err), 0);
    assert_int_equal(uploader_tree_parse(body, &t, &err), HS_EPROTO);
    if (!strstr(err.msg, needle))
        fail_msg("\"%s\" not in \"%s\" (body %s)", needle, err.msg, body);
    uploader_tree_clear(&t);
}

static void test_parse_refused(void **s)
{
    (void)s;
    refused(NULL, "empty body");
    refused("[{\"type\":", "malformed JSON");
    refused("{\"error\":\"x\"}", "not an array");
    refused("[{\"path\":\"a\",\"size\":1}]", "entry 0 has no type");
    refused("[{\"type\":\"file\",\"size\":1,\"path\":\"a\"}, 7]", "entry 1 has no type");
    refused("[{\"type\":\"file\",\"size\":1}]", "lacks a path or a size");
    refused("[{\"type\":\"file\",\"path\":\"a\"}]", "lacks a path or a size");
    refused("[{\"type\":\"file\",\"path\":\"a\",\"size\":-1}]", "lacks a path or a size");
    refused("[{\"type\":\"file\",\"path\":\"a\",\"size\":\"1\"}]", "lacks a path or a size");
    refused("[{\"type\":\"file\",\"path\":\"\",\"size\":1}]", "lacks a path or a size");
    refused("[{\"type\":\"file\",\"path\":\"a\\u0000b\",\"size\":1}]", "malformed JSON");
    refused("[{\"type\":\"file\",\"path\":\"a\",\"size\":1,\"lfs\":{\"oid\":\"abc\"}}]",
            "a has an invalid lfs.oid");
    refused("[{\"type\":\"file\",\"path\":\"a\",\"size\":1,\"lfs\":7}]", "invalid lfs.oid");
}

static void next_ok(const char *link, const char *want)
{
    char *next = (char *)"unset";
    struct hs_err err = {0};
    assert_int_equal(uploader_tree_next_url(link, "http://127.0.0.1:8080", &next, &err), 0);
    if (want)
        assert_string_equal(next, want);
    else
        assert_null(next);
    free(next);
}

static void next_refused(const char *link, const char *endpoint, const char *needle)
{
    char *next = (char *)"unset";
    struct hs_err err = {0};
    assert_int_equal(uploader_tree_next_url(link, endpoint, &next, &err), HS_EPROTO);
    assert_null(next);
    if (!strstr(err.msg, needle))
        fail_msg("\"%s\" not in \"%s\"", needle, err.msg);
    assert_null(strstr(err.msg, "secret")); /* the query is not shown */
}

#define NEXT "http://127.0.0.1:8080/api/models/a/b/tree/main?recursive=true&cursor=Mg%3D%3D"

static void test_link(void **s)
{
    (void)s;
    next_ok(NULL, NULL);
    next_ok("", NULL);
    next_ok("<" NEXT ">; rel=\"next\"", NEXT);
    next_ok("<" NEXT ">;rel=next", NEXT);
    next_ok("<http://127.0.0.1:8080/x?p=1>; rel=\"prev\", <" NEXT ">; rel=\"next\"", NEXT);
    next_ok("<" NEXT ">; title=\"a, b\"; rel=\"last next\"", NEXT);
    next_ok("<http://127.0.0.1:8080/x?p=9>; rel=\"last\"", NULL);
    next_ok("<http://127.0.0.1:8080/x?p=9>; next=\"rel\"", NULL);
    next_refused("<https://evil.example/api/models/a/b/tree/main?secret=1>; rel=\"next\"",
                 "http://127.0.0.1:8080", "is not under the endpoint");
    next_refused("<http://127.0.0.1:8081/api?secret=1>; rel=\"next\"", "http://127.0.0.1:8080",
                 "not under the endpoint");
    next_refused("<http://hub.example/other/api?secret=1>; rel=\"next\"", "http://hub.example/hub",
                 "not under the endpoint");
    next_refused("</api/models/a/b/tree/main?secret=1>; rel=\"next\"", "http://127.0.0.1:8080",
                 "not under the endpoint");
    next_refused("garbage", "http://127.0.0.1:8080", "unreadable Link header");
    next_refused("<http://127.0.0.1:8080/x; rel=next", "http://127.0.0.1:8080",
                 "unreadable Link header");
    /* an endpoint with a path: next pages under it are followed */
    char *next = NULL;
    struct hs_err err = {0};
    assert_int_equal(uploader_tree_next_url("<http://hub.example/hub/api/x?c=2>; rel=\"next\"",
                                            "http://hub.example/hub", &next, &err),
                     0);
    assert_string_equal(next, "http://hub.example/hub/api/x?c=2");
    free(next);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_pages),
        cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
