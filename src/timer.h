/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Timers on one thread: periodic or one-shot callbacks, for work that must
 * happen later without holding a thread while it waits (MonitorUnit's
 * samples, the watchdog, the admin's monitor). Callbacks run on the timer
 * thread, one at a time, and should be short; they may block briefly (a
 * D-Bus call) but not wait for long.
 */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

typedef struct Timers Timers;
typedef struct TimerEvent TimerEvent;

/* Return false to end a periodic timer (the event is then freed). */
typedef bool (*TimerCallback)(void *userdata);

int timers_new(Timers **ret);

/* Stops the thread; timers still scheduled never run again. Returns NULL. */
Timers *timers_free(Timers *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Timers *, timers_free);

/**
 * timers_add() - run @fn(@userdata) after @delay_ms, then every @interval_ms
 * while it returns true (@interval_ms 0: once)
 * @ret: if not NULL, the event, for timers_cancel(); valid until the timer
 *       ended (its callback returned false, or ran once) or was cancelled
 */
int timers_add(Timers *t, uint64_t delay_ms, uint64_t interval_ms, TimerCallback fn, void *userdata,
               TimerEvent **ret);

/**
 * timers_cancel() - make sure @e's callback does not run again
 *
 * When the callback is running on the timer thread right now, waits until it
 * returned (unless called from that callback).
 */
void timers_cancel(Timers *t, TimerEvent *e);
