/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * What the admin keeps across restarts (issue: "nothing lost on restart"):
 * the registry, the locale and the timezone, as one JSON document in the
 * state directory, replaced atomically (written to a temporary file,
 * synced, renamed over the old one, the directory synced).
 *
 *   {"version": 1, "locale": "…", "timezone": "…",
 *    "entries": [{"name", "vm_type", "service_type", "status": {…},
 *                 "placement", "vm", "by", "transport": {…}, "watch"}]}
 */

#include "registry.h"

#define ADMIN_STATE_FILE "admin-state.json"

typedef struct AdminState {
        RegistryEntry **entries; /* NULL-terminated */
        size_t n_entries;
        char *locale;            /* NULL: never set */
        char *timezone;
} AdminState;

void admin_state_done(AdminState *s);

/**
 * admin_state_load() - read @path
 * Return: 0; -ENOENT when there is no state yet; -EBADMSG (with a sentence
 * in *ret_error) when the file is not a state document; other -errno.
 */
int admin_state_load(const char *path, AdminState *ret, char **ret_error);

/* Writes the state to @path atomically. Return: 0 or -errno. */
int admin_state_save(const char *path, RegistryEntry *const *entries, size_t n, const char *locale,
                     const char *timezone);
