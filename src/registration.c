/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One thread, one channel to the admin. Calls fail fast while the admin is
 * down (no WAIT_FOR_READY: with it a TLS failure would look like endless
 * waiting), so the thread retries: every 100 ms growing to 1 s while the
 * admin is unreachable, and with a longer backoff after a refusal, which
 * retrying soon would not change. The channel reconnects on its own in the
 * background, so the first retry after the admin came up succeeds.
 *
 * Stopping interrupts a backoff (condition variable) and a watch stream
 * (rpc_stream_cancel() is thread-safe); a registration call in flight ends
 * within its timeout.
 */

#include <pthread.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "admin.pb-c.h"
#include "error-util.h"
#include "health.pb-c.h"
#include "registration.h"
#include "rpc-client.h"
#include "thread-util.h"

#define DEFAULT_CALL_TIMEOUT_MS 5000
#define DEFAULT_MAX_BACKOFF_MS 30000
#define UNREACHABLE_FIRST_MS 100
#define UNREACHABLE_MAX_MS 1000
/* Without any stream to watch, registrations are renewed this often. */
#define RENEW_WITHOUT_WATCH_MS 10000
/* A watch shorter than this is followed by a pause before registering again. */
#define MIN_WATCH_USEC (1000 * USEC_PER_MSEC)

struct Registration {
        RegistrationConfig config;
        RpcChannel *channel;
        char *target;

        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool stopping;
        RpcStream *stream; /* the watch in progress, for cancelling */
        unsigned count;
};

static void report(Registration *r, RegistrationState state, const char *format, ...) _printf_(3, 4);
static void report(Registration *r, RegistrationState state, const char *format, ...) {
        _cleanup_free_ char *text = NULL;
        va_list ap;

        if (!r->config.callback)
                return;
        va_start(ap, format);
        if (vasprintf(&text, format, ap) < 0)
                text = NULL;
        va_end(ap);
        r->config.callback(state, text ?: "out of memory", r->config.userdata);
}

/* Sleeps up to @ms unless stopped; false when stopping. */
static bool sleep_unless_stopped(Registration *r, int64_t ms) {
        struct timespec until = timespec_after_ms(ms);
        bool stopping;

        pthread_mutex_lock(&r->lock);
        while (!r->stopping)
                if (pthread_cond_timedwait(&r->wake, &r->lock, &until) == ETIMEDOUT)
                        break;
        stopping = r->stopping;
        pthread_mutex_unlock(&r->lock);
        return !stopping;
}

static bool is_stopping(Registration *r) {
        bool stopping;

        pthread_mutex_lock(&r->lock);
        stopping = r->stopping;
        pthread_mutex_unlock(&r->lock);
        return stopping;
}

static int register_one(Registration *r, const char *name, const char *parent, uint32_t type,
                        RpcStatus *status) {
        Admin__RegistryRequest req = ADMIN__REGISTRY_REQUEST__INIT;
        Admin__TransportConfig transport = ADMIN__TRANSPORT_CONFIG__INIT;
        Admin__UnitStatus state = ADMIN__UNIT_STATUS__INIT;
        _cleanup_pb_ Admin__RegistryResponse *resp = NULL;
        int ret;

        transport.protocol = (char *) strempty(r->config.protocol);
        transport.address = (char *) strempty(r->config.address);
        transport.port = (char *) strempty(r->config.port);
        transport.name = (char *) strempty(r->config.name);
        state.name = (char *) name;
        req.name = (char *) name;
        req.parent = (char *) strempty(parent);
        req.type = type;
        req.transport = &transport;
        req.state = &state;

        ret = rpc_channel_call(r->channel, "/admin.AdminService/RegisterService", &req.base,
                               &admin__registry_response__descriptor, r->config.call_timeout_ms, 0,
                               (ProtobufCMessage **) &resp, status);
        if (ret < 0)
                return ret;
        /* An admin that answers OK with an error text refused all the same. */
        if (resp->__error_case == ADMIN__REGISTRY_RESPONSE____ERROR_ERROR && !isempty(resp->error)) {
                rpc_status_set(status, RPC_UNKNOWN, "%s", resp->error);
                return -EREMOTEIO;
        }
        return 0;
}

/* Registers the agent, then its services; returns what the agent's registration gave. */
static int register_all(Registration *r, RpcStatus *status) {
        int ret;

        ret = register_one(r, r->config.agent_unit, r->config.parent, r->config.type, status);
        if (ret < 0)
                return ret;
        pthread_mutex_lock(&r->lock);
        r->count++;
        pthread_mutex_unlock(&r->lock);
        report(r, REGISTRATION_REGISTERED, "registered with the admin at %s as '%s'", r->target,
               r->config.agent_unit);

        for (char *const *s = r->config.services; s && *s; s++) {
                _cleanup_(rpc_status_done) RpcStatus st = RPC_STATUS_NULL;

                /* Upstream registers services only, never targets. */
                if (!strstr(*s, ".service"))
                        continue;
                if (register_one(r, *s, r->config.agent_unit, r->config.subtype, &st) < 0)
                        report(r, REGISTRATION_REGISTERED,
                               "the admin at %s did not register service '%s': %s (%s)",
                               r->target, *s, strna(st.message), strna(rpc_status_code_to_string(st.code)));
        }
        return 0;
}

static void set_stream(Registration *r, RpcStream *s) {
        pthread_mutex_lock(&r->lock);
        r->stream = s;
        pthread_mutex_unlock(&r->lock);
}

/*
 * Holds a stream open to the admin until it ends. Returns 0 when it ended
 * (the admin went away or is shutting down), -EOPNOTSUPP when the admin
 * has no stream we can use.
 */
static int watch_admin(Registration *r) {
        Grpc__Health__V1__HealthCheckRequest health_request = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        Admin__Empty empty = ADMIN__EMPTY__INIT;
        const struct {
                const char *method;
                const ProtobufCMessage *request;
                const ProtobufCMessageDescriptor *response;
        } watches[] = {
                { "/grpc.health.v1.Health/Watch", &health_request.base,
                  &grpc__health__v1__health_check_response__descriptor },
                { "/admin.AdminService/Watch", &empty.base, &admin__watch_item__descriptor },
        };

        for (size_t i = 0; i < ELEMENTSOF(watches); i++) {
                RpcStream *s = NULL;
                int ret;

                if (rpc_channel_open_stream(r->channel, watches[i].method,
                                            watches[i].request, -1, 0, &s) < 0)
                        return -ENOMEM;
                set_stream(r, s);
                if (is_stopping(r))
                        rpc_stream_cancel(s);

                for (;;) {
                        ProtobufCMessage *m = NULL;
                        bool not_serving = false;

                        ret = rpc_stream_read(s, watches[i].response, -1, &m);
                        if (ret == 1 && i == 0)
                                not_serving = ((Grpc__Health__V1__HealthCheckResponse *) m)->status !=
                                        GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
                        pb_free(m);
                        if (ret != 1 || not_serving)
                                break;
                }

                set_stream(r, NULL);
                if (ret == -EREMOTEIO && rpc_stream_status(s)->code == RPC_UNIMPLEMENTED) {
                        rpc_stream_free(s);
                        continue; /* try the next kind of stream */
                }
                rpc_stream_free(s);
                return 0;
        }
        return -EOPNOTSUPP;
}

static void *registration_thread(void *userdata) {
        Registration *r = userdata;
        int64_t unreachable_delay = UNREACHABLE_FIRST_MS, refused_delay = 1000;
        uint64_t watched_since;

        while (!is_stopping(r)) {
                _cleanup_(rpc_status_done) RpcStatus status = RPC_STATUS_NULL;
                int ret;

                ret = register_all(r, &status);
                if (ret < 0) {
                        int64_t delay;

                        if (status.code == RPC_UNAVAILABLE || status.code == RPC_DEADLINE_EXCEEDED) {
                                delay = unreachable_delay;
                                unreachable_delay = MIN(unreachable_delay * 2, UNREACHABLE_MAX_MS);
                                report(r, REGISTRATION_CONNECTING, "waiting for the admin at %s: %s",
                                       r->target, strna(status.message));
                        } else {
                                delay = refused_delay;
                                refused_delay = MIN(refused_delay * 2, r->config.max_backoff_ms);
                                report(r, REGISTRATION_FAILED,
                                       "the admin at %s refused the registration: %s (%s); "
                                       "retrying in %" PRIi64 " s",
                                       r->target, strna(status.message),
                                       strna(rpc_status_code_to_string(status.code)),
                                       (delay + 999) / 1000);
                        }
                        if (!sleep_unless_stopped(r, delay))
                                break;
                        continue;
                }
                unreachable_delay = UNREACHABLE_FIRST_MS;
                refused_delay = 1000;

                watched_since = now_monotonic_usec();
                ret = watch_admin(r);
                if (is_stopping(r))
                        break;
                if (ret == -EOPNOTSUPP) {
                        /* Nothing to watch: renew now and then instead. */
                        if (!sleep_unless_stopped(r, RENEW_WITHOUT_WATCH_MS))
                                break;
                        continue;
                }
                report(r, REGISTRATION_LOST, "lost the connection to the admin at %s; registering again",
                       r->target);
                /* A watch that ends at once (an admin that cannot stream) must not become a loop of
                 * registrations. */
                if (now_monotonic_usec() - watched_since < MIN_WATCH_USEC && !sleep_unless_stopped(r, 1000))
                        break;
        }
        return NULL;
}

int registration_start(Registration **ret, const RegistrationConfig *c) {
        _cleanup_(registration_freep) Registration *r = NULL;
        int e;

        if (!c->admin || !c->agent_unit)
                return -EINVAL;
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->config = *c;
        if (r->config.call_timeout_ms <= 0)
                r->config.call_timeout_ms = DEFAULT_CALL_TIMEOUT_MS;
        if (r->config.max_backoff_ms <= 0)
                r->config.max_backoff_ms = DEFAULT_MAX_BACKOFF_MS;
        pthread_mutex_init(&r->lock, NULL);
        thread_cond_init_monotonic(&r->wake);

        r->target = address_to_string(c->admin);
        if (!r->target)
                return -ENOMEM;
        e = rpc_channel_new(&r->channel, c->admin, c->admin_tls_name, c->tls, NULL);
        if (e < 0)
                return e;

        e = thread_start(&r->thread, registration_thread, r);
        if (e < 0)
                return e;
        r->thread_started = true;
        *ret = TAKE_PTR(r);
        return 0;
}

Registration *registration_free(Registration *r) {
        if (!r)
                return NULL;

        if (r->thread_started) {
                pthread_mutex_lock(&r->lock);
                r->stopping = true;
                if (r->stream)
                        rpc_stream_cancel(r->stream);
                pthread_cond_broadcast(&r->wake);
                pthread_mutex_unlock(&r->lock);
                pthread_join(r->thread, NULL);
        }
        rpc_channel_free(r->channel);
        free(r->target);
        pthread_cond_destroy(&r->wake);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
}

unsigned registration_count(Registration *r) {
        unsigned n;

        pthread_mutex_lock(&r->lock);
        n = r->count;
        pthread_mutex_unlock(&r->lock);
        return n;
}
