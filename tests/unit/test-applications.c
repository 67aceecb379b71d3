/* SPDX-License-Identifier: Apache-2.0 */

#include "unit-test.h"
#include "applications.h"

/* Upstream's request-test manifests (applications_test.go), with its key spelling. */
#define UPSTREAM_MANIFESTS                                                                         \
        "[{\"Name\":\"test-app\",\"Command\":\"/bin/test-app\",\"Args\":[\"url\",\"flag\"]},"      \
        " {\"Name\":\"test-app2\",\"Command\":\"/bin/test-app2\"}]"

static void check_all(bool (*f)(const char *), const char *const *v, size_t n, bool expected,
                      const char *what) {
        for (size_t i = 0; i < n; i++)
                if (f(v[i]) != expected)
                        fail_msg("'%s' should %sbe a valid %s", v[i], expected ? "" : "not ", what);
}

#define CHECK_ALL(f, v, expected, what) check_all(f, v, ELEMENTSOF(v), expected, what)

/* @prefix padded with 'a' to @max characters is accepted; one more is not. */
static void check_length_limit(bool (*f)(const char *), const char *prefix, size_t max) {
        _cleanup_free_ char *s = malloc(max + 2);

        assert_non_null(s);
        memset(s, 'a', max + 1);
        memcpy(s, prefix, strlen(prefix));
        s[max] = '\0';
        assert_true(f(s));
        s[max] = 'a';
        s[max + 1] = '\0';
        assert_false(f(s));
}

static void test_unit_names(void **state) {
        /* Test_validateServiceName (spec §2.7). */
        static const char *const valid[] = {
                "-@-.service", "1@1.service", "-_1@1_-.service", "valid@my-service.service",
                "valid@my.service",
                "foot@1.service", "google-chrome@42.service",
        };
        static const char *const invalid[] = {
                "a@valid@my-service.service", "a@a@my-service.service", "a@valid.service@my-service.service",
                "@1.service", "my-service.service", "my-service@.service",
                "", "@", "a@b", "a@b.service ", " a@b.service", "a@b.service\n", "a@b.Service", "a@b.socket",
                "a b@1.service", "a@1 .service", "foot@1.service.service", "fööt@1.service",
                "a;id@1.service",
        };

        CHECK_ALL(app_unit_name_is_valid, valid, true, "unit name");
        CHECK_ALL(app_unit_name_is_valid, invalid, false, "unit name");
        assert_false(app_unit_name_is_valid(NULL));
}

static void test_name_from_unit(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

        a = app_name_from_unit("foot@1.service");
        assert_string_equal(a, "foot");
        b = app_name_from_unit("a@b@c.service");
        assert_string_equal(b, "a");
        c = app_name_from_unit("no-at-sign.service");
        assert_string_equal(c, "no-at-sign.service");
        d = app_name_from_unit("@1.service");
        assert_string_equal(d, "");
        assert_null(app_name_from_unit(NULL));
}

static void test_flags(void **state) {
        static const char *const valid[] = {
                "-incognito", "--incognito", "-a", "--a", "--new-window", "-_x", "---x", "--", "-0",
        };
        static const char *const invalid[] = {
                "", "-", "incognito", "--incognito;echo something", "--user-data-dir=/tmp", "-a b", "--a\n",
                "-é", "--$(id)", "+x", "–dash",
        };

        CHECK_ALL(app_arg_is_flag, valid, true, "flag");
        CHECK_ALL(app_arg_is_flag, invalid, false, "flag");
        assert_false(app_arg_is_flag(NULL));
}

static void test_urls_upstream(void **state) {
        /* Test_validateUrl (spec §2.7). */
        static const char *const valid[] = {
                "http://example.com", "https://example.com", "https://example.com/something.",
                "https://example.com?q=2#first", "https://localhost:8080/",
        };
        static const char *const invalid[] = {
                "file:///etc/passwd",
                "https://example.com$(touch IWASHERE)",
                "https://example.com/ $(touch IWASHERE)",
                "$(touch IWASHERE)https://google.com",
                "https://example.com\\%20$(touch IWASHERE)",
                "https://example.com/a;\\$(touch IWASHERE)",
                "https://example.com/a;$(touch IWASHERE)",
                "https://example.com;touch IWASHERE",
                "https://example.com/'$(touch IWASHERE)",
                "https://bob:pass123@www.example.com/",
        };

        CHECK_ALL(app_arg_is_url, valid, true, "URL");
        CHECK_ALL(app_arg_is_url, invalid, false, "URL");
}

static void test_urls_strict(void **state) {
        static const char *const valid[] = {
                "HTTPS://Example.COM/", "Http://example.com", "https://example.com.", "https://a.b-c.d/",
                "https://127.0.0.1", "https://10.0.0.1:443/x", "https://[::1]", "https://[::1]:8080/",
                "https://[2001:db8::7]/index.html", "https://example.com:1", "https://example.com:65535",
                "https://example.com/a%20b%2F?x=1&y=2,3+4*5!#frag:@/?", "https://example.com/~user/@me",
                "https://example.com#", "https://example.com?", "https://xn--bcher-kva.example/",
                "https://example.com/path_with-unreserved.chars~",
        };
        static const char *const invalid[] = {
                "", "https", "https:", "https:/", "https://", "http:/example.com", "ftp://example.com",
                "httpss://example.com", "javascript://example.com", "//example.com", "example.com",
                "https://:8080/", "https://example.com:", "https://example.com:0",
                "https://example.com:65536",
                "https://example.com:123456", "https://example.com:80a", "https://example.com:-1",
                "https://@example.com", "https://user@example.com", "https://example.com:80@evil.com",
                "https://a..b", "https://.example.com", "https://-example.com", "https://example-.com",
                "https://exa_mple.com", "https://999.1.1.1", "https://1.2.3", "https://[::1",
                "https://[zz]/", "https://[]", "https://[::1]x", "https://[::1]:",
                "https://[fe80::1%25eth0]/", "https://::1/",
                "https://example.com/%", "https://example.com/%2", "https://example.com/%zz",
                "https://example.com/ ", "https://example.com/\t", "https://example.com/\x7f",
                "https://example.com/é", "https://exämple.com/", "https://example.com/\"",
                "https://example.com/`id`",
                "https://example.com/<script>", "https://example.com/{a}", "https://example.com/a|b",
                "https://example.com/a^b", "https://example.com/[a]", "https://example.com/a\\b",
                "https://example.com/a(b)", "https://example.com/$HOME", "https://example.com/a;b",
                "https://example.com/a'b", "https://example.com/a\nb", " https://example.com",
                "https://example.com\r", "https://exa mple.com",
        };

        CHECK_ALL(app_arg_is_url, valid, true, "URL");
        CHECK_ALL(app_arg_is_url, invalid, false, "URL");
        assert_false(app_arg_is_url(NULL));
        check_length_limit(app_arg_is_url, "https://example.com/", 2048);
}

static void test_files(void **state) {
        static const char *const valid[] = {
                "/home/user/doc.pdf", "/tmp/a b.txt", "/a/..b/c", "/", "/a/b..", "/a/.../b", "/a/./b", "//a",
                "/home/user/Документ.odt", "/a/$(id)",
        };
        static const char *const invalid[] = {
                "", "relative/path", "./doc.pdf", "../doc.pdf", "doc.pdf", "~/doc.pdf", "/a/../b", "/..",
                "/a/..",
                "/../etc/passwd", "//..//x", "/a\nb", "/a\tb", "/a\rb", "/a\x1b[31m", "/a\x7f", "/a\x01",
                "/bad\xff", "/overlong\xc0\xaf", "/surrogate\xed\xa0\x80",
        };

        CHECK_ALL(app_arg_is_file, valid, true, "file");
        CHECK_ALL(app_arg_is_file, invalid, false, "file");
        assert_false(app_arg_is_file(NULL));
        check_length_limit(app_arg_is_file, "/", 4096);
}

static void test_parse_upstream(void **state) {
        _cleanup_(app_manifests_freep) AppManifests *m = NULL;
        _cleanup_free_ char *error = NULL;
        const AppManifest *a;

        /* TestParseApplicationManifests: Go's capitalised field names. */
        assert_int_equal(app_manifests_parse(UPSTREAM_MANIFESTS, &m, &error), 0);
        assert_null(error);
        assert_int_equal(m->n, 2);
        a = app_manifests_find(m, "test-app");
        assert_non_null(a);
        assert_string_equal(a->name, "test-app");
        assert_string_equal(a->command, "/bin/test-app");
        assert_int_equal(a->allowed_args, APP_ARG_URL | APP_ARG_FLAG);
        a = app_manifests_find(m, "test-app2");
        assert_non_null(a);
        assert_string_equal(a->command, "/bin/test-app2");
        assert_int_equal(a->allowed_args, 0);
        assert_null(app_manifests_find(m, "test-app3"));
        assert_null(app_manifests_find(m, "TEST-APP"));
        assert_null(app_manifests_find(m, NULL));
        assert_null(app_manifests_find(NULL, "test-app"));
}

static void test_parse_keys_and_kinds(void **state) {
        _cleanup_(app_manifests_freep) AppManifests *m = NULL;
        _cleanup_free_ char *error = NULL;

        const char *json =
                "[{\"name\":\"foot\",\"command\":\"run-waypipe foot\",\"args\":null},"
                " {\"NAME\":\"viewer\",\"cOmMaNd\":\"zathura\",\"ARGS\":[\"file\",\"flag\",\"file\"]},"
                " {\"name\":\"chrome\",\"command\":\"chrome\",\"args\":[],\"extra\":{\"x\":1}}]";

        assert_int_equal(app_manifests_parse(json, &m, &error), 0);
        assert_null(error);
        assert_int_equal(m->n, 3);
        assert_string_equal(m->items[0].name, "foot");
        assert_string_equal(m->items[0].command, "run-waypipe foot");
        assert_int_equal(m->items[0].allowed_args, 0);
        assert_string_equal(m->items[1].name, "viewer");
        assert_int_equal(m->items[1].allowed_args, APP_ARG_FILE | APP_ARG_FLAG);
        assert_int_equal(m->items[2].allowed_args, 0);
}

static void test_parse_empty(void **state) {
        static const char *const texts[] = { NULL, "", " ", " \t\r\n", "[]", " [ ] \n" };

        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                _cleanup_(app_manifests_freep) AppManifests *m = NULL;
                _cleanup_free_ char *error = NULL;

                assert_int_equal(app_manifests_parse(texts[i], &m, &error), 0);
                assert_non_null(m);
                assert_int_equal(m->n, 0);
                assert_null(error);
                assert_null(app_manifests_find(m, "foot"));
        }
}

static void check_parse_error(const char *json, const char *expected) {
        AppManifests *m = (AppManifests *) 0x1;
        _cleanup_free_ char *error = NULL;

        assert_int_equal(app_manifests_parse(json, &m, &error), -EINVAL);
        /* ret is set only on success. */
        assert_ptr_equal(m, (AppManifests *) 0x1);
        assert_non_null(error);
        if (expected && !streq(error, expected))
                fail_msg("'%s': got '%s', expected '%s'", json, error, expected);
}

static void test_parse_errors(void **state) {
        /* Upstream's rejections: a bad argument type, duplicates, malformed JSON. */
        check_parse_error("[{\"Name\":\"test-app\",\"Command\":\"/bin/test-app\",\"Args\":[\"argument\"]}]",
                          "application argument type 'argument' not supported");
        check_parse_error("[{\"Name\":\"test-app\",\"Command\":\"/bin/a\"},"
                          " {\"Name\":\"test-app\",\"Command\":\"/bin/b\"}]",
                          "duplicate application name 'test-app'");
        check_parse_error("[{\"Name\":\"test-app\",\"Command\":\"/bin/test-app\"", NULL);
        check_parse_error("[{\"Name\":\"test-app\" \"Command\":\"/bin/test-app\"}]", NULL);
        check_parse_error("not json", NULL);
        check_parse_error("[] []", NULL);

        /* Duplicates differing only in the spelling of the key are still duplicates. */
        check_parse_error("[{\"name\":\"a\",\"command\":\"x\"},{\"NAME\":\"a\",\"COMMAND\":\"y\"}]",
                          "duplicate application name 'a'");

        /* Not an array of objects. */
        check_parse_error("{}", "application manifest is not a JSON array");
        check_parse_error("{\"name\":\"a\",\"command\":\"b\"}", "application manifest is not a JSON array");
        /* json_parse() reports a bare top-level literal as "ends too early"
         * (json-c wants to see past it); either way it is refused. */
        check_parse_error("null", NULL);
        check_parse_error("1", NULL);
        check_parse_error("true ", NULL);
        check_parse_error("\"[]\"", "application manifest is not a JSON array");
        check_parse_error("[{\"name\":\"a\",\"command\":\"b\"}, 1]",
                          "application manifest entry 1 is not a JSON object");
        check_parse_error("[null]", "application manifest entry 0 is not a JSON object");
        check_parse_error("[[]]", "application manifest entry 0 is not a JSON object");

        /* Missing or empty fields. */
        check_parse_error("[{\"command\":\"b\"}]", "application name is empty");
        check_parse_error("[{\"name\":\"\",\"command\":\"b\"}]", "application name is empty");
        check_parse_error("[{\"name\":null,\"command\":\"b\"}]", "application name is empty");
        check_parse_error("[{\"name\":\"a\"}]", "application command is empty");
        check_parse_error("[{\"name\":\"a\",\"command\":\"\"}]", "application command is empty");
        check_parse_error("[{\"name\":\"a\",\"command\":\" \\t \"}]", "application command is empty");

        /* Wrong JSON types name the field. */
        check_parse_error("[{\"name\":1,\"command\":\"b\"}]", "application name is not a string");
        check_parse_error("[{\"name\":\"a\",\"command\":[\"b\"]}]", "application command is not a string");
        check_parse_error("[{\"name\":\"a\",\"command\":true}]", "application command is not a string");
        check_parse_error("[{\"name\":\"a\",\"command\":\"b\",\"args\":\"flag\"}]",
                          "application args is not an array");
        check_parse_error("[{\"name\":\"a\",\"command\":\"b\",\"args\":{}}]",
                          "application args is not an array");
        check_parse_error("[{\"name\":\"a\",\"command\":\"b\",\"args\":[1]}]",
                          "application argument type is not a string");
        check_parse_error("[{\"name\":\"a\",\"command\":\"b\",\"args\":[null]}]",
                          "application argument type is not a string");

        /* Argument types are matched exactly, as upstream's Go does. */
        check_parse_error("[{\"name\":\"a\",\"command\":\"b\",\"args\":[\"URL\"]}]",
                          "application argument type 'URL' not supported");
        check_parse_error("[{\"name\":\"a\",\"command\":\"b\",\"args\":[\"\"]}]",
                          "application argument type '' not supported");
}

static void test_parse_error_replaced(void **state) {
        _cleanup_(app_manifests_freep) AppManifests *m = NULL;
        _cleanup_free_ char *error = NULL;

        /* A sentence from an earlier call is replaced, not leaked. */
        assert_int_equal(app_manifests_parse("{}", &m, &error), -EINVAL);
        assert_int_equal(app_manifests_parse("[{}]", &m, &error), -EINVAL);
        assert_string_equal(error, "application name is empty");
        assert_null(m);

        /* No sentence is wanted. */
        assert_int_equal(app_manifests_parse("[1]", &m, NULL), -EINVAL);
        assert_null(m);
}

static AppManifests *parse_or_fail(const char *json) {
        AppManifests *m = NULL;

        assert_int_equal(app_manifests_parse(json, &m, NULL), 0);
        return m;
}

/* Validates and, on failure, checks the sentence; ret_manifest must be untouched then. */
static int validate(const AppManifests *m, const char *unit, char **args, const char *expected_error) {
        _cleanup_free_ char *error = NULL;
        const AppManifest *manifest = (const AppManifest *) 0x1;
        size_t n = args ? (size_t) count_args(args) : 0;
        int r;

        r = app_request_validate(m, unit, args, n, &manifest, &error);
        if (r >= 0) {
                _cleanup_free_ char *name = app_name_from_unit(unit);

                assert_null(error);
                assert_non_null(manifest);
                assert_ptr_equal(manifest, app_manifests_find(m, name));
                return r;
        }
        assert_ptr_equal(manifest, (const AppManifest *) 0x1);
        assert_non_null(error);
        if (expected_error && !streq(error, expected_error))
                fail_msg("'%s': got '%s', expected '%s'", unit, error, expected_error);
        return r;
}

#define ARGS(...) ((char *[]) { __VA_ARGS__, NULL })

static void test_request_upstream(void **state) {
        _cleanup_(app_manifests_freep) AppManifests *m = parse_or_fail(UPSTREAM_MANIFESTS);

        /* TestValidateAppUnitRequest (spec §2.7). */
        assert_int_equal(validate(m, "test-app@1.service", NULL, NULL), 0);
        assert_int_equal(validate(m, "test-app@1.service", ARGS("https://example.com", "--incognito"), NULL),
                         0);
        assert_int_equal(validate(m, "test-app@1.service", ARGS("-incognito", "--incognito"), NULL), 0);
        assert_int_equal(validate(m, "test-app3@1.service", NULL,
                                  "application 'test-app3' not found in manifest"),
                         -ENOENT);
        assert_int_equal(validate(m, "test-app@1.service", ARGS("--incognito;echo something"),
                                  "invalid application argument '--incognito;echo something'"),
                         -EINVAL);
        assert_int_equal(validate(m, "test-app2@1.service", ARGS("--incognito"),
                                  "invalid application argument '--incognito'"),
                         -EINVAL);
        assert_int_equal(validate(NULL, "test-app@1.service", NULL,
                                  "application 'test-app' not found in manifest"),
                         -ENOENT);
}

static void test_request_order(void **state) {
        _cleanup_(app_manifests_freep) AppManifests *m = parse_or_fail(UPSTREAM_MANIFESTS);
        _cleanup_(app_manifests_freep) AppManifests *empty = parse_or_fail("");

        /* The application is looked up before the unit name is checked. */
        assert_int_equal(validate(m, "nope@@x", NULL, "application 'nope' not found in manifest"), -ENOENT);
        assert_int_equal(validate(m, "test-app", NULL, "failure parsing application name 'test-app'"),
                         -EINVAL);
        assert_int_equal(validate(m, "test-app@1.service@2.service", NULL,
                                  "failure parsing application name 'test-app@1.service@2.service'"),
                         -EINVAL);
        assert_int_equal(validate(m, "test-app@.service", NULL, NULL), -EINVAL);
        assert_int_equal(validate(m, "test-app@1 .service", ARGS("--x"), NULL), -EINVAL);
        assert_int_equal(validate(m, "", NULL, "application '' not found in manifest"), -ENOENT);
        assert_int_equal(validate(m, NULL, NULL, NULL), -ENOENT);
        assert_int_equal(validate(empty, "test-app@1.service", NULL, NULL), -ENOENT);

        /* The unit name is checked before the arguments. */
        assert_int_equal(validate(m, "test-app@x;y.service", ARGS("bad;arg"),
                                  "failure parsing application name 'test-app@x;y.service'"),
                         -EINVAL);

        /* The first bad argument is the one named. */
        assert_int_equal(validate(m, "test-app@1.service", ARGS("--ok", "bad one", "worse;one"),
                                  "invalid application argument 'bad one'"),
                         -EINVAL);
}

static void test_request_kinds(void **state) {
        _cleanup_(app_manifests_freep) AppManifests *m = parse_or_fail(
                "[{\"name\":\"test-app\",\"command\":\"chrome\",\"args\":[\"url\",\"flag\"]},"
                " {\"name\":\"flags\",\"command\":\"foot\",\"args\":[\"flag\"]},"
                " {\"name\":\"urls\",\"command\":\"browser\",\"args\":[\"url\"]},"
                " {\"name\":\"viewer\",\"command\":\"zathura\",\"args\":[\"file\",\"flag\"]},"
                " {\"name\":\"bare\",\"command\":\"calc\",\"args\":[]}]");
        const AppManifest *got = NULL;

        assert_int_equal(validate(m, "flags@1.service", ARGS("--hold", "-e"), NULL), 0);
        assert_int_equal(validate(m, "flags@1.service", ARGS("https://example.com"), NULL), -EINVAL);
        assert_int_equal(validate(m, "flags@1.service", ARGS("/home/user/doc.pdf"), NULL), -EINVAL);
        assert_int_equal(validate(m, "urls@1.service", ARGS("https://example.com"), NULL), 0);
        assert_int_equal(validate(m, "urls@1.service", ARGS("--incognito"), NULL), -EINVAL);
        assert_int_equal(validate(m, "viewer@3.service",
                                  ARGS("--fork", "/home/user/doc.pdf", "/tmp/a b.txt"), NULL),
                         0);
        assert_int_equal(validate(m, "viewer@3.service", ARGS("/a/../b"), NULL), -EINVAL);
        assert_int_equal(validate(m, "viewer@3.service", ARGS("doc.pdf"), NULL), -EINVAL);
        assert_int_equal(validate(m, "viewer@3.service", ARGS("https://example.com"), NULL), -EINVAL);
        assert_int_equal(validate(m, "test-app@1.service", ARGS("/etc/passwd"), NULL), -EINVAL);
        assert_int_equal(validate(m, "test-app@1.service", ARGS(""), "invalid application argument ''"),
                         -EINVAL);
        assert_int_equal(validate(m, "bare@1.service", NULL, NULL), 0);
        assert_int_equal(validate(m, "bare@1.service", ARGS("-x"), NULL), -EINVAL);

        /* The manifest handed back is the application's own; no sentence is wanted. */
        assert_int_equal(app_request_validate(m, "viewer@9.service", NULL, 0, &got, NULL), 0);
        assert_ptr_equal(got, app_manifests_find(m, "viewer"));
        assert_int_equal(app_request_validate(m, "viewer@9.service", ARGS("x"), 1, NULL, NULL), -EINVAL);
        assert_int_equal(app_request_validate(m, "viewer@9.service", NULL, 0, NULL, NULL), 0);
}

static void check_command_line(const char *command, char **args, char **expected) {
        AppManifest manifest = { .name = (char *) "app", .command = (char *) command };
        _cleanup_strv_free_ char **l = NULL;
        size_t n = args ? (size_t) count_args(args) : 0;

        assert_int_equal(app_command_line(&manifest, args, n, &l), 0);
        assert_int_equal(count_args(l), count_args(expected));
        for (size_t i = 0; expected[i]; i++)
                assert_string_equal(l[i], expected[i]);
}

static void test_command_line(void **state) {
        AppManifest blank = { .name = (char *) "app", .command = (char *) " \t " };
        AppManifest empty = { .name = (char *) "app", .command = (char *) "" };
        char **l = (char **) 0x1;

        /* Upstream's single-space split would give "run-waypipe", "", "foot". */
        check_command_line("run-waypipe  foot", ARGS("--hold", "https://example.com"),
                           ARGS("run-waypipe", "foot", "--hold", "https://example.com"));
        check_command_line("run-waypipe  foot", NULL, ARGS("run-waypipe", "foot"));
        check_command_line("/bin/test-app", NULL, ARGS("/bin/test-app"));
        check_command_line("  chrome\t--enable-features=UseOzonePlatform \t --ozone-platform=wayland ",
                           ARGS("-incognito"),
                           ARGS("chrome", "--enable-features=UseOzonePlatform", "--ozone-platform=wayland",
                                "-incognito"));
        /* Arguments are passed as they are: never split, never quoted. */
        check_command_line("zathura", ARGS("/tmp/a b.txt"), ARGS("zathura", "/tmp/a b.txt"));

        assert_int_equal(app_command_line(&blank, NULL, 0, &l), -EINVAL);
        assert_int_equal(app_command_line(&empty, ARGS("-x"), 1, &l), -EINVAL);
        assert_ptr_equal(l, (char **) 0x1);
}

static void test_parse_then_run(void **state) {
        _cleanup_(app_manifests_freep) AppManifests *m = parse_or_fail(
                "[{\"Name\":\"foot\",\"Command\":\"run-waypipe  foot\",\"Args\":[\"flag\"]}]");
        _cleanup_strv_free_ char **l = NULL;
        const AppManifest *manifest = NULL;
        char **args = ARGS("--hold");

        assert_int_equal(app_request_validate(m, "foot@1.service", args, 1, &manifest, NULL), 0);
        assert_int_equal(app_command_line(manifest, args, 1, &l), 0);
        assert_int_equal(count_args(l), 3);
        assert_string_equal(l[0], "run-waypipe");
        assert_string_equal(l[1], "foot");
        assert_string_equal(l[2], "--hold");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unit_names),
                cmocka_unit_test(test_name_from_unit),
                cmocka_unit_test(test_flags),
                cmocka_unit_test(test_urls_upstream),
                cmocka_unit_test(test_urls_strict),
                cmocka_unit_test(test_files),
                cmocka_unit_test(test_parse_upstream),
                cmocka_unit_test(test_parse_keys_and_kinds),
                cmocka_unit_test(test_parse_empty),
                cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_parse_error_replaced),
                cmocka_unit_test(test_request_upstream),
                cmocka_unit_test(test_request_order),
                cmocka_unit_test(test_request_kinds),
                cmocka_unit_test(test_command_line),
                cmocka_unit_test(test_parse_then_run),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
