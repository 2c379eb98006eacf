/*
 * test_token_perms.c — the one permission rule for token files, per source:
 * a file other users may access (mode & 007) is refused when it is
 * hubsync's own (token_file; a config with an inline token must be 0600),
 * and used with one warning naming the file and `chmod 600` when it is
 * huggingface_hub's (HF_TOKEN_PATH, $HF_HOME/token,
 * ~/.cache/huggingface/token). Environment tokens and private files give no
 * warning. No message ever holds the token.
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

#define TOK "hf_PermsTestToken0123456789abcdef"

static char tmp[256];
static const char *env_v[8][2];
static size_t env_n;

static const char *env(const char *name)
{
    for (size_t i = 0; i < env_n; i++)
        if (!strcmp(env_v[i][0], name))
            return env_v[i][1];
    return NULL;
}

static void env_set(const char *name, const char *value)
{
    env_v[env_n][0] = name;
    env_v[env_n][1] = value;
    env_n++;
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "/tmp/hs_test_perms_XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    env_n = 0;
    env_set("HOME", tmp);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static char *write_tok(const char *rel, unsigned mode)
{
    static char path[512];
    char dir[512];
    snprintf(path, sizeof(path), "%s/%s", tmp, rel);
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(hs_mkdir_p(dir, 0700), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(TOK "\n", f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

/* Resolve; returns rc, the message in msg (warning or error). */
static int resolve(const char *token_file, char *msg, size_t n)
{
    char *out = NULL;
    struct hs_err err = {0};
    int rc = config_resolve_token_env(NULL, token_file, env, &out, NULL, NULL, 0, &err);
    if (rc == 0)
        assert_string_equal(out, TOK);
    hs_free_secret(out);
    snprintf(msg, n, "%s", err.msg);
    assert_null(strstr(msg, TOK));
    return rc;
}

static void expect_warning(const char *path, bool warned)
{
    char msg[HS_ERR_MAX], want[700];
    assert_int_equal(resolve(NULL, msg, sizeof(msg)), 0);
    if (!warned) {
        assert_string_equal(msg, "");
        return;
    }
    snprintf(want, sizeof(want),
             "token file %s is accessible to other users (mode 0644): anyone on this machine "
             "can read the token; run chmod 600 on it",
             path);
    assert_string_equal(msg, want);
}

static void test_hf_default_location_warns(void **state)
{
    (void)state;
    char *p = write_tok(".cache/huggingface/token", 0644);
    char path[512];
    snprintf(path, sizeof(path), "%s", p);
    expect_warning(path, true);
    assert_int_equal(chmod(path, 0600), 0);
    expect_warning(path, false);
    assert_int_equal(chmod(path, 0640), 0); /* group: not "other users" */
    expect_warning(path, false);
}

static void test_hf_home_warns(void **state)
{
    (void)state;
    char *p = write_tok("hfhome/token", 0644);
    char path[512], home[512];
    snprintf(path, sizeof(path), "%s", p);
    snprintf(home, sizeof(home), "%s/hfhome", tmp);
    env_set("HF_HOME", home);
    expect_warning(path, true);
}

static void test_hf_token_path_warns(void **state)
{
    (void)state;
    char *p = write_tok("elsewhere/tok", 0644);
    char path[512];
    snprintf(path, sizeof(path), "%s", p);
    env_set("HF_TOKEN_PATH", path);
    expect_warning(path, true);
}

static void test_env_tokens_no_warning(void **state)
{
    (void)state;
    write_tok(".cache/huggingface/token", 0644); /* not reached */
    env_set("HF_TOKEN", TOK);
    expect_warning(NULL, false);
    env_n = 1;
    env_set("HUGGING_FACE_HUB_TOKEN", TOK);
    expect_warning(NULL, false);
}

static void test_token_file_refused(void **state)
{
    (void)state;
    char *p = write_tok("cfg/token", 0644);
    char path[512], msg[HS_ERR_MAX], want[700];
    snprintf(path, sizeof(path), "%s", p);
    assert_int_equal(resolve(path, msg, sizeof(msg)), HS_ECONFIG);
    snprintf(want, sizeof(want),
             "token file %s is accessible to other users (mode 0644); run chmod o-rwx on it", path);
    assert_string_equal(msg, want);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(resolve(path, msg, sizeof(msg)), 0);
    assert_string_equal(msg, "");
}

static void test_inline_token_needs_0600(void **state)
{
    (void)state;
    const char *text = "{\"token\": \"" TOK "\", \"jobs\": [{\"name\": \"j\", \"watch\": "
                       "\"/tmp/w\", \"hub_model_id\": \"a/b\"}]}";
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    assert_int_equal(config_load_text("c.json", text, strlen(text), 0644, env, &cfg, &errs),
                     HS_ECONFIG);
    assert_true(errs.n >= 1);
    assert_non_null(strstr(errs.v[0], "mode 0600 or stricter"));
    assert_null(strstr(errs.v[0], TOK));
    config_errors_free(&errs);
    assert_int_equal(config_load_text("c.json", text, strlen(text), 0600, env, &cfg, &errs), 0);
    struct hs_err err = {0};
    assert_int_equal(config_token_load(cfg, env, &err), 0);
    assert_null(cfg->token_warning);
    config_free(cfg);
}

static void test_config_token_load_keeps_warning(void **state)
{
    (void)state;
    write_tok(".cache/huggingface/token", 0604);
    const char *text = "{\"jobs\": [{\"name\": \"j\", \"watch\": \"/tmp/w\", \"hub_model_id\": "
                       "\"a/b\"}]}";
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    assert_int_equal(config_load_text("c.json", text, strlen(text), 0600, env, &cfg, &errs), 0);
    struct hs_err err = {0};
    assert_int_equal(config_token_load(cfg, env, &err), 0);
    assert_non_null(cfg->token_warning);
    assert_non_null(strstr(cfg->token_warning, "(mode 0604)"));
    assert_non_null(strstr(cfg->token_warning, "run chmod 600 on it"));
    assert_string_equal(err.msg, "");
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hf_default_location_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hf_home_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hf_token_path_warns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_tokens_no_warning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_file_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_token_needs_0600, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_token_load_keeps_warning, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
