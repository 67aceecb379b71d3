/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One log line is formatted into a buffer and written with a single write(),
 * so lines from different threads never interleave. The only global state is
 * the level (atomic), the program name and the journal flag, all set once at
 * start-up.
 */

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "log.h"

static atomic_int max_level = LOG_INFO;
static const char *program_name = "givc";
static bool stderr_is_journal = false;

static bool detect_journal_stream(void) {
        const char *e = getenv("JOURNAL_STREAM");
        uint64_t dev, ino;
        struct stat st;

        /* systemd sets JOURNAL_STREAM=DEV:INO for the stream it connected to
         * stdout/stderr; it only counts if stderr still is that stream. */
        if (!e || sscanf(e, "%" SCNu64 ":%" SCNu64, &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (uint64_t) st.st_dev == dev && (uint64_t) st.st_ino == ino;
}

void log_setup(const char *program) {
        if (program)
                program_name = program;
        stderr_is_journal = detect_journal_stream();
}

void log_set_max_level(int level) {
        atomic_store(&max_level, level);
}

int log_get_max_level(void) {
        return atomic_load(&max_level);
}

int log_level_from_string(const char *s) {
        static const struct {
                const char *name;
                int level;
        } table[] = {
                { "debug", LOG_DEBUG },     { "info", LOG_INFO }, { "notice", LOG_NOTICE },
                { "warning", LOG_WARNING }, { "warn", LOG_WARNING }, { "error", LOG_ERR },
                { "err", LOG_ERR },
        };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (strcasecmp(s, table[i].name) == 0)
                        return table[i].level;
        return -EINVAL;
}

int log_internalv(int level, int error, const char *format, va_list ap) {
        char line[2048];
        int saved_errno = errno, n, m;

        if (error != 0)
                errno = abs(error);

        if (stderr_is_journal)
                n = snprintf(line, sizeof(line), "<%d>", LOG_PRI(level));
        else
                n = snprintf(line, sizeof(line), "%s: ", program_name);
        if (n < 0)
                n = 0;
        m = vsnprintf(line + n, sizeof(line) - (size_t) n - 1, format, ap);
        if (m < 0)
                m = 0;
        n = MIN((size_t) n + (size_t) m, sizeof(line) - 2);
        /* A message may not start a new journal entry in its middle. */
        for (int i = 0; i < n; i++)
                if (line[i] == '\n')
                        line[i] = ' ';
        line[n++] = '\n';
        (void) !write(STDERR_FILENO, line, (size_t) n);

        errno = saved_errno;
        return -abs(error);
}

int log_internal(int level, int error, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = log_internalv(level, error, format, ap);
        va_end(ap);
        return r;
}
