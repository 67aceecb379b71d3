/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A list of events sorted by due time, one thread that sleeps on a condition
 * variable (monotonic clock) until the first is due, runs it without the
 * lock held, and reschedules it if it is periodic and asked to continue.
 */

#include <pthread.h>

#include "thread-util.h"
#include "timer.h"

struct TimerEvent {
        TimerEvent *next;
        uint64_t due_usec;
        uint64_t interval_usec;
        TimerCallback fn;
        void *userdata;
};

struct Timers {
        pthread_mutex_t lock;
        pthread_cond_t wake;     /* the list changed, or stop */
        pthread_cond_t finished; /* a callback returned */
        pthread_t thread;
        TimerEvent *events;      /* sorted by due_usec */
        TimerEvent *running;     /* the event whose callback runs now */
        bool stopping;
};

static void insert_locked(Timers *t, TimerEvent *e) {
        TimerEvent **p = &t->events;

        while (*p && (*p)->due_usec <= e->due_usec)
                p = &(*p)->next;
        e->next = *p;
        *p = e;
}

static bool unlink_locked(Timers *t, TimerEvent *e) {
        for (TimerEvent **p = &t->events; *p; p = &(*p)->next)
                if (*p == e) {
                        *p = e->next;
                        return true;
                }
        return false;
}

static void *timer_thread(void *userdata) {
        Timers *t = userdata;

        pthread_mutex_lock(&t->lock);
        while (!t->stopping) {
                TimerEvent *e = t->events;
                uint64_t now = now_monotonic_usec();
                bool again;

                if (!e) {
                        pthread_cond_wait(&t->wake, &t->lock);
                        continue;
                }
                if (e->due_usec > now) {
                        struct timespec until = timespec_from_usec(e->due_usec);

                        (void) pthread_cond_timedwait(&t->wake, &t->lock, &until);
                        continue;
                }

                t->events = e->next;
                t->running = e;
                pthread_mutex_unlock(&t->lock);
                again = e->fn(e->userdata) && e->interval_usec > 0;
                pthread_mutex_lock(&t->lock);
                t->running = NULL;
                pthread_cond_broadcast(&t->finished);

                /* A cancel during the callback set fn to NULL. */
                if (again && e->fn) {
                        e->due_usec = MAX(e->due_usec + e->interval_usec, now_monotonic_usec());
                        insert_locked(t, e);
                } else
                        free(e);
        }
        pthread_mutex_unlock(&t->lock);
        return NULL;
}

int timers_new(Timers **ret) {
        Timers *t;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        pthread_mutex_init(&t->lock, NULL);
        thread_cond_init_monotonic(&t->wake);
        thread_cond_init_monotonic(&t->finished);

        r = thread_start(&t->thread, timer_thread, t);
        if (r < 0) {
                pthread_cond_destroy(&t->wake);
                pthread_cond_destroy(&t->finished);
                pthread_mutex_destroy(&t->lock);
                free(t);
                return r;
        }
        *ret = t;
        return 0;
}

Timers *timers_free(Timers *t) {
        if (!t)
                return NULL;

        pthread_mutex_lock(&t->lock);
        t->stopping = true;
        pthread_cond_broadcast(&t->wake);
        pthread_mutex_unlock(&t->lock);
        pthread_join(t->thread, NULL);

        for (TimerEvent *e = t->events, *next; e; e = next) {
                next = e->next;
                free(e);
        }
        pthread_cond_destroy(&t->wake);
        pthread_cond_destroy(&t->finished);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
}

int timers_add(Timers *t, uint64_t delay_ms, uint64_t interval_ms, TimerCallback fn, void *userdata,
               TimerEvent **ret) {
        TimerEvent *e;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        *e = (TimerEvent) {
                .due_usec = now_monotonic_usec() + delay_ms * USEC_PER_MSEC,
                .interval_usec = interval_ms * USEC_PER_MSEC,
                .fn = fn,
                .userdata = userdata,
        };

        pthread_mutex_lock(&t->lock);
        insert_locked(t, e);
        pthread_cond_broadcast(&t->wake);
        pthread_mutex_unlock(&t->lock);

        if (ret)
                *ret = e;
        return 0;
}

void timers_cancel(Timers *t, TimerEvent *e) {
        pthread_mutex_lock(&t->lock);
        if (unlink_locked(t, e))
                free(e);
        else if (t->running == e) {
                /* Running now: it must not be rescheduled, and once we return
                 * the callback must be over. */
                e->fn = NULL;
                if (!pthread_equal(pthread_self(), t->thread))
                        while (t->running == e)
                                pthread_cond_wait(&t->finished, &t->lock);
        }
        pthread_mutex_unlock(&t->lock);
}
