/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the agent may control, without systemd: the whitelist rules. The
 * D-Bus side is tested against a real manager in the integration suite.
 */

#include "agent-service.h"
#include "unit-test.h"
#include "unit.h"

static void test_whitelist(void **state) {
        _cleanup_(app_manifests_freep) AppManifests *apps = NULL;
        _cleanup_(agent_service_freep) AgentService *a = NULL;
        _cleanup_(timers_freep) Timers *t = NULL;
        _cleanup_free_ char *err = NULL;
        char *services[] = { "microvm@chromium-vm.service", "poweroff.target", NULL };

        assert_int_equal(app_manifests_parse("[{\"name\":\"foot\",\"command\":\"run-waypipe foot\"}]",
                                             &apps, &err),
                         0);
        assert_int_equal(timers_new(&t), 0);
        assert_int_equal(agent_service_new(&a, &(AgentServiceConfig) {
                                                       .agent_unit = "givc-gui-vm.service",
                                                       .services = services,
                                                       .applications = apps,
                                                       .timers = t,
                                               }),
                         0);

        assert_true(agent_service_unit_allowed(a, "givc-gui-vm.service"));
        assert_true(agent_service_unit_allowed(a, "microvm@chromium-vm.service"));
        assert_true(agent_service_unit_allowed(a, "poweroff.target"));
        /* Any instance of a manifest application, also one started by an earlier run. */
        assert_true(agent_service_unit_allowed(a, "foot@0.service"));
        assert_true(agent_service_unit_allowed(a, "foot@17.service"));

        assert_false(agent_service_unit_allowed(a, "ssh.service"));
        assert_false(agent_service_unit_allowed(a, "microvm@admin-vm.service"));
        assert_false(agent_service_unit_allowed(a, "foot.service"));
        assert_false(agent_service_unit_allowed(a, "foot@1.service;x"));
        assert_false(agent_service_unit_allowed(a, "bar@1.service"));
        assert_false(agent_service_unit_allowed(a, "givc-gui-vm"));
        assert_false(agent_service_unit_allowed(a, ""));
        assert_false(agent_service_unit_allowed(a, NULL));
}

static void test_unit_names(void **state) {
        assert_true(unit_name_is_plausible("foo.service"));
        assert_true(unit_name_is_plausible("microvm@chromium-vm.service"));
        assert_true(unit_name_is_plausible("dev-disk-by\\x2duuid.device"));
        assert_true(unit_name_is_plausible("poweroff.target"));
        assert_false(unit_name_is_plausible(""));
        assert_false(unit_name_is_plausible(NULL));
        assert_false(unit_name_is_plausible("noextension"));
        assert_false(unit_name_is_plausible(".service"));
        assert_false(unit_name_is_plausible("trailing."));
        assert_false(unit_name_is_plausible("a b.service"));
        assert_false(unit_name_is_plausible("../x.service"));
        assert_false(unit_name_is_plausible("x;y.service"));
        assert_string_equal(unit_bus_kind_to_string(UNIT_BUS_SYSTEM), "system");
        assert_string_equal(unit_bus_kind_to_string(UNIT_BUS_USER), "user");
        assert_null(unit_bus_kind_to_string(_UNIT_BUS_KIND_MAX));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_whitelist),
                cmocka_unit_test(test_unit_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
