/* SPDX-License-Identifier: Apache-2.0 */

#include <pthread.h>
#include <stdatomic.h>

#include "unit-test.h"
#include "workpool.h"

static atomic_int counter;

static void count(void *userdata) {
        atomic_fetch_add(&counter, 1);
}

typedef struct Gate {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool open;
        int entered;
} Gate;

static void wait_at_gate(void *userdata) {
        Gate *g = userdata;

        pthread_mutex_lock(&g->lock);
        g->entered++;
        pthread_cond_broadcast(&g->cond);
        while (!g->open)
                pthread_cond_wait(&g->cond, &g->lock);
        pthread_mutex_unlock(&g->lock);
}

static void test_runs_everything(void **state) {
        WorkPool *p = NULL;

        atomic_store(&counter, 0);
        assert_int_equal(workpool_new(&p, 4, 1000), 0);
        for (int i = 0; i < 1000; i++)
                assert_int_equal(workpool_submit(p, count, NULL), 0);
        /* Freeing runs what was accepted. */
        p = workpool_free(p);
        assert_int_equal(atomic_load(&counter), 1000);
}

static void test_bounded(void **state) {
        Gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0 };
        WorkPool *p = NULL;

        /* Two workers blocked, two jobs queued: the fifth is refused. */
        assert_int_equal(workpool_new(&p, 2, 2), 0);
        assert_int_equal(workpool_submit(p, wait_at_gate, &g), 0);
        assert_int_equal(workpool_submit(p, wait_at_gate, &g), 0);
        pthread_mutex_lock(&g.lock);
        while (g.entered < 2)
                pthread_cond_wait(&g.cond, &g.lock);
        pthread_mutex_unlock(&g.lock);
        assert_int_equal(workpool_submit(p, wait_at_gate, &g), 0);
        assert_int_equal(workpool_submit(p, wait_at_gate, &g), 0);
        assert_int_equal(workpool_submit(p, wait_at_gate, &g), -EAGAIN);

        pthread_mutex_lock(&g.lock);
        g.open = true;
        pthread_cond_broadcast(&g.cond);
        pthread_mutex_unlock(&g.lock);
        p = workpool_free(p);
        assert_int_equal(g.entered, 4);
}

static void test_invalid(void **state) {
        WorkPool *p = NULL;

        assert_int_equal(workpool_new(&p, 0, 1), -EINVAL);
        assert_int_equal(workpool_new(&p, 1, 0), -EINVAL);
        assert_null(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_runs_everything),
                cmocka_unit_test(test_bounded),
                cmocka_unit_test(test_invalid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
