/* SPDX-License-Identifier: Apache-2.0 */

#include <stdarg.h>
#include <getopt.h>
#include <stdio.h>

#include "error-util.h"

int error_set(char **ret_error, int r, const char *format, ...) {
        va_list ap;
        char *s;

        if (!ret_error)
                return r;
        va_start(ap, format);
        if (vasprintf(&s, format, ap) < 0)
                s = NULL;
        va_end(ap);
        free(*ret_error);
        *ret_error = s;
        return r;
}

int error_getopt(char *const *argv, char **ret_error) {
        /* Long options are numbered from 0x100; optopt is 0 for unknown long ones. */
        if (optopt >= 0x100 || (optopt > 0 && optind > 0 && startswith(argv[optind - 1], "--")))
                return error_set(ret_error, -EINVAL, "option '%s' needs a value", argv[optind - 1]);
        if (optopt > 0)
                return error_set(ret_error, -EINVAL, "unknown option '-%c'", optopt);
        return error_set(ret_error, -EINVAL, "unknown option '%s'", argv[optind - 1]);
}
