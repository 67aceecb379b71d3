/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The client side of the transport: channels to TCP, unix and unix-abstract
 * targets, with mutual TLS or (only when asked) plaintext, and blocking
 * unary, server-streaming and bidi calls. Every call has a deadline.
 *
 * A channel is thread-safe and cheap to share; connections are made lazily
 * and re-made after a failure with a short backoff (20 ms, growing to at most
 * 100 ms), so a client that started just before its server connects soon
 * after the server is up. A call fails at once with UNAVAILABLE when the
 * server cannot be reached, unless RPC_CALL_WAIT_FOR_READY asks it to wait
 * (up to its deadline) for the server to come up.
 *
 * Results: 0 when the call ended with status OK. A call that reached the
 * server and ended with another status returns -EREMOTEIO, with the code and
 * the server's message in *ret_status. Local failures return other negative
 * errno values and also describe themselves in *ret_status.
 */

#include <stdbool.h>
#include <stdint.h>

#include "address.h"
#include "rpc.h"
#include "tls.h"

typedef struct RpcChannel RpcChannel;
typedef struct RpcStream RpcStream;

typedef enum RpcCallFlags {
        RPC_CALL_WAIT_FOR_READY = 1 << 0, /* wait for the server to come up instead of failing */
} RpcCallFlags;

typedef struct RpcChannelOptions {
        /* Own TCP/TLS connection instead of sharing one with every channel
         * to the same target in the process (benchmarks, isolation). */
        bool private_connection;
} RpcChannelOptions;

/**
 * rpc_channel_new() - a channel to @address
 * @tls_name: the name the server's certificate must carry (a SAN); NULL for
 *            the address's default (its host, or "localhost" for sockets).
 *            upstream's TransportConfig.Name.
 * @tls: this side's credentials, or NULL for plaintext
 * @options: NULL for defaults
 *
 * Nothing is connected yet. Return: 0, -ENOMEM.
 */
int rpc_channel_new(RpcChannel **ret, const Address *address, const char *tls_name,
                    const TlsCredentials *tls, const RpcChannelOptions *options);
RpcChannel *rpc_channel_free(RpcChannel *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(RpcChannel *, rpc_channel_free);

/* "127.0.0.1:9000" and the like, for messages. */
const char *rpc_channel_target(RpcChannel *c);

/**
 * rpc_channel_call() - a unary call
 * @method: "/package.Service/Method"
 * @response_type: what to unpack the response as
 * @timeout_ms: deadline, from now (must be > 0)
 * @ret_response: the response on success (free with pb_free())
 * @ret_status: the outcome (free with rpc_status_done()); may be NULL
 */
int rpc_channel_call(RpcChannel *c, const char *method, const ProtobufCMessage *request,
                     const ProtobufCMessageDescriptor *response_type, int64_t timeout_ms, RpcCallFlags flags,
                     ProtobufCMessage **ret_response, RpcStatus *ret_status);

/**
 * rpc_channel_open_stream() - start a streaming call
 * @request: for a server-streaming method, the one request (sent, and the
 *           sending side closed); NULL for a bidi method (use
 *           rpc_stream_write() and rpc_stream_close_send())
 * @timeout_ms: deadline of the whole call, from now; < 0 for none (a stream
 *              that may last as long as the process, like Watch)
 */
int rpc_channel_open_stream(RpcChannel *c, const char *method, const ProtobufCMessage *request,
                            int64_t timeout_ms, RpcCallFlags flags, RpcStream **ret);

/**
 * rpc_stream_read() - wait for the next message
 * @timeout_ms: how long to wait this time; < 0: until the call's deadline.
 *              A timeout leaves the stream intact; read again later.
 *
 * Return: 1 and a message in *ret (free with pb_free()); 0 when the stream
 * ended with OK; -EREMOTEIO when it ended with another status (see
 * rpc_stream_status()); -ETIME on timeout; -EBADMSG when the message could
 * not be decoded (the call is then cancelled); other negative errno.
 */
int rpc_stream_read(RpcStream *s, const ProtobufCMessageDescriptor *type, int64_t timeout_ms,
                    ProtobufCMessage **ret);

/* Send one message on a bidi stream. Return: 0, -ECANCELED when the call is over. */
int rpc_stream_write(RpcStream *s, const ProtobufCMessage *message);

/* Tell the server this side has no more messages. */
int rpc_stream_close_send(RpcStream *s);

/* Ends the call; safe from any thread, also while another thread reads. */
void rpc_stream_cancel(RpcStream *s);

/* The final status, once rpc_stream_read() returned 0 or -EREMOTEIO. */
const RpcStatus *rpc_stream_status(RpcStream *s);

/* Cancels the call if it is still running, then frees it. */
RpcStream *rpc_stream_free(RpcStream *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(RpcStream *, rpc_stream_free);
