/* SPDX-License-Identifier: Apache-2.0 */

#include <syslog.h>

#include "agent-config.h"
#include "unit-test.h"

#define PARSE(c, err, ...)                                                                         \
        ({                                                                                         \
                char *_argv[] = { (char *) "agent", __VA_ARGS__, NULL };                           \
                agent_config_parse(c, count_args(_argv), _argv, err);                               \
        })

static int setup(void **state) {
        clear_environment();
        return 0;
}

static void test_json_env(void **state) {
        _cleanup_(agent_config_done) AgentConfig c = {};
        _cleanup_free_ char *err = NULL, *s = NULL;

        /* builtins.toJSON output of upstream's Nix modules; keys in any case. */
        setenv("AGENT", "{\"addr\":\"192.168.101.3\",\"name\":\"gui-vm\",\"port\":\"9000\",\"protocol\":\"tcp\"}", 1);
        setenv("TLS_CONFIG", "{\"CACertPath\":\"/etc/givc/ca-cert.pem\",\"certPath\":\"/etc/givc/c.pem\","
                             "\"enable\":true,\"KEYPATH\":\"/etc/givc/k.pem\"}", 1);
        setenv("DEBUG", "true", 1);

        assert_int_equal(PARSE(&c, &err, NULL), CONFIG_RUN);
        assert_string_equal(c.name, "gui-vm");
        assert_string_equal(c.protocol, "tcp");
        s = address_to_string(c.listen);
        assert_string_equal(s, "192.168.101.3:9000");
        assert_true(c.use_tls);
        assert_string_equal(c.ca_cert, "/etc/givc/ca-cert.pem");
        assert_string_equal(c.host_cert, "/etc/givc/c.pem");
        assert_string_equal(c.host_key, "/etc/givc/k.pem");
        assert_int_equal(c.log_level, LOG_DEBUG);
}

static void test_legacy_env(void **state) {
        _cleanup_(agent_config_done) AgentConfig c = {};
        _cleanup_free_ char *err = NULL, *s = NULL;

        setenv("NAME", "ghaf-host", 1);
        setenv("ADDR", "/run/givc/host.sock", 1);
        setenv("PORT", "", 1);
        setenv("PROTO", "unix", 1);
        setenv("TLS", "yes", 1); /* anything but "false" means on, as upstream */
        setenv("CA_CERT", "ca", 1);
        setenv("HOST_CERT", "cert", 1);
        setenv("HOST_KEY", "key", 1);

        assert_int_equal(PARSE(&c, &err, NULL), CONFIG_RUN);
        assert_string_equal(c.name, "ghaf-host");
        s = address_to_string(c.listen);
        assert_string_equal(s, "unix:/run/givc/host.sock");
        assert_true(c.use_tls);
        assert_string_equal(c.host_key, "key");
}

static void test_options_win(void **state) {
        _cleanup_(agent_config_done) AgentConfig c = {};
        _cleanup_free_ char *err = NULL, *s = NULL;

        setenv("AGENT", "{\"name\":\"a\",\"addr\":\"127.0.0.1\",\"port\":\"1\"}", 1);
        setenv("TLS_CONFIG", "{\"enable\":true,\"caCertPath\":\"ca\",\"certPath\":\"c\",\"keyPath\":\"k\"}", 1);
        assert_int_equal(PARSE(&c, &err, "--name", "b", "--addr", "givc-b", "--protocol", "abstract", "--no-tls"),
                         CONFIG_RUN);
        assert_string_equal(c.name, "b");
        s = address_to_string(c.listen);
        assert_string_equal(s, "unix-abstract:givc-b");
        assert_false(c.use_tls);
        assert_null(c.ca_cert);
}

static void expect_error(const char *contains, int argc, char **argv) {
        _cleanup_(agent_config_done) AgentConfig c = {};
        _cleanup_free_ char *err = NULL;

        assert_int_equal(agent_config_parse(&c, argc, argv, &err), -EINVAL);
        assert_non_null(err);
        if (!strstr(err, contains))
                fail_msg("expected '%s' in '%s'", contains, err);
}

#define EXPECT_ERROR(contains, ...)                                                                \
        do {                                                                                       \
                char *_argv[] = { (char *) "agent", __VA_ARGS__, NULL };                           \
                expect_error(contains, count_args(_argv), _argv);                        \
        } while (0)

static void test_errors(void **state) {
        EXPECT_ERROR("has no name", NULL);
        EXPECT_ERROR("no address", "--name", "x");
        EXPECT_ERROR("may only contain", "--name", "x y", "--addr", "127.0.0.1", "--port", "1");
        EXPECT_ERROR("port must be from 1 to 65535", "--name", "x", "--addr", "127.0.0.1", "--port", "0");
        EXPECT_ERROR("not a number", "--name", "x", "--addr", "127.0.0.1", "--port", "ninety");
        EXPECT_ERROR("unknown protocol", "--name", "x", "--addr", "127.0.0.1", "--port", "1", "--protocol", "udp");
        EXPECT_ERROR("no CA certificate", "--name", "x", "--addr", "127.0.0.1", "--port", "1", "--use-tls");
        EXPECT_ERROR("unknown option", "--frobnicate");

        setenv("AGENT", "{\"name\": \"x\",", 1);
        EXPECT_ERROR("AGENT is not valid JSON", NULL);
        setenv("AGENT", "[1,2]", 1);
        EXPECT_ERROR("AGENT must be a JSON object", NULL);
        setenv("AGENT", "{\"name\": [\"x\"]}", 1);
        EXPECT_ERROR("AGENT: 'name' must be a string", NULL);
        unsetenv("AGENT");
        setenv("TLS_CONFIG", "{\"enable\": 3}", 1);
        EXPECT_ERROR("TLS_CONFIG: 'enable' must be true or false", NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_json_env, setup),
                cmocka_unit_test_setup(test_legacy_env, setup),
                cmocka_unit_test_setup(test_options_win, setup),
                cmocka_unit_test_setup(test_errors, setup),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
