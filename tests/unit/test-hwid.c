/* SPDX-License-Identifier: Apache-2.0 */

#include <stdio.h>
#include <sys/stat.h>

#include "hwid.h"
#include "unit-test.h"

static char *make_iface(const char *dir, const char *name, const char *address) {
        char *path = NULL;
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        assert_int_equal(mkdir(path, 0755), 0);
        free(path);
        if (!address)
                return NULL;
        assert_true(asprintf(&path, "%s/%s/address", dir, name) > 0);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(address, f);
        fclose(f);
        return path;
}

static void remove_tree(const char *dir) {
        char *cmd = NULL;

        assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
}

static void test_find_and_read(void **state) {
        char tmpl[] = "/tmp/test-hwid-XXXXXX";
        const char *dir = mkdtemp(tmpl);
        _cleanup_free_ char *iface = NULL, *id = NULL, *err = NULL, *p1 = NULL, *p2 = NULL, *p3 = NULL;

        assert_non_null(dir);
        p1 = make_iface(dir, "lo", "00:00:00:00:00:00\n");
        p2 = make_iface(dir, "eth0", "52:54:00:12:34:56\n");

        /* No wl* interface. */
        assert_int_equal(hwid_find_interface(dir, NULL, &iface, &err), -ENODEV);
        assert_non_null(strstr(err, "0 wireless interfaces"));

        p3 = make_iface(dir, "wlp0s3", "  aa:bb:cc:dd:ee:ff \n");
        assert_int_equal(hwid_find_interface(dir, NULL, &iface, &err), 0);
        assert_string_equal(iface, "wlp0s3");
        assert_int_equal(hwid_read(dir, iface, &id), 0);
        assert_string_equal(id, "aa:bb:cc:dd:ee:ff");

        /* A configured interface wins, and must exist. */
        iface = mfree(iface);
        id = mfree(id);
        assert_int_equal(hwid_find_interface(dir, "eth0", &iface, &err), 0);
        assert_int_equal(hwid_read(dir, iface, &id), 0);
        assert_string_equal(id, "52:54:00:12:34:56");
        iface = mfree(iface);
        assert_int_equal(hwid_find_interface(dir, "wlan9", &iface, &err), -ENODEV);
        assert_non_null(strstr(err, "wlan9"));

        /* Two wireless interfaces: ambiguous. */
        free(make_iface(dir, "wlan1", "11:22:33:44:55:66\n"));
        assert_int_equal(hwid_find_interface(dir, NULL, &iface, &err), -ENODEV);
        assert_non_null(strstr(err, "2 wireless interfaces"));

        /* Without an address file: an error, not an empty id. */
        make_iface(dir, "bare", NULL);
        assert_true(hwid_read(dir, "bare", &id) < 0);
        remove_tree(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_find_and_read),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
