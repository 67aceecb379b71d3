/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/**
 * utf8_is_valid() - is @s[0..@n) well-formed UTF-8?
 *
 * Strict RFC 3629: no overlong forms, no surrogates (U+D800..U+DFFF), nothing
 * above U+10FFFF. NUL bytes are valid code points and accepted.
 */
bool utf8_is_valid(const char *s, size_t n);
