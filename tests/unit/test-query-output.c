/* SPDX-License-Identifier: Apache-2.0 */

#include "json-util.h"
#include "query-output.h"
#include "unit-test.h"

static Admin__QueryListItem app_item(void) {
        Admin__QueryListItem item = ADMIN__QUERY_LIST_ITEM__INIT;

        item.name = (char *) "foot@0.service";
        item.description = (char *) "Foot \"terminal\"";
        item.vmstatus = (char *) "Running";
        item.trustlevel = (char *) "Warning";
        item.vmtype = (char *) "AppVM";
        item.servicetype = (char *) "App";
        item.__vm_name_case = ADMIN__QUERY_LIST_ITEM____VM_NAME_VM_NAME;
        item.vmname = (char *) "microvm@chromium-vm.service";
        item.__agent_name_case = ADMIN__QUERY_LIST_ITEM____AGENT_NAME_AGENT_NAME;
        item.agentname = (char *) "givc-chromium-vm.service";
        return item;
}

static char *print_to_string(int (*print)(FILE *f, void *userdata), void *userdata) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        assert_non_null(f);
        assert_int_equal(print(f, userdata), 0);
        assert_int_equal(fclose(f), 0);
        return text;
}

static int print_json(FILE *f, void *userdata) {
        return json_print_line(f, userdata);
}

/* Upstream's serde output, byte for byte: key order, null options, no escaped slashes. */
static void test_item_json(void **state) {
        Admin__QueryListItem item = app_item();
        _cleanup_json_ json_object *o = NULL, *host = NULL;
        _cleanup_free_ char *text = NULL, *host_text = NULL;

        assert_int_equal(query_item_to_json(&item, &o), 0);
        text = print_to_string(print_json, o);
        assert_string_equal(text, "{\"name\":\"foot@0.service\",\"description\":\"Foot \\\"terminal\\\"\","
                                  "\"status\":\"Running\",\"trust_level\":\"Warning\",\"vm_type\":\"AppVM\","
                                  "\"service_type\":\"App\",\"vm_name\":\"microvm@chromium-vm.service\","
                                  "\"agent_name\":\"givc-chromium-vm.service\"}\n");

        item.name = (char *) "a/b";
        item.__vm_name_case = ADMIN__QUERY_LIST_ITEM____VM_NAME__NOT_SET;
        item.__agent_name_case = ADMIN__QUERY_LIST_ITEM____AGENT_NAME__NOT_SET;
        assert_int_equal(query_item_to_json(&item, &host), 0);
        host_text = print_to_string(print_json, host);
        assert_non_null(strstr(host_text, "\"name\":\"a/b\""));
        assert_non_null(strstr(host_text, "\"vm_name\":null,\"agent_name\":null}"));
}

static void test_watch_json(void **state) {
        Admin__QueryListItem item = app_item(), *items[] = { &item };
        Admin__QueryListResponse list = ADMIN__QUERY_LIST_RESPONSE__INIT;
        Admin__WatchItem w = ADMIN__WATCH_ITEM__INIT;
        static const struct {
                Admin__WatchItem__StatusCase kind;
                const char *prefix, *name;
        } events[] = {
                { ADMIN__WATCH_ITEM__STATUS_ADDED, "{\"UnitRegistered\":{\"name\":\"foot@0.service\"",
                  "Added" },
                { ADMIN__WATCH_ITEM__STATUS_UPDATED, "{\"UnitStatusChanged\":{\"name\":", "Updated" },
                { ADMIN__WATCH_ITEM__STATUS_REMOVED, "{\"UnitShutdown\":{\"name\":", "Removed" },
        };

        for (size_t i = 0; i < ELEMENTSOF(events); i++) {
                _cleanup_json_ json_object *o = NULL;
                _cleanup_free_ char *text = NULL;

                w.status_case = events[i].kind;
                w.added = w.updated = w.removed = NULL;
                if (events[i].kind == ADMIN__WATCH_ITEM__STATUS_ADDED)
                        w.added = &item;
                else if (events[i].kind == ADMIN__WATCH_ITEM__STATUS_UPDATED)
                        w.updated = &item;
                else
                        w.removed = &item;
                assert_int_equal(watch_item_to_json(&w, &o), 0);
                text = print_to_string(print_json, o);
                assert_true(startswith(text, events[i].prefix));
                assert_true(endswith(text, "}}\n"));
                assert_string_equal(watch_event_name(&w), events[i].name);
                assert_ptr_equal(watch_event_item(&w), &item);
        }

        {
                _cleanup_json_ json_object *o = NULL, *empty = NULL;
                _cleanup_free_ char *text = NULL;

                list.list = items;
                list.n_list = 1;
                w = (Admin__WatchItem) ADMIN__WATCH_ITEM__INIT;
                w.status_case = ADMIN__WATCH_ITEM__STATUS_INITIAL;
                w.initial = &list;
                assert_int_equal(watch_item_to_json(&w, &o), 0);
                text = print_to_string(print_json, o);
                assert_true(startswith(text, "[{\"name\":\"foot@0.service\""));
                assert_null(watch_event_name(&w));
                assert_null(watch_event_item(&w));

                /* An item with nothing set is malformed, not an empty event. */
                w.status_case = ADMIN__WATCH_ITEM__STATUS__NOT_SET;
                assert_int_equal(watch_item_to_json(&w, &empty), -EINVAL);
        }
}

static void test_filter(void **state) {
        Admin__QueryListItem item = app_item();
        UnitType app = { VM_TYPE_APPVM, SERVICE_TYPE_APP }, mgr = { VM_TYPE_APPVM, SERVICE_TYPE_MGR };
        char *mine[] = { (char *) "x", (char *) "foot@0.service", NULL }, *other[] = { (char *) "x", NULL };
        char *none[] = { NULL };

        assert_true(query_item_matches(&item, NULL, NULL));
        assert_true(query_item_matches(&item, NULL, none));
        assert_true(query_item_matches(&item, &app, NULL));
        assert_false(query_item_matches(&item, &mgr, NULL));
        assert_true(query_item_matches(&item, &app, mine));
        assert_false(query_item_matches(&item, &app, other));
}

typedef struct TableArgs {
        Admin__QueryListItem **items;
        size_t n;
        const char *const *events;
        size_t width;
        TableFlags flags;
} TableArgs;

static int print_table(FILE *f, void *userdata) {
        TableArgs *a = userdata;

        return query_table_print(f, a->items, a->n, a->events, a->width, a->flags);
}

static size_t longest_line(const char *text) {
        size_t longest = 0, current = 0;

        for (const char *p = text; *p; p++) {
                if (*p == '\n') {
                        longest = MAX(longest, current);
                        current = 0;
                } else if (((unsigned char) *p & 0xC0) != 0x80)
                        current++;
        }
        return MAX(longest, current);
}

static void test_table(void **state) {
        Admin__QueryListItem app = app_item(), host = app_item();
        Admin__QueryListItem *items[] = { &app, &host };
        TableArgs args = { .items = items, .n = 2, .flags = TABLE_HEADER };
        _cleanup_free_ char *wide = NULL, *narrow = NULL, *stream = NULL;
        const char *events[] = { "Added" };

        host.name = (char *) "givc-ghaf-host.service";
        host.vmtype = (char *) "Host";
        host.servicetype = (char *) "Mgr";
        host.__vm_name_case = ADMIN__QUERY_LIST_ITEM____VM_NAME__NOT_SET;
        host.agentname = (char *) "givc-ghaf-host.service";

        wide = print_to_string(print_table, &args);
        assert_string_equal(
                wide,
                "NAME                    STATUS   VM           TYPE       AGENT\n"
                "foot@0.service          Running  chromium-vm  AppVM/App  givc-chromium-vm.service\n"
                "givc-ghaf-host.service  Running  -            Host/Mgr   givc-ghaf-host.service\n");

        /* A narrow terminal: the wide columns give way, cut with an ellipsis. */
        args.width = 60;
        narrow = print_to_string(print_table, &args);
        assert_true(longest_line(narrow) <= 60);
        assert_non_null(strstr(narrow, "…"));
        assert_true(startswith(narrow, "NAME"));

        args = (TableArgs) { .items = items, .n = 1, .events = events, .flags = TABLE_STREAM };
        stream = print_to_string(print_table, &args);
        assert_true(startswith(stream, "Added    foot@0.service "));
        assert_non_null(strstr(stream, "AppVM/App  givc-chromium-vm.service\n"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_item_json),
                cmocka_unit_test(test_watch_json),
                cmocka_unit_test(test_filter),
                cmocka_unit_test(test_table),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
