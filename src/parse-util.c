/* SPDX-License-Identifier: Apache-2.0 */

#include <math.h>
#include <strings.h>

#include "parse-util.h"

int parse_boolean(const char *s) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off" };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        return -EINVAL;
}

int parse_uint64(const char *s, uint64_t min, uint64_t max, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (isempty(s) || strspn(s, "0123456789") != strlen(s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE || v < min || v > max)
                return -ERANGE;
        if (errno != 0 || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_duration_ms(const char *s, int64_t *ret) {
        static const struct {
                const char *suffix;
                double ms;
        } units[] = {
                { "ms", 1 },        { "s", 1000 },       { "sec", 1000 },
                { "m", 60000 },     { "min", 60000 },    { "h", 3600000 },
        };
        double v, factor = 1;
        char *end;

        if (isempty(s) || !(s[0] >= '0' && s[0] <= '9'))
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || end == s)
                return -EINVAL;
        if (*end) {
                bool found = false;

                for (size_t i = 0; i < ELEMENTSOF(units) && !found; i++)
                        if (streq(end, units[i].suffix)) {
                                factor = units[i].ms;
                                found = true;
                        }
                if (!found)
                        return -EINVAL;
        }
        v *= factor;
        if (!isfinite(v) || v < 0 || v > (double) INT64_MAX / 2)
                return -ERANGE;
        *ret = (int64_t) llround(v);
        return 0;
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        for (; l && *l; l++)
                n++;
        return n;
}

bool strv_contains(char *const *l, const char *s) {
        for (; l && *l; l++)
                if (streq(*l, s))
                        return true;
        return false;
}

int strv_extend(char ***l, const char *s) {
        size_t n = strv_length(*l);
        char **nl, *copy;

        copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        nl = reallocarray(*l, n + 2, sizeof(char *));
        if (!nl) {
                free(copy);
                return -ENOMEM;
        }
        nl[n] = copy;
        nl[n + 1] = NULL;
        *l = nl;
        return 0;
}

int strv_split(const char *s, const char *separators, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        int r;

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        while (s && *s) {
                size_t n;

                s += strspn(s, separators);
                n = strcspn(s, separators);
                if (n == 0)
                        break;
                {
                        _cleanup_free_ char *piece = strndup(s, n);

                        if (!piece)
                                return -ENOMEM;
                        r = strv_extend(&l, piece);
                        if (r < 0)
                                return r;
                }
                s += n;
        }
        *ret = TAKE_PTR(l);
        return 0;
}
