/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * How the CLI shows the admin's registry: upstream givc-cli's JSON (spec §4)
 * for scripts, and a table for people.
 *
 * JSON is upstream's serde form, key for key: a QueryListItem becomes
 *   {"name":…,"description":…,"status":…,"trust_level":…,"vm_type":…,
 *    "service_type":…,"vm_name":…|null,"agent_name":…|null}
 * a list becomes an array of those, and a Watch event is externally tagged:
 *   {"UnitRegistered":{…}}, {"UnitStatusChanged":{…}}, {"UnitShutdown":{…}}.
 */

#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

#include "admin.pb-c.h"
#include "registry.h"

int query_item_to_json(const Admin__QueryListItem *item, json_object **ret);
int query_list_to_json(Admin__QueryListItem *const *items, size_t n, json_object **ret);

/* A Watch item: the Initial list as an array, an event as a tagged object. -EINVAL for an empty item. */
int watch_item_to_json(const Admin__WatchItem *item, json_object **ret);

/* Writes @o on one line, as serde_json::to_string would, then a newline. */
int json_print_line(FILE *f, json_object *o);

/* "Added", "Updated", "Removed" for an event; NULL for Initial or nothing. */
const char *watch_event_name(const Admin__WatchItem *item);
/* The item an event carries; NULL for Initial or nothing. */
const Admin__QueryListItem *watch_event_item(const Admin__WatchItem *item);

/**
 * query_item_matches() - the filter of `givc cli query`
 * @type: only entries of this type; NULL for any
 * @names: only entries with one of these names; NULL or empty for any
 */
bool query_item_matches(const Admin__QueryListItem *item, const UnitType *type, char *const *names);

typedef enum TableFlags {
        TABLE_HEADER = 1 << 0, /* print the column titles first */
        TABLE_STREAM = 1 << 1, /* rows come one call at a time: fixed minimum widths keep them aligned */
} TableFlags;

/**
 * query_table_print() - @items as a table: NAME STATUS VM TYPE AGENT
 * @events: an EVENT column before the others, one string a row; NULL for none
 * @width: the terminal's width; the widest columns are shortened (ending in
 *         "…") to fit it. 0: never shorten (not a terminal).
 *
 * Return: 0, -ENOMEM, -EIO.
 */
int query_table_print(FILE *f, Admin__QueryListItem *const *items, size_t n, const char *const *events,
                      size_t width, TableFlags flags);
