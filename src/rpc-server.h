/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A gRPC server for protobuf-c services.
 *
 * Services are static method tables. One thread drives gRPC's completion
 * queue and never blocks; a handler runs either on that thread
 * (RPC_METHOD_INLINE: it must not block) or on a bounded worker pool, where
 * it may wait for D-Bus or an outbound RPC without holding up other calls.
 * Handlers that may wait for seconds (RPC_METHOD_SLOW: a VM boot, a job)
 * have a pool of their own, so that a few of them cannot take every worker
 * from quick calls.
 *
 * Every call is an RpcCall that lives until both gRPC and the handler are
 * done with it. The handler side owns one reference from the moment the
 * handler is first invoked, and gives it back with exactly one of
 * rpc_call_reply(), rpc_call_fail() or rpc_call_finish(); afterwards the
 * pointer must not be used. Those functions, and rpc_call_send(), may be
 * called from any thread at any time, also after the client went away (they
 * then do nothing and report -ECANCELED where they return a value).
 *
 * The request message passed to a handler belongs to the server and is
 * freed when the handler returns.
 *
 * Every server also answers grpc.health.v1.Health and server reflection
 * (grpc.reflection.v1 and v1alpha) for the services added to it.
 */

#include <stdbool.h>
#include <stdint.h>

#include "address.h"
#include "rpc.h"
#include "tls.h"

typedef struct RpcServer RpcServer;
typedef struct RpcCall RpcCall;

typedef enum RpcMethodKind {
        RPC_UNARY,         /* one request, one response */
        RPC_SERVER_STREAM, /* one request, any number of responses */
        RPC_BIDI_STREAM,   /* messages both ways, independently */
        _RPC_METHOD_KIND_MAX,
        _RPC_METHOD_KIND_INVALID = -EINVAL,
} RpcMethodKind;

typedef enum RpcMethodFlags {
        RPC_METHOD_INLINE = 1 << 0, /* the handler never blocks: run it on the completion-queue thread */
        RPC_METHOD_SLOW = 1 << 1,   /* the handler may wait for seconds: run it on the pool for those */
} RpcMethodFlags;

/*
 * Unary and server-streaming handlers are invoked once, with the request.
 * Bidi handlers are invoked once per received message, in order and never
 * concurrently, and once more with request == NULL when the client has
 * finished sending (or the call broke); the handler reference is held from
 * the first invocation until the handler side finishes the call.
 */
typedef void (*RpcHandler)(RpcCall *call, const ProtobufCMessage *request, void *userdata);

typedef struct RpcMethod {
        const char *path; /* "/package.Service/Method" */
        const ProtobufCMessageDescriptor *request;
        const ProtobufCMessageDescriptor *response;
        RpcMethodKind kind;
        RpcMethodFlags flags;
        RpcHandler handler;
} RpcMethod;

/* What became of a call, for a log line. */
typedef struct RpcCallSummary {
        const char *method;      /* "/package.Service/Method" as the client asked */
        const char *peer;        /* gRPC's name of the peer ("ipv4:127.0.0.1:40312") */
        bool answered;           /* a status was sent (else the call was cancelled or broke) */
        RpcStatusCode code;      /* that status */
        uint64_t duration_usec;  /* from its arrival to its end */
} RpcCallSummary;

typedef struct RpcServerOptions {
        unsigned max_workers;      /* worker threads for blocking handlers, in each pool; 0: default (8) */
        size_t max_queued;         /* calls waiting for a worker before RESOURCE_EXHAUSTED; 0: 256 */
        size_t max_send_queue;     /* messages queued per streaming call before -ENOBUFS; 0: 1024 */
        /* Called once a call is over, on any thread; must not block. NULL: nothing. */
        void (*on_call_end)(const RpcCallSummary *summary, void *userdata);
        void *userdata;
} RpcServerOptions;

int rpc_server_new(RpcServer **ret, const RpcServerOptions *options);

/**
 * rpc_server_add_methods() - serve @n methods from the static table @methods
 * @userdata: passed to each of their handlers
 *
 * Only before rpc_server_start(). The table must outlive the server.
 * Return: 0, -EEXIST when a path is served already, -EINVAL for a malformed
 * path, -EBUSY once started, -ENOMEM.
 */
int rpc_server_add_methods(RpcServer *s, const RpcMethod *methods, size_t n, void *userdata);

/**
 * rpc_server_add_listener() - listen on @address with mutual TLS, or in
 * plaintext when @tls is NULL
 * @ret_error: on failure, a malloc'd sentence naming the address and why
 *
 * A server with TLS requires every client to present a certificate issued by
 * @tls's CA. The address must be free: a TCP port another socket listens on
 * (SO_REUSEPORT is off), a unix socket path another server holds (guarded by
 * a lock file "PATH.lock") or a taken abstract name all fail with
 * -EADDRINUSE instead of sharing or stealing the address.
 * For TCP port 0, the port chosen by the kernel is stored in @address->port.
 *
 * Only before rpc_server_start().
 */
int rpc_server_add_listener(RpcServer *s, Address *address, const TlsCredentials *tls, char **ret_error);

/*
 * Hooks run when rpc_server_shutdown() begins, before gRPC stops taking
 * calls: the place to end streams that would otherwise wait forever (Watch).
 */
typedef void (*RpcShutdownHook)(RpcServer *s, void *userdata);
int rpc_server_add_shutdown_hook(RpcServer *s, RpcShutdownHook hook, void *userdata);

/* The same, plus @destroy(@userdata) when the server is freed (either may be NULL). */
int rpc_server_add_hooks(RpcServer *s, RpcShutdownHook shutdown, void (*destroy)(void *userdata),
                         void *userdata);

/* Starts serving (adds the health and reflection services first). */
int rpc_server_start(RpcServer *s);

/* After the grace period and the cancellation, how long handlers get to let go of their calls. */
#define RPC_SHUTDOWN_HARD_MS 5000

/**
 * rpc_server_shutdown() - stop taking calls, let running calls finish for up
 * to @grace_ms, then cancel what is left and wait up to RPC_SHUTDOWN_HARD_MS
 * for the handlers to let go of their calls. Blocks; must not be called from
 * a handler.
 *
 * Return: 0; -ETIMEDOUT when handlers still hold calls: the server is then
 * abandoned (rpc_server_free() leaves it), and the process should exit.
 */
int rpc_server_shutdown(RpcServer *s, int64_t grace_ms);

/* Shuts down (with no grace) if still running, then frees. Returns NULL. */
RpcServer *rpc_server_free(RpcServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(RpcServer *, rpc_server_free);

bool rpc_server_is_shutting_down(RpcServer *s);

/* Service names served ("admin.AdminService", …), NULL-terminated, sorted. */
char **rpc_server_services(RpcServer *s);

/* Number of calls alive (for tests and diagnostics). */
unsigned rpc_server_live_calls(RpcServer *s);

/* ---- the call, for handlers ---- */

/* Send the response and status OK (unary). Gives up the handler reference. */
int rpc_call_reply(RpcCall *call, const ProtobufCMessage *response);

/* End the call with a status other than OK. Gives up the handler reference. */
int rpc_call_fail(RpcCall *call, RpcStatusCode code, const char *format, ...) _printf_(3, 4);

/* End a stream with @code (RPC_OK for a normal end) and an optional message.
 * Gives up the handler reference. */
int rpc_call_finish(RpcCall *call, RpcStatusCode code, const char *message);

/**
 * rpc_call_send() - queue one message on a streaming call
 *
 * Messages go out in order, one in flight at a time.
 * Return: 0; -ECANCELED when the call is over (client gone, deadline,
 * shutdown, or already finished); -ENOBUFS when max_send_queue messages are
 * waiting already (the peer does not keep up; the message was dropped);
 * -ENOMEM.
 */
int rpc_call_send(RpcCall *call, const ProtobufCMessage *message);

/**
 * rpc_call_on_cancel() - have @fn(@call, @userdata) run once, on the
 * completion-queue thread, if the call ends before the handler side
 * finished it: the client cancelled or disconnected, the deadline passed, or
 * the server is shutting down. The handler side must still finish the call;
 * the callback and a concurrent finish are the handler side's to order (the
 * call itself stays valid during the callback).
 * If the call is over already, @fn runs right away on the caller's thread.
 */
void rpc_call_on_cancel(RpcCall *call, void (*fn)(RpcCall *call, void *userdata), void *userdata);

bool rpc_call_is_cancelled(RpcCall *call);

/* Milliseconds left before the client's deadline; INT64_MAX when it has none. */
int64_t rpc_call_deadline_remaining_ms(RpcCall *call);

/* "/package.Service/Method" */
const char *rpc_call_method_path(RpcCall *call);

/* The server the call came in on. */
RpcServer *rpc_call_server(RpcCall *call);

/**
 * rpc_call_peer_identity() - the identity in the client's TLS certificate
 *
 * Parsed once per call, on first use. The identity belongs to the call.
 * Return: 0; -ENOKEY when the call came over plaintext (no certificate);
 * -EBADMSG, -ENOMEM.
 */
int rpc_call_peer_identity(RpcCall *call, const PeerIdentity **ret);

/* The peer's address as gRPC reports it ("ipv4:127.0.0.1:40000",
 * "unix:"); malloc'd, NULL on allocation failure. */
char *rpc_call_peer_address(RpcCall *call);

/* Extra references, for handler code that hands the call around. */
RpcCall *rpc_call_ref(RpcCall *call);
RpcCall *rpc_call_unref(RpcCall *call);
