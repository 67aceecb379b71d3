/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A bounded pool of worker threads for work that blocks (a D-Bus job, an
 * outbound RPC), so that the thread driving gRPC's completion queue never
 * waits. Threads are started on demand up to a maximum and stay; the queue of
 * jobs waiting for a thread is bounded too, and a full queue is reported to
 * the submitter instead of growing without limit.
 */

#include <stddef.h>

#include "macro.h"

typedef struct WorkPool WorkPool;

typedef void (*WorkFunc)(void *userdata);

/**
 * workpool_new() - create a pool
 * @max_threads: at most this many workers (≥ 1)
 * @max_queued: at most this many jobs waiting for a free worker (≥ 1)
 */
int workpool_new(WorkPool **ret, unsigned max_threads, size_t max_queued);

/**
 * workpool_submit() - run @fn(@userdata) on a worker thread
 *
 * Return: 0; -EAGAIN when the queue is full (the job was not taken);
 * -ESHUTDOWN once workpool_free() has begun; -ENOMEM; -errno from
 * pthread_create when no worker could be started and none exists.
 */
int workpool_submit(WorkPool *p, WorkFunc fn, void *userdata);

/**
 * workpool_free() - run every job already submitted, then stop the workers
 * and free the pool. Must not be called from a worker. Returns NULL.
 */
WorkPool *workpool_free(WorkPool *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(WorkPool *, workpool_free);
