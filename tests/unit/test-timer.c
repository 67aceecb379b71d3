/* SPDX-License-Identifier: Apache-2.0 */

#include <pthread.h>

#include "timer.h"
#include "unit-test.h"

typedef struct Counter {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int count, stop_at;
} Counter;

#define COUNTER_INIT(n) { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, (n) }

static bool tick(void *userdata) {
        Counter *c = userdata;
        bool more;

        pthread_mutex_lock(&c->lock);
        c->count++;
        more = c->count < c->stop_at;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
        return more;
}

static void wait_count(Counter *c, int n) {
        pthread_mutex_lock(&c->lock);
        while (c->count < n)
                pthread_cond_wait(&c->cond, &c->lock);
        pthread_mutex_unlock(&c->lock);
}

static void test_periodic_until_false(void **state) {
        Counter c = COUNTER_INIT(5);
        Timers *t = NULL;

        assert_int_equal(timers_new(&t), 0);
        assert_int_equal(timers_add(t, 0, 1, tick, &c, NULL), 0);
        wait_count(&c, 5);
        t = timers_free(t);
        /* It returned false at 5: never called again. */
        assert_int_equal(c.count, 5);
}

static void test_order_and_once(void **state) {
        Counter first = COUNTER_INIT(1), second = COUNTER_INIT(1);
        Timers *t = NULL;

        assert_int_equal(timers_new(&t), 0);
        assert_int_equal(timers_add(t, 30, 0, tick, &second, NULL), 0);
        assert_int_equal(timers_add(t, 0, 0, tick, &first, NULL), 0);
        wait_count(&second, 1);
        /* The earlier one ran first (it was due first), and each ran once. */
        assert_int_equal(first.count, 1);
        t = timers_free(t);
        assert_int_equal(second.count, 1);
}

static void test_cancel(void **state) {
        Counter c = COUNTER_INIT(1000000);
        TimerEvent *e = NULL, *never = NULL;
        Timers *t = NULL;
        int seen;

        assert_int_equal(timers_new(&t), 0);
        assert_int_equal(timers_add(t, 0, 1, tick, &c, &e), 0);
        assert_int_equal(timers_add(t, 3600000, 0, tick, &c, &never), 0);
        wait_count(&c, 3);
        timers_cancel(t, e);
        pthread_mutex_lock(&c.lock);
        seen = c.count;
        pthread_mutex_unlock(&c.lock);
        timers_cancel(t, never);
        t = timers_free(t);
        /* After cancel returned, the callback never ran again. */
        assert_int_equal(c.count, seen);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_periodic_until_false),
                cmocka_unit_test(test_order_and_once),
                cmocka_unit_test(test_cancel),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
