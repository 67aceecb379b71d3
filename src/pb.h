/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * protobuf-c helpers that do not depend on the transport: ownership of
 * unpacked messages, and the proto3 rules protobuf-c leaves to us.
 */

#include <protobuf-c/protobuf-c.h>

#include "macro.h"

/* Free an unpacked message (from a reply or a stream); NULL is fine. */
static inline void *pb_free(void *m) {
        if (m)
                protobuf_c_message_free_unpacked(m, NULL);
        return NULL;
}
static inline void pb_freep(void *p) {
        pb_free(*(void **) p);
}
#define _cleanup_pb_ _cleanup_(pb_freep)

/**
 * pb_validate_utf8() - check that every string field of @m, recursively, is
 * valid UTF-8, as proto3 requires. protobuf-c does not check; Go, Python and
 * C++ peers do, and fail the whole call when a string is not UTF-8.
 * @ret_field: if not NULL, set to the name of the first bad field on failure
 *
 * Return: 0, or -EILSEQ.
 */
int pb_validate_utf8(const ProtobufCMessage *m, const char **ret_field);

/**
 * pb_type_name() - the fully qualified name of a message type, e.g.
 * "admin.RegistryRequest", for messages people read.
 */
static inline const char *pb_type_name(const ProtobufCMessageDescriptor *d) {
        return d->name;
}
