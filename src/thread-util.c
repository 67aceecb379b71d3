/* SPDX-License-Identifier: Apache-2.0 */

#include <signal.h>

#include "thread-util.h"

int thread_start(pthread_t *ret, void *(*fn)(void *userdata), void *userdata) {
        sigset_t all, saved;
        int r;

        /* The new thread inherits the mask in effect here. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &saved);
        r = pthread_create(ret, NULL, fn, userdata);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        return -r;
}

void thread_cond_init_monotonic(pthread_cond_t *cond) {
        pthread_condattr_t attr;

        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(cond, &attr);
        pthread_condattr_destroy(&attr);
}

uint64_t now_monotonic_nsec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * NSEC_PER_SEC + (uint64_t) ts.tv_nsec;
}

uint64_t now_monotonic_usec(void) {
        return now_monotonic_nsec() / NSEC_PER_USEC;
}

struct timespec timespec_from_usec(uint64_t usec) {
        return (struct timespec) {
                .tv_sec = (time_t) (usec / USEC_PER_SEC),
                .tv_nsec = (long) (usec % USEC_PER_SEC * NSEC_PER_USEC),
        };
}

struct timespec timespec_after_ms(int64_t ms) {
        return timespec_from_usec(now_monotonic_usec() + (uint64_t) MAX(ms, 0) * USEC_PER_MSEC);
}
