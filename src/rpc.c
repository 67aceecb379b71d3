/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process-wide gRPC set-up, status helpers and the protobuf-c ↔ byte buffer
 * bridge. Packing is generic over every message type through its
 * ProtobufCMessageDescriptor, so no per-message glue is generated.
 */

#include <grpc/status.h>
#include <pthread.h>
#include <stdarg.h>

#include "log.h"
#include "rpc-internal.h"
#include "thread-util.h"

/* Our status enum is passed to gRPC as is. */
_Static_assert((int) RPC_UNAUTHENTICATED == (int) GRPC_STATUS_UNAUTHENTICATED, "status codes");
_Static_assert((int) RPC_UNAVAILABLE == (int) GRPC_STATUS_UNAVAILABLE, "status codes");
_Static_assert((int) RPC_INVALID_ARGUMENT == (int) GRPC_STATUS_INVALID_ARGUMENT, "status codes");

static const char *const status_names[_RPC_STATUS_CODE_MAX] = {
        [RPC_OK] = "OK",
        [RPC_CANCELLED] = "CANCELLED",
        [RPC_UNKNOWN] = "UNKNOWN",
        [RPC_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
        [RPC_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
        [RPC_NOT_FOUND] = "NOT_FOUND",
        [RPC_ALREADY_EXISTS] = "ALREADY_EXISTS",
        [RPC_PERMISSION_DENIED] = "PERMISSION_DENIED",
        [RPC_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
        [RPC_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
        [RPC_ABORTED] = "ABORTED",
        [RPC_OUT_OF_RANGE] = "OUT_OF_RANGE",
        [RPC_UNIMPLEMENTED] = "UNIMPLEMENTED",
        [RPC_INTERNAL] = "INTERNAL",
        [RPC_UNAVAILABLE] = "UNAVAILABLE",
        [RPC_DATA_LOSS] = "DATA_LOSS",
        [RPC_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

const char *rpc_status_code_to_string(RpcStatusCode code) {
        if (code < 0 || code >= _RPC_STATUS_CODE_MAX)
                return NULL;
        return status_names[code];
}

RpcStatusCode rpc_status_from_errno(int r) {
        switch (-r) {
        case ENOENT:
                return RPC_NOT_FOUND;
        case EEXIST:
                return RPC_ALREADY_EXISTS;
        case EINVAL:
                return RPC_INVALID_ARGUMENT;
        case EACCES:
        case EPERM:
                return RPC_PERMISSION_DENIED;
        case ETIME:
        case ETIMEDOUT:
                return RPC_DEADLINE_EXCEEDED;
        case ENOTCONN:
        case EHOSTDOWN:
        case ECONNREFUSED:
                return RPC_UNAVAILABLE;
        case EOPNOTSUPP:
        case EBADR:
        case EBUSY:
        case ESRCH:
        case EIO:
                return RPC_FAILED_PRECONDITION;
        case ECANCELED:
                return RPC_CANCELLED;
        case ENOMEM:
        case ENOBUFS:
                return RPC_RESOURCE_EXHAUSTED;
        default:
                return RPC_INTERNAL;
        }
}

void rpc_status_done(RpcStatus *s) {
        s->message = mfree(s->message);
        s->code = RPC_OK;
}

void rpc_status_set(RpcStatus *s, RpcStatusCode code, const char *format, ...) {
        va_list ap;
        char *m = NULL;

        va_start(ap, format);
        if (vasprintf(&m, format, ap) < 0)
                m = NULL;
        va_end(ap);

        free(s->message);
        s->message = m;
        s->code = code;
}

/*
 * gRPC reports what it cannot tell us through return values (why a TLS
 * handshake failed, why a bind failed) only in its log. Its ERROR lines are
 * about a peer or a connection, not fatal to us: they become warnings.
 */
/*
 * Anyone who can connect can make gRPC log a failed handshake: without a
 * limit, a flood of bad connections floods the journal. Outside --debug, at
 * most LOG_BURST of its lines per LOG_WINDOW_USEC, then how many were left out.
 */
#define LOG_BURST 20
#define LOG_WINDOW_USEC (10 * USEC_PER_SEC)

static bool grpc_log_allowed(void) {
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        static uint64_t window_start;
        static unsigned logged, suppressed;
        uint64_t now = now_monotonic_usec();
        unsigned left_out = 0;
        bool allowed;

        pthread_mutex_lock(&lock);
        if (now - window_start >= LOG_WINDOW_USEC) {
                window_start = now;
                logged = 0;
                left_out = suppressed;
                suppressed = 0;
        }
        allowed = logged < LOG_BURST;
        if (allowed)
                logged++;
        else
                suppressed++;
        pthread_mutex_unlock(&lock);

        if (left_out > 0)
                log_internal(LOG_WARNING, 0, "grpc: %u more messages were left out", left_out);
        return allowed;
}

static void grpc_log_bridge(gpr_log_func_args *args) {
        int level;

        switch (args->severity) {
        case GPR_LOG_SEVERITY_ERROR:
                level = LOG_WARNING;
                break;
        case GPR_LOG_SEVERITY_INFO:
                level = LOG_INFO;
                break;
        default:
                level = LOG_DEBUG;
                break;
        }
        if (level > log_get_max_level())
                return;
        if (log_get_max_level() >= LOG_DEBUG)
                log_internal(level, 0, "grpc: %s (%s:%d)", args->message, args->file, args->line);
        else if (grpc_log_allowed())
                log_internal(level, 0, "grpc: %s", args->message);
}

void rpc_init(void) {
        /* gRPC logs errors only, unless GRPC_VERBOSITY (and GRPC_TRACE) ask
         * for more: its informational messages (every reconnect attempt)
         * would drown ours, even with --debug. */
        if (!getenv("GRPC_VERBOSITY"))
                gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
        gpr_set_log_function(grpc_log_bridge);
        grpc_init();
}

void rpc_shutdown(void) {
        grpc_shutdown_blocking();
}

int rpc_pack(const ProtobufCMessage *m, grpc_byte_buffer **ret) {
        size_t size = protobuf_c_message_get_packed_size(m);
        grpc_slice s;

        s = grpc_slice_malloc(size);
        (void) protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
        *ret = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
        return 0;
}

int rpc_unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d, ProtobufCMessage **ret) {
        grpc_byte_buffer_reader reader;
        ProtobufCMessage *m;
        grpc_slice s;
        int r;

        /* Fails for a compressed payload it cannot decompress. */
        if (!grpc_byte_buffer_reader_init(&reader, bb))
                return -EBADMSG;
        s = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);

        m = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
        grpc_slice_unref(s);
        if (!m)
                return -EBADMSG;

        r = pb_validate_utf8(m, NULL);
        if (r < 0) {
                pb_free(m);
                return r;
        }

        *ret = m;
        return 0;
}

gpr_timespec rpc_deadline_ms(int64_t ms) {
        if (ms < 0)
                return gpr_inf_future(GPR_CLOCK_MONOTONIC);
        return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

int64_t rpc_deadline_remaining_ms(gpr_timespec deadline) {
        gpr_timespec now, left;

        if (gpr_time_cmp(deadline, gpr_inf_future(deadline.clock_type)) == 0)
                return INT64_MAX;
        now = gpr_now(deadline.clock_type);
        left = gpr_time_sub(deadline, now);
        if (gpr_time_cmp(left, gpr_time_0(GPR_TIMESPAN)) <= 0)
                return 0;
        return gpr_time_to_millis(left);
}

char *rpc_slice_to_string(grpc_slice s) {
        return strndup((const char *) GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
}
