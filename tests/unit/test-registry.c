/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry: upstream's unit tests (register/deregister, cascade, unique
 * names; spec §7.1) and what givc adds (events only on change, in order;
 * reservations; types).
 */

#include <pthread.h>

#include "admin-state.h"
#include "registry.h"
#include "unit-test.h"

static RegistryEntry *make(const char *name, Placement p, const char *by, const char *vm,
                            ServiceType service) {
        RegistryEntry *e = calloc(1, sizeof(*e));

        assert_non_null(e);
        e->name = strdup(name);
        e->type = (UnitType) { VM_TYPE_APPVM, service };
        e->placement = p;
        e->by = by ? strdup(by) : NULL;
        e->vm = vm ? strdup(vm) : NULL;
        if (p == PLACEMENT_ENDPOINT) {
                e->protocol = strdup("tcp");
                e->address = strdup("127.0.0.5");
                e->port = strdup("9000");
                e->tls_name = strdup("chromium-vm");
        }
        e->load_state = strdup("loaded");
        e->active_state = strdup("active");
        e->sub_state = strdup("running");
        e->freezer_state = strdup("running");
        e->description = strdup("d");
        e->watch = service != SERVICE_TYPE_SVC;
        return e;
}

typedef struct Recorder {
        char log[4096];
} Recorder;

static void record(RegistryEventKind kind, const RegistryEntry *e, const RegistryEntry *previous,
                   void *userdata) {
        Recorder *r = userdata;
        static const char *const names[] = { "+", "~", "-", "*" };

        /* What an update replaced comes with it, still alive. */
        if (IN_SET(kind, REGISTRY_ADDED, REGISTRY_REMOVED))
                assert_null(previous);
        else {
                assert_non_null(previous);
                assert_string_equal(previous->name, e->name);
        }
        strncat(r->log, names[kind], sizeof(r->log) - strlen(r->log) - 1);
        strncat(r->log, e->name, sizeof(r->log) - strlen(r->log) - 1);
        strncat(r->log, " ", sizeof(r->log) - strlen(r->log) - 1);
}

static void test_types(void **state) {
        UnitType t;
        uint32_t n;

        for (uint32_t i = 0; i <= 14; i++) {
                assert_int_equal(unit_type_from_u32(i, &t), 0);
                assert_int_equal(unit_type_to_u32(t, &n), 0);
                assert_int_equal(n, i);
        }
        assert_int_equal(unit_type_from_u32(15, &t), -EINVAL);
        assert_int_equal(unit_type_from_u32(0, &t), 0);
        assert_string_equal(vm_type_to_string(t.vm), "Host");
        assert_string_equal(service_type_to_string(t.service), "Mgr");
        assert_int_equal(unit_type_from_u32(14, &t), 0);
        assert_string_equal(vm_type_to_string(t.vm), "AppVM");
        assert_string_equal(service_type_to_string(t.service), "App");
        assert_int_equal(unit_type_from_u32(7, &t), 0);
        assert_string_equal(service_type_to_string(t.service), "VM");
        /* Host/VM has no number (upstream encoded it as 100500). */
        assert_int_equal(unit_type_to_u32((UnitType) { VM_TYPE_HOST, SERVICE_TYPE_VM }, &n), -EINVAL);
        assert_int_equal(vm_type_from_string("SysVM"), VM_TYPE_SYSVM);
        assert_int_equal(vm_type_from_string("nope"), _VM_TYPE_INVALID);
}

static void test_register_deregister(void **state) {
        _cleanup_(registry_freep) Registry *r = NULL;
        _cleanup_(registry_entry_freep) RegistryEntry *got = NULL;
        RegistryListenerSlot *slot = NULL;
        Recorder rec = {};

        assert_int_equal(registry_new(&r), 0);
        assert_int_equal(registry_subscribe(r, record, NULL, &rec, &slot), 0);
        assert_int_equal(registry_register(r, make("foo", PLACEMENT_ENDPOINT, NULL, NULL, SERVICE_TYPE_MGR),
                                           false), 0);
        assert_true(registry_contains(r, "foo"));
        assert_int_equal(registry_get(r, "foo", &got), 0);
        assert_string_equal(got->name, "foo");
        assert_string_equal(registry_entry_agent_name(got), "foo");
        assert_int_equal(registry_deregister(r, "foo"), 0);
        assert_false(registry_contains(r, "foo"));
        /* Twice is an error, as upstream. */
        assert_int_equal(registry_deregister(r, "foo"), -ENOENT);
        assert_string_equal(rec.log, "+foo -foo ");
}

static void test_cascade(void **state) {
        _cleanup_(registry_freep) Registry *r = NULL;
        _cleanup_(registry_entries_freep) RegistryEntry **all = NULL;
        RegistryListenerSlot *slot = NULL;
        Recorder rec = {};
        size_t n;

        /* Upstream's test_cascade_deregister: bar and baz managed by foo. */
        assert_int_equal(registry_new(&r), 0);
        assert_int_equal(registry_register(r, make("foo", PLACEMENT_ENDPOINT, NULL, NULL, SERVICE_TYPE_MGR),
                                           false), 0);
        assert_int_equal(registry_register(r, make("bar", PLACEMENT_MANAGED, "foo", NULL, SERVICE_TYPE_APP),
                                           false), 0);
        assert_int_equal(registry_register(r, make("baz", PLACEMENT_MANAGED, "foo", NULL, SERVICE_TYPE_APP),
                                           false), 0);
        assert_int_equal(registry_subscribe(r, record, NULL, &rec, &slot), 0);

        assert_int_equal(registry_deregister(r, "baz"), 0);
        assert_true(registry_contains(r, "foo"));
        assert_true(registry_contains(r, "bar"));
        assert_int_equal(registry_deregister(r, "foo"), 0);
        assert_false(registry_contains(r, "bar"));
        assert_int_equal(registry_list(r, &all, &n), 0);
        assert_int_equal(n, 0);
        /* What it manages goes first. */
        assert_string_equal(rec.log, "-baz -bar -foo ");
}

static void test_updates_only_on_change(void **state) {
        _cleanup_(registry_freep) Registry *r = NULL;
        _cleanup_(registry_entry_freep) RegistryEntry *got = NULL;
        RegistryListenerSlot *slot = NULL;
        Recorder rec = {};

        assert_int_equal(registry_new(&r), 0);
        assert_int_equal(registry_register(r, make("a", PLACEMENT_ENDPOINT, NULL, NULL, SERVICE_TYPE_MGR),
                                           false), 0);
        assert_int_equal(registry_subscribe(r, record, NULL, &rec, &slot), 0);

        assert_int_equal(registry_update_status(r, "a", 0, "d", "loaded", "active", "running", NULL, "running",
                                                false), 0);
        assert_int_equal(registry_update_status(r, "a", 0, "d", "loaded", "active", "running", NULL, "frozen",
                                                false), 1);
        assert_int_equal(registry_update_status(r, "a", 0, "d", "loaded", "active", "running", NULL, "frozen",
                                                false), 0);
        assert_int_equal(registry_get(r, "a", &got), 0);
        assert_string_equal(registry_entry_vm_status(got), "Paused");
        got = registry_entry_free(got);

        /* Unreachable: shown as not running, the last status kept. */
        assert_int_equal(registry_update_status(r, "a", 0, NULL, NULL, NULL, NULL, NULL, NULL, true), 1);
        assert_int_equal(registry_update_status(r, "a", 0, NULL, NULL, NULL, NULL, NULL, NULL, true), 0);
        assert_int_equal(registry_get(r, "a", &got), 0);
        assert_string_equal(registry_entry_vm_status(got), "PoweredOff");
        assert_string_equal(got->freezer_state, "frozen");
        assert_int_equal(registry_update_status(r, "nope", 0, NULL, NULL, NULL, NULL, NULL, NULL, true),
                         -ENOENT);

        /* Re-registering: keep_status keeps what the monitor learned, but the agent just reached us,
         * so it is no longer unreachable (one change); the same again keeps quiet. */
        assert_int_equal(registry_register(r, make("a", PLACEMENT_ENDPOINT, NULL, NULL, SERVICE_TYPE_MGR),
                                           true), 0);
        got = registry_entry_free(got);
        assert_int_equal(registry_get(r, "a", &got), 0);
        assert_string_equal(got->freezer_state, "frozen");
        assert_false(got->unreachable);
        assert_string_equal(registry_entry_vm_status(got), "Paused");
        assert_int_equal(registry_register(r, make("a", PLACEMENT_ENDPOINT, NULL, NULL, SERVICE_TYPE_MGR),
                                           true), 0);
        assert_string_equal(rec.log, "*a *a ~a ");
}

static void test_shown_equal(void **state) {
        _cleanup_(registry_entry_freep) RegistryEntry *a = make("a", PLACEMENT_ENDPOINT, NULL, NULL,
                                                                SERVICE_TYPE_MGR);
        _cleanup_(registry_entry_freep) RegistryEntry *b = NULL;

        assert_int_equal(registry_entry_copy(a, &b), 0);
        /* Not shown: the object path, and a sub-state that does not change the status. */
        assert_int_equal(free_and_strdup(&b->path, "/org/freedesktop/systemd1/unit/a"), 0);
        assert_false(registry_entry_equal(a, b));
        assert_true(registry_entry_shown_equal(a, b));
        assert_int_equal(free_and_strdup(&b->freezer_state, "frozen"), 0);
        assert_false(registry_entry_shown_equal(a, b));
        assert_int_equal(free_and_strdup(&b->freezer_state, a->freezer_state), 0);
        assert_int_equal(free_and_strdup(&b->description, "other"), 0);
        assert_false(registry_entry_shown_equal(a, b));
}

static void test_older_status_loses(void **state) {
        _cleanup_(registry_freep) Registry *r = NULL;
        _cleanup_(registry_entry_freep) RegistryEntry *got = NULL;
        uint64_t monitor, pause, before_registration;

        assert_int_equal(registry_new(&r), 0);
        before_registration = registry_status_ticket(r);
        assert_int_equal(registry_register(r, make("a", PLACEMENT_ENDPOINT, NULL, NULL, SERVICE_TYPE_MGR),
                                           false), 0);
        /* A poll asked before the registration answers after it: the registration is newer. */
        assert_int_equal(registry_update_status(r, "a", before_registration, "d", "loaded", "active",
                                                "running", NULL, "frozen", false), 0);

        /* The monitor asks, a Pause happens and its poll asks, and answers first: the monitor's
         * older "running" must not undo the "frozen". */
        monitor = registry_status_ticket(r);
        pause = registry_status_ticket(r);
        assert_true(pause > monitor);
        assert_int_equal(registry_update_status(r, "a", pause, "d", "loaded", "active", "running", NULL,
                                                "frozen", false), 1);
        assert_int_equal(registry_update_status(r, "a", monitor, "d", "loaded", "active", "running", NULL,
                                                "running", false), 0);
        assert_int_equal(registry_get(r, "a", &got), 0);
        assert_string_equal(registry_entry_vm_status(got), "Paused");
        got = registry_entry_free(got);

        /* In the other order both count, the newer last. */
        monitor = registry_status_ticket(r);
        pause = registry_status_ticket(r);
        assert_int_equal(registry_update_status(r, "a", monitor, NULL, NULL, NULL, NULL, NULL, NULL, true),
                         1);
        assert_int_equal(registry_update_status(r, "a", pause, "d", "loaded", "active", "running", NULL,
                                                "running", false), 1);
        assert_int_equal(registry_get(r, "a", &got), 0);
        assert_string_equal(registry_entry_vm_status(got), "Running");
        assert_false(got->unreachable);
}

static void test_unique_names(void **state) {
        _cleanup_(registry_freep) Registry *r = NULL;
        _cleanup_free_ char *n0 = NULL, *n1 = NULL, *n2 = NULL, *n3 = NULL;

        /* Upstream's test_unique_name: foo@0, then foo@1. */
        assert_int_equal(registry_new(&r), 0);
        assert_int_equal(registry_reserve_name(r, "foo", &n0), 0);
        assert_string_equal(n0, "foo@0.service");
        assert_int_equal(registry_register(r, make(n0, PLACEMENT_MANAGED, "x", NULL, SERVICE_TYPE_APP),
                                           false), 0);
        assert_int_equal(registry_reserve_name(r, "foo", &n1), 0);
        assert_string_equal(n1, "foo@1.service");
        /* Reserved but not yet registered: a concurrent start gets another. */
        assert_int_equal(registry_reserve_name(r, "foo", &n2), 0);
        assert_string_equal(n2, "foo@2.service");
        registry_unreserve(r, n1);
        assert_int_equal(registry_reserve_name(r, "foo", &n3), 0);
        assert_string_equal(n3, "foo@1.service");
}

static void visit_names(RegistryEntry *const *entries, size_t n, void *userdata) {
        char *names = userdata;

        for (size_t i = 0; i < n; i++) {
                strcat(names, entries[i]->name);
                strcat(names, " ");
        }
}

static void test_find(void **state) {
        _cleanup_(registry_freep) Registry *r = NULL;
        _cleanup_(registry_entries_freep) RegistryEntry **prefixed = NULL, **watched = NULL;
        _cleanup_(registry_entry_freep) RegistryEntry *host = NULL;
        RegistryEntry *h;

        assert_int_equal(registry_new(&r), 0);
        assert_int_equal(registry_register(r, make("foot@1.service", PLACEMENT_MANAGED, "a", NULL,
                                                   SERVICE_TYPE_APP), false), 0);
        assert_int_equal(registry_register(r, make("foot@10.service", PLACEMENT_MANAGED, "a", NULL,
                                                   SERVICE_TYPE_APP), false), 0);
        assert_int_equal(registry_register(r, make("svc.service", PLACEMENT_MANAGED, "a", NULL,
                                                   SERVICE_TYPE_SVC), false), 0);
        {
                char names[128] = "";

                /* Sorted by name, without copies. */
                registry_visit(r, visit_names, names);
                assert_string_equal(names, "foot@1.service foot@10.service svc.service ");
        }
        assert_int_equal(registry_find_prefix(r, "foot@", &prefixed), 0);
        assert_non_null(prefixed[1]);
        assert_null(prefixed[2]);
        assert_int_equal(registry_watch_list(r, &watched), 0);
        assert_non_null(watched[1]);
        assert_null(watched[2]);

        assert_int_equal(registry_find_by_type(r, (UnitType) { VM_TYPE_HOST, SERVICE_TYPE_MGR }, &host),
                         -ENOENT);
        h = make("givc-ghaf-host.service", PLACEMENT_ENDPOINT, NULL, NULL, SERVICE_TYPE_MGR);
        h->type.vm = VM_TYPE_HOST;
        assert_int_equal(registry_register(r, h, false), 0);
        assert_int_equal(registry_find_by_type(r, (UnitType) { VM_TYPE_HOST, SERVICE_TYPE_MGR }, &host), 0);
        assert_string_equal(host->name, "givc-ghaf-host.service");
        host = registry_entry_free(host);
        h = make("givc-second-host.service", PLACEMENT_ENDPOINT, NULL, NULL, SERVICE_TYPE_MGR);
        h->type.vm = VM_TYPE_HOST;
        assert_int_equal(registry_register(r, h, false), 0);
        assert_int_equal(registry_find_by_type(r, (UnitType) { VM_TYPE_HOST, SERVICE_TYPE_MGR }, &host),
                         -ENOTUNIQ);
}

typedef struct Snapshot {
        size_t n;
        Recorder rec;
} Snapshot;

static void snapshot(RegistryEntry *const *entries, size_t n, void *userdata) {
        ((Snapshot *) userdata)->n = n;
}

static void snapshot_record(RegistryEventKind kind, const RegistryEntry *e, const RegistryEntry *previous,
                            void *userdata) {
        record(kind, e, previous, &((Snapshot *) userdata)->rec);
}

static void *registrar(void *userdata) {
        Registry *r = userdata;

        for (int i = 0; i < 500; i++) {
                char name[32];

                snprintf(name, sizeof(name), "s%03d.service", i);
                if (registry_register(r, make(name, PLACEMENT_MANAGED, "x", NULL, SERVICE_TYPE_SVC),
                                      false) < 0)
                        return (void *) 1;
        }
        return NULL;
}

static void test_snapshot_then_events(void **state) {
        _cleanup_(registry_freep) Registry *r = NULL;
        RegistryListenerSlot *slot = NULL;
        Snapshot snap = {};
        pthread_t t;
        size_t added = 0;
        void *ret;

        /* Whatever happens concurrently, snapshot + events = everything, once. */
        assert_int_equal(registry_new(&r), 0);
        assert_int_equal(pthread_create(&t, NULL, registrar, r), 0);
        assert_int_equal(registry_subscribe(r, snapshot_record, snapshot, &snap, &slot), 0);
        assert_int_equal(pthread_join(t, &ret), 0);
        assert_null(ret);
        for (const char *p = snap.rec.log; (p = strchr(p, '+')); p++)
                added++;
        /* The recorder truncates; count with the registry instead when it is full. */
        if (strlen(snap.rec.log) < sizeof(snap.rec.log) - 32)
                assert_int_equal(snap.n + added, 500);
        assert_int_equal(registry_size(r), 500);
        registry_unsubscribe(r, slot);
}

static void test_state_round_trip(void **state) {
        _cleanup_(registry_entries_freep) RegistryEntry **entries = calloc(3, sizeof(RegistryEntry *));
        _cleanup_(admin_state_done) AdminState st = {};
        char tmpl[] = "/tmp/test-registry-XXXXXX";
        _cleanup_free_ char *path = NULL, *err = NULL;
        const char *dir = mkdtemp(tmpl);
        FILE *f;

        assert_non_null(dir);
        assert_true(asprintf(&path, "%s/state.json", dir) > 0);
        assert_int_equal(admin_state_load(path, &st, &err), -ENOENT);

        entries[0] = make("foot@1.service", PLACEMENT_MANAGED, "givc-chromium-vm.service",
                          "microvm@chromium-vm.service", SERVICE_TYPE_APP);
        entries[1] = make("givc-chromium-vm.service", PLACEMENT_ENDPOINT, NULL,
                          "microvm@chromium-vm.service", SERVICE_TYPE_MGR);
        assert_int_equal(admin_state_save(path, entries, 2, "fi_FI.UTF-8", NULL), 0);
        assert_int_equal(admin_state_load(path, &st, &err), 0);
        assert_int_equal(st.n_entries, 2);
        assert_true(registry_entry_equal(st.entries[0], entries[0]));
        assert_true(registry_entry_equal(st.entries[1], entries[1]));
        assert_string_equal(st.locale, "fi_FI.UTF-8");
        assert_null(st.timezone);
        admin_state_done(&st);

        /* Garbage is refused with a sentence, not half-loaded. */
        f = fopen(path, "we");
        assert_non_null(f);
        fputs("{\"version\": 1, \"entries\": [{\"name\": \"x\", \"vm_type\": \"Moon\"}]}", f);
        fclose(f);
        assert_int_equal(admin_state_load(path, &st, &err), -EBADMSG);
        assert_non_null(strstr(err, "entry 0"));
        assert_null(st.entries);
        f = fopen(path, "we");
        fputs("not json", f);
        fclose(f);
        assert_int_equal(admin_state_load(path, &st, &err), -EBADMSG);

        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_types),
                cmocka_unit_test(test_register_deregister),
                cmocka_unit_test(test_cascade),
                cmocka_unit_test(test_updates_only_on_change),
                cmocka_unit_test(test_older_status_loses),
                cmocka_unit_test(test_shown_equal),
                cmocka_unit_test(test_unique_names),
                cmocka_unit_test(test_find),
                cmocka_unit_test(test_snapshot_then_events),
                cmocka_unit_test(test_state_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
