/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Threads and time, the way every module here needs them: threads that
 * never take signals (the applets' main thread waits for those), monotonic
 * time, and absolute deadlines for pthread_cond_timedwait() on condition
 * variables that use CLOCK_MONOTONIC (thread_cond_init_monotonic()).
 */

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "macro.h"

/* pthread_create() with every signal blocked in the new thread. Return: 0 or -errno. */
int thread_start(pthread_t *ret, void *(*fn)(void *userdata), void *userdata);

/* A condition variable whose timed waits use CLOCK_MONOTONIC. */
void thread_cond_init_monotonic(pthread_cond_t *cond);

/* Now on CLOCK_MONOTONIC. */
uint64_t now_monotonic_usec(void);
uint64_t now_monotonic_nsec(void);

/* The CLOCK_MONOTONIC time @ms milliseconds from now (@ms ≥ 0), for timed waits. */
struct timespec timespec_after_ms(int64_t ms);

/* A CLOCK_MONOTONIC time in microseconds as a timespec. */
struct timespec timespec_from_usec(uint64_t usec);
