/* SPDX-License-Identifier: Apache-2.0 */

#include "unit-test.h"
#include "utf8.h"

static bool valid(const char *s) {
        return utf8_is_valid(s, strlen(s));
}

static void test_valid(void **state) {
        assert_true(valid(""));
        assert_true(valid("plain ASCII"));
        assert_true(valid("\xc3\xa9t\xc3\xa9"));          /* été */
        assert_true(valid("\xe2\x82\xac"));               /* € */
        assert_true(valid("\xf0\x9f\x98\x80"));           /* U+1F600 */
        assert_true(valid("\xf4\x8f\xbf\xbf"));           /* U+10FFFF */
        assert_true(valid("\xed\x9f\xbf"));               /* U+D7FF, just below the surrogates */
        assert_true(utf8_is_valid("a\0b", 3));            /* NUL is a code point */
}

static void test_invalid(void **state) {
        assert_false(valid("\x80"));                      /* lone continuation */
        assert_false(valid("\xc3"));                      /* truncated */
        assert_false(valid("\xc0\xaf"));                  /* overlong '/' */
        assert_false(valid("\xc1\xbf"));                  /* overlong */
        assert_false(valid("\xe0\x80\xaf"));              /* overlong, 3 bytes */
        assert_false(valid("\xf0\x80\x80\xaf"));          /* overlong, 4 bytes */
        assert_false(valid("\xed\xa0\x80"));              /* U+D800 surrogate */
        assert_false(valid("\xf4\x90\x80\x80"));          /* above U+10FFFF */
        assert_false(valid("\xf5\x80\x80\x80"));
        assert_false(valid("\xff"));
        assert_false(valid("\xe2\x82"));                  /* truncated € */
        assert_false(valid("ok\xe2\x28\xa1"));            /* bad continuation */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_invalid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
