/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The serving status is derived, not stored: a known service is SERVING
 * until the server shuts down. The only state is the list of Watch streams,
 * which the shutdown hook tells about NOT_SERVING and ends. Both the hook and
 * a watcher's on-cancel callback take the list lock and only finish calls
 * they find in the list, so each watcher is finished exactly once.
 */

#include <pthread.h>

#include "health.pb-c.h"
#include "health.h"
#include "parse-util.h"

typedef struct Health {
        RpcServer *server;
        pthread_mutex_t lock;
        RpcCall **watchers;
        size_t n_watchers;
        bool stopped;
} Health;

#define STATUS(x) GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__##x

static bool service_known(Health *h, const char *service) {
        return isempty(service) || strv_contains(rpc_server_services(h->server), service);
}

static Grpc__Health__V1__HealthCheckResponse__ServingStatus status_of(Health *h, const char *service) {
        if (!service_known(h, service))
                return STATUS(SERVICE_UNKNOWN);
        return rpc_server_is_shutting_down(h->server) ? STATUS(NOT_SERVING) : STATUS(SERVING);
}

static void health_check(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Grpc__Health__V1__HealthCheckRequest *req = (const void *) request;
        Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        Health *h = userdata;

        resp.status = status_of(h, req->service);
        if (resp.status == STATUS(SERVICE_UNKNOWN)) {
                (void) rpc_call_fail(call, RPC_NOT_FOUND, "unknown service '%s'", req->service);
                return;
        }
        (void) rpc_call_reply(call, &resp.base);
}

static bool watcher_remove_locked(Health *h, RpcCall *call) {
        for (size_t i = 0; i < h->n_watchers; i++)
                if (h->watchers[i] == call) {
                        h->watchers[i] = h->watchers[--h->n_watchers];
                        return true;
                }
        return false;
}

static void watcher_cancelled(RpcCall *call, void *userdata) {
        Health *h = userdata;
        bool found;

        pthread_mutex_lock(&h->lock);
        found = watcher_remove_locked(h, call);
        pthread_mutex_unlock(&h->lock);
        if (found)
                (void) rpc_call_finish(call, RPC_CANCELLED, NULL);
}

static void health_watch(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Grpc__Health__V1__HealthCheckRequest *req = (const void *) request;
        Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        Health *h = userdata;
        RpcCall **w;

        pthread_mutex_lock(&h->lock);
        resp.status = status_of(h, req->service);
        if (rpc_call_send(call, &resp.base) < 0 || h->stopped) {
                pthread_mutex_unlock(&h->lock);
                (void) rpc_call_finish(call, RPC_UNAVAILABLE, "the server is shutting down");
                return;
        }
        /* SERVING and SERVICE_UNKNOWN can only change at shutdown: wait. */
        w = reallocarray(h->watchers, h->n_watchers + 1, sizeof(RpcCall *));
        if (!w) {
                pthread_mutex_unlock(&h->lock);
                (void) rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
                return;
        }
        h->watchers = w;
        h->watchers[h->n_watchers++] = call;
        pthread_mutex_unlock(&h->lock);

        rpc_call_on_cancel(call, watcher_cancelled, h);
}

static void health_shutdown(RpcServer *s, void *userdata) {
        Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        Health *h = userdata;
        RpcCall **watchers;
        size_t n;

        pthread_mutex_lock(&h->lock);
        h->stopped = true;
        watchers = TAKE_PTR(h->watchers);
        n = h->n_watchers;
        h->n_watchers = 0;
        pthread_mutex_unlock(&h->lock);

        resp.status = STATUS(NOT_SERVING);
        for (size_t i = 0; i < n; i++) {
                (void) rpc_call_send(watchers[i], &resp.base);
                (void) rpc_call_finish(watchers[i], RPC_UNAVAILABLE, "the server is shutting down");
        }
        free(watchers);
}

static void health_free(void *userdata) {
        Health *h = userdata;

        pthread_mutex_destroy(&h->lock);
        free(h->watchers);
        free(h);
}

static const RpcMethod health_methods[] = {
        {
                .path = "/grpc.health.v1.Health/Check",
                .request = &grpc__health__v1__health_check_request__descriptor,
                .response = &grpc__health__v1__health_check_response__descriptor,
                .kind = RPC_UNARY,
                .flags = RPC_METHOD_INLINE,
                .handler = health_check,
        },
        {
                .path = "/grpc.health.v1.Health/Watch",
                .request = &grpc__health__v1__health_check_request__descriptor,
                .response = &grpc__health__v1__health_check_response__descriptor,
                .kind = RPC_SERVER_STREAM,
                .flags = RPC_METHOD_INLINE,
                .handler = health_watch,
        },
};

int health_service_attach(RpcServer *s) {
        Health *h;
        int r;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->server = s;
        pthread_mutex_init(&h->lock, NULL);

        r = rpc_server_add_hooks(s, health_shutdown, health_free, h);
        if (r < 0) {
                health_free(h);
                return r;
        }
        return rpc_server_add_methods(s, health_methods, ELEMENTSOF(health_methods), h);
}
