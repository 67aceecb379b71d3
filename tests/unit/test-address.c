/* SPDX-License-Identifier: Apache-2.0 */

#include "address.h"
#include "unit-test.h"

static void check(const char *in, AddressKind kind, const char *canonical) {
        _cleanup_(address_freep) Address *a = NULL;
        _cleanup_free_ char *s = NULL;
        const char *why = NULL;

        assert_int_equal(address_parse(in, &a, &why), 0);
        assert_int_equal(a->kind, kind);
        s = address_to_string(a);
        assert_string_equal(s, canonical);
}

static void check_bad(const char *in, const char *expected_why) {
        Address *a = NULL;
        const char *why = NULL;

        assert_int_equal(address_parse(in, &a, &why), -EINVAL);
        assert_null(a);
        assert_non_null(why);
        if (expected_why)
                assert_string_equal(why, expected_why);
}

static void test_parse(void **state) {
        check("127.0.0.1:9000", ADDRESS_TCP, "127.0.0.1:9000");
        check("localhost:1", ADDRESS_TCP, "localhost:1");
        check("admin-vm:9001", ADDRESS_TCP, "admin-vm:9001");
        check("[::1]:9000", ADDRESS_TCP, "[::1]:9000");
        check("[fe80::1]:0", ADDRESS_TCP, "[fe80::1]:0");
        check("unix:/run/givc/admin.sock", ADDRESS_UNIX, "unix:/run/givc/admin.sock");
        check("unix:///run/givc/admin.sock", ADDRESS_UNIX, "unix:/run/givc/admin.sock");
        check("unix-abstract:givc-admin", ADDRESS_UNIX_ABSTRACT, "unix-abstract:givc-admin");
}

static void test_parse_bad(void **state) {
        check_bad("", "the address is empty");
        check_bad("127.0.0.1", NULL);
        check_bad("127.0.0.1:", "the port is not a number from 0 to 65535");
        check_bad("127.0.0.1:65536", "the port is not a number from 0 to 65535");
        check_bad("127.0.0.1:-1", NULL);
        check_bad(":9000", "the host is empty");
        check_bad("::1:9000", "an IPv6 address must be written [ADDRESS]:PORT");
        check_bad("[::1]9000", NULL);
        check_bad("[zz::1]:9000", "the host is not a valid IPv6 address");
        check_bad("bad host:9000", "the host is neither an IP address nor a host name");
        check_bad("unix:relative.sock", "the socket path must be absolute");
        check_bad("unix:", "the socket path is empty");
        check_bad("unix-abstract:", "the socket name is empty");
        check_bad("unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                  "the socket path is longer than 107 bytes");
}

static void test_transport(void **state) {
        _cleanup_(address_freep) Address *tcp = NULL, *v6 = NULL, *unixp = NULL, *abstract = NULL,
                *dflt = NULL;
        Address *bad = NULL;
        const char *why = NULL;

        assert_int_equal(address_from_transport("tcp", "192.168.101.10", "9001", &tcp, &why), 0);
        assert_int_equal(tcp->kind, ADDRESS_TCP);
        assert_string_equal(tcp->host, "192.168.101.10");
        assert_int_equal(tcp->port, 9001);
        assert_string_equal(address_default_tls_name(tcp), "192.168.101.10");

        assert_int_equal(address_from_transport("tcp", "[::1]", "9001", &v6, &why), 0);
        assert_string_equal(v6->host, "::1");

        assert_int_equal(address_from_transport("", "127.0.0.1", "1", &dflt, &why), 0);
        assert_int_equal(dflt->kind, ADDRESS_TCP);

        assert_int_equal(address_from_transport("unix", "/run/a.sock", "", &unixp, &why), 0);
        assert_int_equal(unixp->kind, ADDRESS_UNIX);
        assert_string_equal(address_default_tls_name(unixp), "localhost");

        assert_int_equal(address_from_transport("abstract", "givc", NULL, &abstract, &why), 0);
        assert_int_equal(abstract->kind, ADDRESS_UNIX_ABSTRACT);

        assert_int_equal(address_from_transport("tcp", "127.0.0.1", "port", &bad, &why), -EINVAL);
        assert_int_equal(address_from_transport("tcp", "", "1", &bad, &why), -EINVAL);
        assert_int_equal(address_from_transport("udp", "127.0.0.1", "1", &bad, &why), -EINVAL);
        assert_string_equal(why, "unknown protocol (expected tcp, unix or abstract)");
        assert_int_equal(address_from_transport("vsock", "3", "9000", &bad, &why), -EPROTONOSUPPORT);
        assert_null(bad);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_parse_bad),
                cmocka_unit_test(test_transport),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
