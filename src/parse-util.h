/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Parsers for the values people put in options and environment variables. */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

/* "1", "yes", "y", "true", "t", "on" and their opposites, any case.
 * Return: 1 (true), 0 (false), -EINVAL. */
int parse_boolean(const char *s);

/* A decimal unsigned number in [min, max], no sign, no spaces.
 * Return: 0, -EINVAL (not a number), -ERANGE (outside the range). */
int parse_uint64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* Milliseconds with an optional unit: "500", "500ms", "2s", "1.5s", "1min", "1h".
 * Return: 0, -EINVAL, -ERANGE. */
int parse_duration_ms(const char *s, int64_t *ret);

/**
 * strv_split() - split @s at any of @separators, dropping empty pieces
 * Return: 0 and a NULL-terminated list (free with strv_free()), -ENOMEM.
 */
int strv_split(const char *s, const char *separators, char ***ret);

/* Append a copy of @s to *@l (a NULL-terminated list, possibly NULL). */
int strv_extend(char ***l, const char *s);

size_t strv_length(char *const *l);

/* Whether @s is one of the strings of @l (NULL: none). */
bool strv_contains(char *const *l, const char *s);
