/* SPDX-License-Identifier: Apache-2.0 */

#include <syslog.h>

#include "admin-config.h"
#include "unit-test.h"

#define PARSE(c, err, ...)                                                                         \
        ({                                                                                         \
                char *_argv[] = { (char *) "admin", __VA_ARGS__, NULL };                           \
                admin_config_parse(c, count_args(_argv), _argv, err);                               \
        })

static int setup(void **state) {
        clear_environment();
        return 0;
}

static void test_upstream_env(void **state) {
        _cleanup_(admin_config_done) AdminConfig c = {};
        _cleanup_free_ char *err = NULL;
        _cleanup_free_ char *s = NULL;

        /* What upstream's Nix module exports (NAME, PROTO, TYPE, SUBTYPE are ignored). */
        setenv("NAME", "admin-vm", 1);
        setenv("ADDR", "192.168.101.10", 1);
        setenv("PORT", "9001", 1);
        setenv("PROTO", "tcp", 1);
        setenv("TYPE", "4", 1);
        setenv("SUBTYPE", "5", 1);
        setenv("TLS", "true", 1);
        setenv("CA_CERT", "/etc/givc/ca-cert.pem", 1);
        setenv("HOST_CERT", "/etc/givc/cert.pem", 1);
        setenv("HOST_KEY", "/etc/givc/key.pem", 1);
        setenv("SERVICES", "givc-ghaf-host.service givc-gui-vm.service", 1);

        assert_int_equal(PARSE(&c, &err, NULL), CONFIG_RUN);
        assert_int_equal(c.n_listeners, 1);
        s = address_to_string(c.listeners[0]);
        assert_string_equal(s, "192.168.101.10:9001");
        assert_true(c.use_tls);
        assert_string_equal(c.ca_cert, "/etc/givc/ca-cert.pem");
        assert_string_equal(c.host_cert, "/etc/givc/cert.pem");
        assert_string_equal(c.host_key, "/etc/givc/key.pem");
        assert_string_equal(c.services[1], "givc-gui-vm.service");
        assert_int_equal(c.log_level, LOG_INFO);
}

static void test_options_win(void **state) {
        _cleanup_(admin_config_done) AdminConfig c = {};
        _cleanup_free_ char *err = NULL, *a = NULL, *b = NULL, *d = NULL, *e = NULL;

        setenv("ADDR", "10.0.0.1", 1);
        setenv("PORT", "1", 1);
        setenv("TLS", "false", 1);
        setenv("GIVC_LOG", "warning", 1);
        assert_int_equal(PARSE(&c, &err, "--addr", "127.0.0.1", "--port", "9001",
                               "--listen-tcp", "[::1]:9002",
                               "--listen-unix", "/run/givc/admin.sock", "--listen", "unix-abstract:givc",
                               "--use-tls", "--ca-cert", "ca", "--host-cert", "c", "--host-key", "k",
                               "--debug", "--shutdown-grace", "2s"),
                         CONFIG_RUN);
        assert_int_equal(c.n_listeners, 4);
        a = address_to_string(c.listeners[0]);
        b = address_to_string(c.listeners[1]);
        d = address_to_string(c.listeners[2]);
        e = address_to_string(c.listeners[3]);
        assert_string_equal(a, "[::1]:9002");
        assert_string_equal(b, "unix:/run/givc/admin.sock");
        assert_string_equal(d, "unix-abstract:givc");
        assert_string_equal(e, "127.0.0.1:9001");
        assert_true(c.use_tls);
        assert_int_equal(c.log_level, LOG_DEBUG);
        assert_int_equal(c.shutdown_grace_ms, 2000);
}

static void expect_error(const char *contains, int argc, char **argv) {
        _cleanup_(admin_config_done) AdminConfig c = {};
        _cleanup_free_ char *err = NULL;

        assert_int_equal(admin_config_parse(&c, argc, argv, &err), -EINVAL);
        assert_non_null(err);
        if (!strstr(err, contains))
                fail_msg("expected '%s' in '%s'", contains, err);
}

#define EXPECT_ERROR(contains, ...)                                                                \
        do {                                                                                       \
                char *_argv[] = { (char *) "admin", __VA_ARGS__, NULL };                           \
                expect_error(contains, count_args(_argv), _argv);                        \
        } while (0)

static void test_errors(void **state) {
        EXPECT_ERROR("nothing to listen on", NULL);
        EXPECT_ERROR("no port", "--addr", "127.0.0.1");
        EXPECT_ERROR("no address", "--port", "9000");
        EXPECT_ERROR("not a valid TCP address", "--addr", "127.0.0.1", "--port", "http");
        EXPECT_ERROR("port from 1 to 65535", "--addr", "127.0.0.1", "--port", "0");
        EXPECT_ERROR("no CA certificate", "--listen", "127.0.0.1:1", "--use-tls");
        EXPECT_ERROR("no certificate", "--listen", "127.0.0.1:1", "--use-tls", "--ca-cert", "x");
        EXPECT_ERROR("no key", "--listen", "127.0.0.1:1", "--use-tls", "--ca-cert", "x", "--host-cert", "y");
        EXPECT_ERROR("is not IP:PORT", "--listen-tcp", "unix:/x");
        EXPECT_ERROR("unknown option '--bogus'", "--bogus");
        EXPECT_ERROR("needs a value", "--listen");
        EXPECT_ERROR("vsock", "--vsock", "3:9000");
        EXPECT_ERROR("unexpected argument 'extra'", "--listen", "127.0.0.1:1", "extra");
        EXPECT_ERROR("not a duration", "--listen", "127.0.0.1:1", "--shutdown-grace", "soon");

        setenv("TLS", "perhaps", 1);
        EXPECT_ERROR("TLS='perhaps' is not a boolean", "--listen", "127.0.0.1:1");
        unsetenv("TLS");
        setenv("GIVC_LOG", "loud", 1);
        EXPECT_ERROR("GIVC_LOG='loud'", "--listen", "127.0.0.1:1");
}

static void test_help_version(void **state) {
        AdminConfig c = {};

        assert_int_equal(PARSE(&c, NULL, "--help"), CONFIG_HELP);
        admin_config_done(&c);
        assert_int_equal(PARSE(&c, NULL, "-h"), CONFIG_HELP);
        admin_config_done(&c);
        assert_int_equal(PARSE(&c, NULL, "--version"), CONFIG_VERSION);
        admin_config_done(&c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_upstream_env, setup),
                cmocka_unit_test_setup(test_options_win, setup),
                cmocka_unit_test_setup(test_errors, setup),
                cmocka_unit_test_setup(test_help_version, setup),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
