/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Logging for the applets. Library code in src/ returns errors and does not
 * log (debug messages and the gRPC log bridge excepted); an applet logs a
 * failure once, where it stops being recoverable:
 *
 *         return log_error_errno(r, "Failed to listen on '%s': %m", address);
 *
 * Lines go to stderr. When stderr is connected to the journal (systemd sets
 * JOURNAL_STREAM), each line starts with the sd-daemon "<N>" priority prefix
 * so journald keeps the level; otherwise it starts with the program name.
 * The log_*_errno() forms set errno from their argument so %m works, and
 * return the error as a negative value.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <syslog.h>

#include "macro.h"

/**
 * log_setup() - configure logging for this process
 * @program: name shown before each line when not writing to the journal
 *           (the string must outlive the process's logging)
 *
 * Detects whether stderr is the journal. Safe to call again.
 */
void log_setup(const char *program);

void log_set_max_level(int level);
int log_get_max_level(void);

/**
 * log_level_from_string() - parse "debug", "info", "notice", "warning", "error"
 *
 * Return: a LOG_* level, or -EINVAL.
 */
int log_level_from_string(const char *s);

/**
 * log_internal() - format and write one log line (use the macros below)
 *
 * Return: -abs(error) (so 0 when error is 0).
 */
int log_internal(int level, int error, const char *format, ...) _printf_(3, 4);
int log_internalv(int level, int error, const char *format, va_list ap) _printf_(3, 0);

#define log_full_errno(level, error, ...)                                                          \
        ({                                                                                         \
                int _level = (level), _e = (error);                                                \
                _level <= log_get_max_level() ? log_internal(_level, _e, __VA_ARGS__) : -abs(_e);  \
        })

#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)
