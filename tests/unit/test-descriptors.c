/* SPDX-License-Identifier: Apache-2.0 */

#include "descriptors.h"
#include "unit-test.h"

static void test_sorted(void **state) {
        assert_true(descriptor_symbols_count > 50);
        for (size_t i = 1; i < descriptor_symbols_count; i++)
                assert_true(strcmp(descriptor_symbols[i - 1].name, descriptor_symbols[i].name) < 0);
}

static void test_files(void **state) {
        static const char *const files[] = {
                "admin/admin.proto",           "systemd/systemd.proto",
                "locale/locale.proto",         "hwid/hwid.proto",
                "wifi/wifi.proto",             "socket/socket.proto",
                "grpc/health/v1/health.proto", "grpc/reflection/v1/reflection.proto",
                "grpc/reflection/v1alpha/reflection.proto",
        };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                int index = descriptor_find_file(files[i]);

                assert_true(index >= 0);
                assert_string_equal(descriptor_files[index].name, files[i]);
                assert_true(descriptor_files[index].size > 20);
        }
        assert_int_equal(descriptor_find_file("nope.proto"), -ENOENT);
}

static void test_symbols(void **state) {
        static const struct {
                const char *symbol, *file;
        } cases[] = {
                { "admin.AdminService", "admin/admin.proto" },
                { "admin.AdminService.Watch", "admin/admin.proto" },
                { "admin.WatchItem", "admin/admin.proto" },
                { ".admin.QueryListItem", "admin/admin.proto" },
                { "systemd.UnitControlService.MonitorUnit", "systemd/systemd.proto" },
                { "systemd.UnitStatus", "systemd/systemd.proto" },
                { "locale.LocaleClient", "locale/locale.proto" },
                { "hwid.HwidService", "hwid/hwid.proto" },
                { "wifimanager.WifiService.TurnOff", "wifi/wifi.proto" },
                { "socketproxy.SocketStream", "socket/socket.proto" },
                { "grpc.health.v1.Health", "grpc/health/v1/health.proto" },
                { "grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto" },
                { "grpc.reflection.v1.ServerReflection", "grpc/reflection/v1/reflection.proto" },
                { "grpc.reflection.v1alpha.ServerReflection", "grpc/reflection/v1alpha/reflection.proto" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int index = descriptor_find_symbol(cases[i].symbol);

                assert_true(index >= 0);
                assert_string_equal(descriptor_files[index].name, cases[i].file);
        }
        assert_int_equal(descriptor_find_symbol("admin.Nope"), -ENOENT);
        assert_int_equal(descriptor_find_symbol(""), -ENOENT);
}

static void test_closure(void **state) {
        size_t closure[64];
        int admin = descriptor_find_file("admin/admin.proto");
        size_t n;

        assert_true(descriptor_files_count <= ELEMENTSOF(closure));
        /* Our files import nothing: the closure is the file itself. */
        n = descriptor_file_closure((size_t) admin, closure);
        assert_int_equal(n, 1);
        assert_int_equal(closure[0], (size_t) admin);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sorted),
                cmocka_unit_test(test_files),
                cmocka_unit_test(test_symbols),
                cmocka_unit_test(test_closure),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
