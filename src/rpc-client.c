/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blocking client calls on gRPC core. Each call gets its own "pluck"
 * completion queue, so any number of threads can make calls on one channel
 * without a shared event loop, and each waits only for its own tags. Every
 * batch that starts completes exactly once; a call is torn down only after
 * all of its batches were plucked.
 */

#include <grpc/status.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "rpc-client.h"
#include "rpc-internal.h"

/* Reconnect quickly: a client racing its server's start-up connects within
 * about 100 ms of the server being ready. MIN_RECONNECT_BACKOFF is not
 * touched: gRPC also uses it as the connect timeout (20 s). */
#define INITIAL_RECONNECT_BACKOFF_MS 20
#define MAX_RECONNECT_BACKOFF_MS 100
/* grpc-go servers (upstream agents) answer pings more frequent than every
 * 5 minutes with GOAWAY "too_many_pings": stay at their minimum. */
#define KEEPALIVE_TIME_MS (5 * 60 * 1000)
#define KEEPALIVE_TIMEOUT_MS 20000

struct RpcChannel {
        grpc_channel *channel;
        char *target;
        bool grpc_initialized;
};

int rpc_channel_new(RpcChannel **ret, const Address *address, const char *tls_name,
                    const TlsCredentials *tls, const RpcChannelOptions *options) {
        _cleanup_(rpc_channel_freep) RpcChannel *c = NULL;
        grpc_channel_credentials *creds;
        grpc_arg args[6];
        grpc_channel_args channel_args = { .args = args };

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->target = address_to_string(address);
        if (!c->target)
                return -ENOMEM;

        args[channel_args.num_args++] = rpc_arg_int(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                                                    INITIAL_RECONNECT_BACKOFF_MS);
        args[channel_args.num_args++] = rpc_arg_int(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                                                    MAX_RECONNECT_BACKOFF_MS);
        args[channel_args.num_args++] = rpc_arg_int(GRPC_ARG_KEEPALIVE_TIME_MS, KEEPALIVE_TIME_MS);
        args[channel_args.num_args++] = rpc_arg_int(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, KEEPALIVE_TIMEOUT_MS);
        if (options && options->private_connection)
                args[channel_args.num_args++] = rpc_arg_int(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        /* The server's certificate is checked against this name, whatever
         * address we connect to (upstream's TransportConfig.Name). */
        if (tls)
                args[channel_args.num_args++] =
                        rpc_arg_string(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG,
                                       tls_name ?: address_default_tls_name(address));

        rpc_init();
        c->grpc_initialized = true;

        if (tls) {
                grpc_ssl_pem_key_cert_pair pair = {
                        .private_key = tls->key_pem,
                        .cert_chain = tls->cert_pem,
                };
                creds = grpc_ssl_credentials_create_ex(tls->ca_pem, &pair, NULL, NULL);
        } else
                creds = grpc_insecure_credentials_create();
        if (!creds)
                return -ENOMEM;

        /* Never NULL: a bad target yields a channel whose calls fail. */
        c->channel = grpc_channel_create(c->target, creds, &channel_args);
        grpc_channel_credentials_release(creds);

        *ret = TAKE_PTR(c);
        return 0;
}

RpcChannel *rpc_channel_free(RpcChannel *c) {
        if (!c)
                return NULL;
        if (c->channel)
                grpc_channel_destroy(c->channel);
        if (c->grpc_initialized)
                rpc_shutdown();
        free(c->target);
        free(c);
        return NULL;
}

const char *rpc_channel_target(RpcChannel *c) {
        return c->target;
}

static uint32_t initial_metadata_flags(RpcCallFlags flags) {
        if (flags & RPC_CALL_WAIT_FOR_READY)
                return GRPC_INITIAL_METADATA_WAIT_FOR_READY |
                       GRPC_INITIAL_METADATA_WAIT_FOR_READY_EXPLICITLY_SET;
        return 0;
}

static grpc_call *channel_create_call(RpcChannel *c, grpc_completion_queue *cq, const char *method,
                                      int64_t timeout_ms) {
        grpc_slice path = grpc_slice_from_copied_string(method);
        grpc_call *call;

        call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, path, NULL,
                                        rpc_deadline_ms(timeout_ms), NULL);
        grpc_slice_unref(path);
        return call;
}

/* Turns what RECV_STATUS_ON_CLIENT delivered into our result. */
static int status_result(grpc_status_code code, grpc_slice details, RpcStatus *ret_status) {
        if (ret_status) {
                _cleanup_free_ char *text = rpc_slice_to_string(details);

                if (isempty(text))
                        rpc_status_set(ret_status, (RpcStatusCode) code, "%s",
                                       strna(rpc_status_code_to_string((RpcStatusCode) code)));
                else
                        rpc_status_set(ret_status, (RpcStatusCode) code, "%s", text);
        }
        return code == GRPC_STATUS_OK ? 0 : -EREMOTEIO;
}

static int local_failure(RpcStatus *ret_status, int r, const char *what) {
        if (ret_status)
                rpc_status_set(ret_status, RPC_INTERNAL, "%s: %s", what, strerror(-r));
        return r;
}

/*
 * Waiting for a reply. On VMs a wake-up of a thread on another CPU costs tens
 * of microseconds, and a round trip has two of them, which dominates local
 * calls. A caller whose recent replies came back quickly therefore polls for
 * up to SPIN_US before it sleeps, yielding the CPU between polls so runnable
 * threads are not starved. Only one thread in the process spins at a time,
 * and a thread whose replies are slow (busy server, remote VM) does not spin:
 * its average reply time (a moving average per thread) is over the window.
 */
#define SPIN_US 100

static grpc_event pluck_reply(grpc_completion_queue *cq, RpcTag *tag) {
        static atomic_bool someone_spinning = false;
        static __thread int64_t average_us = 0;
        gpr_timespec start = gpr_now(GPR_CLOCK_MONOTONIC), took;
        grpc_event ev = { .type = GRPC_QUEUE_TIMEOUT };
        bool expected = false;

        if (average_us < SPIN_US && atomic_compare_exchange_strong(&someone_spinning, &expected, true)) {
                gpr_timespec until = gpr_time_add(start, gpr_time_from_micros(SPIN_US, GPR_TIMESPAN));

                for (;;) {
                        ev = grpc_completion_queue_pluck(cq, tag, gpr_time_0(GPR_CLOCK_MONOTONIC), NULL);
                        if (ev.type != GRPC_QUEUE_TIMEOUT ||
                            gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), until) >= 0)
                                break;
                        sched_yield();
                }
                atomic_store(&someone_spinning, false);
        }

        /* The call's deadline bounds this wait. */
        if (ev.type == GRPC_QUEUE_TIMEOUT)
                ev = grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

        took = gpr_time_sub(gpr_now(GPR_CLOCK_MONOTONIC), start);
        average_us = (7 * average_us + took.tv_sec * 1000000 + took.tv_nsec / 1000) / 8;
        return ev;
}

static void cq_destroy(grpc_completion_queue *cq) {
        /* Every tag was plucked: shutting down completes at once. */
        grpc_completion_queue_shutdown(cq);
        grpc_completion_queue_destroy(cq);
}

int rpc_channel_call(RpcChannel *c, const char *method, const ProtobufCMessage *request,
                     const ProtobufCMessageDescriptor *response_type, int64_t timeout_ms, RpcCallFlags flags,
                     ProtobufCMessage **ret_response, RpcStatus *ret_status) {
        _cleanup_(grpc_byte_buffer_destroyp) grpc_byte_buffer *send_bb = NULL, *recv_bb = NULL;
        grpc_metadata_array initial_md, trailing_md;
        grpc_status_code code = GRPC_STATUS_UNKNOWN;
        grpc_slice details = grpc_empty_slice();
        const char *error_string = NULL;
        grpc_completion_queue *cq;
        grpc_call *call;
        grpc_op ops[6] = {};
        grpc_event ev;
        RpcTag tag = { RPC_TAG_RECV, NULL };
        int r;

        if (timeout_ms <= 0)
                return local_failure(ret_status, -EINVAL, "a call needs a timeout");

        r = rpc_pack(request, &send_bb);
        if (r < 0)
                return local_failure(ret_status, r, "cannot pack the request");

        cq = grpc_completion_queue_create_for_pluck(NULL);
        call = channel_create_call(c, cq, method, timeout_ms);
        if (!call) {
                cq_destroy(cq);
                return local_failure(ret_status, -ENOMEM, "cannot create the call");
        }

        grpc_metadata_array_init(&initial_md);
        grpc_metadata_array_init(&trailing_md);
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[0].flags = initial_metadata_flags(flags);
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = send_bb;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
        ops[4].op = GRPC_OP_RECV_MESSAGE;
        ops[4].data.recv_message.recv_message = &recv_bb;
        ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
        ops[5].data.recv_status_on_client.status = &code;
        ops[5].data.recv_status_on_client.status_details = &details;
        ops[5].data.recv_status_on_client.error_string = &error_string;

        if (grpc_call_start_batch(call, ops, ELEMENTSOF(ops), &tag, NULL) != GRPC_CALL_OK)
                r = local_failure(ret_status, -EIO, "cannot start the call");
        else {
                ev = pluck_reply(cq, &tag);
                if (ev.type != GRPC_OP_COMPLETE)
                        r = local_failure(ret_status, -EIO, "the call did not complete");
                else {
                        r = status_result(code, details, ret_status);
                        if (r >= 0) {
                                ProtobufCMessage *m = NULL;

                                if (!recv_bb)
                                        r = -EBADMSG;
                                else
                                        r = rpc_unpack(recv_bb, response_type, &m);
                                if (r < 0)
                                        (void) local_failure(ret_status, r,
                                                             "the response cannot be decoded");
                                else
                                        *ret_response = m;
                        }
                }
        }

        grpc_slice_unref(details);
        gpr_free((void *) error_string);
        grpc_metadata_array_destroy(&initial_md);
        grpc_metadata_array_destroy(&trailing_md);
        grpc_call_unref(call);
        cq_destroy(cq);
        return r;
}

/* ---- streams ---- */

struct RpcStream {
        grpc_call *call;
        grpc_completion_queue *cq;
        RpcTag tag_send, tag_recv, tag_status;

        /* Sending side (one thread). */
        bool send_pending, send_failed;
        grpc_byte_buffer *send_bb;

        /* Receiving side (one thread). */
        bool recv_pending, initial_md_requested;
        grpc_metadata_array initial_md;
        grpc_byte_buffer *recv_bb;

        /* Status: received by whoever finds the end first. */
        pthread_mutex_t lock;
        bool status_pending, status_done;
        grpc_metadata_array trailing_md;
        grpc_status_code code;
        grpc_slice details;
        const char *error_string;
        RpcStatus status;
};

static bool stream_pluck(RpcStream *s, RpcTag *tag, int64_t timeout_ms) {
        grpc_event ev;

        ev = grpc_completion_queue_pluck(s->cq, tag, rpc_deadline_ms(timeout_ms), NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT)
                return false;
        return true;
}

/* Waits for the call's status and records it. */
static void stream_finish_status(RpcStream *s) {
        pthread_mutex_lock(&s->lock);
        if (s->status_pending) {
                (void) stream_pluck(s, &s->tag_status, -1);
                s->status_pending = false;
                s->status_done = true;
                (void) status_result(s->code, s->details, &s->status);
        }
        pthread_mutex_unlock(&s->lock);
}

int rpc_channel_open_stream(RpcChannel *c, const char *method, const ProtobufCMessage *request,
                            int64_t timeout_ms, RpcCallFlags flags, RpcStream **ret) {
        _cleanup_(rpc_stream_freep) RpcStream *s = NULL;
        grpc_op ops[3] = {};
        grpc_op status_op = { .op = GRPC_OP_RECV_STATUS_ON_CLIENT };
        size_t n = 0;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->tag_send = (RpcTag) { RPC_TAG_SEND, s };
        s->tag_recv = (RpcTag) { RPC_TAG_RECV, s };
        s->tag_status = (RpcTag) { RPC_TAG_CLOSE, s };
        s->details = grpc_empty_slice();
        pthread_mutex_init(&s->lock, NULL);
        grpc_metadata_array_init(&s->initial_md);
        grpc_metadata_array_init(&s->trailing_md);

        s->cq = grpc_completion_queue_create_for_pluck(NULL);
        s->call = channel_create_call(c, s->cq, method, timeout_ms);
        if (!s->call)
                return -ENOMEM;

        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n++].flags = initial_metadata_flags(flags);
        if (request) {
                r = rpc_pack(request, &s->send_bb);
                if (r < 0)
                        return r;
                ops[n].op = GRPC_OP_SEND_MESSAGE;
                ops[n++].data.send_message.send_message = s->send_bb;
                ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        }
        if (grpc_call_start_batch(s->call, ops, n, &s->tag_send, NULL) != GRPC_CALL_OK)
                return -EIO;
        s->send_pending = true;

        status_op.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
        status_op.data.recv_status_on_client.status = &s->code;
        status_op.data.recv_status_on_client.status_details = &s->details;
        status_op.data.recv_status_on_client.error_string = &s->error_string;
        if (grpc_call_start_batch(s->call, &status_op, 1, &s->tag_status, NULL) != GRPC_CALL_OK)
                return -EIO;
        s->status_pending = true;

        *ret = TAKE_PTR(s);
        return 0;
}

int rpc_stream_read(RpcStream *s, const ProtobufCMessageDescriptor *type, int64_t timeout_ms,
                    ProtobufCMessage **ret) {
        _cleanup_(grpc_byte_buffer_destroyp) grpc_byte_buffer *bb = NULL;
        int r;

        if (!s->recv_pending) {
                grpc_op ops[2] = {};
                size_t n = 0;

                if (s->status_done)
                        return s->status.code == RPC_OK ? 0 : -EREMOTEIO;
                if (!s->initial_md_requested) {
                        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
                        ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
                }
                ops[n].op = GRPC_OP_RECV_MESSAGE;
                ops[n++].data.recv_message.recv_message = &s->recv_bb;
                if (grpc_call_start_batch(s->call, ops, n, &s->tag_recv, NULL) != GRPC_CALL_OK)
                        return -EIO;
                s->initial_md_requested = true;
                s->recv_pending = true;
        }

        if (!stream_pluck(s, &s->tag_recv, timeout_ms))
                return -ETIME;
        s->recv_pending = false;

        bb = TAKE_PTR(s->recv_bb);
        if (!bb) {
                /* End of the stream: the status says how it ended. */
                stream_finish_status(s);
                return s->status.code == RPC_OK ? 0 : -EREMOTEIO;
        }

        r = rpc_unpack(bb, type, ret);
        if (r < 0) {
                grpc_call_cancel_with_status(s->call, GRPC_STATUS_INTERNAL,
                                             "undecodable message from the server", NULL);
                return r;
        }
        return 1;
}

/* Waits for the previous send batch; false when it failed (call over). */
static bool stream_wait_send(RpcStream *s) {
        if (s->send_pending) {
                grpc_event ev = grpc_completion_queue_pluck(s->cq, &s->tag_send,
                                                            gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
                s->send_pending = false;
                if (!ev.success)
                        s->send_failed = true;
                if (s->send_bb)
                        grpc_byte_buffer_destroy(TAKE_PTR(s->send_bb));
        }
        return !s->send_failed;
}

int rpc_stream_write(RpcStream *s, const ProtobufCMessage *message) {
        grpc_op op = { .op = GRPC_OP_SEND_MESSAGE };
        int r;

        if (!stream_wait_send(s))
                return -ECANCELED;
        r = rpc_pack(message, &s->send_bb);
        if (r < 0)
                return r;
        op.data.send_message.send_message = s->send_bb;
        if (grpc_call_start_batch(s->call, &op, 1, &s->tag_send, NULL) != GRPC_CALL_OK) {
                grpc_byte_buffer_destroy(TAKE_PTR(s->send_bb));
                return -ECANCELED;
        }
        s->send_pending = true;
        return 0;
}

int rpc_stream_close_send(RpcStream *s) {
        grpc_op op = { .op = GRPC_OP_SEND_CLOSE_FROM_CLIENT };

        if (!stream_wait_send(s))
                return -ECANCELED;
        if (grpc_call_start_batch(s->call, &op, 1, &s->tag_send, NULL) != GRPC_CALL_OK)
                return -ECANCELED;
        s->send_pending = true;
        return 0;
}

void rpc_stream_cancel(RpcStream *s) {
        grpc_call_cancel(s->call, NULL);
}

const RpcStatus *rpc_stream_status(RpcStream *s) {
        return &s->status;
}

RpcStream *rpc_stream_free(RpcStream *s) {
        if (!s)
                return NULL;

        if (s->call) {
                /* A running call ends now; then every batch completes. */
                if (!s->status_done)
                        grpc_call_cancel(s->call, NULL);
                (void) stream_wait_send(s);
                if (s->recv_pending) {
                        (void) stream_pluck(s, &s->tag_recv, -1);
                        s->recv_pending = false;
                }
                stream_finish_status(s);
                grpc_call_unref(s->call);
        }
        if (s->cq)
                cq_destroy(s->cq);

        if (s->send_bb)
                grpc_byte_buffer_destroy(s->send_bb);
        if (s->recv_bb)
                grpc_byte_buffer_destroy(s->recv_bb);
        grpc_metadata_array_destroy(&s->initial_md);
        grpc_metadata_array_destroy(&s->trailing_md);
        grpc_slice_unref(s->details);
        gpr_free((void *) s->error_string);
        rpc_status_done(&s->status);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
}
