/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * JSON as upstream's Go agent reads it from its environment: objects whose
 * keys match case-insensitively (encoding/json's rule), string values.
 */

#include <json-c/json.h>

#include "macro.h"

DEFINE_CLEANUP_FUNC(json_object_putp, json_object *, json_object_put);
#define _cleanup_json_ _cleanup_(json_object_putp)

/**
 * json_parse() - parse @text as one JSON value
 * @ret_error: on -EINVAL, a static description of the syntax error
 * Return: 0, -EINVAL, -ENOMEM.
 */
int json_parse(const char *text, json_object **ret, const char **ret_error);

/* The member of @o called @key, compared case-insensitively; NULL if none. */
json_object *json_get_ci(json_object *o, const char *key);

/**
 * json_get_string_ci() - a string member (case-insensitive key)
 * @ret: the string (owned by @o), or NULL when the member is absent or null
 *
 * Integers are accepted and returned in their decimal form (a port written
 * as 9000 rather than "9000"); the text then lives in @o as well.
 * Return: 0, -EINVAL when the member has another type.
 */
int json_get_string_ci(json_object *o, const char *key, const char **ret);

/* A boolean member; true/false, or the strings "true"/"false". -EINVAL else. */
int json_get_bool_ci(json_object *o, const char *key, bool *ret);
