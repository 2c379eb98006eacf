/* test_common.c — common/: paths that must not escape, bounded buffers,
 * secret scrubbing in log lines, atomic writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void test_path_safe_relative(void **state)
{
    (void)state;
    assert_true(hs_path_is_safe_relative("a/b.txt"));
    assert_true(hs_path_is_safe_relative("checkpoint-10/model.safetensors"));
    assert_true(hs_path_is_safe_relative("..a/b"));
    assert_false(hs_path_is_safe_relative(""));
    assert_false(hs_path_is_safe_relative("/etc/passwd"));
    assert_false(hs_path_is_safe_relative("a/../../b"));
    assert_false(hs_path_is_safe_relative(".."));
    assert_false(hs_path_is_safe_relative("a//b"));
    assert_false(hs_path_is_safe_relative("a/./b"));
    assert_false(hs_path_is_safe_relative("a/b/"));
    assert_false(hs_path_is_safe_relative("a\nb"));
}

static void test_path_join(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(hs_path_join(out, sizeof(out), "/data/", "/x"), 0);
    assert_string_equal(out, "/data/x");
    assert_int_equal(hs_path_join(out, sizeof(out), "/", "x"), 0);
    assert_string_equal(out, "/x");
    assert_int_equal(hs_path_join_under(out, sizeof(out), "/data", "../etc"), -EINVAL);
    assert_int_equal(hs_path_join(out, 8, "/data", "longname"), -ENAMETOOLONG);
}

static void test_buf_bounded(void **state)
{
    (void)state;
    struct hs_buf b;
    hs_buf_init(&b, 10);
    assert_int_equal(hs_buf_append(&b, "hello", 5), 0);
    assert_int_equal(hs_buf_printf(&b, "%d", 12345), 0);
    assert_string_equal(b.data, "hello12345");
    assert_int_equal(hs_buf_append(&b, "x", 1), -E2BIG);
    assert_int_equal(b.len, 10);
    hs_buf_free(&b);
}

static char captured[4096];
static void capture_sink(enum hs_log_level level, const char *line, void *ud)
{
    (void)level;
    (void)ud;
    snprintf(captured, sizeof(captured), "%s", line);
}

static void test_log_scrubs_secrets(void **state)
{
    (void)state;
    const char *tok = "hf_SECRETsecretSECRETsecret1234";
    hs_log_set_sink(capture_sink, NULL);
    assert_int_equal(hs_secret_register(tok), 0);
    hs_log_info("Authorization: Bearer %s and again %s.", tok, tok);
    assert_null(strstr(captured, "SECRET"));
    assert_string_equal(captured, "Authorization: Bearer hf_*** and again hf_***.");
    assert_string_equal(hs_token_redacted(tok), "hf_***");
    hs_log_debug("not shown at info level");
    assert_string_equal(captured, "Authorization: Bearer hf_*** and again hf_***.");
    hs_secret_clear_all();
    hs_log_set_sink(NULL, NULL);
}

static void test_atomic_write_and_read(void **state)
{
    (void)state;
    char dir[] = "/tmp/hs_common_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[256], file[300];
    snprintf(sub, sizeof(sub), "%s/a/b/c", dir);
    assert_int_equal(hs_mkdir_p(sub, 0700), 0);
    snprintf(file, sizeof(file), "%s/f.txt", sub);
    assert_int_equal(hs_write_file_atomic(file, "payload", 7, 0600), 0);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(hs_read_file(file, 100, &data, &len), 0);
    assert_int_equal(len, 7);
    assert_string_equal(data, "payload");
    free(data);
    assert_int_equal(hs_read_file(file, 3, &data, &len), -EFBIG);
    assert_int_equal(hs_read_file("/nonexistent/x", 3, &data, &len), -ENOENT);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(hs_strerror(HS_ECONFIG), "invalid configuration");
    assert_string_equal(hs_strerror(-ENOENT), "No such file or directory");
    struct hs_err e;
    assert_int_equal(hs_err_set(&e, -EIO, "read %s: %s", "x", "boom"), -EIO);
    assert_string_equal(e.msg, "read x: boom");
}

/* One reader for the HUBSYNC_* numbers: anything but a whole
 * non-negative decimal number in range gives the default. */
static void test_env_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        unsigned want;
    } cases[] = {{"", 7},
                 {"12", 12},
                 {"0", 0},
                 {"12x", 7},
                 {"-1", 7},
                 {"+3", 7},
                 {"4294967295", 4294967295u},
                 {"4294967296", 7}};
    for (size_t i = 0; i < HS_ARRAY_SIZE(cases); i++) {
        setenv("HS_TEST_KNOB", cases[i].text, 1);
        assert_int_equal(hs_env_uint("HS_TEST_KNOB", 7), cases[i].want);
    }
    setenv("HS_TEST_KNOB", "18446744073709551616", 1);
    assert_int_equal(hs_env_u64("HS_TEST_KNOB", 5), 5);
    setenv("HS_TEST_KNOB", "4294967296", 1);
    assert_int_equal(hs_env_u64("HS_TEST_KNOB", 5), 4294967296ull);
    unsetenv("HS_TEST_KNOB");
    assert_int_equal(hs_env_uint("HS_TEST_KNOB", 9), 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_safe_relative),    cmocka_unit_test(test_path_join),
        cmocka_unit_test(test_buf_bounded),           cmocka_unit_test(test_log_scrubs_secrets),
        cmocka_unit_test(test_atomic_write_and_read), cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_env_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
