/*
 * test_env.c — config/config_env.c: endpoint and token resolution with the
 * precedence and cleaning rules of huggingface_hub, driven through the real
 * process environment (setenv/unsetenv) and real files in a temp directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256];

static const char *const vars[] = {
    "HF_ENDPOINT",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HF_HOME",
    "XDG_CACHE_HOME",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HUGGINGFACE_CO_STAGING",
    "MYDIR",
};

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "/tmp/hs_test_env_XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    for (size_t i = 0; i < HS_ARRAY_SIZE(vars); i++)
        unsetenv(vars[i]);
    /* HOME points into the temp dir so ~/.cache/huggingface/token is ours. */
    setenv("HOME", tmp, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *rel, const char *content, unsigned mode)
{
    char path[512], dir[512];
    snprintf(path, sizeof(path), "%s/%s", tmp, rel);
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(hs_mkdir_p(dir, 0700), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void expect_endpoint(const char *configured, const char *want)
{
    char *out = NULL;
    struct hs_err err = {0};
    int rc = config_resolve_endpoint(configured, &out, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
    free(out);
}

static void test_endpoint(void **state)
{
    (void)state;
    expect_endpoint(NULL, "https://huggingface.co");
    setenv("HF_ENDPOINT", "http://127.0.0.1:8080///", 1);
    expect_endpoint(NULL, "http://127.0.0.1:8080");
    /* staging mode overrides HF_ENDPOINT (huggingface_hub constants.py) */
    setenv("HUGGINGFACE_CO_STAGING", "yes", 1);
    expect_endpoint(NULL, "https://hub-ci.huggingface.co");
    /* a config value wins over the environment */
    expect_endpoint("https://hub.example.com/", "https://hub.example.com");
    unsetenv("HUGGINGFACE_CO_STAGING");
    setenv("HF_ENDPOINT", "", 1);
    char *empty = NULL;
    struct hs_err eerr = {0};
    assert_int_equal(config_resolve_endpoint(NULL, &empty, &eerr), HS_ECONFIG);
    assert_string_equal(eerr.msg, "HF_ENDPOINT \"\" is not an http:// or https:// URL with a host");

    char *out = (char *)1;
    struct hs_err err = {0};
    assert_int_equal(config_resolve_endpoint("ftp://x", &out, &err), HS_ECONFIG);
    assert_null(out);
    assert_string_equal(err.msg,
                        "endpoint \"ftp://x\" is not an http:// or https:// URL with a host");
    setenv("HF_ENDPOINT", "https:///", 1);
    assert_int_equal(config_resolve_endpoint(NULL, &out, &err), HS_ECONFIG);
    assert_string_equal(err.msg,
                        "HF_ENDPOINT \"https:\" is not an http:// or https:// URL with a host");
    unsetenv("HF_ENDPOINT");

    setenv("HF_HUB_OFFLINE", "True", 1);
    assert_int_equal(config_resolve_endpoint(NULL, &out, &err), HS_ECONFIG);
    assert_string_equal(err.msg, "HF_HUB_OFFLINE=True: offline mode is enabled, so nothing can be "
                                 "uploaded; unset it");
    setenv("HF_HUB_OFFLINE", "0", 1);
    expect_endpoint(NULL, "https://huggingface.co");
    /* `HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE`: a non-empty HF_HUB_OFFLINE
     * decides alone, even when it is false */
    setenv("TRANSFORMERS_OFFLINE", "1", 1);
    expect_endpoint(NULL, "https://huggingface.co");
    unsetenv("HF_HUB_OFFLINE");
    assert_int_equal(config_resolve_endpoint(NULL, &out, &err), HS_ECONFIG);
    assert_string_equal(err.msg, "TRANSFORMERS_OFFLINE=1: offline mode is enabled, so nothing can "
                                 "be uploaded; unset it");
    unsetenv("TRANSFORMERS_OFFLINE");
}

static void expect_token(const char *inl, const char *file, const char *want,
                         enum config_token_source want_src, const char *want_where)
{
    char *out = NULL, where[512];
    enum config_token_source src;
    struct hs_err err = {0};
    int rc = config_resolve_token_env(inl, file, NULL, &out, &src, where, sizeof(where), &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
    assert_int_equal(src, want_src);
    if (want_where)
        assert_string_equal(where, want_where);
    hs_free_secret(out);
}

static void test_token_precedence(void **state)
{
    (void)state;
    char p[512], q[512];
    write_file(".cache/huggingface/token", "  hf_home_default\r\n", 0600);
    snprintf(p, sizeof(p), "%s/.cache/huggingface/token", tmp);
    expect_token(NULL, NULL, "hf_home_default", CONFIG_TOKEN_HF_FILE, p);

    write_file("xdg/huggingface/token", "hf_xdg\n", 0600);
    setenv("XDG_CACHE_HOME", tmp, 1);
    char xdg[512];
    snprintf(xdg, sizeof(xdg), "%s/xdg", tmp);
    setenv("XDG_CACHE_HOME", xdg, 1);
    snprintf(p, sizeof(p), "%s/xdg/huggingface/token", tmp);
    expect_token(NULL, NULL, "hf_xdg", CONFIG_TOKEN_HF_FILE, p);

    /* HF_HOME with $VARS and ~ expanded as Python's expandvars/expanduser */
    write_file("hfhome/token", "hf_hfhome", 0600);
    setenv("MYDIR", "hfhome", 1);
    setenv("HF_HOME", "~/${MYDIR}", 1);
    snprintf(p, sizeof(p), "%s/hfhome/token", tmp);
    expect_token(NULL, NULL, "hf_hfhome", CONFIG_TOKEN_HF_FILE, p);

    write_file("custom/tok", "\n hf_path \n\n", 0600);
    snprintf(q, sizeof(q), "%s/custom/tok", tmp);
    setenv("HF_TOKEN_PATH", "$HOME/custom/tok", 1);
    expect_token(NULL, NULL, "hf_path", CONFIG_TOKEN_HF_FILE, q);

    setenv("HUGGING_FACE_HUB_TOKEN", "hf_legacy", 1);
    expect_token(NULL, NULL, "hf_legacy", CONFIG_TOKEN_ENV_LEGACY, "$HUGGING_FACE_HUB_TOKEN");
    /* an empty HF_TOKEN falls through to the legacy name (Python's `or`) */
    setenv("HF_TOKEN", "", 1);
    expect_token(NULL, NULL, "hf_legacy", CONFIG_TOKEN_ENV_LEGACY, NULL);
    setenv("HF_TOKEN", " hf_env\n", 1);
    expect_token(NULL, NULL, "hf_env", CONFIG_TOKEN_ENV, "$HF_TOKEN");

    /* staging mode reads ~/.cache/huggingface_staging/token instead */
    write_file(".cache/huggingface_staging/token", "hf_staging\n", 0600);
    setenv("HUGGINGFACE_CO_STAGING", "1", 1);
    unsetenv("HUGGING_FACE_HUB_TOKEN");
    unsetenv("HF_TOKEN");
    snprintf(p, sizeof(p), "%s/.cache/huggingface_staging/token", tmp);
    expect_token(NULL, NULL, "hf_staging", CONFIG_TOKEN_HF_FILE, p);
    unsetenv("HUGGINGFACE_CO_STAGING");
    setenv("HF_TOKEN", " hf_env\n", 1);

    write_file("cfg/token", "hf_cfgfile\n", 0640);
    snprintf(p, sizeof(p), "%s/cfg/token", tmp);
    expect_token(NULL, p, "hf_cfgfile", CONFIG_TOKEN_FILE, p);
    expect_token("hf_inline ", p, "hf_inline", CONFIG_TOKEN_INLINE, NULL);
}

static void test_token_cleaning_and_empty(void **state)
{
    (void)state;
    /* whitespace-only env values count as none: the file is used */
    write_file(".cache/huggingface/token", "hf_a\r\nb\n", 0600);
    setenv("HF_TOKEN", " \r\n ", 1);
    expect_token(NULL, NULL, "hf_ab", CONFIG_TOKEN_HF_FILE, NULL);
    unsetenv("HF_TOKEN");

    write_file(".cache/huggingface/token", " \n", 0600);
    char *out = NULL;
    struct hs_err err = {0};
    assert_int_equal(config_resolve_token(NULL, NULL, &out, &err), -ENOENT);
    assert_null(out);
    char want[1024];
    snprintf(want, sizeof(want),
             "no Hub token: HF_TOKEN and HUGGING_FACE_HUB_TOKEN are unset or empty, and "
             "%s/.cache/huggingface/token is empty. Log in with `hf auth login` (it writes that "
             "file), or set HF_TOKEN",
             tmp);
    assert_string_equal(err.msg, want);

    setenv("HF_HOME", "/nonexistent/hf", 1);
    assert_int_equal(config_resolve_token(NULL, NULL, &out, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/hf/token does not exist"));
}

static void test_token_file_errors(void **state)
{
    (void)state;
    char p[512], want[1024];
    char *out = NULL;
    struct hs_err err = {0};
    setenv("HF_TOKEN", "hf_env", 1); /* must not be used when token_file is configured */

    snprintf(p, sizeof(p), "%s/missing", tmp);
    assert_int_equal(config_resolve_token(NULL, p, &out, &err), -ENOENT);
    snprintf(want, sizeof(want), "token_file %s: %s", p, hs_strerror(-ENOENT));
    assert_string_equal(err.msg, want);

    write_file("world", "hf_x\n", 0644);
    snprintf(p, sizeof(p), "%s/world", tmp);
    assert_int_equal(config_resolve_token(NULL, p, &out, &err), HS_ECONFIG);
    snprintf(want, sizeof(want),
             "token file %s is accessible to other users (mode 0644); run chmod o-rwx on it", p);
    assert_string_equal(err.msg, want);
    assert_null(strstr(err.msg, "hf_x"));

    write_file("empty", "\n\n", 0600);
    snprintf(p, sizeof(p), "%s/empty", tmp);
    assert_int_equal(config_resolve_token(NULL, p, &out, &err), HS_ECONFIG);
    snprintf(want, sizeof(want), "token_file %s is empty", p);
    assert_string_equal(err.msg, want);

    assert_int_equal(config_resolve_token("   ", NULL, &out, &err), HS_ECONFIG);
    assert_string_equal(err.msg, "config \"token\" is empty");
    assert_null(out);
}

static void test_truthy(void **state)
{
    (void)state;
    assert_true(config_env_truthy("1"));
    assert_true(config_env_truthy("ON"));
    assert_true(config_env_truthy("yes"));
    assert_true(config_env_truthy("TrUe"));
    assert_false(config_env_truthy("0"));
    assert_false(config_env_truthy(""));
    assert_false(config_env_truthy("y"));
    assert_false(config_env_truthy(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_cleaning_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_file_errors, setup, teardown),
        cmocka_unit_test(test_truthy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
