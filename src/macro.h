/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The handful of systemd-style helpers every module uses: scope-bound cleanup
 * (`_cleanup_`), ownership transfer (`TAKE_PTR`), array sizes and string
 * equality. Written in our own words: systemd's own copies are internal to
 * systemd and cannot be linked.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _pure_ __attribute__((pure))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))

#define ELEMENTSOF(a)                                                                              \
        __builtin_choose_expr(                                                                     \
                !__builtin_types_compatible_p(typeof(a), typeof(&*(a))), sizeof(a) / sizeof((a)[0]), \
                (void) 0)

/* Hand the value of a cleanup-attributed variable to someone else. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                typeof(p) _taken = (p);                                                            \
                (p) = NULL;                                                                        \
                _taken;                                                                            \
        })

#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd = (fd);                                                                    \
                (fd) = -EBADF;                                                                     \
                _fd;                                                                               \
        })

/* Defines funcp(type *p) which calls func(*p) when *p is not NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
        static inline void func##p(type *p) {                                                      \
                if (*p)                                                                            \
                        func(*p);                                                                  \
        }

/* The same, for destructors whose name does not allow the funcp form. */
#define DEFINE_CLEANUP_FUNC(name, type, func)                                                      \
        static inline void name(type *p) {                                                         \
                if (*p)                                                                            \
                        func(*p);                                                                  \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Frees a NULL-terminated array of strings and the array itself. */
static inline char **strv_free(char **l) {
        if (l) {
                for (char **i = l; *i; i++)
                        free(*i);
                free(l);
        }
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

static inline bool isempty(const char *s) {
        return !s || !*s;
}

static inline const char *strempty(const char *s) {
        return s ?: "";
}

static inline const char *strna(const char *s) {
        return s ?: "n/a";
}

/* Returns the rest of s after prefix, or NULL when s does not start with it. */
static inline const char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);

        if (strncmp(s, prefix, l) != 0)
                return NULL;
        return s + l;
}

static inline bool endswith(const char *s, const char *suffix) {
        size_t ls = strlen(s), lx = strlen(suffix);

        return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

/* Replaces *p with a copy of s (or NULL). Returns 0 or -ENOMEM. */
static inline int free_and_strdup(char **p, const char *s) {
        char *c = NULL;

        if (s) {
                c = strdup(s);
                if (!c)
                        return -ENOMEM;
        }
        free(*p);
        *p = c;
        return 0;
}

/* errno of the last failed libc call as a negative value, never 0. */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

#define RET_NERRNO(expr)                                                                           \
        ({                                                                                         \
                int _r = (expr);                                                                   \
                _r < 0 ? negative_errno() : _r;                                                    \
        })

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define USEC_PER_SEC ((uint64_t) 1000000)
#define USEC_PER_MSEC ((uint64_t) 1000)
#define NSEC_PER_USEC ((uint64_t) 1000)
#define NSEC_PER_MSEC ((uint64_t) 1000000)
#define NSEC_PER_SEC ((uint64_t) 1000000000)

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

/* Is x one of the listed values? IN_SET(r, -EPIPE, -ECONNRESET) */
#define IN_SET(x, ...)                                                                             \
        ({                                                                                         \
                const typeof(x) _set[] = { __VA_ARGS__ };                                          \
                typeof(x) _value = (x);                                                            \
                bool _found = false;                                                               \
                for (size_t _i = 0; _i < ELEMENTSOF(_set) && !_found; _i++)                        \
                        _found = _set[_i] == _value;                                               \
                _found;                                                                            \
        })
