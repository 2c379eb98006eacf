/* test_json_tolerant.c — trainer JSON with NaN/Infinity literals parses;
 * literals inside strings and look-alike words are left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"

#include <math.h>
#include <string.h>

static json_t *parse(const char *s, struct hs_err *err)
{
    return hs_json_loads_tolerant(s, strlen(s), err);
}

static void test_nonfinite_literals(void **state)
{
    (void)state;
    struct hs_err err = {0};
    json_t *j =
        parse("{\"a\": NaN, \"b\": Infinity, \"c\": -Infinity, \"d\": [1, -2.5, NaN]}", &err);
    assert_non_null(j);
    double v;
    assert_true(hs_json_number(json_object_get(j, "a"), &v));
    assert_true(isnan(v));
    assert_true(hs_json_number(json_object_get(j, "b"), &v));
    assert_true(isinf(v) && v > 0);
    assert_true(hs_json_number(json_object_get(j, "c"), &v));
    assert_true(isinf(v) && v < 0);
    assert_true(hs_json_number(json_array_get(json_object_get(j, "d"), 1), &v));
    assert_true(v == -2.5);
    assert_true(hs_json_number(json_array_get(json_object_get(j, "d"), 0), &v));
    assert_true(v == 1.0);
    json_decref(j);
}

static void test_strings_untouched(void **state)
{
    (void)state;
    struct hs_err err = {0};
    json_t *j = parse("{\"NaN\": \"NaN is \\\"Infinity\\\" -Infinity\", \"x\": 1}", &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "NaN")),
                        "NaN is \"Infinity\" -Infinity");
    double v;
    assert_false(hs_json_number(json_object_get(j, "missing"), &v));
    json_decref(j);
}

static void test_errors(void **state)
{
    (void)state;
    struct hs_err err = {0};
    assert_null(parse("{\"a\": NaNx}", &err));
    assert_non_null(strstr(err.msg, "1:"));
    assert_null(parse("{\"a\": 1", &err));
    assert_null(hs_json_load_tolerant("/nonexistent/trainer_state.json", 1024, &err));
    assert_non_null(strstr(err.msg, "/nonexistent/trainer_state.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonfinite_literals),
        cmocka_unit_test(test_strings_untouched),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
