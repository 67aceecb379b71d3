/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Application manifests and start requests, with upstream's rules (spec
 * §2.7) and test vectors, plus a "file" argument type.
 *
 * A manifest (the agent's APPLICATIONS variable) is a JSON array of
 * {"name": …, "command": …, "args": ["flag" | "url" | "file", …]}; keys match
 * case-insensitively, as Go's encoding/json does. A request names a unit
 * "<app>@<instance>.service" and carries arguments; each argument must be
 * one of the kinds the manifest allows for that application:
 *
 *   flag  ^-[-]?[a-zA-Z0-9_-]+$                      ("--incognito")
 *   url   http or https, a host, no user info, and none of the characters a
 *         shell would act on (checked by a strict parser, not a regex)
 *   file  an absolute path without a ".." component or control characters
 *
 * The command line of a started application is the manifest command split
 * at whitespace, then the validated arguments; no shell ever sees it.
 */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

typedef enum AppArgKind {
        APP_ARG_FLAG = 1 << 0,
        APP_ARG_URL = 1 << 1,
        APP_ARG_FILE = 1 << 2,
} AppArgKind;

typedef struct AppManifest {
        char *name;
        char *command;
        unsigned allowed_args; /* AppArgKind bits */
} AppManifest;

typedef struct AppManifests {
        AppManifest *items;
        size_t n;
} AppManifests;

/**
 * app_manifests_parse() - parse an APPLICATIONS JSON text
 * @json: the text; NULL or empty (or only whitespace) means "no applications"
 * @ret: the manifests (free with app_manifests_free())
 * @ret_error: on -EINVAL, a malloc'd sentence: "application name is empty",
 *             "duplicate application name 'x'", "application command is empty",
 *             "application argument type 'x' not supported", or the JSON error
 *
 * Return: 0, -EINVAL, -ENOMEM.
 */
int app_manifests_parse(const char *json, AppManifests **ret, char **ret_error);
AppManifests *app_manifests_free(AppManifests *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(AppManifests *, app_manifests_free);

/* The manifest called @name, or NULL. */
const AppManifest *app_manifests_find(const AppManifests *m, const char *name);

/* Is @unit "<a>@<b>.service" with a, b in [a-zA-Z0-9_-]+ (upstream's regex)? */
bool app_unit_name_is_valid(const char *unit);

/* The application part of a unit name ("foot" for "foot@1.service"), malloc'd, or NULL. */
char *app_name_from_unit(const char *unit);

bool app_arg_is_flag(const char *arg);
bool app_arg_is_url(const char *arg);
bool app_arg_is_file(const char *arg);

/**
 * app_request_validate() - check a start request against the manifests
 * @unit: the unit to create, "<app>@<N>.service"
 * @args: the arguments (may be NULL when @n_args is 0)
 * @ret_manifest: the application's manifest (owned by @m)
 * @ret_error: on -EINVAL/-ENOENT, a malloc'd sentence: "application 'x' not
 *             found in manifest", "failure parsing application name 'u'",
 *             "invalid application argument 'a'"
 *
 * Return: 0; -ENOENT when the application is unknown (also when @m is NULL
 * or empty); -EINVAL for a bad unit name or argument; -ENOMEM.
 */
int app_request_validate(const AppManifests *m, const char *unit, char *const *args, size_t n_args,
                         const AppManifest **ret_manifest, char **ret_error);

/**
 * app_command_line() - the argv of a validated request: the manifest
 * command split at runs of whitespace, then @args
 * @ret: NULL-terminated (free with strv_free()); argv[0] is the executable
 *
 * Return: 0, -EINVAL when the command is only whitespace, -ENOMEM.
 */
int app_command_line(const AppManifest *manifest, char *const *args, size_t n_args, char ***ret);
