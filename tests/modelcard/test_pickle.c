/*
 * test_pickle.c — the training_args.bin reader and the Python-compatible
 * formatting helpers.
 *
 * Good fixtures (make_fixtures.py: torch zip / legacy / raw pickles of
 * protocols 2, 4, 5; enums pickled by value and by getattr) must give the
 * same TrainingArguments state with hub_token removed; hostile ones must be
 * refused with a precise message. Float formatting is checked against
 * values printed by CPython 3.11 (repr and transformers' _maybe_round).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mc_test_util.h"
#include "modelcard_int.h"

static json_t *load(const char *name, struct hs_err *err, int *rc)
{
    char p[HS_PATH_MAX], rel[256];
    snprintf(rel, sizeof(rel), "pickles/%s", name);
    mc_data(p, sizeof(p), rel);
    size_t len = 0;
    char *data = mc_slurp(p, &len);
    assert_non_null(data);
    json_t *out = NULL;
    *rc = modelcard_pickle_load((const unsigned char *)data, len, &out, err);
    free(data);
    return out;
}

static void test_good_pickles(void **state)
{
    (void)state;
    const char *good[] = {"zip_p2.bin", "legacy_p2.bin", "raw_p2.bin",
                          "raw_p4.bin", "raw_p5.bin",    "zip_p2_getattr_enums.bin"};
    for (size_t i = 0; i < HS_ARRAY_SIZE(good); i++) {
        struct hs_err err = {0};
        int rc;
        json_t *a = load(good[i], &err, &rc);
        if (rc != 0)
            fail_msg("%s: %s", good[i], err.msg);
        double lr;
        assert_true(hs_json_number(json_object_get(a, "learning_rate"), &lr));
        assert_true(lr == 5e-05);
        assert_int_equal(json_integer_value(json_object_get(a, "per_device_train_batch_size")), 16);
        assert_int_equal(json_integer_value(json_object_get(a, "max_steps")), -1);
        assert_true(json_is_false(json_object_get(a, "fp16")));
        assert_true(json_is_null(json_object_get(a, "save_total_limit")));
        assert_string_equal(json_string_value(json_array_get(json_object_get(a, "report_to"), 0)),
                            "tensorboard");
        /* Enum members: class plus value (<= 3.10) or member name (3.11+). */
        json_t *optim = json_object_get(a, "optim");
        assert_string_equal(json_string_value(json_object_get(optim, "__class__")),
                            "transformers.training_args.OptimizerNames");
        json_t *v = json_array_get(json_object_get(optim, "__args__"), 0);
        json_t *m = json_object_get(optim, "__member__");
        assert_true((v && !strcmp(json_string_value(v), "adamw_torch")) ||
                    (m && !strcmp(json_string_value(m), "ADAMW_TORCH")));
        /* Nested dataclass (NEWOBJ + BUILD) and torch.device (REDUCE). */
        json_t *acc = json_object_get(a, "accelerator_config");
        assert_string_equal(json_string_value(json_object_get(acc, "__class__")),
                            "transformers.trainer_pt_utils.AcceleratorConfig");
        assert_true(
            json_is_true(json_object_get(json_object_get(acc, "__state__"), "even_batches")));
        json_t *dev = json_object_get(a, "__cached__setup_devices");
        assert_string_equal(json_string_value(json_object_get(dev, "__class__")), "torch.device");
        assert_int_equal(json_integer_value(json_array_get(json_object_get(dev, "__args__"), 1)),
                         0);
        /* The token is gone, under any spelling of the key. */
        assert_null(json_object_get(a, "hub_token"));
        char *dump = json_dumps(a, JSON_COMPACT);
        assert_null(strstr(dump, "hf_fixture_secret"));
        assert_null(strstr(dump, "token\""));
        free(dump);
        json_decref(a);
    }
}

static void test_hostile_pickles(void **state)
{
    (void)state;
    static const struct {
        const char *file, *msg;
    } bad[] = {
        {"bad_os_system_p0.bin", "unsupported opcode 0x53"}, /* STRING, protocol 0 */
        {"bad_os_system_p2.bin", "does not hold an object state"},
        {"bad_truncated.bin", "truncated pickle"},
        {"bad_persid.bin", "unsupported opcode 0x51"},
        {"bad_memo_index.bin", "memo index 2147483647 too large"},
        {"bad_binget_unknown.bin", "memo fetch of an unknown index"},
        {"bad_laughs.bin", "too many values"},
        {"bad_deep.bin", "values nested too deep"},
        {"bad_stack.bin", "pickle stack too deep"},
        {"bad_zip_deflated.bin", "data.pkl is compressed (method 8)"},
        {"bad_not_object.bin", "does not hold an object state"},
    };
    for (size_t i = 0; i < HS_ARRAY_SIZE(bad); i++) {
        struct hs_err err = {0};
        int rc;
        json_t *a = load(bad[i].file, &err, &rc);
        assert_null(a);
        assert_true(rc < 0);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("%s: got \"%s\", want \"%s\"", bad[i].file, err.msg, bad[i].msg);
        assert_true(!strncmp(err.msg, "training_args.bin: ", 19));
    }
}

/* A token value never survives: not for plain dicts, not in nested state. */
static void test_token_keys_dropped(void **state)
{
    (void)state;
    /* {'hub_token': 'hf_x', 'nested': {'My_Token_Path': 'p', 'ok': 1}} in protocol 2 */
    static const unsigned char p[] = "\x80\x02}q\x00(X\x09\x00\x00\x00hub_tokenX\x04\x00\x00\x00hf_"
                                     "xX\x06\x00\x00\x00nested}(X\x0d\x00\x00\x00My_Token_PathX\x01"
                                     "\x00\x00\x00pX\x02\x00\x00\x00okK\x01uu.";
    json_t *out = NULL;
    struct hs_err err = {0};
    int rc = modelcard_pickle_load(p, sizeof(p) - 1, &out, &err);
    if (rc)
        fail_msg("%s", err.msg);
    char *dump = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(dump, "{\"nested\":{\"ok\":1}}");
    free(dump);
    json_decref(out);
}

static void test_py_float(void **state)
{
    (void)state;
    /* repr() and _maybe_round() as CPython 3.11 prints them. */
    static const struct {
        double v;
        const char *repr, *round4;
    } t[] = {
        {5e-05, "5e-05", "5e-05"},
        {0.0001, "0.0001", "0.0001"},
        {1e16, "1e+16", "1e+16"},
        {1234567890123456.0, "1234567890123456.0", "1234567890123456.0"},
        {0.1, "0.1", "0.1"},
        {1.0 / 3.0, "0.3333333333333333", "0.3333"},
        {1.5e-05, "1.5e-05", "0.0000"},
        {2.0, "2.0", "2.0"},
        {-0.0, "-0.0", "-0.0"},
        {1e22, "1e+22", "1e+22"},
        {123.456, "123.456", "123.456"},
        {0.38117, "0.38117", "0.3812"},
        {9.999999e-05, "9.999999e-05", "0.0001"},
        {1e-323, "1e-323", "1e-323"},
        {12345678901234567.0, "1.2345678901234568e+16", "12345678901234568.0000"},
        {0.000123, "0.000123", "0.0001"},
    };
    for (size_t i = 0; i < HS_ARRAY_SIZE(t); i++) {
        char buf[64];
        modelcard__py_float(t[i].v, buf, sizeof(buf));
        assert_string_equal(buf, t[i].repr);
        struct hs_buf b;
        hs_buf_init(&b, 1024);
        json_t *j = json_real(t[i].v);
        assert_int_equal(modelcard__py_round4(j, &b), 0);
        assert_string_equal(b.data, t[i].round4);
        json_decref(j);
        hs_buf_free(&b);
    }
    struct hs_buf b;
    hs_buf_init(&b, 1024);
    json_t *nan = json_string("NaN"), *inf = json_string("-Infinity"), *i5 = json_integer(5000);
    modelcard__py_round4(nan, &b);
    hs_buf_append(&b, " ", 1);
    modelcard__py_round4(inf, &b);
    hs_buf_append(&b, " ", 1);
    modelcard__py_round4(i5, &b);
    assert_string_equal(b.data, "nan -inf 5000");
    json_decref(nan);
    json_decref(inf);
    json_decref(i5);
    hs_buf_free(&b);
}

static void test_py_title(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        size_t skip;
        const char *want;
    } t[] = {{"eval_f1", 1, "F1"},
             {"eval_combined_score", 1, "Combined Score"},
             {"eval_rougeL", 1, "Rougel"},
             {"eval_gen_len", 1, "Gen Len"},
             {"eval_model_preparation_time", 1, "Model Preparation Time"},
             {"matthews_correlation", 0, "Matthews Correlation"}};
    for (size_t i = 0; i < HS_ARRAY_SIZE(t); i++) {
        struct hs_buf b;
        hs_buf_init(&b, 256);
        assert_int_equal(modelcard__py_title(t[i].key, t[i].skip, &b), 0);
        assert_string_equal(b.data, t[i].want);
        hs_buf_free(&b);
    }
}

/* Scalars as PyYAML's default dumper writes them (checked with PyYAML 6). */
static void test_yaml_scalars(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } t[] = {
        {"apache-2.0", "apache-2.0"},
        {"", "''"},
        {"yes", "'yes'"},
        {"null", "'null'"},
        {"1.0", "'1.0'"},
        {"42", "'42'"},
        {"2024-01-01", "'2024-01-01'"},
        {"a: b", "'a: b'"},
        {"#x", "'#x'"},
        {"- x", "'- x'"},
        {"it's", "it's"},
        {"'q'", "'''q'''"},
        {" lead", "' lead'"},
        {"donn\xc3\xa9"
         "es",
         "\"donn\\xE9es\""},
        {"tab\there", "\"tab\\there\""},
        {"a #b", "'a #b'"},
        {"a#b", "a#b"},
        {"glue", "glue"},
        {"Salesforce/wikitext", "Salesforce/wikitext"},
    };
    for (size_t i = 0; i < HS_ARRAY_SIZE(t); i++) {
        struct hs_buf b;
        hs_buf_init(&b, 256);
        assert_int_equal(modelcard__yaml_scalar(t[i].in, &b), 0);
        if (strcmp(b.data, t[i].out))
            fail_msg("yaml(%s) = %s, want %s", t[i].in, b.data, t[i].out);
        hs_buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_pickles),       cmocka_unit_test(test_hostile_pickles),
        cmocka_unit_test(test_token_keys_dropped), cmocka_unit_test(test_py_float),
        cmocka_unit_test(test_py_title),           cmocka_unit_test(test_yaml_scalars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
