/*
 * test_uploader_pure.c — unit tests of uploader/'s pure parts: the
 * Authorization origin rule, encoders, the retry policy, the token bucket,
 * the Hub request builders and response parsers (fixtures from
 * docs/hub-protocol.md), the NDJSON commit body, the resumable state round trip
 * and file hashing (SHA-256, git blob SHA-1, sample, cache key); which HTTP
 * answers end a push for good (uploader__http_status_class), the repo path rule and
 * the file opener (no symlink, the identity hashed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "uploader_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_origin(void **s)
{
    (void)s;
    assert_true(
        uploader__url_same_origin("https://huggingface.co/api/x", "https://HuggingFace.co"));
    assert_true(
        uploader__url_same_origin("https://huggingface.co:443/a", "https://huggingface.co/b"));
    assert_false(uploader__url_same_origin("https://huggingface.co/a", "http://huggingface.co/a"));
    assert_false(uploader__url_same_origin("http://127.0.0.1:8000/a", "http://127.0.0.1:8001/a"));
    assert_false(uploader__url_same_origin("https://s3.amazonaws.com/x", "https://huggingface.co"));
    assert_false(uploader__url_same_origin("not a url", "https://huggingface.co"));
    /* Under the endpoint: same origin AND the endpoint's path prefix. */
    assert_true(uploader__url_is_under_endpoint("http://127.0.0.1:8000/api/whoami-v2",
                                                "http://127.0.0.1:8000"));
    assert_true(uploader__url_is_under_endpoint("https://proxy.example/hf/api/x",
                                                "https://proxy.example/hf"));
    assert_false(uploader__url_is_under_endpoint("https://proxy.example/hfx/api",
                                                 "https://proxy.example/hf"));
    assert_false(uploader__url_is_under_endpoint("https://proxy.example.evil/hf/api",
                                                 "https://proxy.example/hf"));
    assert_false(
        uploader__url_is_under_endpoint("http://127.0.0.1:8001/upload/1", "http://127.0.0.1:8000"));
    assert_false(uploader__url_is_under_endpoint("https://huggingface.co@evil.com/api",
                                                 "https://huggingface.co"));
}

static void test_encoders(void **s)
{
    (void)s;
    char out[64];
    uploader__url_strip_query("https://s3/x/y?X-Amz-Signature=secret#f", out, sizeof(out));
    assert_string_equal(out, "https://s3/x/y");
    char *e = uploader__url_encode_segment("refs/pr/1");
    assert_string_equal(e, "refs%2Fpr%2F1");
    free(e);
    e = uploader__url_encode_path("a b/c+d.bin");
    assert_string_equal(e, "a%20b/c%2Bd.bin");
    free(e);
    const char *v[][2] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}};
    for (size_t i = 0; i < 5; i++) {
        e = uploader__b64_encode(v[i][0], strlen(v[i][0]));
        assert_string_equal(e, v[i][1]);
        free(e);
    }
}

static void test_retry(void **s)
{
    (void)s;
    struct retry_policy p = {
        .max_retries = 5, .base = 1000000, .cap = 8000000, .max_wait = 600000000};
    /* Not retried: 4xx other than 408/429, TLS verification failures. */
    assert_int_equal(uploader__retry_delay(&p, 0, 400, CURLE_OK, NULL, NULL, 7), -1);
    assert_int_equal(uploader__retry_delay(&p, 0, 403, CURLE_OK, NULL, NULL, 7), -1);
    assert_int_equal(uploader__retry_delay(&p, 0, 412, CURLE_OK, NULL, NULL, 7), -1);
    assert_int_equal(uploader__retry_delay(&p, 0, 0, CURLE_PEER_FAILED_VERIFICATION, NULL, NULL, 7),
                     -1);
    /* Backoff: within [step/2, step], doubling, capped. */
    for (unsigned a = 0; a < 5; a++) {
        int64_t step = (int64_t)1000000 << a;
        if (step > 8000000)
            step = 8000000;
        for (uint32_t rnd = 0; rnd < 2000000000u; rnd += 333333333u) {
            int64_t d = uploader__retry_delay(&p, a, 503, CURLE_OK, NULL, NULL, rnd);
            assert_true(d >= step / 2 && d <= step);
        }
    }
    assert_int_equal(uploader__retry_delay(&p, 5, 503, CURLE_OK, NULL, NULL, 7), -1);
    assert_true(uploader__retry_delay(&p, 0, 0, CURLE_RECV_ERROR, NULL, NULL, 7) >= 500000);
    assert_true(uploader__retry_delay(&p, 0, 0, CURLE_OPERATION_TIMEDOUT, NULL, NULL, 7) >= 500000);
    assert_true(uploader__retry_delay(&p, 0, 0, CURLE_SEND_FAIL_REWIND, NULL, NULL, 7) >= 500000);
    /* Retry-After is honoured (at least the value, small jitter on top). */
    int64_t d = uploader__retry_delay(&p, 0, 429, CURLE_OK, "3", NULL, 100);
    assert_true(d >= 3000000 && d < 3300000);
    d = uploader__retry_delay(&p, 0, 500, CURLE_OK, " 2 ", NULL, 0);
    assert_true(d >= 2000000 && d < 2300000);
    /* HTTP-date form is ignored (backoff instead). */
    d = uploader__retry_delay(&p, 0, 503, CURLE_OK, "Wed, 21 Oct 2015 07:28:00 GMT", NULL, 0);
    assert_true(d >= 500000 && d <= 1000000);
    /* RateLimit r=0;t=N on 429 wins. */
    d = uploader__retry_delay(&p, 0, 429, CURLE_OK, "1", "\"api\";r=0;t=4", 0);
    assert_int_equal(d, 5000000);
    /* r>0: not the cause, Retry-After applies. */
    d = uploader__retry_delay(&p, 0, 429, CURLE_OK, "1", "\"api\";r=10;t=4", 0);
    assert_true(d >= 1000000 && d < 1300000);
    long r = -1, t = -1;
    assert_int_equal(uploader__retry_ratelimit_parse("\"api\";r=0;t=55", &r, &t), 0);
    assert_int_equal(r, 0);
    assert_int_equal(t, 55);
    assert_true(uploader__retry_ratelimit_parse("garbage", &r, &t) < 0);
    /* A wait longer than max_wait is a give-up, not a 2-hour sleep. */
    assert_int_equal(uploader__retry_delay(&p, 0, 429, CURLE_OK, "7200", NULL, 0), -1);
}

static void test_token_bucket(void **s)
{
    (void)s;
    struct token_bucket tb;
    uploader__token_bucket_init(&tb, 1000000, 0); /* 1 MB/s, burst 100 kB */
    size_t got = uploader__token_bucket_take(&tb, 1 << 20, 0);
    assert_int_equal(got, 100000);
    assert_int_equal(uploader__token_bucket_take(&tb, 10, 0), 0);
    assert_true(uploader__token_bucket_wait(&tb, 4096, 0) > 0);
    /* After 50 ms, 50 kB are back. */
    got = uploader__token_bucket_take(&tb, 1 << 20, 50000);
    assert_int_equal(got, 50000);
    /* Over 1 s of simulated time the total is ≈ rate. */
    uint64_t total = 0;
    for (hs_usec_t now = 50000; now <= 1050000; now += 1000)
        total += uploader__token_bucket_take(&tb, 65536, now);
    assert_true(total >= 990000 && total <= 1010000);
    uploader__token_bucket_init(&tb, 0, 0); /* unlimited */
    assert_int_equal(uploader__token_bucket_take(&tb, 123456789, 0), 123456789);
}

static void test_preupload(void **s)
{
    (void)s;
    unsigned char sample[3] = {'a', 'b', 'c'};
    struct hub_preupload_item it[2] = {
        {.path = "config.json", .sample = sample, .sample_len = 3, .size = 712},
        {.path = "model.safetensors", .sample = sample, .sample_len = 3, .size = 497764107},
    };
    char *body = uploader__hub_body_preupload(it, 2);
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    json_t *f1 = json_array_get(json_object_get(j, "files"), 1);
    assert_string_equal(json_string_value(json_object_get(f1, "sample")), "YWJj");
    assert_int_equal(json_integer_value(json_object_get(f1, "size")), 497764107);
    json_decref(j);
    free(body);
    /* the samples spliced in: the bytes of jansson's own rendering, whatever
     * the paths hold */
    const unsigned char raw[] = "\0\xff\"sample\":\"\"";
    struct hub_preupload_item odd[3] = {
        {.path = "a/\"sample\":\"\"", .sample = raw, .sample_len = sizeof(raw), .size = 1},
        {.path = "\"sample\":\"\"\\", .sample = raw, .sample_len = 0, .size = 0},
        {.path = "é\n", .sample = raw, .sample_len = 5, .size = 5},
    };
    body = uploader__hub_body_preupload(odd, 3);
    json_t *ref = json_array();
    for (size_t i = 0; i < 3; i++) {
        char *b64 = uploader__b64_encode(odd[i].sample, odd[i].sample_len);
        json_array_append_new(ref, json_pack("{s:s, s:s, s:I}", "path", odd[i].path, "sample", b64,
                                             "size", (json_int_t)odd[i].size));
        free(b64);
    }
    j = json_pack("{s:o}", "files", ref);
    char *want = json_dumps(j, JSON_COMPACT);
    assert_string_equal(body, want);
    free(want);
    json_decref(j);
    free(body);
    body = uploader__hub_body_preupload(odd, 0);
    assert_string_equal(body, "{\"files\":[]}");
    free(body);
    const char *ans =
        "{\"files\":[{\"path\":\"config.json\",\"uploadMode\":\"regular\",\"shouldIgnore\":false,"
        "\"oid\":\"2f9618c3a19b9a61add74f70bfb121335aeef666\"},{\"path\":\"model.safetensors\","
        "\"uploadMode\":\"lfs\",\"shouldIgnore\":false}],\"commitOid\":"
        "\"8aa4cd78db279c7d673ade7a798dd4adff562cbb\"}";
    char *head = NULL;
    struct hs_err err;
    assert_int_equal(uploader__hub_parse_preupload(ans, it, 2, &head, &err), 0);
    assert_false(it[0].lfs);
    assert_true(it[1].lfs);
    assert_string_equal(it[0].remote_oid, "2f9618c3a19b9a61add74f70bfb121335aeef666");
    assert_null(it[1].remote_oid);
    assert_string_equal(head, "8aa4cd78db279c7d673ade7a798dd4adff562cbb");
    free(head);
    free(it[0].remote_oid);
    /* Missing answer, unknown mode, malformed JSON: HS_EPROTO with a message. */
    assert_int_equal(uploader__hub_parse_preupload("{\"files\":[]}", it, 1, NULL, &err), HS_EPROTO);
    assert_non_null(strstr(err.msg, "config.json"));
    assert_int_equal(
        uploader__hub_parse_preupload(
            "{\"files\":[{\"path\":\"config.json\",\"uploadMode\":\"xet\"}]}", it, 1, NULL, &err),
        HS_EPROTO);
    assert_int_equal(uploader__hub_parse_preupload("<html>", it, 1, NULL, &err), HS_EPROTO);
}

static void test_lfs_batch(void **s)
{
    (void)s;
    const char *oids[] = {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                          "d88b0d6a6ff9c3f8151f9d3228f57092aaea997f09af009eefd7373a77b5abb9",
                          "aaaa0d6a6ff9c3f8151f9d3228f57092aaea997f09af009eefd7373a77b5abb9"};
    uint64_t sizes[] = {1048576, 25, 12};
    char *body = uploader__hub_body_lfs_batch(oids, sizes, 2, "main");
    json_t *j = json_loads(body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "operation")), "upload");
    assert_string_equal(json_string_value(json_object_get(j, "hash_algo")), "sha256");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "ref"), "name")),
                        "main");
    assert_int_equal(json_array_size(json_object_get(j, "transfers")), 2);
    json_decref(j);
    free(body);

    struct hub_lfs_action a[2] = {0};
    for (int i = 0; i < 2; i++) {
        snprintf(a[i].oid, sizeof(a[i].oid), "%s", oids[i]);
        a[i].size = sizes[i];
    }
    char ans[2048];
    snprintf(
        ans, sizeof(ans),
        "{\"transfer\":\"basic\",\"objects\":[{\"oid\":\"%s\",\"size\":1048576},"
        "{\"oid\":\"%s\",\"size\":25,\"actions\":{\"upload\":{\"href\":"
        "\"https://hub/api/complete_multipart?uploadId=1&signature=x\",\"expires_in\":3600,"
        "\"header\":{\"chunk_size\":\"10\",\"00003\":\"https://s3/p3\",\"00001\":\"https://s3/p1\","
        "\"00002\":\"https://s3/p2\"}},\"verify\":{\"href\":\"https://hub/verify\"}}}]}",
        oids[0], oids[1]);
    struct hs_err err;
    assert_int_equal(uploader__hub_parse_lfs_batch(ans, a, 2, 1000, &err), 0);
    assert_true(a[0].present);
    assert_false(a[1].present);
    assert_int_equal(a[1].chunk_size, 10);
    assert_int_equal(a[1].n_parts, 3);
    assert_string_equal(a[1].part_urls[0], "https://s3/p1");
    assert_string_equal(a[1].part_urls[2], "https://s3/p3");
    assert_int_equal(a[1].expires_at, 4600);
    assert_int_equal(a[1].issued_at, 1000); /* its lifetime scales the expiry margin */
    assert_non_null(strstr(a[1].href, "complete_multipart"));
    uploader__hub_lfs_action_clear(&a[1]);
    /* Part count must be ceil(size/chunk). */
    snprintf(
        ans, sizeof(ans),
        "{\"objects\":[{\"oid\":\"%s\",\"size\":25,\"actions\":{\"upload\":{\"href\":\"https://h\","
        "\"header\":{\"chunk_size\":\"10\",\"00001\":\"u1\",\"00002\":\"u2\"}}}}]}",
        oids[1]);
    assert_int_equal(uploader__hub_parse_lfs_batch(ans, &a[1], 1, 0, &err), HS_EPROTO);
    assert_non_null(strstr(err.msg, "expected"));
    uploader__hub_lfs_action_clear(&a[1]);
    /* Per-object error. */
    snprintf(ans, sizeof(ans),
             "{\"objects\":[{\"oid\":\"%s\",\"size\":25,\"error\":{\"code\":422,\"message\":\"too "
             "big\"}}]}",
             oids[1]);
    assert_int_equal(uploader__hub_parse_lfs_batch(ans, &a[1], 1, 0, &err),
                     HS_EREFUSED); /* for good */
    assert_non_null(strstr(err.msg, "too big"));
    uploader__hub_lfs_action_clear(&a[1]);
    snprintf(
        ans, sizeof(ans),
        "{\"objects\":[{\"oid\":\"%s\",\"size\":25,\"error\":{\"code\":503,\"message\":\"busy\"}}"
        "]}",
        oids[1]);
    assert_int_equal(uploader__hub_parse_lfs_batch(ans, &a[1], 1, 0, &err),
                     HS_EHTTP); /* transient */
    /* Basic transfer. */
    snprintf(ans, sizeof(ans),
             "{\"objects\":[{\"oid\":\"%s\",\"size\":25,\"actions\":{\"upload\":{\"href\":\"https:/"
             "/s3/obj\"}}}]}",
             oids[1]);
    memset(&a[1], 0, sizeof(a[1]));
    snprintf(a[1].oid, sizeof(a[1].oid), "%s", oids[1]);
    a[1].size = 25;
    assert_int_equal(uploader__hub_parse_lfs_batch(ans, &a[1], 1, 0, &err), 0);
    assert_int_equal(a[1].n_parts, 0);
    assert_string_equal(a[1].href, "https://s3/obj");
    uploader__hub_lfs_action_clear(&a[1]);

    char *etags[] = {"\"e1\"", "\"e2\""};
    body = uploader__hub_body_multipart_complete(oids[1], etags, 2);
    assert_string_equal(
        body, "{\"oid\":\"d88b0d6a6ff9c3f8151f9d3228f57092aaea997f09af009eefd7373a77b5abb9\","
              "\"parts\":[{\"partNumber\":1,\"etag\":\"\\\"e1\\\"\"},{\"partNumber\":2,"
              "\"etag\":\"\\\"e2\\\"\"}]}");
    free(body);
}

static void test_commit_body(void **s)
{
    (void)s;
    struct hub_commit_op ops[2] = {
        {.path = "config.json", .content_b64 = "e30K"},
        {.path = "model.safetensors",
         .lfs = true,
         .oid = "d88b0d6a6ff9c3f8151f9d3228f57092aaea997f09af009eefd7373a77b5abb9",
         .size = 497764107},
    };
    size_t len;
    char *b = uploader__hub_body_commit("Upload \"model\"", "",
                                        "8aa4cd78db279c7d673ade7a798dd4adff562cbb", ops, 2, &len);
    assert_int_equal(strlen(b), len);
    /* Three lines, each a JSON object, each ending in \n; header first. */
    char *save, *line = strtok_r(b, "\n", &save);
    int n = 0;
    const char *keys[] = {"header", "file", "lfsFile"};
    for (; line; line = strtok_r(NULL, "\n", &save), n++) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "key")), keys[n]);
        json_t *v = json_object_get(j, "value");
        if (n == 0) {
            assert_string_equal(json_string_value(json_object_get(v, "summary")),
                                "Upload \"model\"");
            assert_string_equal(json_string_value(json_object_get(v, "parentCommit")),
                                "8aa4cd78db279c7d673ade7a798dd4adff562cbb");
        } else if (n == 1) {
            assert_string_equal(json_string_value(json_object_get(v, "encoding")), "base64");
            assert_string_equal(json_string_value(json_object_get(v, "content")), "e30K");
        } else {
            assert_string_equal(json_string_value(json_object_get(v, "algo")), "sha256");
            assert_int_equal(json_integer_value(json_object_get(v, "size")), 497764107);
        }
        json_decref(j);
    }
    assert_int_equal(n, 3);
    assert_int_equal(b[len - 1], 0); /* strtok wrote over the final \n */
    free(b);

    /* A regular file's line from raw bytes (the base64 spliced in, not
     * encoded by jansson): the same bytes as jansson's own rendering, its
     * length the measured one, whatever the path holds. */
    const char *lpaths[] = {"a.txt", "dir/\"content\":\"\"/x", "q\\\"\n\x01é/\"content\":\"\"",
                            "\"content\":\"\""};
    const char raw[] = "\x00\xff{\"content\":\"\"}";
    for (size_t i = 0; i < sizeof(lpaths) / sizeof(lpaths[0]); i++) {
        for (size_t rl = 0; rl < sizeof(raw); rl++) {
            char *l = uploader__hub_commit_file_line(lpaths[i], raw, rl);
            assert_non_null(l);
            char *b64 = uploader__b64_encode(raw, rl);
            json_t *ref = json_pack("{s:s, s:{s:s, s:s, s:s}}", "key", "file", "value", "content",
                                    b64, "path", lpaths[i], "encoding", "base64");
            char *rs = json_dumps(ref, JSON_COMPACT);
            size_t rsl = strlen(rs);
            assert_int_equal(strlen(l), rsl + 1);
            assert_memory_equal(l, rs, rsl);
            assert_int_equal(l[rsl], '\n');
            struct hub_commit_op op = {.path = lpaths[i], .size = rl};
            assert_int_equal(uploader__hub_commit_op_line_len(&op), rsl + 1);
            op.content_b64 = b64;
            char *ol = uploader__hub_commit_op_line(&op);
            assert_string_equal(ol, l);
            free(ol);
            free(rs);
            json_decref(ref);
            free(b64);
            free(l);
        }
    }

    char *oid = NULL, *url = NULL;
    struct hs_err err;
    assert_int_equal(
        uploader__hub_parse_commit("{\"success\":true,\"commitOid\":\"855efb95\",\"commitUrl\":"
                                   "\"https://h/a/b/commit/855efb95\"}",
                                   &oid, &url, &err),
        0);
    assert_string_equal(oid, "855efb95");
    assert_string_equal(url, "https://h/a/b/commit/855efb95");
    free(oid);
    free(url);
    assert_int_equal(uploader__hub_parse_commit("{}", &oid, &url, &err), HS_EPROTO);

    char *name = NULL;
    assert_int_equal(uploader__hub_parse_whoami(
                         "{\"type\":\"user\",\"name\":\"alice\",\"orgs\":[]}", &name, &err),
                     0);
    assert_string_equal(name, "alice");
    free(name);
    assert_int_equal(uploader__hub_parse_whoami("{\"type\":\"user\"}", &name, &err), HS_EPROTO);

    const char *paths[] = {"config.json", "model.safetensors", "missing.bin"};
    char *lfs[3] = {0}, *git[3] = {0};
    assert_int_equal(
        uploader__hub_parse_paths_info(
            "[{\"type\":\"file\",\"oid\":\"2f96\",\"size\":554,\"path\":\"config.json\"},"
            "{\"type\":\"file\",\"oid\":\"8095\",\"size\":4,\"path\":\"model.safetensors\","
            "\"lfs\":{\"oid\":\"d88b\",\"size\":4,\"pointerSize\":134}}]",
            paths, 3, lfs, git, &err),
        0);
    assert_null(lfs[0]);
    assert_string_equal(git[0], "2f96");
    assert_string_equal(lfs[1], "d88b");
    assert_null(lfs[2]);
    assert_null(git[2]);
    for (int i = 0; i < 3; i++) {
        free(lfs[i]);
        free(git[i]);
    }
}

static void test_urls(void **s)
{
    (void)s;
    struct hub_repo r = {.endpoint = "https://huggingface.co",
                         .type = "dataset",
                         .ns = "acme",
                         .name = "data",
                         .revision = "refs/pr/1"};
    char *u = uploader__hub_url_preupload(&r);
    assert_string_equal(u, "https://huggingface.co/api/datasets/acme/data/preupload/refs%2Fpr%2F1");
    free(u);
    u = uploader__hub_url_lfs_batch(&r);
    assert_string_equal(u, "https://huggingface.co/datasets/acme/data.git/info/lfs/objects/batch");
    free(u);
    r.type = "model";
    r.revision = "main";
    u = uploader__hub_url_commit(&r);
    assert_string_equal(u, "https://huggingface.co/api/models/acme/data/commit/main");
    free(u);
    u = uploader__hub_commit_page_url(&r, "abc");
    assert_string_equal(u, "https://huggingface.co/acme/data/commit/abc");
    free(u);
    u = uploader__hub_body_create_repo(&r, true);
    json_t *j = json_loads(u, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "organization")), "acme");
    assert_string_equal(json_string_value(json_object_get(j, "visibility")), "private");
    assert_true(json_is_true(json_object_get(j, "private")));
    json_decref(j);
    free(u);
}

static void test_state_roundtrip(void **s)
{
    (void)s;
    struct push_state st;
    uploader__push_state_init(&st);
    st.key = strdup("http://x\nmodel\nalice/m\nmain");
    st.n_files = 2;
    st.files = calloc(2, sizeof(*st.files));
    st.files[0].repo_path = strdup("model.bin");
    st.files[0].hashed = true;
    st.files[1].repo_path = strdup("tiny.json"); /* under 64 KiB: hashed again on resume */
    st.files[1].hashed = true;
    st.files[1].key.size = 100;
    memset(st.files[1].dg.sha256, 0xcc, 32);
    st.files[0].key = (struct hash_key){.dev = 2049,
                                        .ino = 1234567,
                                        .size = 700000,
                                        .mtime_ns = 1700000000123456789,
                                        .ctime_ns = 1700000000987654321};
    memset(st.files[0].dg.sha256, 0xaa, 32);
    memset(st.files[0].dg.sha1, 0xbb, 20);
    st.files[0].dg.has_sha1 = true;
    st.owns_paths = true;
    const char *oid = "d88b0d6a6ff9c3f8151f9d3228f57092aaea997f09af009eefd7373a77b5abb9";
    struct push_state_object *o = uploader__push_state_object_add(&st, oid, 25);
    struct hub_lfs_action a = {.href = strdup("https://hub/complete?sig=1"),
                               .chunk_size = 10,
                               .n_parts = 3,
                               .expires_at = 1999999999,
                               .issued_at = 1999999000};
    a.part_urls = calloc(3, sizeof(char *));
    for (int i = 0; i < 3; i++) {
        char u[32];
        snprintf(u, sizeof(u), "https://s3/p%d", i + 1);
        a.part_urls[i] = strdup(u);
    }
    assert_int_equal(uploader__push_state_object_set_action(o, &a), 0);
    o->etags[1] = strdup("\"etag-2\"");
    uploader__push_state_object_add(
        &st, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0)
        ->done = true;
    st.commit_sent = true;
    st.commit_parent = strdup("8aa4cd78db279c7d673ade7a798dd4adff562cbb");

    size_t len;
    char *doc = uploader__push_state_dump(&st, &len);
    assert_non_null(doc);
    assert_null(strstr(doc, "hf_")); /* never a token in there */
    struct push_state back;
    struct hs_err err;
    assert_int_equal(uploader__push_state_load(doc, &back, &err), 0);
    assert_string_equal(back.key, st.key);
    assert_int_equal(back.n_files, 1);
    assert_int_equal(back.files[0].key.ino, 1234567);
    assert_int_equal(back.files[0].key.mtime_ns, 1700000000123456789);
    assert_null(strstr(doc, "sample")); /* read again at preupload time, never stored */
    assert_memory_equal(back.files[0].dg.sha256, st.files[0].dg.sha256, 32);
    assert_memory_equal(back.files[0].dg.sha1, st.files[0].dg.sha1, 20);
    assert_true(back.files[0].dg.has_sha1);
    assert_string_equal(back.files[0].repo_path, "model.bin");
    /* written as hex, as the previous version wrote and reads it */
    assert_non_null(strstr(doc,
                           "\"sha256\":\"" /* 64 x "a" */
                           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
                           "\"sha1\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\""));
    struct push_state_object *bo = uploader__push_state_object_find(&back, oid);
    assert_non_null(bo);
    assert_false(bo->done);
    assert_int_equal(bo->action.n_parts, 3);
    assert_int_equal(bo->action.chunk_size, 10);
    assert_int_equal(bo->action.expires_at, 1999999999);
    assert_int_equal(bo->action.issued_at, 1999999000);
    assert_string_equal(bo->action.part_urls[2], "https://s3/p3");
    assert_null(bo->etags[0]);
    assert_string_equal(bo->etags[1], "\"etag-2\"");
    assert_true(uploader__push_state_object_find(
                    &back, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
                    ->done);
    assert_true(back.commit_sent);
    assert_string_equal(back.commit_parent, st.commit_parent);
    /* A new batch answer with another completion URL resets the ETags. */
    struct hub_lfs_action a2 = {
        .href = strdup("https://hub/complete?sig=2"), .chunk_size = 10, .n_parts = 3};
    a2.part_urls = calloc(3, sizeof(char *));
    for (int i = 0; i < 3; i++)
        a2.part_urls[i] = strdup("https://s3/new");
    assert_int_equal(uploader__push_state_object_set_action(bo, &a2), 0);
    assert_null(bo->etags[1]);
    /* A completion that refused the parts: the upload is forgotten (no href,
     * part URLs or ETags saved), the object itself (oid, size, not done) stays,
     * and a later batch answer sets in again. */
    bo->etags[0] = strdup("\"etag-1\"");
    uploader__push_state_object_forget(bo);
    assert_null(bo->action.href);
    assert_null(bo->action.part_urls);
    assert_null(bo->etags);
    assert_int_equal(bo->action.n_parts, 0);
    assert_string_equal(bo->oid, oid);
    assert_string_equal(bo->action.oid, oid);
    assert_int_equal(bo->size, 25);
    char *doc2 = uploader__push_state_dump(&back, NULL);
    assert_non_null(doc2);
    assert_null(strstr(doc2, "complete?sig"));
    assert_null(strstr(doc2, "s3/new"));
    assert_null(strstr(doc2, "etag"));
    struct push_state back2;
    assert_int_equal(uploader__push_state_load(doc2, &back2, &err), 0);
    struct push_state_object *fo = uploader__push_state_object_find(&back2, oid);
    assert_non_null(fo);
    assert_false(fo->done);
    assert_int_equal(fo->size, 25);
    assert_null(fo->action.href);
    assert_null(fo->etags);
    uploader__push_state_clear(&back2);
    free(doc2);
    struct hub_lfs_action a3 = {
        .href = strdup("https://hub/complete?sig=3"), .chunk_size = 10, .n_parts = 3};
    a3.part_urls = calloc(3, sizeof(char *));
    for (int i = 0; i < 3; i++)
        a3.part_urls[i] = strdup("https://s3/newer");
    assert_int_equal(uploader__push_state_object_set_action(bo, &a3), 0);
    assert_non_null(bo->etags);
    assert_null(bo->etags[0]);
    assert_string_equal(bo->action.href, "https://hub/complete?sig=3");
    free(doc);
    uploader__push_state_clear(&back);
    uploader__push_state_clear(&st);
    /* Garbage in: refused with a message, nothing leaks. */
    assert_true(uploader__push_state_load("{\"version\":1}", &back, &err) < 0);
    assert_true(uploader__push_state_load("nope", &back, &err) < 0);
    assert_true(uploader__push_state_load(
                    "{\"version\":1,\"key\":\"k\",\"files\":[{\"path\":\"a\","
                    "\"sha256\":\"zz\",\"sha1\":\"\",\"sample\":\"\"}],\"objects\":[]}",
                    &back, &err) < 0);
}

static void test_hash_sync(void **s)
{
    (void)s;
    char path[] = "/tmp/hs_hash_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello\n", 6), 6);
    close(fd);
    struct uploader_hash h;
    struct hash_key k;
    struct hs_err err;
    assert_int_equal(uploader__hash_file_sync(path, &h, &k, &err), 0);
    assert_string_equal(h.sha256,
                        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
    assert_string_equal(h.sha1, "ce013625030ba8dba906f756967f9e9ca394464a"); /* git hash-object */
    assert_int_equal(h.size, 6);
    assert_int_equal(k.size, 6);
    /* The preupload sample is read later from the very file that was hashed. */
    char sample[8], why[200];
    assert_int_equal(uploader__read_file(path, &k, 0, sample, 6, why, sizeof(why)), 0);
    assert_memory_equal(sample, "hello\n", 6);
    assert_int_equal(uploader__read_file(path, &k, 0, sample, 5, why, sizeof(why)), 0);
    fd = open(path, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
    assert_int_equal(uploader__read_file(path, &k, 0, sample, 6, why, sizeof(why)), HS_ECHANGED);
    assert_non_null(strstr(why, "changed after it was hashed"));
    /* Empty file. */
    fd = open(path, O_WRONLY | O_TRUNC);
    close(fd);
    assert_int_equal(uploader__hash_file_sync(path, &h, &k, &err), 0);
    assert_string_equal(h.sha256,
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_string_equal(h.sha1, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    unlink(path);
    assert_int_equal(uploader__hash_file_sync(path, &h, &k, &err), -ENOENT);
    assert_non_null(strstr(err.msg, path));
}

static void test_status_class(void **s)
{
    (void)s;
    assert_int_equal(uploader__http_status_class(400, true), HS_EREFUSED);
    assert_int_equal(uploader__http_status_class(404, true), HS_EREFUSED);
    assert_int_equal(uploader__http_status_class(413, true), HS_EREFUSED);
    assert_int_equal(uploader__http_status_class(422, true), HS_EREFUSED);
    assert_int_equal(uploader__http_status_class(401, true), HS_EAUTH);
    assert_int_equal(uploader__http_status_class(403, true), HS_EAUTH);
    assert_int_equal(uploader__http_status_class(403, false),
                     HS_EREFUSED); /* storage: not the token */
    long transient[] = {408, 409, 412, 429, 500, 502, 503, 504};
    for (size_t i = 0; i < HS_ARRAY_SIZE(transient); i++)
        assert_int_equal(uploader__http_status_class(transient[i], true), HS_EHTTP);
    /* What uploader__http_describe_failure makes of storage answers. */
    struct http_request *r =
        uploader__http_request_new("PUT", "https://s3.example/part?X-Amz-Signature=s");
    struct hs_err err;
    r->resp.status = 400;
    const char *xml = "<Error><Code>EntityTooLarge</Code></Error>";
    hs_buf_append(&r->resp.body, xml, strlen(xml));
    assert_int_equal(uploader__http_describe_failure(r, "uploading part 1", &err), HS_EREFUSED);
    assert_null(strstr(err.msg, "Signature")); /* the query string is never printed */
    hs_buf_reset(&r->resp.body);
    xml = "<Error><Code>RequestTimeout</Code></Error>";
    hs_buf_append(&r->resp.body, xml, strlen(xml));
    assert_int_equal(uploader__http_describe_failure(r, "uploading part 1", &err), HS_EHTTP);
    uploader__http_request_free(r);
}

static void test_repo_path_rule(void **s)
{
    (void)s;
    const char *good[] = {"config.json", "checkpoint-50/model.safetensors", "..a/b",
                          "a/.gitx",     "caf\xc3\xa9/\xe2\x82\xac.txt",    ".gitattributes",
                          "a/.cachex/b"};
    for (size_t i = 0; i < HS_ARRAY_SIZE(good); i++)
        assert_null(uploader_repo_path_refusal(good[i]));
    struct {
        const char *path, *why;
    } bad[] = {
        {"", "empty"},
        {"/etc/passwd", "absolute"},
        {"checkpoint-50/back\\slash.txt", "backslash"},
        {"a\nb", "control character"},
        {"a\tb", "control character"},
        {"a\x7f", "control character"},
        {"latin1-\xe9.txt", "UTF-8"},
        {"over\xc0\xaflong", "UTF-8"},
        {"surrogate-\xed\xa0\x80", "UTF-8"},
        {"a//b", "empty component"},
        {"a/b/", "empty component"},
        {"a/../b", "\"..\""},
        {"./a", "\".\""},
        {".git/config", ".git/"},
        {"sub/.git/HEAD", ".git/"},
        {"x/.cache/huggingface/upload/a", ".cache/"},
    };
    for (size_t i = 0; i < HS_ARRAY_SIZE(bad); i++) {
        const char *why = uploader_repo_path_refusal(bad[i].path);
        assert_non_null(why);
        if (!strstr(why, bad[i].why))
            fail_msg("\"%s\": \"%s\" does not say %s", bad[i].path, why, bad[i].why);
    }
    char out[64];
    uploader_repo_path_escape("a\\b\n\"c\xe9\xc3\xa9", out, sizeof(out));
    assert_string_equal(out, "a\\x5cb\\x0a\\x22c\\xe9\xc3\xa9");
    char tiny[8];
    uploader_repo_path_escape("abcdefghijkl", tiny, sizeof(tiny));
    assert_string_equal(tiny, "abcd...");
}

static void test_open_file(void **s)
{
    (void)s;
    char dir[] = "/tmp/hs-open-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char f[128], l[128], g[128], why[200];
    snprintf(f, sizeof(f), "%s/f", dir);
    snprintf(l, sizeof(l), "%s/l", dir);
    snprintf(g, sizeof(g), "%s/g", dir);
    FILE *fp = fopen(f, "w");
    fputs("hello", fp);
    fclose(fp);
    fp = fopen(g, "w");
    fputs("world", fp);
    fclose(fp);
    assert_int_equal(symlink(f, l), 0);
    struct hash_key k;
    int fd = uploader__open_file(f, NULL, &k, why, sizeof(why));
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(k.size, 5);
    /* a symlink is never followed: it is not the regular file that was listed */
    assert_int_equal(uploader__open_file(l, NULL, NULL, why, sizeof(why)), HS_ECHANGED);
    assert_non_null(strstr(why, "symbolic link"));
    assert_int_equal(uploader__open_file(l, &k, NULL, why, sizeof(why)), HS_ECHANGED);
    /* the same file passes; another file swapped in under its name does not */
    fd = uploader__open_file(f, &k, NULL, why, sizeof(why));
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(rename(g, f), 0);
    assert_int_equal(uploader__open_file(f, &k, NULL, why, sizeof(why)), HS_ECHANGED);
    assert_non_null(strstr(why, "device/inode"));
    /* a FIFO swapped in neither blocks nor passes */
    unlink(f);
    assert_int_equal(mkfifo(f, 0600), 0);
    assert_int_equal(uploader__open_file(f, &k, NULL, why, sizeof(why)), HS_ECHANGED);
    assert_int_equal(uploader__open_file(f, NULL, NULL, why, sizeof(why)), HS_ECHANGED);
    unlink(f);
    unlink(l);
    rmdir(dir);
}

/* The state's objects by oid (an index, not a scan: a push of many LFS
 * objects looks one up for every transfer event): 5,000 added, each found,
 * an oid never added not found, a second add of one is the same object, and
 * a dump and load keeps them findable. */
static void test_state_object_index(void **st)
{
    (void)st;
    struct push_state s;
    uploader__push_state_init(&s);
    char oid[65];
    for (int i = 0; i < 5000; i++) {
        snprintf(oid, sizeof(oid), "%064x", i * 7919);
        struct push_state_object *o = uploader__push_state_object_add(&s, oid, (uint64_t)i);
        assert_non_null(o);
        assert_string_equal(o->oid, oid);
    }
    assert_int_equal(s.n_objects, 5000);
    for (int i = 0; i < 5000; i++) {
        snprintf(oid, sizeof(oid), "%064x", i * 7919);
        struct push_state_object *o = uploader__push_state_object_find(&s, oid);
        assert_non_null(o);
        assert_int_equal(o->size, (uint64_t)i);
    }
    snprintf(oid, sizeof(oid), "%064x", 1);
    assert_null(uploader__push_state_object_find(&s, oid));
    snprintf(oid, sizeof(oid), "%064x", 42 * 7919);
    assert_ptr_equal(uploader__push_state_object_add(&s, oid, 1),
                     uploader__push_state_object_find(&s, oid));
    assert_int_equal(s.n_objects, 5000);
    size_t len;
    char *doc = uploader__push_state_dump(&s, &len);
    assert_non_null(doc);
    struct push_state t;
    struct hs_err e;
    assert_int_equal(uploader__push_state_load(doc, &t, &e), 0);
    assert_int_equal(t.n_objects, 5000);
    snprintf(oid, sizeof(oid), "%064x", 4999 * 7919);
    assert_non_null(uploader__push_state_object_find(&t, oid));
    free(doc);
    uploader__push_state_clear(&s);
    uploader__push_state_clear(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origin),          cmocka_unit_test(test_encoders),
        cmocka_unit_test(test_retry),           cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_preupload),       cmocka_unit_test(test_lfs_batch),
        cmocka_unit_test(test_commit_body),     cmocka_unit_test(test_urls),
        cmocka_unit_test(test_state_roundtrip), cmocka_unit_test(test_hash_sync),
        cmocka_unit_test(test_status_class),    cmocka_unit_test(test_repo_path_rule),
        cmocka_unit_test(test_open_file),       cmocka_unit_test(test_state_object_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
