/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every message type of every proto we compile goes through the transport's
 * pack/unpack bridge, filled generically from its descriptor: every field
 * set (repeated fields twice, one member of each oneof, nested messages
 * recursively), so a field missing from the C code or mangled on the way
 * shows up as a byte difference.
 */

#include "admin.pb-c.h"
#include "descriptors.h"
#include "health.pb-c.h"
#include "hwid.pb-c.h"
#include "locale.pb-c.h"
#include "reflection.pb-c.h"
#include "rpc-internal.h"
#include "socket.pb-c.h"
#include "systemd.pb-c.h"
#include "unit-test.h"
#include "wifi.pb-c.h"

static const ProtobufCMessageDescriptor *const all_messages[] = {
        &admin__unit_status__descriptor,
        &admin__transport_config__descriptor,
        &admin__registry_request__descriptor,
        &admin__registry_response__descriptor,
        &admin__application_request__descriptor,
        &admin__application_response__descriptor,
        &admin__empty__descriptor,
        &admin__query_list_item__descriptor,
        &admin__query_list_response__descriptor,
        &admin__watch_item__descriptor,
        &admin__locale_request__descriptor,
        &admin__timezone_request__descriptor,
        &systemd__unit_request__descriptor,
        &systemd__unit_response__descriptor,
        &systemd__app_unit_request__descriptor,
        &systemd__unit_status__descriptor,
        &systemd__unit_status_response__descriptor,
        &systemd__unit_resource_request__descriptor,
        &systemd__unit_resource_response__descriptor,
        &locale__locale_message__descriptor,
        &locale__timezone_message__descriptor,
        &locale__empty__descriptor,
        &hwid__hw_id_request__descriptor,
        &hwid__hw_id_response__descriptor,
        &wifimanager__empty_request__descriptor,
        &wifimanager__wifi_network_request__descriptor,
        &wifimanager__wifi_connection_request__descriptor,
        &wifimanager__access_point__descriptor,
        &wifimanager__wifi_network_response__descriptor,
        &wifimanager__wifi_connection_response__descriptor,
        &socketproxy__byte_packet__descriptor,
        &grpc__health__v1__health_check_request__descriptor,
        &grpc__health__v1__health_check_response__descriptor,
        &grpc__reflection__v1__server_reflection_request__descriptor,
        &grpc__reflection__v1__extension_request__descriptor,
        &grpc__reflection__v1__server_reflection_response__descriptor,
        &grpc__reflection__v1__file_descriptor_response__descriptor,
        &grpc__reflection__v1__extension_number_response__descriptor,
        &grpc__reflection__v1__list_service_response__descriptor,
        &grpc__reflection__v1__service_response__descriptor,
        &grpc__reflection__v1__error_response__descriptor,
};

static ProtobufCMessage *fill(const ProtobufCMessageDescriptor *d, unsigned depth);

/* Writes one value of field @f at @p. */
static void fill_value(const ProtobufCFieldDescriptor *f, void *p, unsigned seed, unsigned depth) {
        switch (f->type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
                *(int32_t *) p = -(int32_t) (f->id * 1000 + seed);
                break;
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
                *(uint32_t *) p = f->id * 1000 + seed;
                break;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
                *(int64_t *) p = -(int64_t) (f->id * 100000 + seed);
                break;
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
                *(uint64_t *) p = f->id * 100000ULL + seed;
                break;
        case PROTOBUF_C_TYPE_FLOAT:
                *(float *) p = (float) f->id + 0.25f;
                break;
        case PROTOBUF_C_TYPE_DOUBLE:
                *(double *) p = (double) f->id + 0.125;
                break;
        case PROTOBUF_C_TYPE_BOOL:
                *(protobuf_c_boolean *) p = 1;
                break;
        case PROTOBUF_C_TYPE_ENUM: {
                const ProtobufCEnumDescriptor *e = f->descriptor;

                *(int *) p = e->values[e->n_values - 1].value;
                break;
        }
        case PROTOBUF_C_TYPE_STRING: {
                char *s = NULL;

                /* Not only ASCII: UTF-8 must survive the trip. */
                assert_true(asprintf(&s, "%s-%u-\xc3\xa9\xe2\x82\xac", f->name, seed) > 0);
                *(char **) p = s;
                break;
        }
        case PROTOBUF_C_TYPE_BYTES: {
                ProtobufCBinaryData *b = p;

                b->len = 4;
                b->data = malloc(4);
                assert_non_null(b->data);
                memcpy(b->data, "\0\xff\x01\x80", 4);
                break;
        }
        case PROTOBUF_C_TYPE_MESSAGE:
                *(ProtobufCMessage **) p = fill(f->descriptor, depth + 1);
                break;
        }
}

static size_t value_size(const ProtobufCFieldDescriptor *f) {
        switch (f->type) {
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
        case PROTOBUF_C_TYPE_DOUBLE:
                return 8;
        case PROTOBUF_C_TYPE_STRING:
        case PROTOBUF_C_TYPE_MESSAGE:
                return sizeof(void *);
        case PROTOBUF_C_TYPE_BYTES:
                return sizeof(ProtobufCBinaryData);
        default:
                return 4;
        }
}

static ProtobufCMessage *fill(const ProtobufCMessageDescriptor *d, unsigned depth) {
        ProtobufCMessage *m = calloc(1, d->sizeof_message);
        char *base = (char *) m;
        unsigned oneofs_set[32];
        size_t n_oneofs = 0;

        assert_non_null(m);
        protobuf_c_message_init(d, m);
        if (depth > 4)
                return m;

        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];

                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t sz = value_size(f);
                        char *items = calloc(2, sz);

                        assert_non_null(items);
                        fill_value(f, items, 1, depth);
                        fill_value(f, items + sz, 2, depth);
                        *(size_t *) (base + f->quantifier_offset) = 2;
                        *(void **) (base + f->offset) = items;
                        continue;
                }
                if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                        bool taken = false;

                        for (size_t j = 0; j < n_oneofs; j++)
                                taken = taken || oneofs_set[j] == f->quantifier_offset;
                        if (taken)
                                continue;
                        oneofs_set[n_oneofs++] = f->quantifier_offset;
                        *(uint32_t *) (base + f->quantifier_offset) = f->id;
                } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
                           f->type != PROTOBUF_C_TYPE_MESSAGE)
                        *(protobuf_c_boolean *) (base + f->quantifier_offset) = 1;
                fill_value(f, base + f->offset, 0, depth);
        }
        return m;
}

static uint8_t *pack_plain(const ProtobufCMessage *m, size_t *ret_len) {
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *buf = malloc(n ?: 1);

        assert_non_null(buf);
        assert_int_equal(protobuf_c_message_pack(m, buf), n);
        *ret_len = n;
        return buf;
}

static void test_round_trip_every_type(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(all_messages); i++) {
                const ProtobufCMessageDescriptor *d = all_messages[i];
                _cleanup_pb_ ProtobufCMessage *m = fill(d, 0), *back = NULL;
                _cleanup_free_ uint8_t *before = NULL, *after = NULL;
                grpc_byte_buffer *bb = NULL;
                size_t n_before, n_after;

                /* The reflection data knows every type the C code knows. */
                assert_true(descriptor_find_symbol(d->name) >= 0);

                assert_int_equal(rpc_pack(m, &bb), 0);
                assert_int_equal(rpc_unpack(bb, d, &back), 0);
                grpc_byte_buffer_destroy(bb);

                before = pack_plain(m, &n_before);
                after = pack_plain(back, &n_after);
                if (d->n_fields > 0)
                        assert_true(n_before > 0);
                assert_int_equal(n_before, n_after);
                assert_memory_equal(before, after, n_before);
        }
}

static void test_optional_presence(void **state) {
        Admin__ApplicationRequest req = ADMIN__APPLICATION_REQUEST__INIT;
        _cleanup_pb_ Admin__ApplicationRequest *back = NULL, *absent = NULL;
        Admin__ApplicationRequest none = ADMIN__APPLICATION_REQUEST__INIT;
        grpc_byte_buffer *bb = NULL;

        /* proto3 optional: an explicitly empty VmName differs from none. */
        req.appname = (char *) "foot";
        req.__vm_name_case = ADMIN__APPLICATION_REQUEST____VM_NAME_VM_NAME;
        req.vmname = (char *) "";
        assert_int_equal(rpc_pack(&req.base, &bb), 0);
        assert_int_equal(rpc_unpack(bb, &admin__application_request__descriptor,
                                    (ProtobufCMessage **) &back),
                         0);
        grpc_byte_buffer_destroy(bb);
        assert_int_equal(back->__vm_name_case, ADMIN__APPLICATION_REQUEST____VM_NAME_VM_NAME);
        assert_string_equal(back->vmname, "");

        none.appname = (char *) "foot";
        assert_int_equal(rpc_pack(&none.base, &bb), 0);
        assert_int_equal(rpc_unpack(bb, &admin__application_request__descriptor,
                                    (ProtobufCMessage **) &absent),
                         0);
        grpc_byte_buffer_destroy(bb);
        assert_int_equal(absent->__vm_name_case, ADMIN__APPLICATION_REQUEST____VM_NAME__NOT_SET);
}

static grpc_byte_buffer *raw_buffer(const void *data, size_t len) {
        grpc_slice s = grpc_slice_from_copied_buffer(data, len);
        grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);

        grpc_slice_unref(s);
        return bb;
}

static void test_bad_bytes(void **state) {
        static const uint8_t truncated[] = { 0x0a, 0x05, 'a', 'b' };      /* field 1, length 5, 2 bytes */
        static const uint8_t bad_wire[] = { 0x0f, 0x01 };                 /* wire type 7 */
        static const uint8_t not_utf8[] = { 0x0a, 0x02, 0xc3, 0x28 };     /* UnitName = "\xc3(" */
        static const uint8_t ok[] = { 0x0a, 0x03, 'a', '.', 'b' };
        ProtobufCMessage *m = NULL;
        grpc_byte_buffer *bb;

        bb = raw_buffer(truncated, sizeof(truncated));
        assert_int_equal(rpc_unpack(bb, &systemd__unit_request__descriptor, &m), -EBADMSG);
        grpc_byte_buffer_destroy(bb);

        bb = raw_buffer(bad_wire, sizeof(bad_wire));
        assert_int_equal(rpc_unpack(bb, &systemd__unit_request__descriptor, &m), -EBADMSG);
        grpc_byte_buffer_destroy(bb);

        bb = raw_buffer(not_utf8, sizeof(not_utf8));
        assert_int_equal(rpc_unpack(bb, &systemd__unit_request__descriptor, &m), -EILSEQ);
        grpc_byte_buffer_destroy(bb);
        assert_null(m);

        bb = raw_buffer(ok, sizeof(ok));
        assert_int_equal(rpc_unpack(bb, &systemd__unit_request__descriptor, &m), 0);
        grpc_byte_buffer_destroy(bb);
        assert_string_equal(((Systemd__UnitRequest *) m)->unitname, "a.b");
        pb_free(m);
}

static void test_utf8_nested(void **state) {
        Admin__RegistryRequest req = ADMIN__REGISTRY_REQUEST__INIT;
        Admin__TransportConfig t = ADMIN__TRANSPORT_CONFIG__INIT;
        const char *field = NULL;

        req.name = (char *) "givc-x.service";
        req.transport = &t;
        t.name = (char *) "bad\xff";
        assert_int_equal(pb_validate_utf8(&req.base, &field), -EILSEQ);
        assert_string_equal(field, "Name");
        t.name = (char *) "ok";
        assert_int_equal(pb_validate_utf8(&req.base, &field), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip_every_type),
                cmocka_unit_test(test_optional_presence),
                cmocka_unit_test(test_bad_bytes),
                cmocka_unit_test(test_utf8_nested),
        };

        /* rpc_pack() uses gRPC slices. */
        rpc_init();
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        rpc_shutdown();
        return r;
}
