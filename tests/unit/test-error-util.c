/* SPDX-License-Identifier: Apache-2.0 */

#include <getopt.h>

#include "error-util.h"
#include "unit-test.h"

static void test_error_set(void **state) {
        _cleanup_free_ char *e = NULL;

        assert_int_equal(error_set(&e, -EINVAL, "bad '%s'", "x"), -EINVAL);
        assert_string_equal(e, "bad 'x'");
        /* A second sentence replaces the first (no leak: ASan checks). */
        assert_int_equal(error_set(&e, -ENOENT, "missing %d", 3), -ENOENT);
        assert_string_equal(e, "missing 3");
        assert_int_equal(error_set(NULL, -EIO, "ignored"), -EIO);
}

static int run_getopt(int argc, char **argv, char **ret_error) {
        static const struct option options[] = {
                { "port", required_argument, NULL, 0x100 },
                { "debug", no_argument, NULL, 0x101 },
                {},
        };
        int opt;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                if (opt == '?')
                        return error_getopt(argv, ret_error);
        return 0;
}

static void test_error_getopt(void **state) {
        static const struct {
                char *argv[4];
                const char *message;
        } cases[] = {
                { { "x", "--nope", NULL }, "unknown option '--nope'" },
                { { "x", "-z", NULL }, "unknown option '-z'" },
                { { "x", "--port", NULL }, "option '--port' needs a value" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *e = NULL;
                char *argv[4];

                memcpy(argv, cases[i].argv, sizeof(argv));
                assert_int_equal(run_getopt(count_args(argv), argv, &e), -EINVAL);
                assert_string_equal(e, cases[i].message);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_error_set),
                cmocka_unit_test(test_error_getopt),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
