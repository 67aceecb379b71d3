/* SPDX-License-Identifier: Apache-2.0 */

#include <syslog.h>

#include "agent-config.h"
#include "parse-util.h"
#include "unit-test.h"

#define PARSE(c, err, ...)                                                                         \
        ({                                                                                         \
                char *_argv[] = { (char *) "agent", __VA_ARGS__, NULL };                           \
                agent_config_parse(c, count_args(_argv), _argv, err);                               \
        })

/* What upstream's Nix module for an app VM exports (builtins.toJSON output). */
static void set_upstream_appvm_env(void) {
        setenv("AGENT", "{\"addr\":\"192.168.101.5\",\"name\":\"chromium-vm\","
                        "\"port\":\"9000\",\"protocol\":\"tcp\"}",
               1);
        setenv("ADMIN_SERVER", "{\"addr\":\"192.168.101.10\",\"name\":\"admin-vm\","
                               "\"port\":\"9001\",\"protocol\":\"tcp\"}",
               1);
        setenv("TLS_CONFIG", "{\"caCertPath\":\"/etc/givc/ca-cert.pem\",\"certPath\":\"/etc/givc/c.pem\","
                             "\"enable\":true,\"keyPath\":\"/etc/givc/k.pem\"}",
               1);
        setenv("TYPE", "12", 1);
        setenv("SUBTYPE", "13", 1);
        setenv("PARENT", "microvm@chromium-vm.service", 1);
        setenv("APPLICATIONS", "[{\"args\":[\"url\",\"flag\"],\"command\":\"run-waypipe chromium\","
                               "\"name\":\"chromium\"},"
                               "{\"args\":[],\"command\":\"/run/current-system/sw/bin/sleep 5\","
                               "\"name\":\"clearexit\"}]",
               1);
        setenv("SOCKET_PROXY", "", 1);
        setenv("DEBUG", "false", 1);
}

static int setup(void **state) {
        clear_environment();
        return 0;
}

static void test_upstream_env(void **state) {
        _cleanup_(agent_config_done) AgentConfig c = {};
        _cleanup_free_ char *err = NULL, *s = NULL, *a = NULL, *unit = NULL;

        set_upstream_appvm_env();
        assert_int_equal(PARSE(&c, &err, NULL), CONFIG_RUN);
        assert_string_equal(c.name, "chromium-vm");
        assert_string_equal(c.protocol, "tcp");
        assert_string_equal(c.port, "9000");
        s = address_to_string(c.listen);
        assert_string_equal(s, "192.168.101.5:9000");
        a = address_to_string(c.admin);
        assert_string_equal(a, "192.168.101.10:9001");
        assert_string_equal(c.admin_name, "admin-vm");
        assert_true(c.use_tls);
        assert_string_equal(c.ca_cert, "/etc/givc/ca-cert.pem");
        assert_string_equal(c.host_cert, "/etc/givc/c.pem");
        assert_string_equal(c.host_key, "/etc/givc/k.pem");
        assert_int_equal(c.type, 12);
        assert_int_equal(c.subtype, 13);
        assert_string_equal(c.parent, "microvm@chromium-vm.service");
        assert_non_null(c.services);
        assert_null(c.services[0]);
        assert_int_equal(c.applications->n, 2);
        assert_non_null(app_manifests_find(c.applications, "clearexit"));
        assert_false(c.hwid);
        assert_null(c.warnings);
        assert_int_equal(c.log_level, LOG_INFO);
        unit = agent_config_unit_name(&c);
        assert_string_equal(unit, "givc-chromium-vm.service");
}

static void test_legacy_env(void **state) {
        _cleanup_(agent_config_done) AgentConfig c = {};
        _cleanup_free_ char *err = NULL, *s = NULL, *a = NULL;

        setenv("NAME", "ghaf-host", 1);
        setenv("ADDR", "/run/givc/host.sock", 1);
        setenv("PORT", "", 1);
        setenv("PROTO", "unix", 1);
        setenv("ADMIN_SERVER_NAME", "admin-vm", 1);
        setenv("ADMIN_SERVER_ADDR", "192.168.101.10", 1);
        setenv("ADMIN_SERVER_PORT", "9001", 1);
        setenv("ADMIN_SERVER_PROTO", "tcp", 1);
        setenv("TLS", "yes", 1); /* anything but "false" means on, as upstream */
        setenv("CA_CERT", "ca", 1);
        setenv("HOST_CERT", "cert", 1);
        setenv("HOST_KEY", "key", 1);
        setenv("TYPE", "0", 1);
        setenv("SUBTYPE", "1", 1);
        setenv("SERVICES", "microvm@admin-vm.service  poweroff.target reboot.target", 1);
        setenv("HWID", "true", 1);
        setenv("HWID_IFACE", "wlan0", 1);
        setenv("WIFI", "true", 1);
        setenv("DEBUG", "true", 1);

        assert_int_equal(PARSE(&c, &err, NULL), CONFIG_RUN);
        assert_string_equal(c.name, "ghaf-host");
        s = address_to_string(c.listen);
        assert_string_equal(s, "unix:/run/givc/host.sock");
        a = address_to_string(c.admin);
        assert_string_equal(a, "192.168.101.10:9001");
        assert_true(c.use_tls);
        assert_string_equal(c.host_key, "key");
        assert_int_equal(c.type, 0);
        assert_int_equal(c.subtype, 1);
        assert_int_equal(strv_length(c.services), 3);
        assert_string_equal(c.services[0], "microvm@admin-vm.service");
        assert_string_equal(c.services[2], "reboot.target");
        assert_true(c.hwid);
        assert_string_equal(c.hwid_iface, "wlan0");
        assert_non_null(c.warnings);
        assert_non_null(strstr(c.warnings[0], "WIFI"));
        assert_int_equal(c.log_level, LOG_DEBUG);
        assert_int_equal(c.applications->n, 0);
        agent_config_done(&c);
        c = (AgentConfig) {};

        /* Without TLS at all it is on too (upstream: anything but "false"), certificates required. */
        unsetenv("TLS");
        assert_int_equal(PARSE(&c, &err, NULL), CONFIG_RUN);
        assert_true(c.use_tls);
        agent_config_done(&c);
        c = (AgentConfig) {};
        unsetenv("HOST_KEY");
        err = mfree(err);
        assert_int_equal(PARSE(&c, &err, NULL), -EINVAL);
        assert_non_null(strstr(err, "HOST_KEY"));
        agent_config_done(&c);
        c = (AgentConfig) {};
        setenv("TLS", "false", 1);
        err = mfree(err);
        assert_int_equal(PARSE(&c, &err, NULL), CONFIG_RUN);
        assert_false(c.use_tls);
}

static void test_options_win(void **state) {
        _cleanup_(agent_config_done) AgentConfig c = {};
        _cleanup_free_ char *err = NULL, *s = NULL, *a = NULL;

        set_upstream_appvm_env();
        assert_int_equal(PARSE(&c, &err, "--name", "b", "--addr", "givc-b", "--protocol", "abstract",
                               "--no-tls", "--admin-addr", "/run/admin.sock", "--admin-protocol", "unix",
                               "--admin-name", "adm", "--type", "8", "--subtype", "9",
                               "--services", "a.service b.service", "--applications", "[]",
                               "--hwid", "--hwid-iface", "lo", "--user", "--parent", "p.service", "--debug"),
                         CONFIG_RUN);
        assert_string_equal(c.name, "b");
        s = address_to_string(c.listen);
        assert_string_equal(s, "unix-abstract:givc-b");
        a = address_to_string(c.admin);
        assert_string_equal(a, "unix:/run/admin.sock");
        assert_string_equal(c.admin_name, "adm");
        assert_false(c.use_tls);
        assert_null(c.ca_cert);
        assert_int_equal(c.type, 8);
        assert_int_equal(c.subtype, 9);
        assert_int_equal(strv_length(c.services), 2);
        assert_int_equal(c.applications->n, 0);
        assert_true(c.hwid);
        assert_string_equal(c.hwid_iface, "lo");
        assert_int_equal(c.bus_kind, UNIT_BUS_USER);
        assert_string_equal(c.parent, "p.service");
        assert_int_equal(c.log_level, LOG_DEBUG);
}

static void test_admin_name_defaults_to_its_host(void **state) {
        _cleanup_(agent_config_done) AgentConfig c = {};
        _cleanup_free_ char *err = NULL;

        set_upstream_appvm_env();
        setenv("ADMIN_SERVER", "{\"addr\":\"192.168.101.10\",\"port\":\"9001\"}", 1);
        assert_int_equal(PARSE(&c, &err, "--system"), CONFIG_RUN);
        assert_string_equal(c.admin_name, "192.168.101.10");
        assert_int_equal(c.bus_kind, UNIT_BUS_SYSTEM);
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
                expect_error(contains, count_args(_argv), _argv);                                  \
        } while (0)

static void test_errors(void **state) {
        EXPECT_ERROR("has no name", NULL);

        set_upstream_appvm_env();
        EXPECT_ERROR("may only contain", "--name", "x y");
        EXPECT_ERROR("port of the agent must be from 1 to 65535", "--port", "0");
        EXPECT_ERROR("not a number", "--port", "ninety");
        EXPECT_ERROR("unknown protocol", "--protocol", "udp");
        EXPECT_ERROR("vsock", "--admin-protocol", "vsock");
        EXPECT_ERROR("--type '15' is not a unit type", "--type", "15");
        EXPECT_ERROR("--subtype 'x' is not a unit type", "--subtype", "x");
        EXPECT_ERROR("'bad/unit' is not a unit name", "--services", "ok.service bad/unit");
        EXPECT_ERROR("--applications: duplicate application name",
                     "--applications",
                     "[{\"name\":\"a\",\"command\":\"x\"},{\"name\":\"a\",\"command\":\"y\"}]");
        EXPECT_ERROR("not a network interface name", "--hwid-iface", "../../etc");
        EXPECT_ERROR("unknown option", "--frobnicate");

        setenv("TYPE", "99", 1);
        EXPECT_ERROR("TYPE='99' is not a unit type", NULL);
        unsetenv("TYPE");
        EXPECT_ERROR("no TYPE given", NULL);
        setenv("TYPE", "12", 1);
        setenv("APPLICATIONS", "[{\"name\":\"a\"}]", 1);
        EXPECT_ERROR("APPLICATIONS: application command is empty", NULL);
        unsetenv("APPLICATIONS");

        unsetenv("ADMIN_SERVER");
        EXPECT_ERROR("the admin has no address", NULL);
        setenv("ADMIN_SERVER", "{\"addr\":\"10.0.0.1\",\"port\":\"9001\"", 1);
        EXPECT_ERROR("ADMIN_SERVER is not valid JSON", NULL);
        {
                /* --help works whatever the environment holds. */
                _cleanup_(agent_config_done) AgentConfig c = {};
                _cleanup_free_ char *err = NULL;

                assert_int_equal(PARSE(&c, &err, "--help"), CONFIG_HELP);
        }
        setenv("ADMIN_SERVER", "{\"addr\":\"10.0.0.1\",\"port\":\"9001\"}", 1);

        setenv("AGENT", "[1,2]", 1);
        EXPECT_ERROR("AGENT must be a JSON object", NULL);
        setenv("AGENT", "{\"name\": [\"x\"]}", 1);
        EXPECT_ERROR("AGENT: 'name' must be a string", NULL);
        setenv("AGENT", "{\"name\":\"x\",\"addr\":\"127.0.0.1\",\"port\":\"1\"}", 1);
        setenv("TLS_CONFIG", "{\"enable\": 3}", 1);
        EXPECT_ERROR("TLS_CONFIG: 'enable' must be true or false", NULL);
        setenv("TLS_CONFIG", "{\"enable\": true, \"caCertPath\": \"ca\"}", 1);
        EXPECT_ERROR("no certificate is given", NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_upstream_env, setup),
                cmocka_unit_test_setup(test_legacy_env, setup),
                cmocka_unit_test_setup(test_options_win, setup),
                cmocka_unit_test_setup(test_admin_name_defaults_to_its_host, setup),
                cmocka_unit_test_setup(test_errors, setup),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
