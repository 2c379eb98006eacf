/*
 * test_pattern.c — config/pattern.c and config/repo_id.c: huggingface_hub's
 * fnmatch dialect (expected values obtained by running Python's
 * fnmatch.fnmatchcase on each case after filter_repo_objects' rules:
 * backslashes become '/', a trailing '/' gets '*'), the include/exclude filter, the always-excluded
 * folders, repo id and branch name rules.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *pattern, *path;
    bool match;
} cases[] = {
    {"*", "a/b/c.bin", true},
    {"*.bin", "pytorch_model.bin", true},
    {"*.bin", "sub/dir/x.bin", true},
    {"*.bin", "x.bin.tmp", false},
    {"checkpoint-*", "checkpoint-500/model.safetensors", true},
    {"checkpoint-*", "tmp-checkpoint-500/x", false},
    {"_*", "_private/x", true},
    {"_*", "a/_b", false},
    {"runs/", "runs/events.out", true},
    {"runs/", "runs", false},
    {"runs/", "xruns/a", false},
    {"runs", "runs/events.out", false},
    {"?.txt", "a.txt", true},
    {"?.txt", "ab.txt", false},
    {"?", "/", true},
    {"[abc].txt", "b.txt", true},
    {"[!abc].txt", "b.txt", false},
    {"[!abc].txt", "d.txt", true},
    {"[a-c]x", "bx", true},
    {"[a-c]x", "dx", false},
    {"[]]x", "]x", true},
    {"[!]]x", "ax", true},
    {"[!]]x", "]x", false},
    {"[a-]", "-", true},
    {"[-a]", "-", true},
    {"[z-a]", "m", false},
    {"[!z-a]", "m", true},
    {"[", "[", true},
    {"[ab", "[ab", true},
    {"a[", "a[", true},
    {"\\*", "\\x", true},
    {"\\*", "*", false},
    {"[^a]", "^", true},
    {"[^a]", "b", false},
    {"*.Bin", "x.bin", false},
    {"a*b*c", "aXbYc", true},
    {"a*b*c", "aXbY", false},
    {"*/*.json", "config.json", false},
    {"*/*.json", "a/config.json", true},
    {"**/*.json", "a/b/c.json", true},
    {"", "", true},
    {"", "a", false},
    {"*", "", true},
    {"a/", "a/", true},
    {"[a-c-e]", "-", true},
    {"[a-c-e]", "d", false},
    {"*checkpoint-*", "x/checkpoint-1/a", true},
    {"model-0000?-of-00002.safetensors", "model-00001-of-00002.safetensors", true},
    {"[.]git", ".git", true},
    {"runs\\", "runs/x", true},
    {"a\\b", "a/b", true},
    {"a/b", "a\\b", true},
    {"[\\]", "/", true},
    {"*\\*.bin", "x/y.bin", true},
    {"[!\\]x", "/x", false},
    {"*.[sb]*", "a.safetensors", true},
    {"*.[!s]*", "a.safetensors", false},
};

static void test_fnmatch_table(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < HS_ARRAY_SIZE(cases); i++) {
        bool got = config_pattern_match(cases[i].pattern, cases[i].path);
        if (got != cases[i].match) {
            fprintf(stderr, "pattern \"%s\" path \"%s\": got %d expected %d\n", cases[i].pattern,
                    cases[i].path, got, cases[i].match);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_long_dir_pattern(void **state)
{
    (void)state;
    char pat[1200], path[1300];
    memset(pat, 'a', 1000);
    strcpy(pat + 1000, "/");
    snprintf(path, sizeof(path), "%sfile", pat);
    assert_true(config_pattern_match(pat, path));
    path[3] = 'b';
    assert_false(config_pattern_match(pat, path));
}

static void test_filter(void **state)
{
    (void)state;
    const char *inc_all[] = {"*"};
    const char *inc[] = {"*.safetensors", "config.json"};
    const char *exc[] = {"_*", "checkpoint-*", "runs/"};
    /* filter_repo_objects: no include list means everything. */
    assert_true(config_path_allowed("x/y", NULL, 0, NULL, 0));
    assert_true(config_path_allowed("x/y", inc_all, 1, NULL, 0));
    assert_true(config_path_allowed("model.safetensors", inc, 2, exc, 3));
    assert_true(config_path_allowed("config.json", inc, 2, exc, 3));
    assert_false(config_path_allowed("tokenizer.json", inc, 2, exc, 3));
    assert_false(config_path_allowed("checkpoint-5/model.safetensors", inc, 2, exc, 3));
    assert_false(config_path_allowed("_tmp/model.safetensors", inc, 2, exc, 3));
    assert_false(config_path_allowed("runs/a.safetensors", inc, 2, exc, 3));
    /* exclude wins over include */
    assert_false(config_path_allowed("runs/x", inc_all, 1, exc, 3));
    assert_true(config_path_allowed("tmp-checkpoint-5/x", inc_all, 1, exc, 3));
}

static void test_always_excluded(void **state)
{
    (void)state;
    assert_true(config_path_always_excluded(".git"));
    assert_true(config_path_always_excluded(".git/config"));
    assert_true(config_path_always_excluded("sub/.git/HEAD"));
    assert_true(config_path_always_excluded(".hubsync/spool/x"));
    assert_true(config_path_always_excluded(".cache/huggingface/upload/x.lock"));
    assert_true(config_path_always_excluded("a/.cache/huggingface"));
    assert_false(config_path_always_excluded(".gitattributes"));
    assert_false(config_path_always_excluded("x.git/a"));
    assert_false(config_path_always_excluded(".cache/other"));
    assert_false(config_path_always_excluded(".cache/huggingface2/x"));
    assert_false(config_path_always_excluded("model.safetensors"));
    assert_string_equal(config_always_excluded[0], ".hubsync/");
}

static void test_repo_id(void **state)
{
    (void)state;
    struct hs_err err = {0};
    const char *good[] = {
        "bert", "my-org/bert-finetuned-mrpc", "a/b", "user_1/m.v2", "A_/_B",
        /* a 96-character name, the longest allowed */
        ("o/0123456789012345678901234567890123456789012345678901234567890123456789"
         "01234567890123456789012345")};
    for (size_t i = 0; i < HS_ARRAY_SIZE(good); i++) {
        int rc = config_repo_id_check(good[i], &err);
        if (rc != 0)
            fprintf(stderr, "%s: %s\n", good[i], err.msg);
        assert_int_equal(rc, 0);
    }
    const struct {
        const char *id, *msg;
    } bad[] = {
        {"a/b/c", "\"a/b/c\" must be \"name\" or \"namespace/name\" (at most one '/')"},
        {"-a", "\"-a\" is not a valid repo id: use letters, digits, '-', '_' or '.', do not start "
               "or end a part with '-' or '.', and keep the name at most 96 characters"},
        {"a.", NULL},
        {"org/.x", NULL},
        {"/x", NULL},
        {"x/", NULL},
        {"", NULL},
        {"a b", NULL},
        {"o/01234567890123456789012345678901234567890123456789012345678901234567890123456789"
         "0123456789012345x",
         NULL},
        {"a--b", "\"a--b\" is not a valid repo id: it contains \"--\""},
        {"o/a..b", "\"o/a..b\" is not a valid repo id: it contains \"..\""},
        {"o/model.git", "\"o/model.git\" is not a valid repo id: it ends with \".git\""},
    };
    for (size_t i = 0; i < HS_ARRAY_SIZE(bad); i++) {
        memset(&err, 0, sizeof(err));
        int rc = config_repo_id_check(bad[i].id, &err);
        if (rc != HS_ECONFIG)
            fprintf(stderr, "accepted bad id \"%s\"\n", bad[i].id);
        assert_int_equal(rc, HS_ECONFIG);
        assert_int_equal(err.code, HS_ECONFIG);
        if (bad[i].msg)
            assert_string_equal(err.msg, bad[i].msg);
    }
}

static void test_revision(void **state)
{
    (void)state;
    struct hs_err err = {0};
    const char *good[] = {"main", "dev", "feature/x", "v1.0", "run-2024_01"};
    for (size_t i = 0; i < HS_ARRAY_SIZE(good); i++)
        assert_int_equal(config_revision_check(good[i], &err), 0);
    const char *bad[] = {"",   "a..b", "a b",  "a~1", "x^", "a:b",    "a?", "a*",   "a[", "a\\b",
                         "/a", "a/",   "a//b", "-a",  "a.", "a.lock", "@",  "a@{b", ".a", "x/.y"};
    for (size_t i = 0; i < HS_ARRAY_SIZE(bad); i++) {
        int rc = config_revision_check(bad[i], &err);
        if (rc != HS_ECONFIG)
            fprintf(stderr, "accepted bad revision \"%s\"\n", bad[i]);
        assert_int_equal(rc, HS_ECONFIG);
    }
    config_revision_check("a b", &err);
    assert_string_equal(err.msg, "\"a b\" is not a valid branch name: it contains a space, a "
                                 "control character or one of ~^:?*[\\");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnmatch_table), cmocka_unit_test(test_long_dir_pattern),
        cmocka_unit_test(test_filter),        cmocka_unit_test(test_always_excluded),
        cmocka_unit_test(test_repo_id),       cmocka_unit_test(test_revision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
