/* SPDX-License-Identifier: Apache-2.0 */

#include <errno.h>
#include <string.h>

#include "query-output.h"

static json_object *string_or_null(const char *s, bool present) {
        return present && s ? json_object_new_string(s) : NULL;
}

int query_item_to_json(const Admin__QueryListItem *item, json_object **ret) {
        static const char *const keys[] = {
                "name",    "description",  "status",  "trust_level",
                "vm_type", "service_type", "vm_name", "agent_name",
        };
        json_object *values[ELEMENTSOF(keys)];
        json_object *o;

        values[0] = json_object_new_string(strempty(item->name));
        values[1] = json_object_new_string(strempty(item->description));
        values[2] = json_object_new_string(strempty(item->vmstatus));
        values[3] = json_object_new_string(strempty(item->trustlevel));
        values[4] = json_object_new_string(strempty(item->vmtype));
        values[5] = json_object_new_string(strempty(item->servicetype));
        values[6] = string_or_null(item->vmname,
                                   item->__vm_name_case == ADMIN__QUERY_LIST_ITEM____VM_NAME_VM_NAME);
        values[7] = string_or_null(item->agentname,
                                   item->__agent_name_case ==
                                           ADMIN__QUERY_LIST_ITEM____AGENT_NAME_AGENT_NAME);

        o = json_object_new_object();
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                /* json-c keeps insertion order: serde's field order. A NULL value is JSON null. */
                if (!o || (i < 6 && !values[i]) || json_object_object_add(o, keys[i], values[i]) < 0) {
                        for (size_t j = i; j < ELEMENTSOF(keys); j++)
                                json_object_put(values[j]);
                        json_object_put(o);
                        return -ENOMEM;
                }
        }
        *ret = o;
        return 0;
}

int query_list_to_json(Admin__QueryListItem *const *items, size_t n, json_object **ret) {
        json_object *array = json_object_new_array_ext((int) n);

        if (!array)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *o;

                if (query_item_to_json(items[i], &o) < 0 || json_object_array_add(array, o) < 0) {
                        json_object_put(array);
                        return -ENOMEM;
                }
        }
        *ret = array;
        return 0;
}

const char *watch_event_name(const Admin__WatchItem *item) {
        switch (item->status_case) {
        case ADMIN__WATCH_ITEM__STATUS_ADDED:
                return "Added";
        case ADMIN__WATCH_ITEM__STATUS_UPDATED:
                return "Updated";
        case ADMIN__WATCH_ITEM__STATUS_REMOVED:
                return "Removed";
        default:
                return NULL;
        }
}

const Admin__QueryListItem *watch_event_item(const Admin__WatchItem *item) {
        switch (item->status_case) {
        case ADMIN__WATCH_ITEM__STATUS_ADDED:
                return item->added;
        case ADMIN__WATCH_ITEM__STATUS_UPDATED:
                return item->updated;
        case ADMIN__WATCH_ITEM__STATUS_REMOVED:
                return item->removed;
        default:
                return NULL;
        }
}

int watch_item_to_json(const Admin__WatchItem *item, json_object **ret) {
        const Admin__QueryListItem *event = watch_event_item(item);
        const char *tag;
        json_object *o, *inner;

        if (item->status_case == ADMIN__WATCH_ITEM__STATUS_INITIAL)
                return item->initial ? query_list_to_json(item->initial->list, item->initial->n_list, ret)
                                     : query_list_to_json(NULL, 0, ret);
        if (!event)
                return -EINVAL;

        /* Upstream's Event enum names (spec §3.2), externally tagged by serde. */
        tag = item->status_case == ADMIN__WATCH_ITEM__STATUS_ADDED     ? "UnitRegistered"
              : item->status_case == ADMIN__WATCH_ITEM__STATUS_UPDATED ? "UnitStatusChanged"
                                                                       : "UnitShutdown";
        if (query_item_to_json(event, &inner) < 0)
                return -ENOMEM;
        o = json_object_new_object();
        if (!o || json_object_object_add(o, tag, inner) < 0) {
                json_object_put(inner);
                json_object_put(o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}

int json_print_line(FILE *f, json_object *o) {
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE);

        if (!s)
                return -ENOMEM;
        if (fputs(s, f) == EOF || fputc('\n', f) == EOF)
                return -EIO;
        return 0;
}

bool query_item_matches(const Admin__QueryListItem *item, const UnitType *type, char *const *names) {
        if (type && (!streq_ptr(item->vmtype, vm_type_to_string(type->vm)) ||
                     !streq_ptr(item->servicetype, service_type_to_string(type->service))))
                return false;
        if (names && names[0]) {
                for (char *const *n = names; *n; n++)
                        if (streq_ptr(item->name, *n))
                                return true;
                return false;
        }
        return true;
}

/* ---- the table ---- */

enum { COL_EVENT, COL_NAME, COL_STATUS, COL_VM, COL_TYPE, COL_AGENT, _COL_MAX };

static const char *const column_titles[_COL_MAX] = { "EVENT", "NAME", "STATUS", "VM", "TYPE", "AGENT" };
/* Rows printed one at a time line up while their cells are no wider than this (Ghaf's longest
 * names, like "microvm@chromium-vm.service", fit). */
static const size_t stream_widths[_COL_MAX] = { 7, 28, 10, 12, 9, 0 };
/* Columns that may be shortened to fit, and how far. */
static const size_t min_widths[_COL_MAX] = { 0, 12, 0, 8, 0, 10 };

/* Columns on screen: code points, as names are UTF-8 (valid: the transport checks). */
static size_t display_width(const char *s) {
        size_t n = 0;

        for (; *s; s++)
                n += ((unsigned char) *s & 0xC0) != 0x80;
        return n;
}

/* "microvm@chromium-vm.service" → "chromium-vm": the VM's own name. */
static char *vm_display(const Admin__QueryListItem *item) {
        const char *vm, *start;
        size_t len;

        if (item->__vm_name_case != ADMIN__QUERY_LIST_ITEM____VM_NAME_VM_NAME || isempty(item->vmname))
                return strdup("-");
        vm = item->vmname;
        start = startswith(vm, "microvm@") ?: vm;
        len = strlen(start);
        if (start != vm && endswith(start, ".service"))
                len -= strlen(".service");
        return strndup(start, len);
}

typedef struct Row {
        char *cells[_COL_MAX];
} Row;

static void rows_free(Row *rows, size_t n) {
        for (size_t i = 0; rows && i < n; i++)
                for (size_t c = 0; c < _COL_MAX; c++)
                        free(rows[i].cells[c]);
        free(rows);
}

static int row_fill(Row *row, const Admin__QueryListItem *item, const char *event) {
        bool has_agent = item->__agent_name_case == ADMIN__QUERY_LIST_ITEM____AGENT_NAME_AGENT_NAME &&
                         !isempty(item->agentname);

        row->cells[COL_EVENT] = strdup(strempty(event));
        row->cells[COL_NAME] = strdup(strempty(item->name));
        row->cells[COL_STATUS] = strdup(isempty(item->vmstatus) ? "-" : item->vmstatus);
        row->cells[COL_VM] = vm_display(item);
        if (asprintf(&row->cells[COL_TYPE], "%s/%s", strempty(item->vmtype),
                     strempty(item->servicetype)) < 0)
                row->cells[COL_TYPE] = NULL;
        row->cells[COL_AGENT] = strdup(has_agent ? item->agentname : "-");
        for (size_t c = 0; c < _COL_MAX; c++)
                if (!row->cells[c])
                        return -ENOMEM;
        return 0;
}

/* Shortens the widest shrinkable column by one until the line fits (or nothing can shrink). */
static void fit_widths(size_t widths[_COL_MAX], bool with_event, size_t width) {
        size_t total;

        for (;;) {
                size_t widest = _COL_MAX;

                total = 0;
                for (size_t c = with_event ? 0 : 1; c < _COL_MAX; c++)
                        total += widths[c] + (c + 1 < _COL_MAX ? 2 : 0);
                if (total <= width)
                        return;
                for (size_t c = 0; c < _COL_MAX; c++)
                        if (min_widths[c] > 0 && widths[c] > min_widths[c] &&
                            (widest == _COL_MAX || widths[c] > widths[widest]))
                                widest = c;
                if (widest == _COL_MAX)
                        return;
                widths[widest]--;
        }
}

/* Writes @s in @width columns: padded, or cut with "…" when longer. @pad false: the last column. */
static int print_cell(FILE *f, const char *s, size_t width, bool pad) {
        size_t w = display_width(s);

        if (width > 0 && w > width) {
                size_t keep = width - 1, used = 0;
                const char *p = s;

                /* Cut at a code point boundary. */
                for (; *p; p++) {
                        if (((unsigned char) *p & 0xC0) != 0x80) {
                                if (used == keep)
                                        break;
                                used++;
                        }
                }
                if (fwrite(s, 1, (size_t) (p - s), f) != (size_t) (p - s) || fputs("…", f) == EOF)
                        return -EIO;
                w = width;
        } else if (fputs(s, f) == EOF)
                return -EIO;
        if (pad)
                for (; w < width + 2; w++)
                        if (fputc(' ', f) == EOF)
                                return -EIO;
        return 0;
}

static int print_row(FILE *f, char *const cells[_COL_MAX], const size_t widths[_COL_MAX], bool with_event) {
        for (size_t c = with_event ? 0 : 1; c < _COL_MAX; c++) {
                int r = print_cell(f, cells[c], widths[c], c + 1 < _COL_MAX);

                if (r < 0)
                        return r;
        }
        return fputc('\n', f) == EOF ? -EIO : 0;
}

int query_table_print(FILE *f, Admin__QueryListItem *const *items, size_t n, const char *const *events,
                      size_t width, TableFlags flags) {
        size_t widths[_COL_MAX] = {};
        Row *rows;
        int r = 0;

        rows = calloc(n ?: 1, sizeof(Row));
        if (!rows)
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++)
                r = row_fill(&rows[i], items[i], events ? events[i] : NULL);
        if (r < 0)
                goto finish;

        for (size_t c = 0; c < _COL_MAX; c++) {
                widths[c] = MAX(display_width(column_titles[c]),
                                flags & TABLE_STREAM ? stream_widths[c] : 0);
                for (size_t i = 0; i < n; i++)
                        widths[c] = MAX(widths[c], display_width(rows[i].cells[c]));
        }
        if (width > 0)
                fit_widths(widths, events, width);

        if (flags & TABLE_HEADER)
                r = print_row(f, (char *const *) column_titles, widths, events);
        for (size_t i = 0; i < n && r >= 0; i++)
                r = print_row(f, rows[i].cells, widths, events);
finish:
        rows_free(rows, n);
        return r;
}
