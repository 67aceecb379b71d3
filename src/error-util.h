/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Library code does not log; where a caller needs more than an errno to
 * tell a person what went wrong (which file, which option, which address),
 * functions take a `char **ret_error` and fill it with one sentence.
 */

#include "macro.h"

/**
 * error_set() - store a formatted sentence in *@ret_error and return @r
 * @ret_error: may be NULL (then nothing is stored); an earlier sentence there
 *             is replaced. The caller frees the result. On allocation
 *             failure *@ret_error is NULL.
 *
 * Usage: return error_set(ret_error, -EINVAL, "--port '%s' is not a number", s);
 */
int error_set(char **ret_error, int r, const char *format, ...) _printf_(3, 4);

/**
 * error_getopt() - the sentence for getopt_long() returning '?': an unknown
 * option, or an option without its value. Reads optopt and optind.
 * Return: -EINVAL.
 */
int error_getopt(char *const *argv, char **ret_error);
