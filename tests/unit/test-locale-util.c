/* SPDX-License-Identifier: Apache-2.0 */

#include "unit-test.h"
#include "locale-util.h"

typedef struct Vectors {
        const char *const *valid;
        size_t n_valid;
        const char *const *invalid;
        size_t n_invalid;
} Vectors;

#define VECTORS(v, i) ((Vectors) { v, ELEMENTSOF(v), i, ELEMENTSOF(i) })

static void check_vectors(bool (*is_valid)(const char *), const char *what, Vectors t) {
        for (size_t i = 0; i < t.n_valid + t.n_invalid; i++) {
                bool expected = i < t.n_valid;
                const char *s = expected ? t.valid[i] : t.invalid[i - t.n_valid];

                if (is_valid(s) != expected)
                        fail_msg("'%s' should %sbe a valid %s", s, expected ? "" : "not ", what);
        }
        assert_false(is_valid(NULL));
}

static void test_locales(void **state) {
        /* Upstream's test_locale_validator vectors first (spec §3.9). */
        static const char *const valid[] = {
                "en_US.UTF-8", "C", "POSIX", "C.UTF-8", "ar_AE.UTF-8", "fi_FI@euro.UTF-8", "fi_FI@euro",
                "en", "de_DE", "sr_RS@latin", "POSIX.utf8", "en_US.ISO-8859-1",
        };
        static const char *const invalid[] = {
                "`rm -Rf --no-preserve-root /`", "; whoami", "iwaenfli",
                "", "c", "posix", "CC", "POSIXX", "e", "EN_us", "en_us", "en_U", "en_USA", "en_US@",
                "en_US.",
                "en_US@euro@x", "en_US.UTF-8 ", " en_US", "en_US.UTF_8", "en_US.UTF-8\n", "en-US", "C@euro",
                "fi_FI.UTF-8@euro", "ä_FI", "en_US.$(id)",
        };

        check_vectors(locale_is_valid, "locale", VECTORS(valid, invalid));
}

static void test_timezones(void **state) {
        /* Upstream's test_timezone_validator vectors first (spec §3.9). */
        static const char *const valid[] = {
                "UTC", "Europe/Helsinki", "Asia/Abu_Dhabi", "Etc/GMT+8", "GMT-0",
                "America/Argentina/Rio_Gallegos",
                "U", "America/Port-au-Prince", "Etc/GMT-14", "EST5EDT",
        };
        static const char *const invalid[] = {
                "/foobar", "`whoami`", "Almost//Valid",
                "", "utc", "Europe/", "Europe/helsinki", "Abu_Dhabi/Asia", "Europe/Helsinki/",
                "Europe/../etc",
                "Europe Helsinki", "UTC\n", "Europe/Helsinki;id", "Europe\\Helsinki", "Ä", "_UTC",
        };

        check_vectors(timezone_is_valid, "timezone", VECTORS(valid, invalid));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_locales),
                cmocka_unit_test(test_timezones),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
