/* SPDX-License-Identifier: Apache-2.0 */

#include <signal.h>

#include "thread-util.h"
#include "unit-test.h"

static void *report_mask(void *userdata) {
        sigset_t *mask = userdata;

        pthread_sigmask(SIG_SETMASK, NULL, mask);
        return NULL;
}

static void test_threads_take_no_signals(void **state) {
        sigset_t in_thread, before, after;
        pthread_t t;

        pthread_sigmask(SIG_SETMASK, NULL, &before);
        assert_int_equal(thread_start(&t, report_mask, &in_thread), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_true(sigismember(&in_thread, SIGTERM));
        assert_true(sigismember(&in_thread, SIGINT));
        assert_true(sigismember(&in_thread, SIGHUP));
        /* The caller's own mask is as it was. */
        pthread_sigmask(SIG_SETMASK, NULL, &after);
        assert_int_equal(sigismember(&after, SIGTERM), sigismember(&before, SIGTERM));
}

static void test_time(void **state) {
        uint64_t a = now_monotonic_usec(), b;
        struct timespec t = timespec_after_ms(1500), u = timespec_from_usec(2500001);
        pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        pthread_cond_t cond;

        assert_true((uint64_t) t.tv_sec * USEC_PER_SEC + (uint64_t) t.tv_nsec / 1000 >=
                    a + 1500 * USEC_PER_MSEC);
        assert_int_equal(u.tv_sec, 2);
        assert_int_equal(u.tv_nsec, 500001000);

        /* A timed wait on the monotonic clock ends (it would not with CLOCK_REALTIME deadlines). */
        thread_cond_init_monotonic(&cond);
        pthread_mutex_lock(&lock);
        {
                struct timespec until = timespec_after_ms(10);

                assert_int_equal(pthread_cond_timedwait(&cond, &lock, &until), ETIMEDOUT);
        }
        pthread_mutex_unlock(&lock);
        pthread_cond_destroy(&cond);
        b = now_monotonic_usec();
        assert_true(b >= a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_threads_take_no_signals),
                cmocka_unit_test(test_time),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
