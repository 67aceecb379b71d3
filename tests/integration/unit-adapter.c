/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sd-bus adapter (src/unit.c) against a real systemd user manager. Run
 * by test_unit_adapter.py, which starts the manager (XDG_RUNTIME_DIR) and
 * installs demo.service (ExecStart=/bin/sleep 600) and fail.service
 * (ExecStart=/bin/false) before running this.
 */

#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "../unit/unit-test.h"
#include "unit.h"

static void test_status_and_jobs(void **state) {
        _cleanup_(unit_status_done) UnitStatus s = {}, after = {}, unknown = {};
        _cleanup_(unit_accounting_done) UnitAccounting a = {};
        _cleanup_free_ char *err = NULL;

        assert_int_equal(unit_bus_check(&err), 0);
        assert_int_equal(unit_start("demo.service", 10000, &err), 0);
        assert_int_equal(unit_get_status("demo.service", &s, &err), 0);
        assert_string_equal(s.name, "demo.service");
        assert_string_equal(s.active_state, "active");
        assert_string_equal(s.sub_state, "running");
        assert_string_equal(s.freezer_state, "running");
        assert_string_equal(s.object_path, "/org/freedesktop/systemd1/unit/demo_2eservice");

        assert_int_equal(unit_get_accounting("demo.service", &a, &err), 0);
        assert_string_equal(a.active_state, "active");
        assert_true(a.main_pid > 0);
        assert_true(a.cpu_usage_nsec != UINT64_MAX); /* cgroup v2 in the harness */
        assert_true(a.active_enter_monotonic_usec > 0);

        /* Restart gives a new main process. */
        {
                _cleanup_(unit_accounting_done) UnitAccounting b = {};

                assert_int_equal(unit_restart("demo.service", 10000, &err), 0);
                assert_int_equal(unit_get_accounting("demo.service", &b, &err), 0);
                assert_true(b.main_pid != a.main_pid);
        }

        assert_int_equal(unit_stop("demo.service", 10000, &err), 0);
        assert_int_equal(unit_get_status("demo.service", &after, &err), 0);
        assert_string_equal(after.active_state, "inactive");

        assert_int_equal(unit_get_status("never-heard-of.service", &unknown, &err), 0);
        assert_string_equal(unknown.load_state, "not-found");
}

static void test_failures_by_name(void **state) {
        _cleanup_(unit_status_done) UnitStatus s = {};
        _cleanup_free_ char *err = NULL;

        /* A job that ends "failed" is an error naming the result. */
        assert_int_equal(unit_start("fail.service", 10000, &err), -EIO);
        assert_non_null(strstr(err, "finished with result 'failed'"));
        assert_int_equal(unit_get_status("fail.service", &s, &err), 0);
        assert_string_equal(s.active_state, "failed");
        assert_int_equal(unit_reset_failed("fail.service", &err), 0);
        unit_status_done(&s);
        assert_int_equal(unit_get_status("fail.service", &s, &err), 0);
        assert_string_equal(s.active_state, "inactive");

        /* D-Bus errors by name. */
        assert_int_equal(unit_start("never-heard-of.service", 10000, &err), -ENOENT);
        assert_non_null(strstr(err, "org.freedesktop.systemd1.NoSuchUnit"));
        assert_int_equal(unit_kill("never-heard-of.service", "all", SIGKILL, &err), -ENOENT);
        assert_int_equal(unit_get_status("bad name", &s, &err), -EINVAL);
        assert_non_null(strstr(err, "not a valid unit name"));
}

static void test_freeze_thaw_kill(void **state) {
        _cleanup_(unit_status_done) UnitStatus s = {};
        _cleanup_free_ char *err = NULL;

        assert_int_equal(unit_start("demo.service", 10000, &err), 0);
        assert_int_equal(unit_freeze("demo.service", &err), 0);
        assert_int_equal(unit_get_status("demo.service", &s, &err), 0);
        assert_string_equal(s.freezer_state, "frozen");
        assert_int_equal(unit_thaw("demo.service", &err), 0);
        unit_status_done(&s);
        assert_int_equal(unit_get_status("demo.service", &s, &err), 0);
        assert_string_equal(s.freezer_state, "running");
        assert_int_equal(unit_kill("demo.service", "all", SIGKILL, &err), 0);
        (void) unit_reset_failed("demo.service", &err);
}

static void test_transient(void **state) {
        _cleanup_(unit_status_done) UnitStatus s = {};
        _cleanup_free_ char *err = NULL;
        char *argv[] = { "/bin/sleep", "600", NULL };
        char *env[] = { "GIVC_TEST=1", NULL };
        char *missing[] = { "/nonexistent/program", NULL };

        assert_int_equal(unit_start_transient_service("tr@1.service", "transient test", argv, env, 10000,
                                                      &err), 0);
        assert_int_equal(unit_get_status("tr@1.service", &s, &err), 0);
        assert_string_equal(s.active_state, "active");
        assert_string_equal(s.description, "transient test");
        /* Never replaced. */
        assert_int_equal(unit_start_transient_service("tr@1.service", "again", argv, NULL, 10000, &err),
                         -EEXIST);
        assert_int_equal(unit_stop("tr@1.service", 10000, &err), 0);
        unit_status_done(&s);
        assert_int_equal(unit_get_status("tr@1.service", &s, &err), 0);
        assert_string_equal(s.load_state, "not-found"); /* collected */

        /* Type=exec: a program that cannot be executed fails the start job. */
        assert_int_equal(unit_start_transient_service("tr@2.service", "missing", missing, NULL, 10000, &err),
                         -EIO);
        unit_status_done(&s);
        assert_int_equal(unit_get_status("tr@2.service", &s, &err), 0);
        assert_string_equal(s.load_state, "not-found"); /* collected although it failed */
}

static void *status_loop(void *userdata) {
        for (int i = 0; i < 200; i++) {
                _cleanup_(unit_status_done) UnitStatus s = {};

                if (unit_get_status("demo.service", &s, NULL) < 0)
                        return (void *) 1;
        }
        return NULL;
}

static void test_threads_own_connections(void **state) {
        pthread_t t[4];
        void *ret;

        /* Each thread its own connection: no locking, no interference. */
        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                assert_int_equal(pthread_create(&t[i], NULL, status_loop, NULL), 0);
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                assert_int_equal(pthread_join(t[i], &ret), 0);
                assert_null(ret);
        }
}

static void test_environment(void **state) {
        _cleanup_free_ char *err = NULL;

        assert_int_equal(manager_set_environment((char *[]) { "LANG=C.UTF-8", NULL }, &err), 0);
        /* localed is not on this bus: told apart by name. */
        assert_int_equal(system_set_locale((char *[]) { "LANG=C", NULL }, &err), -EHOSTDOWN);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_status_and_jobs),
                cmocka_unit_test(test_failures_by_name),
                cmocka_unit_test(test_freeze_thaw_kill),
                cmocka_unit_test(test_transient),
                cmocka_unit_test(test_threads_own_connections),
                cmocka_unit_test(test_environment),
        };
        int r;

        unit_bus_set_kind(UNIT_BUS_USER);
        r = cmocka_run_group_tests(tests, NULL, NULL);
        unit_bus_close_thread();
        return r;
}
