/* SPDX-License-Identifier: Apache-2.0 */

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "log.h"
#include "unit-test.h"

/* Runs @fn with stderr redirected to a file, returns what was written. */
static char *capture_stderr(void (*fn)(void)) {
        char path[] = "/tmp/test-log-XXXXXX";
        char buf[4096] = {};
        int fd, saved;
        ssize_t n;

        fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);
        saved = dup(STDERR_FILENO);
        assert_true(dup2(fd, STDERR_FILENO) >= 0);
        fn();
        assert_true(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        n = read(fd, buf, sizeof(buf) - 1);
        assert_true(n >= 0);
        close(fd);
        return strdup(buf);
}

static void log_some(void) {
        int r;

        log_setup("givc-test");
        log_set_max_level(LOG_INFO);
        log_info("hello %s", "world");
        log_debug("not shown");
        r = log_error_errno(-ENOENT, "failed: %m");
        assert_int_equal(r, -ENOENT);
        r = log_warning_errno(EACCES, "denied");
        assert_int_equal(r, -EACCES);
        assert_int_equal(log_info("multi\nline"), 0);
}

static void test_plain(void **state) {
        _cleanup_free_ char *out = NULL;

        unsetenv("JOURNAL_STREAM");
        out = capture_stderr(log_some);
        assert_string_equal(out, "givc-test: hello world\n"
                                 "givc-test: failed: No such file or directory\n"
                                 "givc-test: denied\n"
                                 "givc-test: multi line\n");
}

static void log_to_journal(void) {
        struct stat st;
        char value[64];

        /* What systemd sets for a service whose stderr is the journal. */
        assert_int_equal(fstat(STDERR_FILENO, &st), 0);
        snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long) st.st_dev,
                 (unsigned long long) st.st_ino);
        setenv("JOURNAL_STREAM", value, 1);
        log_setup("givc-test");
        log_set_max_level(LOG_DEBUG);
        log_debug("d");
        log_warning("w");
        log_error("e");
        unsetenv("JOURNAL_STREAM");
        log_setup("givc-test");
}

static void test_journal_prefix(void **state) {
        _cleanup_free_ char *out = capture_stderr(log_to_journal);

        assert_string_equal(out, "<7>d\n<4>w\n<3>e\n");
}

static void test_levels(void **state) {
        assert_int_equal(log_level_from_string("debug"), LOG_DEBUG);
        assert_int_equal(log_level_from_string("INFO"), LOG_INFO);
        assert_int_equal(log_level_from_string("warn"), LOG_WARNING);
        assert_int_equal(log_level_from_string("error"), LOG_ERR);
        assert_int_equal(log_level_from_string("loud"), -EINVAL);
        assert_int_equal(log_level_from_string(NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain),
                cmocka_unit_test(test_journal_prefix),
                cmocka_unit_test(test_levels),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
