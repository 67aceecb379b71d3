/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One bidi handler answers each request of the stream in turn. Files are
 * sent with their transitive imports, the requested file first, as grpc-go
 * does; unknown names get an ErrorResponse with NOT_FOUND inside an OK
 * stream, as the protocol wants.
 */

#include "descriptors.h"
#include "reflection.h"
#include "reflection.pb-c.h"

#define REQ(x) GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_##x
#define RESP(x) GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_##x

static int reply_files(RpcCall *call, Grpc__Reflection__V1__ServerReflectionResponse *resp, int index) {
        Grpc__Reflection__V1__FileDescriptorResponse files =
                GRPC__REFLECTION__V1__FILE_DESCRIPTOR_RESPONSE__INIT;
        _cleanup_free_ size_t *closure = NULL;
        _cleanup_free_ ProtobufCBinaryData *blobs = NULL;
        size_t n;

        closure = calloc(descriptor_files_count, sizeof(size_t));
        blobs = calloc(descriptor_files_count, sizeof(ProtobufCBinaryData));
        if (!closure || !blobs)
                return -ENOMEM;

        n = descriptor_file_closure((size_t) index, closure);
        for (size_t i = 0; i < n; i++)
                blobs[i] = (ProtobufCBinaryData) {
                        .len = descriptor_files[closure[i]].size,
                        .data = (uint8_t *) descriptor_files[closure[i]].data,
                };
        files.n_file_descriptor_proto = n;
        files.file_descriptor_proto = blobs;

        resp->message_response_case = RESP(FILE_DESCRIPTOR_RESPONSE);
        resp->file_descriptor_response = &files;
        return rpc_call_send(call, &resp->base);
}

static int reply_error(RpcCall *call, Grpc__Reflection__V1__ServerReflectionResponse *resp,
                       RpcStatusCode code, const char *what, const char *name) {
        Grpc__Reflection__V1__ErrorResponse error = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
        _cleanup_free_ char *message = NULL;

        if (asprintf(&message, "%s '%s' not found", what, name) < 0)
                return -ENOMEM;
        error.error_code = (int32_t) code;
        error.error_message = message;
        resp->message_response_case = RESP(ERROR_RESPONSE);
        resp->error_response = &error;
        return rpc_call_send(call, &resp->base);
}

static int reply_services(RpcCall *call, Grpc__Reflection__V1__ServerReflectionResponse *resp) {
        Grpc__Reflection__V1__ListServiceResponse list = GRPC__REFLECTION__V1__LIST_SERVICE_RESPONSE__INIT;
        _cleanup_free_ Grpc__Reflection__V1__ServiceResponse *items = NULL;
        _cleanup_free_ Grpc__Reflection__V1__ServiceResponse **ptrs = NULL;
        char **services = rpc_server_services(rpc_call_server(call));
        size_t n = 0;

        for (char **i = services; i && *i; i++)
                n++;
        items = calloc(n ?: 1, sizeof(*items));
        ptrs = calloc(n ?: 1, sizeof(*ptrs));
        if (!items || !ptrs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                items[i] = (Grpc__Reflection__V1__ServiceResponse)
                        GRPC__REFLECTION__V1__SERVICE_RESPONSE__INIT;
                items[i].name = services[i];
                ptrs[i] = &items[i];
        }
        list.n_service = n;
        list.service = ptrs;

        resp->message_response_case = RESP(LIST_SERVICES_RESPONSE);
        resp->list_services_response = &list;
        return rpc_call_send(call, &resp->base);
}

static int reply_extension_numbers(RpcCall *call, Grpc__Reflection__V1__ServerReflectionResponse *resp,
                                   const char *type) {
        Grpc__Reflection__V1__ExtensionNumberResponse numbers =
                GRPC__REFLECTION__V1__EXTENSION_NUMBER_RESPONSE__INIT;

        /* Our protos are proto3 and declare no extensions: a known message
         * type has none, an unknown one is an error. */
        if (descriptor_find_symbol(type) < 0)
                return reply_error(call, resp, RPC_NOT_FOUND, "type", type);
        numbers.base_type_name = (char *) type;
        resp->message_response_case = RESP(ALL_EXTENSION_NUMBERS_RESPONSE);
        resp->all_extension_numbers_response = &numbers;
        return rpc_call_send(call, &resp->base);
}

static void reflection_info(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Grpc__Reflection__V1__ServerReflectionRequest *req = (const void *) request;
        Grpc__Reflection__V1__ServerReflectionResponse resp =
                GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
        int index, r;

        if (!req) {
                /* The client is done asking. */
                (void) rpc_call_finish(call, RPC_OK, NULL);
                return;
        }

        resp.valid_host = req->host;
        resp.original_request = (Grpc__Reflection__V1__ServerReflectionRequest *) req;

        switch (req->message_request_case) {
        case REQ(LIST_SERVICES):
                r = reply_services(call, &resp);
                break;
        case REQ(FILE_BY_FILENAME):
                index = descriptor_find_file(req->file_by_filename);
                r = index >= 0 ? reply_files(call, &resp, index)
                               : reply_error(call, &resp, RPC_NOT_FOUND, "file", req->file_by_filename);
                break;
        case REQ(FILE_CONTAINING_SYMBOL):
                index = descriptor_find_symbol(req->file_containing_symbol);
                r = index >= 0 ? reply_files(call, &resp, index)
                               : reply_error(call, &resp, RPC_NOT_FOUND, "symbol",
                                             req->file_containing_symbol);
                break;
        case REQ(FILE_CONTAINING_EXTENSION):
                r = reply_error(call, &resp, RPC_NOT_FOUND, "extension of",
                                req->file_containing_extension
                                        ? req->file_containing_extension->containing_type
                                        : "");
                break;
        case REQ(ALL_EXTENSION_NUMBERS_OF_TYPE):
                r = reply_extension_numbers(call, &resp, req->all_extension_numbers_of_type);
                break;
        default:
                (void) rpc_call_fail(call, RPC_INVALID_ARGUMENT, "the reflection request asks for nothing");
                return;
        }

        if (r == -ECANCELED)
                return; /* the end of input will come and finish the call */
        if (r < 0)
                (void) rpc_call_fail(call, r == -ENOBUFS ? RPC_RESOURCE_EXHAUSTED : RPC_INTERNAL,
                                     "cannot send the reflection response: %s", strerror(-r));
}

static const RpcMethod reflection_methods[] = {
        {
                .path = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                .request = &grpc__reflection__v1__server_reflection_request__descriptor,
                .response = &grpc__reflection__v1__server_reflection_response__descriptor,
                .kind = RPC_BIDI_STREAM,
                .flags = RPC_METHOD_INLINE,
                .handler = reflection_info,
        },
        {
                /* v1alpha is wire-identical to v1; tools still ask for it. */
                .path = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                .request = &grpc__reflection__v1__server_reflection_request__descriptor,
                .response = &grpc__reflection__v1__server_reflection_response__descriptor,
                .kind = RPC_BIDI_STREAM,
                .flags = RPC_METHOD_INLINE,
                .handler = reflection_info,
        },
};

int reflection_service_attach(RpcServer *s) {
        return rpc_server_add_methods(s, reflection_methods, ELEMENTSOF(reflection_methods), NULL);
}
