/* SPDX-License-Identifier: Apache-2.0 */

#include "json-util.h"
#include "unit-test.h"

static void test_parse(void **state) {
        _cleanup_json_ json_object *o = NULL;
        json_object *bad = NULL;
        const char *why = NULL;

        assert_int_equal(json_parse(" {\"a\": 1}\n", &o, &why), 0);
        assert_true(json_object_is_type(o, json_type_object));

        assert_int_equal(json_parse("{\"a\": 1", &bad, &why), -EINVAL);
        assert_string_equal(why, "the JSON text ends too early");
        assert_int_equal(json_parse("{\"a\": 1} x", &bad, &why), -EINVAL);
        assert_string_equal(why, "unexpected text after the JSON value");
        assert_int_equal(json_parse("{a: 1}", &bad, &why), -EINVAL);
        assert_null(bad);

        /* Bare values, including null (which is no object at all). */
        {
                _cleanup_json_ json_object *one = NULL, *t = NULL;
                json_object *null = (json_object *) 1;

                assert_int_equal(json_parse("1", &one, &why), 0);
                assert_int_equal(json_object_get_int(one), 1);
                assert_int_equal(json_parse(" true ", &t, &why), 0);
                assert_true(json_object_get_boolean(t));
                assert_int_equal(json_parse("null", &null, &why), 0);
                assert_null(null);
                assert_int_equal(json_parse("1 2", &bad, &why), -EINVAL);
        }
}

static void test_case_insensitive(void **state) {
        _cleanup_json_ json_object *o = NULL;
        const char *s = NULL;
        bool b = false;

        assert_int_equal(json_parse("{\"Name\":\"gui-vm\",\"PORT\":9000,\"enable\":\"true\",\"x\":[1]}",
                                    &o, NULL),
                         0);
        assert_int_equal(json_get_string_ci(o, "name", &s), 0);
        assert_string_equal(s, "gui-vm");
        assert_int_equal(json_get_string_ci(o, "port", &s), 0);
        assert_string_equal(s, "9000");
        assert_int_equal(json_get_string_ci(o, "missing", &s), 0);
        assert_null(s);
        assert_int_equal(json_get_string_ci(o, "x", &s), -EINVAL);
        assert_int_equal(json_get_bool_ci(o, "ENABLE", &b), 0);
        assert_true(b);
        assert_int_equal(json_get_bool_ci(o, "name", &b), -EINVAL);
        assert_int_equal(json_get_bool_ci(o, "nothing", &b), -ENOENT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_case_insensitive),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
