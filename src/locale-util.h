/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Validation of locale and timezone names, with the admin's rules (spec
 * §3.9), used by the admin and again by the agent, which trusts no caller:
 *
 *   locale    ^(C|POSIX|[a-z]{2}(_[A-Z]{2})?(@[a-zA-Z0-9]+)?)(\.[-a-zA-Z0-9]+)?$
 *   timezone  ^[A-Z][-+a-zA-Z0-9]*(/[A-Z][-+a-zA-Z0-9_]*)*$
 */

#include <stdbool.h>

bool locale_is_valid(const char *locale);
bool timezone_is_valid(const char *timezone);
