/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A walk over a protobuf-c message driven by its descriptor. protobuf-c
 * stores a field at descriptor->offset; repeated fields keep their count at
 * quantifier_offset, oneof members keep the case (the number of the member
 * that is set) there.
 */

#include "pb.h"
#include "utf8.h"

static int validate_value(const ProtobufCFieldDescriptor *f, const void *value, const char **ret_field) {
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING: {
                const char *s = *(char *const *) value;

                if (s && !utf8_is_valid(s, strlen(s))) {
                        if (ret_field)
                                *ret_field = f->name;
                        return -EILSEQ;
                }
                return 0;
        }
        case PROTOBUF_C_TYPE_MESSAGE: {
                const ProtobufCMessage *m = *(ProtobufCMessage *const *) value;

                return m ? pb_validate_utf8(m, ret_field) : 0;
        }
        default:
                return 0;
        }
}

int pb_validate_utf8(const ProtobufCMessage *m, const char **ret_field) {
        const ProtobufCMessageDescriptor *d = m->descriptor;
        const char *base = (const char *) m;
        int r;

        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];

                if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
                        continue;

                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n = *(const size_t *) (base + f->quantifier_offset);
                        const char *const *items = *(const char *const *const *) (base + f->offset);

                        for (size_t j = 0; j < n; j++) {
                                r = validate_value(f, &items[j], ret_field);
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }

                if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                    *(const uint32_t *) (base + f->quantifier_offset) != f->id)
                        continue;

                r = validate_value(f, base + f->offset, ret_field);
                if (r < 0)
                        return r;
        }
        return 0;
}
