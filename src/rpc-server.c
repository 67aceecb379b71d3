/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server side of the transport: one completion queue, one thread that
 * drives it, per-call state objects, and a worker pool for handlers that
 * block.
 *
 * Call lifetime. An RpcCall is reference counted: one reference per gRPC
 * batch in flight (every batch that starts completes exactly once, also
 * after a cancel), one for the handler side from dispatch until it finishes
 * the call, and one for each handler invocation queued or running. When the
 * count drops to zero the grpc_call is released and the object freed.
 *
 * Ops on a call. RECV_CLOSE_ON_SERVER is started as soon as a call arrives
 * and stays outstanding: it is the only way to learn that the client
 * cancelled, the deadline passed or the peer died. Messages out are queued
 * under the call's lock with at most one SEND batch in flight (gRPC allows
 * no more); the final status rides on the last message's batch or goes
 * alone. Sends and receives may be in flight together, which gRPC allows.
 *
 * Shutdown. Hooks end application-driven streams, gRPC stops accepting,
 * running calls get a grace period, then everything left is cancelled; the
 * completion queue is shut down only after the last call is gone, because
 * nothing may start a batch on it afterwards.
 */

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "error-util.h"
#include "health.h"
#include "parse-util.h"
#include "reflection.h"
#include "rpc-internal.h"
#include "rpc-server.h"
#include "thread-util.h"
#include "workpool.h"

#define DEFAULT_MAX_WORKERS 8U
#define DEFAULT_MAX_QUEUED 256U
#define DEFAULT_MAX_SEND_QUEUE 1024U
/* Calls requested from gRPC ahead of time, so bursts do not wait for us. */
#define PENDING_REQUESTS 16U
/* After an event, poll the queue this long before sleeping: on VMs waking a
 * thread on another CPU costs tens of microseconds, and the next event of a
 * busy call (the client's next request, a handler's reply) usually comes
 * sooner. An idle server sleeps. The poll yields between tries, so runnable
 * threads are not starved. */
#define SPIN_US 100
/* Server keepalive: find dead clients of long streams (Watch, MonitorUnit). */
#define KEEPALIVE_TIME_MS 60000
#define KEEPALIVE_TIMEOUT_MS 20000

typedef struct MethodEntry {
        const RpcMethod *method;
        void *userdata;
        size_t path_len;
} MethodEntry;

typedef struct SendItem {
        struct SendItem *next;
        grpc_byte_buffer *buffer;
} SendItem;

typedef struct Hook {
        RpcShutdownHook shutdown;
        void (*destroy)(void *userdata);
        void *userdata;
} Hook;

typedef enum ServerState {
        SERVER_NEW,
        SERVER_RUNNING,
        SERVER_SHUTTING_DOWN,
        SERVER_STOPPED,
} ServerState;

struct RpcServer {
        grpc_server *server;
        grpc_completion_queue *cq;
        pthread_t cq_thread;
        bool cq_thread_started;
        WorkPool *pool;
        WorkPool *slow_pool;     /* RPC_METHOD_SLOW handlers */
        RpcServerOptions options;

        MethodEntry *methods;
        size_t n_methods;
        char **services;

        Hook *hooks;
        size_t n_hooks;

        int *lock_fds;
        char **lock_paths;       /* removed when the server goes, with the lock held */
        size_t n_lock_fds;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        ServerState state;
        bool shutdown_notified;
        bool abandoned;          /* shutdown gave up on handlers that kept their calls */
        RpcTag tag_shutdown;
        atomic_uint live_calls;
        atomic_uint pending_requests;
        bool grpc_initialized;
};

struct RpcCall {
        RpcServer *server;
        atomic_uint n_ref;
        RpcTag tag_new, tag_recv, tag_send, tag_close;

        grpc_call *call;
        grpc_call_details details;
        grpc_metadata_array request_metadata;
        const MethodEntry *entry;
        grpc_byte_buffer *recv_buffer;
        int close_cancelled;

        pthread_mutex_t lock;
        SendItem *queue_head, *queue_tail;
        size_t n_queued;
        bool send_in_flight;
        bool initial_metadata_sent;
        grpc_byte_buffer *inflight_message;
        bool status_pending, status_sent;
        RpcStatusCode status_code;
        char *status_message;
        bool handler_started, handler_done, input_done;
        bool closed, cancelled;
        void (*on_cancel)(RpcCall *call, void *userdata);
        void *on_cancel_userdata;

        ProtobufCMessage *request; /* handed to the next handler invocation */

        bool peer_parsed;
        int peer_error;
        PeerIdentity *peer;
        uint64_t start_usec;
};

static void call_report(RpcCall *c) {
        RpcServer *s = c->server;
        _cleanup_free_ char *method = NULL;
        char *peer;

        if (!s->options.on_call_end || !c->call)
                return;
        method = rpc_slice_to_string(c->details.method);
        peer = grpc_call_get_peer(c->call);
        s->options.on_call_end(&(RpcCallSummary) {
                                       .method = method,
                                       .peer = peer,
                                       .answered = c->status_sent,
                                       .code = c->status_code,
                                       .duration_usec = now_monotonic_usec() - c->start_usec,
                               },
                               s->options.userdata);
        gpr_free(peer);
}

static void call_free(RpcCall *c) {
        RpcServer *s = c->server;
        grpc_call *call = c->call;

        call_report(c);

        for (SendItem *i = c->queue_head, *next; i; i = next) {
                next = i->next;
                grpc_byte_buffer_destroy(i->buffer);
                free(i);
        }
        if (c->inflight_message)
                grpc_byte_buffer_destroy(c->inflight_message);
        if (c->recv_buffer)
                grpc_byte_buffer_destroy(c->recv_buffer);
        pb_free(c->request);
        free(c->status_message);
        peer_identity_free(c->peer);
        grpc_metadata_array_destroy(&c->request_metadata);
        grpc_call_details_destroy(&c->details);
        pthread_mutex_destroy(&c->lock);
        free(c);
        if (call) {
                grpc_call_unref(call);
                /* rpc_server_shutdown() waits for the last call to go. */
                if (atomic_fetch_sub(&s->live_calls, 1) == 1) {
                        pthread_mutex_lock(&s->lock);
                        pthread_cond_broadcast(&s->cond);
                        pthread_mutex_unlock(&s->lock);
                }
        }
}

RpcCall *rpc_call_ref(RpcCall *c) {
        atomic_fetch_add(&c->n_ref, 1);
        return c;
}

RpcCall *rpc_call_unref(RpcCall *c) {
        if (c && atomic_fetch_sub(&c->n_ref, 1) == 1)
                call_free(c);
        return NULL;
}

static RpcCall *call_new(RpcServer *s) {
        RpcCall *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->server = s;
        c->tag_new = (RpcTag) { RPC_TAG_NEW_CALL, c };
        c->tag_recv = (RpcTag) { RPC_TAG_RECV, c };
        c->tag_send = (RpcTag) { RPC_TAG_SEND, c };
        c->tag_close = (RpcTag) { RPC_TAG_CLOSE, c };
        grpc_call_details_init(&c->details);
        grpc_metadata_array_init(&c->request_metadata);
        pthread_mutex_init(&c->lock, NULL);
        return c;
}

/* Starts a batch holding one reference for its completion. */
static int call_start_batch(RpcCall *c, const grpc_op *ops, size_t n, RpcTag *tag) {
        rpc_call_ref(c);
        if (grpc_call_start_batch(c->call, ops, n, tag, NULL) != GRPC_CALL_OK) {
                rpc_call_unref(c); /* the caller holds another reference */
                return -EIO;
        }
        return 0;
}

/* Puts the next message and/or the final status on the wire. Lock held. */
static void call_send_next_locked(RpcCall *c) {
        grpc_op ops[3] = {};
        grpc_slice details;
        SendItem *item = NULL;
        bool with_status = false;
        size_t n = 0;

        if (c->send_in_flight || c->closed || c->status_sent)
                return;

        if (!c->initial_metadata_sent)
                ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;

        if (c->queue_head) {
                item = c->queue_head;
                ops[n].op = GRPC_OP_SEND_MESSAGE;
                ops[n++].data.send_message.send_message = item->buffer;
        }

        if (c->status_pending && (!item || !item->next)) {
                with_status = true;
                details = grpc_slice_from_copied_string(strempty(c->status_message));
                ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
                ops[n].data.send_status_from_server.status = (grpc_status_code) c->status_code;
                ops[n++].data.send_status_from_server.status_details = &details;
        }

        /* Streams announce themselves at once, before their first message:
         * some clients (tonic) wait for the response headers. */
        if (!item && !with_status && c->initial_metadata_sent)
                return;

        if (call_start_batch(c, ops, n, &c->tag_send) < 0) {
                /* Only happens for a call gRPC considers over; its close
                 * completion will tell the rest. */
                if (with_status)
                        grpc_slice_unref(details);
                return;
        }
        /* The status details are copied by start_batch. */
        if (with_status)
                grpc_slice_unref(details);

        c->send_in_flight = true;
        c->initial_metadata_sent = true;
        if (item) {
                c->queue_head = item->next;
                if (!c->queue_head)
                        c->queue_tail = NULL;
                c->n_queued--;
                c->inflight_message = item->buffer;
                free(item);
        }
        if (with_status) {
                c->status_pending = false;
                c->status_sent = true;
        }
}

/* Records the final status; the handler reference is dropped if @from_handler. */
/*
 * Status messages travel in a header, and messages often quote what the
 * client sent: a long enough name would make the status itself too big for
 * the client to accept. Cut at a character boundary, marked with "…".
 */
#define STATUS_MESSAGE_MAX 1024

static char *status_message_dup(const char *message) {
        size_t n = strlen(message);
        char *m;

        if (n <= STATUS_MESSAGE_MAX)
                return strdup(message);
        n = STATUS_MESSAGE_MAX - strlen("…");
        while (n > 0 && ((unsigned char) message[n] & 0xC0) == 0x80)
                n--; /* not inside a UTF-8 sequence */
        m = malloc(n + strlen("…") + 1);
        if (m)
                (void) stpcpy(mempcpy(m, message, n), "…");
        return m;
}

static int call_finish(RpcCall *c, RpcStatusCode code, const char *message, bool from_handler) {
        int r = 0;

        pthread_mutex_lock(&c->lock);
        if (from_handler) {
                /* Finishing twice is a bug in the handler; the second one
                 * must not drop a reference it does not own. */
                if (c->handler_done) {
                        pthread_mutex_unlock(&c->lock);
                        return -EALREADY;
                }
                c->handler_done = true;
        }
        if (c->closed)
                r = -ECANCELED;
        else if (!c->status_pending && !c->status_sent) {
                c->status_code = code;
                c->status_message = message ? status_message_dup(message) : NULL;
                c->status_pending = true;
                call_send_next_locked(c);
        }
        pthread_mutex_unlock(&c->lock);

        if (from_handler)
                rpc_call_unref(c);
        return r;
}

int rpc_call_finish(RpcCall *c, RpcStatusCode code, const char *message) {
        return call_finish(c, code, message, true);
}

int rpc_call_fail(RpcCall *c, RpcStatusCode code, const char *format, ...) {
        _cleanup_free_ char *m = NULL;
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&m, format, ap) < 0)
                m = NULL;
        va_end(ap);

        return call_finish(c, code, m ?: "out of memory formatting the error message", true);
}

/* Queues @message and, if @code >= 0, the final status after it. */
static int call_queue(RpcCall *c, const ProtobufCMessage *message, RpcStatusCode code, bool from_handler) {
        grpc_byte_buffer *bb;
        SendItem *item;
        int r;

        r = rpc_pack(message, &bb);
        if (r < 0)
                return r;
        item = malloc(sizeof(*item));
        if (!item) {
                grpc_byte_buffer_destroy(bb);
                return -ENOMEM;
        }
        *item = (SendItem) { .buffer = bb };

        pthread_mutex_lock(&c->lock);
        if (from_handler && c->handler_done) {
                pthread_mutex_unlock(&c->lock);
                grpc_byte_buffer_destroy(item->buffer);
                free(item);
                return -EALREADY;
        }
        if (c->closed || c->status_pending || c->status_sent || c->handler_done)
                r = -ECANCELED;
        else if (code < 0 && c->n_queued >= c->server->options.max_send_queue)
                r = -ENOBUFS;
        else {
                if (c->queue_tail)
                        c->queue_tail->next = item;
                else
                        c->queue_head = item;
                c->queue_tail = item;
                c->n_queued++;
                item = NULL;
                if (code >= 0) {
                        c->status_code = code;
                        c->status_pending = true;
                }
                call_send_next_locked(c);
        }
        if (from_handler)
                c->handler_done = true;
        pthread_mutex_unlock(&c->lock);

        if (item) {
                grpc_byte_buffer_destroy(item->buffer);
                free(item);
        }
        if (from_handler)
                rpc_call_unref(c);
        return r;
}

int rpc_call_send(RpcCall *c, const ProtobufCMessage *message) {
        return call_queue(c, message, _RPC_STATUS_CODE_INVALID, false);
}

int rpc_call_reply(RpcCall *c, const ProtobufCMessage *response) {
        int r;

        /* The response and the status go out in one batch. */
        r = call_queue(c, response, RPC_OK, true);
        if (r == -ENOMEM)
                /* Nothing was queued, but the handler reference is gone:
                 * the status must still be sent. */
                (void) call_finish(c, RPC_INTERNAL, "out of memory sending the response", false);
        return r;
}

void rpc_call_on_cancel(RpcCall *c, void (*fn)(RpcCall *call, void *userdata), void *userdata) {
        bool now;

        pthread_mutex_lock(&c->lock);
        now = c->closed;
        if (!now) {
                c->on_cancel = fn;
                c->on_cancel_userdata = userdata;
        }
        pthread_mutex_unlock(&c->lock);

        if (now)
                fn(c, userdata);
}

bool rpc_call_is_cancelled(RpcCall *c) {
        bool r;

        pthread_mutex_lock(&c->lock);
        r = c->closed;
        pthread_mutex_unlock(&c->lock);
        return r;
}

int64_t rpc_call_deadline_remaining_ms(RpcCall *c) {
        return rpc_deadline_remaining_ms(c->details.deadline);
}

const char *rpc_call_method_path(RpcCall *c) {
        return c->entry ? c->entry->method->path : "";
}

RpcServer *rpc_call_server(RpcCall *c) {
        return c->server;
}

int rpc_call_peer_identity(RpcCall *c, const PeerIdentity **ret) {
        grpc_auth_context *ctx;
        grpc_auth_property_iterator it;
        const grpc_auth_property *p;
        int r;

        pthread_mutex_lock(&c->lock);
        if (!c->peer_parsed) {
                ctx = grpc_call_auth_context(c->call);
                p = NULL;
                if (ctx) {
                        it = grpc_auth_context_find_properties_by_name(ctx,
                                                                       GRPC_X509_PEM_CERT_PROPERTY_NAME);
                        p = grpc_auth_property_iterator_next(&it);
                }
                /* Property values are not NUL-terminated: pass the length. */
                if (!p)
                        c->peer_error = -ENOKEY;
                else
                        c->peer_error = tls_peer_identity_from_pem(p->value, p->value_length, &c->peer);
                if (ctx)
                        grpc_auth_context_release(ctx);
                c->peer_parsed = true;
        }
        r = c->peer_error;
        if (r >= 0)
                *ret = c->peer;
        pthread_mutex_unlock(&c->lock);
        return r;
}

char *rpc_call_peer_address(RpcCall *c) {
        char *p = grpc_call_get_peer(c->call), *copy;

        if (!p)
                return NULL;
        copy = strdup(p);
        gpr_free(p);
        return copy;
}

/* ---- dispatch ---- */

static const MethodEntry *server_find_method(RpcServer *s, grpc_slice path) {
        size_t n = GRPC_SLICE_LENGTH(path);
        const void *p = GRPC_SLICE_START_PTR(path);

        for (size_t i = 0; i < s->n_methods; i++)
                if (s->methods[i].path_len == n && memcmp(s->methods[i].method->path, p, n) == 0)
                        return &s->methods[i];
        return NULL;
}

static int call_start_recv(RpcCall *c) {
        grpc_op op = { .op = GRPC_OP_RECV_MESSAGE };

        op.data.recv_message.recv_message = &c->recv_buffer;
        return call_start_batch(c, &op, 1, &c->tag_recv);
}

static void call_dispatch(RpcCall *c);

/* Runs a handler invocation; holds the invocation's own reference. */
static void call_run_handler(void *userdata) {
        RpcCall *c = userdata;
        const MethodEntry *e = c->entry;
        ProtobufCMessage *request = TAKE_PTR(c->request);

        c->handler_started = true;
        e->method->handler(c, request, e->userdata);
        pb_free(request);

        /* Bidi: ask for the next message only once this one was handled, so
         * invocations stay ordered and a slow handler slows the sender. A
         * call that is over completes the receive at once, with nothing,
         * which tells the handler. */
        if (e->method->kind == RPC_BIDI_STREAM && !c->input_done && call_start_recv(c) < 0) {
                c->input_done = true;
                call_dispatch(c);
        }

        rpc_call_unref(c);
}

static void call_dispatch(RpcCall *c) {
        int r;

        rpc_call_ref(c); /* for the invocation */
        if (c->entry->method->flags & RPC_METHOD_INLINE) {
                call_run_handler(c);
                return;
        }

        r = workpool_submit(c->entry->method->flags & RPC_METHOD_SLOW ? c->server->slow_pool : c->server->pool,
                            call_run_handler, c);
        if (r >= 0)
                return;

        /* Not run: this invocation never happens. */
        rpc_call_unref(c);
        c->request = pb_free(c->request);
        if (c->handler_started) {
                /* A bidi stream mid-way: end it and let the handler see the end. */
                (void) call_finish(c, RPC_RESOURCE_EXHAUSTED, "the server is too busy to take this message",
                                   false);
                c->input_done = true;
                rpc_call_ref(c);
                call_run_handler(c);
        } else
                (void) call_finish(c, RPC_RESOURCE_EXHAUSTED, "the server is too busy, try again later",
                                   true);
}

static void call_on_recv(RpcCall *c, bool success) {
        _cleanup_(grpc_byte_buffer_destroyp) grpc_byte_buffer *bb = TAKE_PTR(c->recv_buffer);
        const RpcMethod *m = c->entry->method;
        int r;

        if (!success || !bb) {
                /* The client is done sending, or the call broke. */
                if (m->kind == RPC_BIDI_STREAM) {
                        c->input_done = true;
                        call_dispatch(c);
                } else
                        (void) call_finish(c, RPC_INVALID_ARGUMENT, "the request message is missing", true);
                return;
        }

        r = rpc_unpack(bb, m->request, &c->request);
        if (r < 0) {
                _cleanup_free_ char *msg = NULL;

                if (asprintf(&msg, r == -EILSEQ ? "a string field of the %s request is not valid UTF-8"
                                                : "the request is not a valid %s message",
                             pb_type_name(m->request)) < 0)
                        msg = NULL;
                if (m->kind == RPC_BIDI_STREAM && c->handler_started) {
                        (void) call_finish(c, RPC_INVALID_ARGUMENT, msg, false);
                        c->input_done = true;
                        call_dispatch(c);
                } else
                        (void) call_finish(c, RPC_INVALID_ARGUMENT, msg, true);
                return;
        }

        call_dispatch(c);
}

static void call_on_send(RpcCall *c, bool success) {
        pthread_mutex_lock(&c->lock);
        if (c->inflight_message)
                grpc_byte_buffer_destroy(TAKE_PTR(c->inflight_message));
        c->send_in_flight = false;
        if (success)
                call_send_next_locked(c);
        pthread_mutex_unlock(&c->lock);
}

static void call_on_close(RpcCall *c) {
        void (*fn)(RpcCall *call, void *userdata) = NULL;
        void *userdata = NULL;

        pthread_mutex_lock(&c->lock);
        c->closed = true;
        c->cancelled = c->close_cancelled;
        if (!c->handler_done) {
                fn = TAKE_PTR(c->on_cancel);
                userdata = c->on_cancel_userdata;
        }
        pthread_mutex_unlock(&c->lock);

        if (fn)
                fn(c, userdata);
}

static int server_request_call(RpcServer *s);

static void server_on_new_call(RpcServer *s, RpcCall *c, bool success) {
        grpc_op op = { .op = GRPC_OP_RECV_CLOSE_ON_SERVER };

        atomic_fetch_sub(&s->pending_requests, 1);
        if (!success) {
                /* The server is shutting down: this request will never be filled. */
                call_free(c);
                return;
        }
        atomic_fetch_add(&s->live_calls, 1);
        c->start_usec = now_monotonic_usec();

        /* Keep the number of waiting requests up. */
        if (!rpc_server_is_shutting_down(s))
                (void) server_request_call(s);

        /* The reference of the accepted call, handed to the handler side. */
        atomic_store(&c->n_ref, 1);

        op.data.recv_close_on_server.cancelled = &c->close_cancelled;
        if (call_start_batch(c, &op, 1, &c->tag_close) < 0) {
                rpc_call_unref(c);
                return;
        }

        c->entry = server_find_method(s, c->details.method);
        if (!c->entry) {
                _cleanup_free_ char *path = rpc_slice_to_string(c->details.method), *msg = NULL;

                if (asprintf(&msg, "unknown method %s", strna(path)) < 0)
                        msg = NULL;
                /* No handler will ever own this call: finish it for it. */
                (void) call_finish(c, RPC_UNIMPLEMENTED, msg ?: "unknown method", true);
                return;
        }

        /* Streams send their headers right away (see call_send_next_locked). */
        if (c->entry->method->kind != RPC_UNARY) {
                pthread_mutex_lock(&c->lock);
                call_send_next_locked(c);
                pthread_mutex_unlock(&c->lock);
        }

        if (call_start_recv(c) < 0)
                (void) call_finish(c, RPC_INTERNAL, "cannot receive the request", true);
}

static void *server_cq_thread(void *userdata) {
        gpr_timespec spin_until = gpr_time_0(GPR_CLOCK_MONOTONIC);
        RpcServer *s = userdata;

        for (;;) {
                bool spin = gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), spin_until) < 0;
                grpc_event ev = grpc_completion_queue_next(
                        s->cq, spin ? gpr_time_0(GPR_CLOCK_MONOTONIC) : gpr_inf_future(GPR_CLOCK_REALTIME),
                        NULL);
                RpcTag *tag;
                RpcCall *c;

                if (ev.type == GRPC_QUEUE_SHUTDOWN)
                        break;
                if (ev.type != GRPC_OP_COMPLETE) {
                        if (spin)
                                sched_yield();
                        continue;
                }
                spin_until = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                          gpr_time_from_micros(SPIN_US, GPR_TIMESPAN));

                tag = ev.tag;
                c = tag->owner;
                switch (tag->kind) {
                case RPC_TAG_NEW_CALL:
                        server_on_new_call(s, c, ev.success);
                        break;
                case RPC_TAG_RECV:
                        call_on_recv(c, ev.success);
                        rpc_call_unref(c);
                        break;
                case RPC_TAG_SEND:
                        call_on_send(c, ev.success);
                        rpc_call_unref(c);
                        break;
                case RPC_TAG_CLOSE:
                        call_on_close(c);
                        rpc_call_unref(c);
                        break;
                case RPC_TAG_SERVER_SHUTDOWN:
                        pthread_mutex_lock(&s->lock);
                        s->shutdown_notified = true;
                        pthread_cond_broadcast(&s->cond);
                        pthread_mutex_unlock(&s->lock);
                        break;
                default:
                        break;
                }
        }
        return NULL;
}

static int server_request_call(RpcServer *s) {
        RpcCall *c = call_new(s);
        grpc_call_error e;

        if (!c)
                return -ENOMEM;
        atomic_fetch_add(&s->pending_requests, 1);
        e = grpc_server_request_call(s->server, &c->call, &c->details, &c->request_metadata, s->cq, s->cq,
                                     &c->tag_new);
        if (e != GRPC_CALL_OK) {
                atomic_fetch_sub(&s->pending_requests, 1);
                call_free(c);
                return -EIO;
        }
        return 0;
}

/* ---- setup and shutdown ---- */

int rpc_server_new(RpcServer **ret, const RpcServerOptions *options) {
        _cleanup_(rpc_server_freep) RpcServer *s = NULL;
        grpc_arg args[] = {
                /* Two servers must never share a port silently. */
                rpc_arg_int(GRPC_ARG_ALLOW_REUSEPORT, 0),
                rpc_arg_int(GRPC_ARG_KEEPALIVE_TIME_MS, KEEPALIVE_TIME_MS),
                rpc_arg_int(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, KEEPALIVE_TIMEOUT_MS),
        };
        grpc_channel_args channel_args = { .num_args = ELEMENTSOF(args), .args = args };
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        pthread_mutex_init(&s->lock, NULL);
        thread_cond_init_monotonic(&s->cond);
        s->tag_shutdown = (RpcTag) { RPC_TAG_SERVER_SHUTDOWN, s };

        if (options)
                s->options = *options;
        if (s->options.max_workers == 0)
                s->options.max_workers = DEFAULT_MAX_WORKERS;
        if (s->options.max_queued == 0)
                s->options.max_queued = DEFAULT_MAX_QUEUED;
        if (s->options.max_send_queue == 0)
                s->options.max_send_queue = DEFAULT_MAX_SEND_QUEUE;

        r = workpool_new(&s->pool, s->options.max_workers, s->options.max_queued);
        if (r < 0)
                return r;
        r = workpool_new(&s->slow_pool, s->options.max_workers, s->options.max_queued);
        if (r < 0)
                return r;

        rpc_init();
        s->grpc_initialized = true;
        s->cq = grpc_completion_queue_create_for_next(NULL);
        s->server = grpc_server_create(&channel_args, NULL);
        if (!s->cq || !s->server)
                return -ENOMEM;
        grpc_server_register_completion_queue(s->server, s->cq, NULL);

        *ret = TAKE_PTR(s);
        return 0;
}

static int method_service_name(const char *path, char **ret) {
        const char *slash;

        /* "/pkg.Service/Method" */
        if (path[0] != '/')
                return -EINVAL;
        slash = strchr(path + 1, '/');
        if (!slash || slash == path + 1 || !slash[1] || strchr(slash + 1, '/'))
                return -EINVAL;
        if (ret) {
                *ret = strndup(path + 1, (size_t) (slash - path - 1));
                if (!*ret)
                        return -ENOMEM;
        }
        return 0;
}

int rpc_server_add_methods(RpcServer *s, const RpcMethod *methods, size_t n, void *userdata) {
        MethodEntry *m;

        if (s->state != SERVER_NEW)
                return -EBUSY;
        for (size_t i = 0; i < n; i++) {
                grpc_slice path = grpc_slice_from_static_string(methods[i].path);

                if (method_service_name(methods[i].path, NULL) < 0 || !methods[i].handler ||
                    !methods[i].request || !methods[i].response)
                        return -EINVAL;
                if (server_find_method(s, path))
                        return -EEXIST;
        }

        m = reallocarray(s->methods, s->n_methods + n, sizeof(MethodEntry));
        if (!m)
                return -ENOMEM;
        s->methods = m;
        for (size_t i = 0; i < n; i++)
                s->methods[s->n_methods++] = (MethodEntry) {
                        .method = &methods[i],
                        .userdata = userdata,
                        .path_len = strlen(methods[i].path),
                };
        return 0;
}

int rpc_server_add_shutdown_hook(RpcServer *s, RpcShutdownHook hook, void *userdata) {
        return rpc_server_add_hooks(s, hook, NULL, userdata);
}

int rpc_server_add_hooks(RpcServer *s, RpcShutdownHook shutdown, void (*destroy)(void *userdata),
                         void *userdata) {
        Hook *h;

        h = reallocarray(s->hooks, s->n_hooks + 1, sizeof(Hook));
        if (!h)
                return -ENOMEM;
        s->hooks = h;
        s->hooks[s->n_hooks++] = (Hook) { shutdown, destroy, userdata };
        return 0;
}

/*
 * gRPC unlinks and rebinds an existing unix socket path even when another
 * server is listening on it. A lock file beside the socket, held for the
 * server's lifetime, makes the second server fail instead.
 */
static int lock_unix_path(RpcServer *s, const char *path) {
        _cleanup_free_ char *lock_path = NULL;
        _cleanup_close_ int fd = -EBADF;
        int *fds;

        if (asprintf(&lock_path, "%s.lock", path) < 0)
                return -ENOMEM;
        fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EADDRINUSE : -errno;

        fds = reallocarray(s->lock_fds, s->n_lock_fds + 1, sizeof(int));
        if (!fds)
                return -ENOMEM;
        s->lock_fds = fds;
        if (strv_extend(&s->lock_paths, lock_path) < 0)
                return -ENOMEM;
        s->lock_fds[s->n_lock_fds++] = TAKE_FD(fd);
        return 0;
}

/*
 * The lock only keeps givc servers apart. Any other program listening on the
 * path (an older givc, upstream's agent) is found by connecting: gRPC would
 * otherwise unlink its socket and take the path. A socket nobody listens on
 * is stale, and gRPC may replace it; anything that is not a socket stays.
 */
static int probe_unix_path(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0 || errno == EAGAIN)
                return -EADDRINUSE; /* accepted, or listening with a full backlog */
        return 0;
}

/*
 * gRPC only logs why it could not bind. Trying the bind ourselves first
 * (with the same SO_REUSEADDR, without SO_REUSEPORT) yields the errno, so the
 * error can say "address already in use" or "cannot assign requested
 * address". gRPC's own bind still decides.
 */
static int probe_tcp_bind(const Address *a) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
        struct addrinfo *res = NULL;
        char port[8];
        int r = 0;

        if (a->port == 0)
                return 0;
        (void) snprintf(port, sizeof(port), "%u", a->port);
        if (getaddrinfo(a->host, port, &hints, &res) != 0)
                return -EADDRNOTAVAIL;

        for (struct addrinfo *i = res; i && r == 0; i = i->ai_next) {
                _cleanup_close_ int fd = socket(i->ai_family, i->ai_socktype | SOCK_CLOEXEC, i->ai_protocol);
                int one = 1;

                if (fd < 0)
                        continue; /* e.g. no IPv6 on this machine */
                /* Dual-stack for IPv6, as gRPC binds it: [::]:PORT also takes the IPv4 port. */
                (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (bind(fd, i->ai_addr, i->ai_addrlen) < 0)
                        r = -errno;
        }
        freeaddrinfo(res);
        return r;
}

/* The same for abstract unix sockets, whose names the kernel keeps unique. */
static int probe_abstract_bind(const Address *a) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(a->path);

        if (n + 1 > sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path + 1, a->path, n); /* sun_path[0] = 0: abstract */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa,
                 (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + n)) < 0)
                return -errno;
        return 0;
}

int rpc_server_add_listener(RpcServer *s, Address *address, const TlsCredentials *tls, char **ret_error) {
        _cleanup_free_ char *target = NULL;
        grpc_server_credentials *creds;
        int port, r;

        if (s->state != SERVER_NEW)
                return -EBUSY;

        target = address_to_string(address);
        if (!target)
                return -ENOMEM;

        if (address->kind == ADDRESS_UNIX) {
                r = lock_unix_path(s, address->path);
                if (r == -EADDRINUSE)
                        return error_set(ret_error, r, "cannot listen on '%s': another server is using it",
                                         target);
                if (r < 0)
                        return error_set(ret_error, r, "cannot listen on '%s': cannot lock '%s.lock': %s",
                                         target, address->path, strerror(-r));
                r = probe_unix_path(address->path);
                if (r == -EADDRINUSE)
                        return error_set(ret_error, r, "cannot listen on '%s': another program is listening "
                                         "on it", target);
                if (r == -EEXIST)
                        return error_set(ret_error, r, "cannot listen on '%s': '%s' exists and is not a socket",
                                         target, address->path);
                if (r < 0)
                        return error_set(ret_error, r, "cannot listen on '%s': %s", target, strerror(-r));
        } else {
                r = address->kind == ADDRESS_TCP ? probe_tcp_bind(address) : probe_abstract_bind(address);
                if (r == -EADDRINUSE && address->kind == ADDRESS_UNIX_ABSTRACT)
                        return error_set(ret_error, r, "cannot listen on '%s': the name is taken", target);
                if (r < 0)
                        return error_set(ret_error, r, "cannot listen on '%s': %s", target, strerror(-r));
        }

        if (tls) {
                grpc_ssl_pem_key_cert_pair pair = {
                        .private_key = tls->key_pem,
                        .cert_chain = tls->cert_pem,
                };

                creds = grpc_ssl_server_credentials_create_ex(
                        tls->ca_pem, &pair, 1, GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY,
                        NULL);
        } else
                creds = grpc_insecure_server_credentials_create();
        if (!creds)
                return error_set(ret_error, -ENOMEM, "cannot listen on '%s': out of memory", target);

        port = grpc_server_add_http2_port(s->server, target, creds);
        grpc_server_credentials_release(creds);
        if (port <= 0) {
                r = address->kind == ADDRESS_TCP ? -EADDRNOTAVAIL : -EADDRINUSE;
                return error_set(ret_error, r, "cannot listen on '%s': %s", target,
                                 address->kind == ADDRESS_UNIX_ABSTRACT
                                         ? "the name is taken"
                                         : "gRPC refused the address (see the log)");
        }
        if (address->kind == ADDRESS_TCP)
                address->port = (uint16_t) port;
        return 0;
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int server_collect_services(RpcServer *s) {
        char **l;
        size_t n = 0;
        int r;

        l = calloc(s->n_methods + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_methods; i++) {
                _cleanup_free_ char *name = NULL;
                bool seen = false;

                r = method_service_name(s->methods[i].method->path, &name);
                if (r < 0) {
                        strv_free(l);
                        return r;
                }
                for (size_t j = 0; j < n && !seen; j++)
                        seen = streq(l[j], name);
                if (!seen)
                        l[n++] = TAKE_PTR(name);
        }
        qsort(l, n, sizeof(char *), compare_strings);
        s->services = l;
        return 0;
}

int rpc_server_start(RpcServer *s) {
        int r;

        if (s->state != SERVER_NEW)
                return -EBUSY;

        r = health_service_attach(s);
        if (r < 0)
                return r;
        r = reflection_service_attach(s);
        if (r < 0)
                return r;
        r = server_collect_services(s);
        if (r < 0)
                return r;

        grpc_server_start(s->server);
        s->state = SERVER_RUNNING;

        for (unsigned i = 0; i < PENDING_REQUESTS; i++) {
                r = server_request_call(s);
                if (r < 0)
                        return r;
        }

        r = thread_start(&s->cq_thread, server_cq_thread, s);
        if (r < 0)
                return r;
        s->cq_thread_started = true;
        return 0;
}

bool rpc_server_is_shutting_down(RpcServer *s) {
        bool r;

        pthread_mutex_lock(&s->lock);
        r = s->state >= SERVER_SHUTTING_DOWN;
        pthread_mutex_unlock(&s->lock);
        return r;
}

char **rpc_server_services(RpcServer *s) {
        return s->services;
}

unsigned rpc_server_live_calls(RpcServer *s) {
        return atomic_load(&s->live_calls);
}

/* Waits for the shutdown notification; false on timeout. Lock held. */
static bool server_wait_notified_locked(RpcServer *s, int64_t timeout_ms) {
        struct timespec until = timespec_after_ms(timeout_ms);

        if (timeout_ms < 0) {
                while (!s->shutdown_notified)
                        pthread_cond_wait(&s->cond, &s->lock);
                return true;
        }
        while (!s->shutdown_notified)
                if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT)
                        break;
        return s->shutdown_notified;
}

int rpc_server_shutdown(RpcServer *s, int64_t grace_ms) {
        struct timespec until;
        bool done;

        pthread_mutex_lock(&s->lock);
        if (s->state != SERVER_RUNNING) {
                pthread_mutex_unlock(&s->lock);
                return 0;
        }
        s->state = SERVER_SHUTTING_DOWN;
        pthread_mutex_unlock(&s->lock);

        for (size_t i = 0; i < s->n_hooks; i++)
                if (s->hooks[i].shutdown)
                        s->hooks[i].shutdown(s, s->hooks[i].userdata);

        grpc_server_shutdown_and_notify(s->server, s->cq, &s->tag_shutdown);

        pthread_mutex_lock(&s->lock);
        done = server_wait_notified_locked(s, MAX(grace_ms, 0));
        pthread_mutex_unlock(&s->lock);

        if (!done) {
                /* Cancelled calls complete their ops with failure, stream
                 * owners get their on-cancel callbacks, and blocking
                 * handlers see rpc_call_is_cancelled() when they return. */
                grpc_server_cancel_all_calls(s->server);
        }

        /* gRPC may be done with a cancelled call while a handler still
         * holds it (a stream finishing from a timer): no call may start a
         * batch once the queue is shut down, so wait for the last one. A
         * handler that ignores the cancellation gets RPC_SHUTDOWN_HARD_MS;
         * then the server is abandoned as it is, for the process to exit. */
        until = timespec_after_ms(RPC_SHUTDOWN_HARD_MS);
        pthread_mutex_lock(&s->lock);
        while (!s->shutdown_notified || atomic_load(&s->live_calls) > 0)
                if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT)
                        break;
        if (!s->shutdown_notified || atomic_load(&s->live_calls) > 0) {
                s->abandoned = true;
                pthread_mutex_unlock(&s->lock);
                return -ETIMEDOUT;
        }
        pthread_mutex_unlock(&s->lock);

        /* Every handler invocation has finished (its call is gone); the
         * pool is idle. */
        s->pool = workpool_free(s->pool);
        s->slow_pool = workpool_free(s->slow_pool);

        grpc_completion_queue_shutdown(s->cq);
        if (s->cq_thread_started) {
                pthread_join(s->cq_thread, NULL);
                s->cq_thread_started = false;
        }

        pthread_mutex_lock(&s->lock);
        s->state = SERVER_STOPPED;
        pthread_mutex_unlock(&s->lock);
        return 0;
}

RpcServer *rpc_server_free(RpcServer *s) {
        if (!s)
                return NULL;
        if (s->state == SERVER_RUNNING)
                (void) rpc_server_shutdown(s, 0);
        /* Handlers still hold it: freeing would pull it from under them. */
        if (s->abandoned)
                return NULL;

        if (s->server) {
                if (s->state == SERVER_NEW) {
                        /* Never started: nothing in flight, but gRPC still
                         * wants the shutdown before destroy. */
                        grpc_server_shutdown_and_notify(s->server, s->cq, &s->tag_shutdown);
                        grpc_completion_queue_shutdown(s->cq);
                        while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                          NULL).type != GRPC_QUEUE_SHUTDOWN)
                                ;
                }
                grpc_server_destroy(s->server);
        }
        if (s->cq)
                grpc_completion_queue_destroy(s->cq);
        if (s->grpc_initialized)
                rpc_shutdown();

        for (size_t i = 0; i < s->n_hooks; i++)
                if (s->hooks[i].destroy)
                        s->hooks[i].destroy(s->hooks[i].userdata);
        free(s->hooks);

        workpool_free(s->pool);
        workpool_free(s->slow_pool);
        for (size_t i = 0; i < s->n_lock_fds; i++) {
                (void) unlink(s->lock_paths[i]);
                (void) close(s->lock_fds[i]);
        }
        free(s->lock_fds);
        strv_free(s->lock_paths);
        free(s->methods);
        strv_free(s->services);
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
}
