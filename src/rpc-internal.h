/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Shared by rpc.c, rpc-server.c and rpc-client.c only: the bridge between
 * protobuf-c messages and gRPC byte buffers, and small gRPC helpers. No other
 * file may include this header (it pulls in gRPC).
 */

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "rpc.h"

/* Every completion-queue tag points at one of these. */
typedef enum RpcTagKind {
        RPC_TAG_NEW_CALL,
        RPC_TAG_RECV,
        RPC_TAG_SEND,
        RPC_TAG_CLOSE,
        RPC_TAG_SERVER_SHUTDOWN,
        _RPC_TAG_KIND_MAX,
        _RPC_TAG_KIND_INVALID = -EINVAL,
} RpcTagKind;

typedef struct RpcTag {
        RpcTagKind kind;
        void *owner;
} RpcTag;

/**
 * rpc_pack() - serialise @m into a new byte buffer (one copy)
 * Return: 0 and the buffer in *ret (caller destroys it after its batch
 * completed), or -ENOMEM.
 */
int rpc_pack(const ProtobufCMessage *m, grpc_byte_buffer **ret);

/**
 * rpc_unpack() - parse a received byte buffer as a message of type @d
 * Return: 0 and the message (free with pb_free()), -EBADMSG when the bytes
 * are not a valid @d, -EILSEQ when a string field is not UTF-8, -ENOMEM.
 */
int rpc_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d, ProtobufCMessage **ret);

/* A deadline @ms milliseconds from now on the monotonic clock; < 0: none. */
gpr_timespec rpc_deadline_ms(int64_t ms);

/* Milliseconds until @deadline (clamped to 0), INT64_MAX for infinity. */
int64_t rpc_deadline_remaining_ms(gpr_timespec deadline);

/* A NUL-terminated copy of a slice (NULL on allocation failure). */
char *rpc_slice_to_string(grpc_slice s);

/* Channel argument helpers for the few arguments we set. */
static inline grpc_arg rpc_arg_int(const char *key, int value) {
        return (grpc_arg) { .type = GRPC_ARG_INTEGER, .key = (char *) key, .value.integer = value };
}
static inline grpc_arg rpc_arg_string(const char *key, const char *value) {
        return (grpc_arg) { .type = GRPC_ARG_STRING, .key = (char *) key, .value.string = (char *) value };
}

DEFINE_TRIVIAL_CLEANUP_FUNC(grpc_byte_buffer *, grpc_byte_buffer_destroy);
