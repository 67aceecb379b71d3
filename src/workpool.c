/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Jobs wait in a FIFO ring under one mutex. A worker is started when a job
 * arrives and no worker is idle, until max_threads exist. Shutting down sets
 * a flag, wakes everyone, and the workers exit once the queue is empty, so
 * every accepted job runs exactly once.
 */

#include <pthread.h>

#include "thread-util.h"
#include "workpool.h"

typedef struct Job {
        WorkFunc fn;
        void *userdata;
} Job;

struct WorkPool {
        pthread_mutex_t lock;
        pthread_cond_t wake;
        Job *ring;
        size_t ring_size, head, n_queued;
        pthread_t *threads;
        unsigned max_threads, n_threads, n_idle;
        bool stopping;
};

int workpool_new(WorkPool **ret, unsigned max_threads, size_t max_queued) {
        WorkPool *p;

        if (max_threads < 1 || max_queued < 1)
                return -EINVAL;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->ring = calloc(max_queued, sizeof(Job));
        p->threads = calloc(max_threads, sizeof(pthread_t));
        if (!p->ring || !p->threads) {
                free(p->ring);
                free(p->threads);
                free(p);
                return -ENOMEM;
        }
        p->ring_size = max_queued;
        p->max_threads = max_threads;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->wake, NULL);
        *ret = p;
        return 0;
}

static void *worker_main(void *userdata) {
        WorkPool *p = userdata;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                Job job;

                while (p->n_queued == 0 && !p->stopping) {
                        p->n_idle++;
                        pthread_cond_wait(&p->wake, &p->lock);
                        p->n_idle--;
                }
                if (p->n_queued == 0)
                        break; /* stopping, and nothing left to run */

                job = p->ring[p->head];
                p->head = (p->head + 1) % p->ring_size;
                p->n_queued--;

                pthread_mutex_unlock(&p->lock);
                job.fn(job.userdata);
                pthread_mutex_lock(&p->lock);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

static int start_worker_locked(WorkPool *p) {
        int r;

        r = thread_start(&p->threads[p->n_threads], worker_main, p);
        if (r < 0)
                return r;
        p->n_threads++;
        return 0;
}

int workpool_submit(WorkPool *p, WorkFunc fn, void *userdata) {
        int r = 0;

        pthread_mutex_lock(&p->lock);
        if (p->stopping) {
                r = -ESHUTDOWN;
                goto finish;
        }
        if (p->n_queued >= p->ring_size) {
                r = -EAGAIN;
                goto finish;
        }

        /* Jobs already waiting will take the idle workers first. */
        if (p->n_idle <= p->n_queued && p->n_threads < p->max_threads) {
                r = start_worker_locked(p);
                if (r < 0 && p->n_threads > 0)
                        r = 0; /* the existing workers will get to it */
                if (r < 0)
                        goto finish;
        }

        p->ring[(p->head + p->n_queued) % p->ring_size] = (Job) { fn, userdata };
        p->n_queued++;
        pthread_cond_signal(&p->wake);

finish:
        pthread_mutex_unlock(&p->lock);
        return r;
}

WorkPool *workpool_free(WorkPool *p) {
        if (!p)
                return NULL;

        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);

        for (unsigned i = 0; i < p->n_threads; i++)
                pthread_join(p->threads[i], NULL);

        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        free(p->threads);
        free(p->ring);
        free(p);
        return NULL;
}
