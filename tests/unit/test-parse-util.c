/* SPDX-License-Identifier: Apache-2.0 */

#include "unit-test.h"
#include "parse-util.h"

static void test_boolean(void **state) {
        assert_int_equal(parse_boolean("true"), 1);
        assert_int_equal(parse_boolean("TRUE"), 1);
        assert_int_equal(parse_boolean("yes"), 1);
        assert_int_equal(parse_boolean("1"), 1);
        assert_int_equal(parse_boolean("on"), 1);
        assert_int_equal(parse_boolean("false"), 0);
        assert_int_equal(parse_boolean("No"), 0);
        assert_int_equal(parse_boolean("0"), 0);
        assert_int_equal(parse_boolean("off"), 0);
        assert_int_equal(parse_boolean(""), -EINVAL);
        assert_int_equal(parse_boolean("maybe"), -EINVAL);
        assert_int_equal(parse_boolean("true "), -EINVAL);
        assert_int_equal(parse_boolean(NULL), -EINVAL);
}

static void test_uint64(void **state) {
        uint64_t v = 7;

        assert_int_equal(parse_uint64("0", 0, 10, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(parse_uint64("14", 0, 14, &v), 0);
        assert_int_equal(v, 14);
        assert_int_equal(parse_uint64("15", 0, 14, &v), -ERANGE);
        assert_int_equal(parse_uint64("99999999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
        assert_int_equal(parse_uint64("-1", 0, 10, &v), -EINVAL);
        assert_int_equal(parse_uint64("+1", 0, 10, &v), -EINVAL);
        assert_int_equal(parse_uint64(" 1", 0, 10, &v), -EINVAL);
        assert_int_equal(parse_uint64("1x", 0, 10, &v), -EINVAL);
        assert_int_equal(parse_uint64("", 0, 10, &v), -EINVAL);
        assert_int_equal(v, 14); /* untouched on failure */
}

static void test_duration(void **state) {
        int64_t ms = -1;

        assert_int_equal(parse_duration_ms("250", &ms), 0);
        assert_int_equal(ms, 250);
        assert_int_equal(parse_duration_ms("250ms", &ms), 0);
        assert_int_equal(ms, 250);
        assert_int_equal(parse_duration_ms("2s", &ms), 0);
        assert_int_equal(ms, 2000);
        assert_int_equal(parse_duration_ms("1.5s", &ms), 0);
        assert_int_equal(ms, 1500);
        assert_int_equal(parse_duration_ms("1min", &ms), 0);
        assert_int_equal(ms, 60000);
        assert_int_equal(parse_duration_ms("1h", &ms), 0);
        assert_int_equal(ms, 3600000);
        assert_int_equal(parse_duration_ms("5 s", &ms), -EINVAL);
        assert_int_equal(parse_duration_ms("-1s", &ms), -EINVAL);
        assert_int_equal(parse_duration_ms("1d", &ms), -EINVAL);
        assert_int_equal(parse_duration_ms("", &ms), -EINVAL);
        assert_int_equal(parse_duration_ms("1e300s", &ms), -ERANGE);
}

static void test_split(void **state) {
        _cleanup_strv_free_ char **l = NULL, **empty = NULL;

        assert_int_equal(strv_split("  a.service b.target,,c ", " ,", &l), 0);
        assert_int_equal(strv_length(l), 3);
        assert_string_equal(l[0], "a.service");
        assert_string_equal(l[1], "b.target");
        assert_string_equal(l[2], "c");
        assert_null(l[3]);

        assert_int_equal(strv_split("   ", " ", &empty), 0);
        assert_non_null(empty);
        assert_int_equal(strv_length(empty), 0);

        assert_int_equal(strv_extend(&empty, "x"), 0);
        assert_int_equal(strv_length(empty), 1);
        assert_true(strv_contains(empty, "x"));
        assert_false(strv_contains(empty, "y"));
        assert_true(strv_contains(l, "c"));
        assert_false(strv_contains(NULL, "x"));
        assert_string_equal(empty[0], "x");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_boolean),
                cmocka_unit_test(test_uint64),
                cmocka_unit_test(test_duration),
                cmocka_unit_test(test_split),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
