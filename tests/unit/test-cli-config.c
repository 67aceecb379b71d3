/* SPDX-License-Identifier: Apache-2.0 */

#include "cli-config.h"
#include "unit-test.h"

/* Parse, then resolve as the CLI does before a call: the first failure, or CONFIG_RUN. */
#define PARSE(c, err, ...)                                                                         \
        ({                                                                                         \
                char *_argv[] = { (char *) "cli", __VA_ARGS__, NULL };                             \
                int _r = cli_config_parse(c, count_args(_argv), _argv, err);                       \
                if (_r == CONFIG_RUN)                                                              \
                        _r = cli_config_resolve(c, err) ?: CONFIG_RUN;                             \
                _r;                                                                                \
        })

static int setup(void **state) {
        clear_environment();
        return 0;
}

static void test_env_prefix_wins(void **state) {
        _cleanup_(cli_config_done) CliConfig c = {};
        _cleanup_free_ char *err = NULL, *s = NULL;

        setenv("ADDR", "10.0.0.1", 1);
        setenv("GIVC_ADDR", "192.168.101.10", 1);
        setenv("PORT", "9001", 1);
        setenv("NAME", "admin-vm", 1);
        setenv("CA_CERT", "ca", 1);
        setenv("GIVC_HOST_CERT", "cert", 1);
        setenv("HOST_KEY", "key", 1);
        setenv("GIVC_TIMEOUT", "250ms", 1);

        assert_int_equal(PARSE(&c, &err, "query-list"), CONFIG_RUN);
        s = address_to_string(c.target);
        assert_string_equal(s, "192.168.101.10:9001");
        assert_string_equal(c.name, "admin-vm");
        assert_true(c.use_tls);
        assert_string_equal(c.ca_cert, "ca");
        assert_string_equal(c.cert, "cert");
        assert_string_equal(c.key, "key");
        assert_int_equal(c.timeout_ms, 250);
        assert_true(c.timeout_set);
        assert_int_equal(c.command_index, 1);
}

static void test_options(void **state) {
        _cleanup_(cli_config_done) CliConfig c = {};
        _cleanup_free_ char *err = NULL, *s = NULL;

        setenv("ADDR", "10.0.0.1", 1);
        assert_int_equal(PARSE(&c, &err, "--addr", "unix:/run/givc/admin.sock", "--notls", "--timeout", "2s",
                               "start", "--vm", "chromium-vm", "foot"),
                         CONFIG_RUN);
        s = address_to_string(c.target);
        assert_string_equal(s, "unix:/run/givc/admin.sock");
        assert_false(c.use_tls);
        assert_int_equal(c.timeout_ms, 2000);
        assert_true(c.timeout_set);
        /* Options after the command belong to the command. */
        assert_int_equal(c.command_index, 6);
}

static void expect_error(const char *contains, int argc, char **argv) {
        _cleanup_(cli_config_done) CliConfig c = {};
        _cleanup_free_ char *err = NULL;
        int r;

        r = cli_config_parse(&c, argc, argv, &err);
        if (r == CONFIG_RUN)
                r = cli_config_resolve(&c, &err);
        assert_int_equal(r, -EINVAL);
        assert_non_null(err);
        if (!strstr(err, contains))
                fail_msg("expected '%s' in '%s'", contains, err);
}

#define EXPECT_ERROR(contains, ...)                                                                \
        do {                                                                                       \
                char *_argv[] = { (char *) "cli", __VA_ARGS__, NULL };                             \
                expect_error(contains, count_args(_argv), _argv);                        \
        } while (0)

static void test_errors(void **state) {
        EXPECT_ERROR("no admin address", "query-list");
        EXPECT_ERROR("no admin port", "--addr", "127.0.0.1", "query-list");
        EXPECT_ERROR("not a valid admin address", "--addr", "127.0.0.1", "--port", "0", "query-list");
        EXPECT_ERROR("no CA certificate", "--addr", "127.0.0.1", "--port", "1", "query-list");
        EXPECT_ERROR("no client certificate",
                     "--addr", "127.0.0.1", "--port", "1", "--cacert", "c", "query-list");
        EXPECT_ERROR("no client key",
                     "--addr", "127.0.0.1", "--port", "1", "--cacert", "c", "--cert", "c", "x");
        EXPECT_ERROR("positive duration", "--addr", "127.0.0.1", "--port", "1", "--timeout", "0", "x");
        EXPECT_ERROR("vsock", "--vsock", "2:9000", "x");
        EXPECT_ERROR("unknown option", "--nope");
        setenv("GIVC_NO_TLS", "maybe", 1);
        EXPECT_ERROR("GIVC_NO_TLS", "x");
}

/* Help for a command must not need an address: nothing is required until resolve. */
static void test_parse_needs_nothing(void **state) {
        _cleanup_(cli_config_done) CliConfig c = {};
        _cleanup_free_ char *err = NULL;
        char *argv[] = { (char *) "cli", (char *) "start", (char *) "--help", NULL };

        assert_int_equal(cli_config_parse(&c, 3, argv, &err), CONFIG_RUN);
        assert_int_equal(c.command_index, 1);
        assert_false(c.timeout_set);
        assert_int_equal(c.timeout_ms, 5000);
        assert_int_equal(cli_config_resolve(&c, &err), -EINVAL);
}

static void test_no_tls_env(void **state) {
        _cleanup_(cli_config_done) CliConfig c = {};
        _cleanup_free_ char *err = NULL;

        setenv("GIVC_NO_TLS", "true", 1);
        assert_int_equal(PARSE(&c, &err, "--addr", "127.0.0.1", "--port", "9001", "query-list"), CONFIG_RUN);
        assert_false(c.use_tls);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_env_prefix_wins, setup),
                cmocka_unit_test_setup(test_options, setup),
                cmocka_unit_test_setup(test_errors, setup),
                cmocka_unit_test_setup(test_parse_needs_nothing, setup),
                cmocka_unit_test_setup(test_no_tls_env, setup),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
