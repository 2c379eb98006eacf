/*
 * fuzz_hub_api.c — fuzz target for every parser of a Hub answer in
 * uploader/ (uploader_int.h): whoami-v2, preupload, LFS batch, commit,
 * paths-info, repo info (create-repo answers are read through it and
 * through the error path), a tree page and its Link header, and the
 * error-body reader uploader__http_error_message.
 * The resumable push state file has its own target (fuzz_push_state.c).
 *
 * Every input is fed to every parser as the response body, with the
 * questions a real push would have asked (three paths, three LFS objects:
 * tiny, one part, several parts). Checks beyond "no crash/leak/UB": an
 * accepted answer fills what the parser promises (a non-empty user name,
 * every asked object answered, a multipart action has exactly
 * ceil(size/chunk) part URLs, a commit oid), a refusal fills the message,
 * and the error text is bounded.
 */
#include "uploader_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_ASKED 3
static const char *const paths[N_ASKED] = {"config.json", "model.safetensors",
                                           "checkpoint-500/optimizer.pt"};
static const char *const oids[N_ASKED] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    "486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7"};
static const uint64_t sizes[N_ASKED] = {5, 10485760, 52428800};
#define NOW_UNIX INT64_C(1764201600)

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_hub_api: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static void check_refusal(int rc, const struct hs_err *err, const char *what)
{
    if (rc >= 0)
        fail("negative result expected", what);
    if (rc != -ENOMEM && !err->msg[0])
        fail("refusal without a message", what);
}

static void fuzz_whoami(const char *body)
{
    char *name = NULL;
    struct hs_err err = {0};
    int rc = uploader__hub_parse_whoami(body, &name, &err);
    if (rc == 0 && (!name || !*name))
        fail("whoami accepted without a name", NULL);
    if (rc != 0)
        check_refusal(rc, &err, "whoami");
    free(name);
}

static void fuzz_preupload(const char *body)
{
    struct hub_preupload_item items[N_ASKED];
    memset(items, 0, sizeof(items));
    for (size_t i = 0; i < N_ASKED; i++) {
        items[i].path = paths[i];
        items[i].size = sizes[i];
    }
    char *commit_oid = NULL;
    struct hs_err err = {0};
    int rc = uploader__hub_parse_preupload(body, items, N_ASKED, &commit_oid, &err);
    if (rc != 0)
        check_refusal(rc, &err, "preupload");
    for (size_t i = 0; i < N_ASKED; i++)
        free(items[i].remote_oid);
    free(commit_oid);
}

static void fuzz_lfs_batch(const char *body)
{
    struct hub_lfs_action a[N_ASKED];
    memset(a, 0, sizeof(a));
    for (size_t i = 0; i < N_ASKED; i++) {
        snprintf(a[i].oid, sizeof(a[i].oid), "%s", oids[i]);
        a[i].size = sizes[i];
    }
    struct hs_err err = {0};
    int rc = uploader__hub_parse_lfs_batch(body, a, N_ASKED, NOW_UNIX, &err);
    if (rc == 0) {
        for (size_t i = 0; i < N_ASKED; i++) {
            if (a[i].present == (a[i].href != NULL))
                fail("LFS action is neither present nor uploadable (or both)", a[i].oid);
            if (a[i].href && strncmp(a[i].href, "http", 4) != 0)
                fail("LFS href is not a URL", a[i].href);
            if (a[i].chunk_size) {
                uint64_t want = (a[i].size + a[i].chunk_size - 1) / a[i].chunk_size;
                if (a[i].n_parts != want)
                    fail("part count is not ceil(size/chunk)", a[i].oid);
                for (size_t k = 0; k < a[i].n_parts; k++)
                    if (!a[i].part_urls[k])
                        fail("missing part URL", a[i].oid);
            }
        }
    } else {
        check_refusal(rc, &err, "LFS batch");
    }
    for (size_t i = 0; i < N_ASKED; i++)
        uploader__hub_lfs_action_clear(&a[i]);
}

static void fuzz_commit(const char *body)
{
    char *oid = NULL, *url = NULL;
    struct hs_err err = {0};
    int rc = uploader__hub_parse_commit(body, &oid, &url, &err);
    if (rc == 0 && !oid)
        fail("commit accepted without an oid", NULL);
    if (rc != 0)
        check_refusal(rc, &err, "commit");
    free(oid);
    free(url);
}

static void fuzz_paths_info(const char *body)
{
    char *lfs[N_ASKED] = {0}, *git[N_ASKED] = {0};
    struct hs_err err = {0};
    int rc = uploader__hub_parse_paths_info(body, paths, N_ASKED, lfs, git, &err);
    if (rc != 0)
        check_refusal(rc, &err, "paths-info");
    for (size_t i = 0; i < N_ASKED; i++) {
        free(lfs[i]);
        free(git[i]);
    }
}

static void fuzz_repo_info(const char *body)
{
    char *sha = NULL;
    struct hs_err err = {0};
    int rc = uploader__hub_parse_repo_info_sha(body, &sha, &err);
    if (rc == 0 && !sha)
        fail("repo info accepted without a sha", NULL);
    if (rc != 0)
        check_refusal(rc, &err, "repo info");
    free(sha);
}

static void fuzz_tree(const char *body)
{
    struct uploader_tree t = {0};
    struct hs_err err = {0};
    int rc = uploader_tree_parse(body, &t, &err);
    if (rc != 0)
        check_refusal(rc, &err, "tree");
    for (size_t i = 0; i < t.n; i++)
        if (!t.entries[i].path || !*t.entries[i].path)
            fail("tree entry without a path", NULL);
    uploader_tree_clear(&t);
    /* the same bytes as a Link header: a next URL is always under the endpoint */
    char *next = NULL;
    rc = uploader_tree_next_url(body, "http://127.0.0.1:8080", &next, &err);
    if (rc == 0 && next && !uploader__url_is_under_endpoint(next, "http://127.0.0.1:8080"))
        fail("next page outside the endpoint", next);
    if (rc != 0 && (next || !err.msg[0]))
        fail("refused Link header without a message (or with a URL)", NULL);
    free(next);
}

static void fuzz_error_body(char *body, size_t len)
{
    struct http_request r;
    memset(&r, 0, sizeof(r));
    r.resp.body.data = body;
    r.resp.body.len = len;
    r.resp.body.cap = len + 1;
    char out[256];
    memset(out, 'x', sizeof(out));
    uploader__http_error_message(&r, out, sizeof(out));
    if (memchr(out, 0, sizeof(out)) == NULL)
        fail("error message not terminated", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size + 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    body[size] = 0; /* http_loop.c keeps bodies NUL-terminated */
    fuzz_whoami(body);
    fuzz_preupload(body);
    fuzz_lfs_batch(body);
    fuzz_commit(body);
    fuzz_paths_info(body);
    fuzz_repo_info(body);
    fuzz_tree(body);
    fuzz_error_body(body, size);
    free(body);
    return 0;
}
