/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The transport layer shared by every role: gRPC core (C API) carrying
 * protobuf-c messages. rpc.c, rpc-server.c and rpc-client.c are the only
 * files that include gRPC headers; everything else sees the types below.
 *
 * Errors come in two domains that are never mixed: functions return 0 or a
 * negative errno for local failures, and the gRPC status of a call (a
 * positive code with a message for people) travels in an RpcStatus.
 */

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"
#include "pb.h"

/* The gRPC status codes, numerically identical to grpc_status_code. */
typedef enum RpcStatusCode {
        RPC_OK = 0,
        RPC_CANCELLED = 1,
        RPC_UNKNOWN = 2,
        RPC_INVALID_ARGUMENT = 3,
        RPC_DEADLINE_EXCEEDED = 4,
        RPC_NOT_FOUND = 5,
        RPC_ALREADY_EXISTS = 6,
        RPC_PERMISSION_DENIED = 7,
        RPC_RESOURCE_EXHAUSTED = 8,
        RPC_FAILED_PRECONDITION = 9,
        RPC_ABORTED = 10,
        RPC_OUT_OF_RANGE = 11,
        RPC_UNIMPLEMENTED = 12,
        RPC_INTERNAL = 13,
        RPC_UNAVAILABLE = 14,
        RPC_DATA_LOSS = 15,
        RPC_UNAUTHENTICATED = 16,
        _RPC_STATUS_CODE_MAX,
        _RPC_STATUS_CODE_INVALID = -EINVAL,
} RpcStatusCode;

/* "OK", "INVALID_ARGUMENT", …; NULL for an unknown code. */
const char *rpc_status_code_to_string(RpcStatusCode code);

typedef struct RpcStatus {
        RpcStatusCode code;
        char *message; /* owned; may be NULL */
} RpcStatus;

#define RPC_STATUS_NULL ((RpcStatus) { .code = RPC_OK, .message = NULL })

void rpc_status_done(RpcStatus *s);

/* Sets code and a formatted message; on allocation failure the message is NULL. */
void rpc_status_set(RpcStatus *s, RpcStatusCode code, const char *format, ...) _printf_(3, 4);

/**
 * rpc_init() - initialise gRPC for this process
 *
 * Starts gRPC's own threads and routes gRPC's log (TLS handshake failures,
 * bind errors) into ours. Threads inherit the caller's signal mask, so an
 * applet that handles signals with sigwait() blocks them before calling this.
 * Calls nest; each rpc_init() needs one rpc_shutdown().
 */
void rpc_init(void);
void rpc_shutdown(void);

/**
 * rpc_status_from_errno() - the gRPC status for a local failure
 *
 * -ENOENT NOT_FOUND, -EEXIST ALREADY_EXISTS, -EINVAL INVALID_ARGUMENT,
 * -EACCES/-EPERM PERMISSION_DENIED, -ETIME/-ETIMEDOUT DEADLINE_EXCEEDED,
 * -ENOTCONN/-EHOSTDOWN/-ECONNREFUSED UNAVAILABLE, -EOPNOTSUPP/-EBADR/-EBUSY/
 * -ESRCH/-EIO FAILED_PRECONDITION, -ECANCELED CANCELLED, -ENOMEM/-ENOBUFS
 * RESOURCE_EXHAUSTED, anything else INTERNAL.
 */
RpcStatusCode rpc_status_from_errno(int r);
