/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Locale and timezone names (spec §3.9), checked by hand-written matchers
 * for the admin's two regular expressions rather than by regcomp(): the
 * languages are small and deterministic (no alternative ever needs to back
 * up), and a matcher of our own has no locale-dependent character ranges,
 * no compiled state to share between threads and no failure mode.
 *
 * Both names end up on a command line (localectl, timedatectl) and in an
 * environment variable, so anything outside these languages is refused.
 */

#include <string.h>

#include "locale-util.h"

static bool is_lower(char c) {
        return c >= 'a' && c <= 'z';
}

static bool is_upper(char c) {
        return c >= 'A' && c <= 'Z';
}

static bool is_alnum(char c) {
        return is_lower(c) || is_upper(c) || (c >= '0' && c <= '9');
}

/* Skips a run of [a-zA-Z0-9] plus the characters in @extra. */
static const char *skip_word(const char *p, const char *extra) {
        while (*p && (is_alnum(*p) || strchr(extra, *p)))
                p++;
        return p;
}

bool locale_is_valid(const char *locale) {
        const char *p = locale, *q;

        /* ^(C|POSIX|[a-z]{2}(_[A-Z]{2})?(@[a-zA-Z0-9]+)?)(\.[-a-zA-Z0-9]+)?$ */
        if (!p)
                return false;
        if (strncmp(p, "POSIX", 5) == 0)
                p += 5;
        else if (p[0] == 'C')
                p++;
        else {
                if (!is_lower(p[0]) || !is_lower(p[1]))
                        return false;
                p += 2;
                if (p[0] == '_') {
                        if (!is_upper(p[1]) || !is_upper(p[2]))
                                return false;
                        p += 3;
                }
                if (p[0] == '@') {
                        q = skip_word(p + 1, "");
                        if (q == p + 1)
                                return false;
                        p = q;
                }
        }

        /* The codeset, optional. */
        if (p[0] == '.') {
                q = skip_word(p + 1, "-");
                if (q == p + 1)
                        return false;
                p = q;
        }
        return *p == '\0';
}

bool timezone_is_valid(const char *tz) {
        const char *p = tz;

        /* ^[A-Z][-+a-zA-Z0-9]*(/[A-Z][-+a-zA-Z0-9_]*)*$: the first component
         * has no '_', the later ones may ("Asia/Abu_Dhabi"). */
        if (!p || !is_upper(p[0]))
                return false;
        p = skip_word(p + 1, "-+");
        while (p[0] == '/') {
                if (!is_upper(p[1]))
                        return false;
                p = skip_word(p + 2, "-+_");
        }
        return *p == '\0';
}
