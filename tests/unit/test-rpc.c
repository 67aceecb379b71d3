/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transport end to end inside one process: a real server with a test
 * method table and our own client, over unix-abstract sockets (plaintext)
 * and TCP with mutual TLS using certificates made by the certs module.
 * Waiting is done on conditions, never on timing.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "certs.h"
#include "health.pb-c.h"
#include "reflection.pb-c.h"
#include "rpc-client.h"
#include "rpc-server.h"
#include "socket.pb-c.h"
#include "systemd.pb-c.h"
#include "unit-test.h"

/* ---- a little synchronisation helper ---- */

typedef struct Flag {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int value;
} Flag;

#define FLAG_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 }

static void flag_set(Flag *f, int v) {
        pthread_mutex_lock(&f->lock);
        f->value = v;
        pthread_cond_broadcast(&f->cond);
        pthread_mutex_unlock(&f->lock);
}

static void flag_wait(Flag *f, int v) {
        pthread_mutex_lock(&f->lock);
        while (f->value != v)
                pthread_cond_wait(&f->cond, &f->lock);
        pthread_mutex_unlock(&f->lock);
}

/* ---- the test service ---- */

typedef struct TestState {
        Flag slow_entered, slow_release;
        Flag forever_cancelled;
        Flag flood_result;
        atomic_int bidi_messages;
        RpcCall *forever;
        pthread_mutex_t lock;
} TestState;

static TestState ts = {
        .slow_entered = FLAG_INIT,
        .slow_release = FLAG_INIT,
        .forever_cancelled = FLAG_INIT,
        .flood_result = FLAG_INIT,
        .lock = PTHREAD_MUTEX_INITIALIZER,
};

static void reply_text(RpcCall *call, const char *text) {
        Systemd__UnitResponse resp = SYSTEMD__UNIT_RESPONSE__INIT;

        resp.cmdstatus = (char *) text;
        /* No cmocka assertions in handlers: they run on server threads. */
        (void) rpc_call_reply(call, &resp.base);
}

static void handle_echo(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Systemd__UnitRequest *req = (const void *) request;
        _cleanup_free_ char *text = NULL;

        if (userdata != &ts || asprintf(&text, "echo:%s", req->unitname) < 0) {
                (void) rpc_call_fail(call, RPC_INTERNAL, "bad userdata");
                return;
        }
        reply_text(call, text);
}

static void handle_fail(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        (void) rpc_call_fail(call, RPC_NOT_FOUND, "no unit '%s' here",
                             ((const Systemd__UnitRequest *) request)->unitname);
}

/* Blocks a worker until the test releases it. */
static void handle_slow(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        flag_set(&ts.slow_entered, 1);
        flag_wait(&ts.slow_release, 1);
        reply_text(call, "slow done");
}

static void handle_stream(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Systemd__UnitRequest *req = (const void *) request;
        int n = atoi(req->unitname);

        for (int i = 0; i < n; i++) {
                Systemd__UnitResponse resp = SYSTEMD__UNIT_RESPONSE__INIT;
                char text[32];

                snprintf(text, sizeof(text), "%d", i);
                resp.cmdstatus = text;
                if (rpc_call_send(call, &resp.base) < 0) {
                        (void) rpc_call_fail(call, RPC_INTERNAL, "cannot send message %d", i);
                        return;
                }
        }
        (void) rpc_call_finish(call, RPC_OK, NULL);
}

static void forever_cancelled(RpcCall *call, void *userdata) {
        RpcCall *mine;

        pthread_mutex_lock(&ts.lock);
        mine = TAKE_PTR(ts.forever);
        pthread_mutex_unlock(&ts.lock);
        if (mine) {
                (void) rpc_call_finish(mine, RPC_CANCELLED, NULL);
                flag_set(&ts.forever_cancelled, 1);
        }
}

/* A stream that only ends when the call does. */
static void handle_forever(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        Systemd__UnitResponse resp = SYSTEMD__UNIT_RESPONSE__INIT;

        resp.cmdstatus = (char *) "started";
        (void) rpc_call_send(call, &resp.base);
        pthread_mutex_lock(&ts.lock);
        ts.forever = call;
        pthread_mutex_unlock(&ts.lock);
        rpc_call_on_cancel(call, forever_cancelled, NULL);
}

/* Sends until the client falls behind. */
static void handle_flood(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        Systemd__UnitResponse resp = SYSTEMD__UNIT_RESPONSE__INIT;
        char big[1024];
        int r = 0;

        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        resp.cmdstatus = big;
        for (int i = 0; i < 1000000 && r == 0; i++)
                r = rpc_call_send(call, &resp.base);
        flag_set(&ts.flood_result, r == 0 ? 1 : -r);
        (void) rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "the client does not keep up");
}

static void handle_bidi(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Socketproxy__BytePacket *in = (const void *) request;
        Socketproxy__BytePacket out = SOCKETPROXY__BYTE_PACKET__INIT;

        if (!in) {
                (void) rpc_call_finish(call, RPC_OK, NULL);
                return;
        }
        atomic_fetch_add(&ts.bidi_messages, 1);
        out.data = in->data; /* echo */
        (void) rpc_call_send(call, &out.base);
}

static void handle_whoami(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const PeerIdentity *id = NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        r = rpc_call_peer_identity(call, &id);
        if (r < 0) {
                (void) rpc_call_fail(call, RPC_UNAUTHENTICATED, "no identity: %s", strerror(-r));
                return;
        }
        if (asprintf(&text, "cn=%s dns=%s ip=%s", strna(id->common_name), strna(id->dns_names[0]),
                     strna(id->ip_addresses[0])) < 0)
                text = NULL;
        reply_text(call, strna(text));
}

#define UNARY(name, fn, fl)                                                                         \
        {                                                                                          \
                .path = "/givc.test.Test/" name, .request = &systemd__unit_request__descriptor,     \
                .response = &systemd__unit_response__descriptor, .kind = RPC_UNARY, .flags = (fl),  \
                .handler = (fn),                                                                   \
        }
#define STREAM(name, fn)                                                                            \
        {                                                                                          \
                .path = "/givc.test.Test/" name, .request = &systemd__unit_request__descriptor,     \
                .response = &systemd__unit_response__descriptor, .kind = RPC_SERVER_STREAM,         \
                .handler = (fn),                                                                   \
        }

static const RpcMethod test_methods[] = {
        UNARY("Echo", handle_echo, RPC_METHOD_INLINE),
        UNARY("Fail", handle_fail, 0),
        UNARY("Slow", handle_slow, 0),
        UNARY("SlowPool", handle_slow, RPC_METHOD_SLOW),
        UNARY("WhoAmI", handle_whoami, 0),
        STREAM("Stream", handle_stream),
        STREAM("Forever", handle_forever),
        STREAM("Flood", handle_flood),
        {
                .path = "/givc.test.Test/Bidi",
                .request = &socketproxy__byte_packet__descriptor,
                .response = &socketproxy__byte_packet__descriptor,
                .kind = RPC_BIDI_STREAM,
                .handler = handle_bidi,
        },
};

/* ---- fixtures ---- */

typedef struct Fixture {
        RpcServer *server;
        RpcChannel *channel;
        Address *address;
} Fixture;

static Address *abstract_address(void) {
        char s[64];
        Address *a = NULL;

        snprintf(s, sizeof(s), "unix-abstract:givc-test-rpc-%d-%ld", (int) getpid(), random());
        assert_int_equal(address_parse(s, &a, NULL), 0);
        return a;
}

static int fixture_setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));
        RpcServerOptions options = { .max_send_queue = 128 };

        assert_non_null(f);
        f->address = abstract_address();
        assert_int_equal(rpc_server_new(&f->server, &options), 0);
        assert_int_equal(rpc_server_add_methods(f->server, test_methods, ELEMENTSOF(test_methods), &ts), 0);
        assert_int_equal(rpc_server_add_listener(f->server, f->address, NULL, NULL), 0);
        assert_int_equal(rpc_server_start(f->server), 0);
        assert_int_equal(rpc_channel_new(&f->channel, f->address, NULL, NULL, NULL), 0);
        *state = f;
        return 0;
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;

        rpc_channel_free(f->channel);
        rpc_server_shutdown(f->server, 1000);
        /* Every call object is gone once the server stopped. */
        assert_int_equal(rpc_server_live_calls(f->server), 0);
        rpc_server_free(f->server);
        address_free(f->address);
        free(f);
        return 0;
}

static int call_text(RpcChannel *ch, const char *method, const char *arg, char **ret_text,
                     RpcStatus *status) {
        Systemd__UnitRequest req = SYSTEMD__UNIT_REQUEST__INIT;
        Systemd__UnitResponse *resp = NULL;
        int r;

        req.unitname = (char *) arg;
        r = rpc_channel_call(ch, method, &req.base, &systemd__unit_response__descriptor, 5000, 0,
                             (ProtobufCMessage **) &resp, status);
        if (r >= 0) {
                *ret_text = strdup(resp->cmdstatus);
                pb_free(resp);
        }
        return r;
}

/* ---- tests ---- */

static void test_unary(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_status_done) RpcStatus st = RPC_STATUS_NULL;
        _cleanup_free_ char *text = NULL;

        assert_int_equal(call_text(f->channel, "/givc.test.Test/Echo", "a.service", &text, &st), 0);
        assert_string_equal(text, "echo:a.service");
        assert_int_equal(st.code, RPC_OK);
}

static void test_error_status(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_status_done) RpcStatus st = RPC_STATUS_NULL;
        char *text = NULL;

        assert_int_equal(call_text(f->channel, "/givc.test.Test/Fail", "x.service", &text, &st), -EREMOTEIO);
        assert_int_equal(st.code, RPC_NOT_FOUND);
        assert_string_equal(st.message, "no unit 'x.service' here");
}

static void test_unknown_method(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_status_done) RpcStatus st = RPC_STATUS_NULL, st2 = RPC_STATUS_NULL;
        char *text = NULL;

        assert_int_equal(call_text(f->channel, "/givc.test.Test/Nope", "x", &text, &st), -EREMOTEIO);
        assert_int_equal(st.code, RPC_UNIMPLEMENTED);
        assert_string_equal(st.message, "unknown method /givc.test.Test/Nope");
        assert_int_equal(call_text(f->channel, "/no.Such/Service", "x", &text, &st2), -EREMOTEIO);
        assert_int_equal(st2.code, RPC_UNIMPLEMENTED);
}

static void test_garbage_then_ok(void **state) {
        Fixture *f = *state;
        Systemd__UnitResourceResponse wrong = SYSTEMD__UNIT_RESOURCE_RESPONSE__INIT;
        Socketproxy__BytePacket bad_utf8 = SOCKETPROXY__BYTE_PACKET__INIT;
        _cleanup_(rpc_status_done) RpcStatus st = RPC_STATUS_NULL, st2 = RPC_STATUS_NULL,
                st3 = RPC_STATUS_NULL;
        _cleanup_free_ char *text = NULL;
        ProtobufCMessage *resp = NULL;

        /* A double where a string is expected: not a UnitRequest at all. */
        wrong.cpuusage = 1.5;
        assert_int_equal(rpc_channel_call(f->channel, "/givc.test.Test/Echo", &wrong.base,
                                          &systemd__unit_response__descriptor, 5000, 0, &resp, &st),
                         -EREMOTEIO);
        assert_int_equal(st.code, RPC_INVALID_ARGUMENT);
        assert_string_equal(st.message, "the request is not a valid systemd.UnitRequest message");

        /* Field 1 as bytes that are not UTF-8: a string proto3 forbids. */
        bad_utf8.data.data = (uint8_t *) "\xc3\x28";
        bad_utf8.data.len = 2;
        assert_int_equal(rpc_channel_call(f->channel, "/givc.test.Test/Echo", &bad_utf8.base,
                                          &systemd__unit_response__descriptor, 5000, 0, &resp, &st2),
                         -EREMOTEIO);
        assert_int_equal(st2.code, RPC_INVALID_ARGUMENT);
        assert_non_null(strstr(st2.message, "not valid UTF-8"));

        /* The server keeps serving. */
        assert_int_equal(call_text(f->channel, "/givc.test.Test/Echo", "next", &text, &st3), 0);
        assert_string_equal(text, "echo:next");
}

static void *call_slow(RpcChannel *ch, const char *method) {
        _cleanup_(rpc_status_done) RpcStatus st = RPC_STATUS_NULL;
        char *text = NULL;
        int r;

        r = call_text(ch, method, "", &text, &st);
        return r == 0 && streq(text, "slow done") ? text : (free(text), NULL);
}

static void *slow_caller(void *userdata) {
        return call_slow(userdata, "/givc.test.Test/Slow");
}

static void *slow_pool_caller(void *userdata) {
        return call_slow(userdata, "/givc.test.Test/SlowPool");
}

/* With one worker a pool: a handler of the slow kind holding its worker leaves the other pool free. */
static void test_slow_handlers_have_their_own_pool(void **state) {
        _cleanup_(address_freep) Address *address = abstract_address();
        RpcServerOptions options = { .max_workers = 1 };
        RpcServer *server = NULL;
        RpcChannel *channel = NULL;
        pthread_t t;
        void *result;

        assert_int_equal(rpc_server_new(&server, &options), 0);
        assert_int_equal(rpc_server_add_methods(server, test_methods, ELEMENTSOF(test_methods), &ts), 0);
        assert_int_equal(rpc_server_add_listener(server, address, NULL, NULL), 0);
        assert_int_equal(rpc_server_start(server), 0);
        assert_int_equal(rpc_channel_new(&channel, address, NULL, NULL, NULL), 0);

        flag_set(&ts.slow_entered, 0);
        flag_set(&ts.slow_release, 0);
        assert_int_equal(pthread_create(&t, NULL, slow_pool_caller, channel), 0);
        flag_wait(&ts.slow_entered, 1);
        {
                _cleanup_(rpc_status_done) RpcStatus st = RPC_STATUS_NULL;
                char *text = NULL;

                assert_int_equal(call_text(channel, "/givc.test.Test/Fail", "pool", &text, &st), -EREMOTEIO);
                assert_int_equal(st.code, RPC_NOT_FOUND);
        }
        flag_set(&ts.slow_release, 1);
        assert_int_equal(pthread_join(t, &result), 0);
        assert_non_null(result);
        free(result);

        rpc_channel_free(channel);
        assert_int_equal(rpc_server_shutdown(server, 1000), 0);
        rpc_server_free(server);
}

static void test_blocking_handler_blocks_nothing_else(void **state) {
        Fixture *f = *state;
        pthread_t t;
        void *result;

        flag_set(&ts.slow_entered, 0);
        flag_set(&ts.slow_release, 0);
        assert_int_equal(pthread_create(&t, NULL, slow_caller, f->channel), 0);
        flag_wait(&ts.slow_entered, 1);

        /* The slow handler holds a worker; other calls still go through. */
        for (int i = 0; i < 20; i++) {
                _cleanup_(rpc_status_done) RpcStatus st = RPC_STATUS_NULL;
                _cleanup_free_ char *text = NULL;

                assert_int_equal(call_text(f->channel, "/givc.test.Test/Echo", "quick", &text, &st), 0);
        }
        {
                _cleanup_(rpc_status_done) RpcStatus st = RPC_STATUS_NULL;
                char *text = NULL;

                /* Another pool handler too: the pool has more than one worker. */
                assert_int_equal(call_text(f->channel, "/givc.test.Test/Fail", "pool", &text, &st),
                                 -EREMOTEIO);
                assert_int_equal(st.code, RPC_NOT_FOUND);
        }

        flag_set(&ts.slow_release, 1);
        assert_int_equal(pthread_join(t, &result), 0);
        assert_non_null(result);
        free(result);
}

static void test_server_stream(void **state) {
        Fixture *f = *state;
        Systemd__UnitRequest req = SYSTEMD__UNIT_REQUEST__INIT;
        _cleanup_(rpc_stream_freep) RpcStream *s = NULL;
        int n = 0, r;

        req.unitname = (char *) "100";
        assert_int_equal(rpc_channel_open_stream(f->channel, "/givc.test.Test/Stream", &req.base,
                                                 5000, 0, &s),
                         0);
        for (;;) {
                _cleanup_pb_ Systemd__UnitResponse *m = NULL;
                char expected[32];

                r = rpc_stream_read(s, &systemd__unit_response__descriptor, -1, (ProtobufCMessage **) &m);
                if (r <= 0)
                        break;
                snprintf(expected, sizeof(expected), "%d", n++);
                assert_string_equal(m->cmdstatus, expected);
        }
        assert_int_equal(r, 0);
        assert_int_equal(n, 100);
        assert_int_equal(rpc_stream_status(s)->code, RPC_OK);
}

static void test_bidi(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_stream_freep) RpcStream *s = NULL;
        static const char *const words[] = { "one", "two", "three" };

        atomic_store(&ts.bidi_messages, 0);
        assert_int_equal(rpc_channel_open_stream(f->channel, "/givc.test.Test/Bidi", NULL, 5000, 0, &s), 0);
        for (size_t i = 0; i < ELEMENTSOF(words); i++) {
                Socketproxy__BytePacket p = SOCKETPROXY__BYTE_PACKET__INIT;
                _cleanup_pb_ Socketproxy__BytePacket *echo = NULL;

                p.data.data = (uint8_t *) words[i];
                p.data.len = strlen(words[i]);
                assert_int_equal(rpc_stream_write(s, &p.base), 0);
                assert_int_equal(rpc_stream_read(s, &socketproxy__byte_packet__descriptor, -1,
                                                 (ProtobufCMessage **) &echo),
                                 1);
                assert_int_equal(echo->data.len, strlen(words[i]));
                assert_memory_equal(echo->data.data, words[i], echo->data.len);
        }
        assert_int_equal(rpc_stream_close_send(s), 0);
        assert_int_equal(rpc_stream_read(s, &socketproxy__byte_packet__descriptor, -1,
                                         &(ProtobufCMessage *) { NULL }),
                         0);
        assert_int_equal(atomic_load(&ts.bidi_messages), 3);
}

static void test_client_cancel_reaches_handler(void **state) {
        Fixture *f = *state;
        Systemd__UnitRequest req = SYSTEMD__UNIT_REQUEST__INIT;
        _cleanup_pb_ Systemd__UnitResponse *first = NULL;
        RpcStream *s = NULL;

        flag_set(&ts.forever_cancelled, 0);
        assert_int_equal(rpc_channel_open_stream(f->channel, "/givc.test.Test/Forever", &req.base,
                                                 -1, 0, &s),
                         0);
        assert_int_equal(rpc_stream_read(s, &systemd__unit_response__descriptor, -1,
                                         (ProtobufCMessage **) &first),
                         1);
        assert_string_equal(first->cmdstatus, "started");

        /* A read that times out leaves the stream usable. */
        assert_int_equal(rpc_stream_read(s, &systemd__unit_response__descriptor, 50,
                                         &(ProtobufCMessage *) { NULL }),
                         -ETIME);

        rpc_stream_cancel(s);
        assert_int_equal(rpc_stream_read(s, &systemd__unit_response__descriptor, -1,
                                         &(ProtobufCMessage *) { NULL }),
                         -EREMOTEIO);
        assert_int_equal(rpc_stream_status(s)->code, RPC_CANCELLED);
        rpc_stream_free(s);

        flag_wait(&ts.forever_cancelled, 1);
}

static void test_deadline(void **state) {
        Fixture *f = *state;
        Systemd__UnitRequest req = SYSTEMD__UNIT_REQUEST__INIT;
        _cleanup_(rpc_status_done) RpcStatus st = RPC_STATUS_NULL;
        ProtobufCMessage *resp = NULL;

        flag_set(&ts.slow_entered, 0);
        flag_set(&ts.slow_release, 0);
        assert_int_equal(rpc_channel_call(f->channel, "/givc.test.Test/Slow", &req.base,
                                          &systemd__unit_response__descriptor, 100, 0, &resp, &st),
                         -EREMOTEIO);
        assert_int_equal(st.code, RPC_DEADLINE_EXCEEDED);
        /* The handler's late reply goes nowhere and frees the call. */
        flag_set(&ts.slow_release, 1);
}

static void test_send_queue_bound(void **state) {
        Fixture *f = *state;
        Systemd__UnitRequest req = SYSTEMD__UNIT_REQUEST__INIT;
        _cleanup_(rpc_stream_freep) RpcStream *s = NULL;
        int r;

        flag_set(&ts.flood_result, 0);
        assert_int_equal(rpc_channel_open_stream(f->channel, "/givc.test.Test/Flood", &req.base,
                                                 30000, 0, &s),
                         0);
        /* Not reading: the server's queue for this call fills up. */
        pthread_mutex_lock(&ts.flood_result.lock);
        while (ts.flood_result.value == 0)
                pthread_cond_wait(&ts.flood_result.cond, &ts.flood_result.lock);
        r = ts.flood_result.value;
        pthread_mutex_unlock(&ts.flood_result.lock);
        assert_int_equal(r, ENOBUFS);

        do {
                ProtobufCMessage *m = NULL;

                r = rpc_stream_read(s, &systemd__unit_response__descriptor, -1, &m);
                pb_free(m);
        } while (r == 1);
        assert_int_equal(r, -EREMOTEIO);
        assert_int_equal(rpc_stream_status(s)->code, RPC_RESOURCE_EXHAUSTED);
}

static void test_health(void **state) {
        Fixture *f = *state;
        static const struct {
                const char *service;
                int r;
                RpcStatusCode code;
        } cases[] = {
                { "", 0, RPC_OK },
                { "givc.test.Test", 0, RPC_OK },
                { "grpc.health.v1.Health", 0, RPC_OK },
                { "admin.AdminService", -EREMOTEIO, RPC_NOT_FOUND },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
                _cleanup_pb_ Grpc__Health__V1__HealthCheckResponse *resp = NULL;
                _cleanup_(rpc_status_done) RpcStatus st = RPC_STATUS_NULL;

                req.service = (char *) cases[i].service;
                assert_int_equal(rpc_channel_call(f->channel, "/grpc.health.v1.Health/Check", &req.base,
                                                  &grpc__health__v1__health_check_response__descriptor,
                                                  5000, 0, (ProtobufCMessage **) &resp, &st),
                                 cases[i].r);
                assert_int_equal(st.code, cases[i].code);
                if (cases[i].r == 0)
                        assert_int_equal(resp->status,
                                         GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
        }
}

static void test_health_watch_sees_shutdown(void **state) {
        Fixture *f = *state;
        Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        _cleanup_(rpc_stream_freep) RpcStream *s = NULL;
        _cleanup_pb_ Grpc__Health__V1__HealthCheckResponse *first = NULL, *second = NULL;

        assert_int_equal(rpc_channel_open_stream(f->channel, "/grpc.health.v1.Health/Watch", &req.base,
                                                 -1, 0, &s),
                         0);
        assert_int_equal(rpc_stream_read(s, &grpc__health__v1__health_check_response__descriptor, -1,
                                         (ProtobufCMessage **) &first),
                         1);
        assert_int_equal(first->status, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);

        /* The stream learns about the shutdown, then ends; shutdown does not wait for it. */
        rpc_server_shutdown(f->server, 2000);
        assert_int_equal(rpc_stream_read(s, &grpc__health__v1__health_check_response__descriptor, -1,
                                         (ProtobufCMessage **) &second),
                         1);
        assert_int_equal(second->status,
                         GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
        assert_int_equal(rpc_stream_read(s, &grpc__health__v1__health_check_response__descriptor, -1,
                                         &(ProtobufCMessage *) { NULL }),
                         -EREMOTEIO);
        assert_int_equal(rpc_stream_status(s)->code, RPC_UNAVAILABLE);
}

static void test_shutdown_ends_streams(void **state) {
        Fixture *f = *state;
        Systemd__UnitRequest req = SYSTEMD__UNIT_REQUEST__INIT;
        _cleanup_(rpc_stream_freep) RpcStream *s = NULL;
        _cleanup_pb_ Systemd__UnitResponse *first = NULL;

        flag_set(&ts.forever_cancelled, 0);
        assert_int_equal(rpc_channel_open_stream(f->channel, "/givc.test.Test/Forever", &req.base,
                                                 -1, 0, &s),
                         0);
        assert_int_equal(rpc_stream_read(s, &systemd__unit_response__descriptor, -1,
                                         (ProtobufCMessage **) &first),
                         1);

        /* The stream ignores shutdown: the grace period ends, it is cancelled. */
        rpc_server_shutdown(f->server, 100);
        flag_wait(&ts.forever_cancelled, 1);
        assert_int_equal(rpc_stream_read(s, &systemd__unit_response__descriptor, -1,
                                         &(ProtobufCMessage *) { NULL }),
                         -EREMOTEIO);
        assert_int_equal(rpc_server_live_calls(f->server), 0);
}

static void test_reflection(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_stream_freep) RpcStream *s = NULL;
        Grpc__Reflection__V1__ServerReflectionRequest req =
                GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
        _cleanup_pb_ Grpc__Reflection__V1__ServerReflectionResponse *list = NULL, *file = NULL,
                *missing = NULL;
        bool test_seen = false, health_seen = false, v1alpha_seen = false;

        assert_int_equal(rpc_channel_open_stream(f->channel,
                                                 "/grpc.reflection.v1alpha.ServerReflection/"
                                                 "ServerReflectionInfo",
                                                 NULL, 5000, 0, &s),
                         0);

        req.message_request_case =
                GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
        req.list_services = (char *) "*";
        assert_int_equal(rpc_stream_write(s, &req.base), 0);
        assert_int_equal(rpc_stream_read(s, &grpc__reflection__v1__server_reflection_response__descriptor,
                                         -1, (ProtobufCMessage **) &list),
                         1);
        assert_int_equal(list->message_response_case,
                GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
        for (size_t i = 0; i < list->list_services_response->n_service; i++) {
                const char *name = list->list_services_response->service[i]->name;

                test_seen = test_seen || streq(name, "givc.test.Test");
                health_seen = health_seen || streq(name, "grpc.health.v1.Health");
                v1alpha_seen = v1alpha_seen || streq(name, "grpc.reflection.v1alpha.ServerReflection");
        }
        assert_true(test_seen && health_seen && v1alpha_seen);

        req.message_request_case =
                GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
        req.file_containing_symbol = (char *) "grpc.health.v1.Health";
        assert_int_equal(rpc_stream_write(s, &req.base), 0);
        assert_int_equal(rpc_stream_read(s, &grpc__reflection__v1__server_reflection_response__descriptor,
                                         -1, (ProtobufCMessage **) &file),
                         1);
        assert_int_equal(file->message_response_case,
                GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
        assert_int_equal(file->file_descriptor_response->n_file_descriptor_proto, 1);
        assert_string_equal(file->original_request->file_containing_symbol, "grpc.health.v1.Health");

        req.file_containing_symbol = (char *) "no.Such";
        assert_int_equal(rpc_stream_write(s, &req.base), 0);
        assert_int_equal(rpc_stream_read(s, &grpc__reflection__v1__server_reflection_response__descriptor,
                                         -1, (ProtobufCMessage **) &missing),
                         1);
        assert_int_equal(missing->message_response_case,
                         GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE);
        assert_int_equal(missing->error_response->error_code, RPC_NOT_FOUND);

        assert_int_equal(rpc_stream_close_send(s), 0);
        assert_int_equal(rpc_stream_read(s, &grpc__reflection__v1__server_reflection_response__descriptor,
                                         -1, &(ProtobufCMessage *) { NULL }),
                         0);
}

static void test_address_in_use(void **state) {
        Fixture *f = *state;
        _cleanup_(rpc_server_freep) RpcServer *second = NULL, *tcp1 = NULL, *tcp2 = NULL, *unix1 = NULL,
                                              *unix2 = NULL;
        _cleanup_(address_freep) Address *tcp = NULL, *sock = NULL;
        _cleanup_free_ char *err = NULL, *err2 = NULL, *err3 = NULL, *dir = NULL, *path = NULL;
        char tmpl[] = "/tmp/test-rpc-XXXXXX";

        /* The same abstract name. */
        assert_int_equal(rpc_server_new(&second, NULL), 0);
        assert_int_equal(rpc_server_add_listener(second, f->address, NULL, &err), -EADDRINUSE);
        assert_non_null(strstr(err, "the name is taken"));

        /* The same TCP port: SO_REUSEPORT must not let it through. */
        assert_int_equal(address_parse("127.0.0.1:0", &tcp, NULL), 0);
        assert_int_equal(rpc_server_new(&tcp1, NULL), 0);
        assert_int_equal(rpc_server_add_listener(tcp1, tcp, NULL, NULL), 0);
        assert_true(tcp->port > 0);
        assert_int_equal(rpc_server_start(tcp1), 0);
        assert_int_equal(rpc_server_new(&tcp2, NULL), 0);
        assert_int_equal(rpc_server_add_listener(tcp2, tcp, NULL, &err2), -EADDRINUSE);
        assert_non_null(strstr(err2, "Address already in use"));

        /* The same unix socket path: no stealing. */
        dir = strdup(mkdtemp(tmpl));
        assert_true(asprintf(&path, "unix:%s/s.sock", dir) > 0);
        assert_int_equal(address_parse(path, &sock, NULL), 0);
        assert_int_equal(rpc_server_new(&unix1, NULL), 0);
        assert_int_equal(rpc_server_add_listener(unix1, sock, NULL, NULL), 0);
        assert_int_equal(rpc_server_start(unix1), 0);
        assert_int_equal(rpc_server_new(&unix2, NULL), 0);
        assert_int_equal(rpc_server_add_listener(unix2, sock, NULL, &err3), -EADDRINUSE);
        assert_non_null(strstr(err3, "another server is using it"));

        unix2 = rpc_server_free(unix2);
        unix1 = rpc_server_free(unix1);
        {
                _cleanup_free_ char *lock = NULL, *socket_file = NULL;

                /* Both gone with the server: gRPC removed the socket, we the lock file. */
                assert_true(asprintf(&lock, "%s/s.sock.lock", dir) > 0);
                assert_int_equal(access(lock, F_OK), -1);
                assert_true(asprintf(&socket_file, "%s/s.sock", dir) > 0);
                assert_int_equal(access(socket_file, F_OK), -1);
        }

        /* Another program listening on the path (no lock file of ours): not taken from it. */
        {
                _cleanup_(rpc_server_freep) RpcServer *other = NULL;
                _cleanup_(address_freep) Address *a = NULL;
                _cleanup_free_ char *p = NULL, *target = NULL, *e = NULL, *lock = NULL;
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                _cleanup_close_ int fd = -EBADF;

                assert_true(asprintf(&p, "%s/other.sock", dir) > 0);
                strcpy(sa.sun_path, p);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                assert_true(fd >= 0);
                assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
                assert_int_equal(listen(fd, 1), 0);
                assert_true(asprintf(&target, "unix:%s", p) > 0);
                assert_int_equal(address_parse(target, &a, NULL), 0);
                assert_int_equal(rpc_server_new(&other, NULL), 0);
                assert_int_equal(rpc_server_add_listener(other, a, NULL, &e), -EADDRINUSE);
                assert_non_null(strstr(e, "another program is listening on it"));
                other = rpc_server_free(other);
                e = mfree(e);

                /* Once it is gone the socket is stale, and ours replaces it. */
                closep(&fd);
                fd = -EBADF;
                assert_int_equal(rpc_server_new(&other, NULL), 0);
                assert_int_equal(rpc_server_add_listener(other, a, NULL, &e), 0);
                assert_int_equal(rpc_server_start(other), 0);
                other = rpc_server_free(other);
                assert_true(asprintf(&lock, "%s.lock", p) > 0);
                assert_int_equal(access(lock, F_OK), -1);
                (void) unlink(p);
        }

        /* Anything but a socket at the path stays. */
        {
                _cleanup_(rpc_server_freep) RpcServer *other = NULL;
                _cleanup_(address_freep) Address *a = NULL;
                _cleanup_free_ char *p = NULL, *target = NULL, *e = NULL;
                _cleanup_close_ int fd = -EBADF;

                assert_true(asprintf(&p, "%s/file", dir) > 0);
                fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
                assert_true(fd >= 0);
                assert_true(asprintf(&target, "unix:%s", p) > 0);
                assert_int_equal(address_parse(target, &a, NULL), 0);
                assert_int_equal(rpc_server_new(&other, NULL), 0);
                assert_int_equal(rpc_server_add_listener(other, a, NULL, &e), -EEXIST);
                assert_non_null(strstr(e, "exists and is not a socket"));
                assert_int_equal(access(p, F_OK), 0);
                other = rpc_server_free(other);
                assert_int_equal(unlink(p), 0);
        }
        assert_int_equal(rmdir(dir), 0);
}

static void test_add_methods_validation(void **state) {
        _cleanup_(rpc_server_freep) RpcServer *s = NULL;
        static const RpcMethod bad_path[] = { UNARY("", handle_echo, 0) };
        static const RpcMethod no_slash[] = {
                { .path = "givc.Test/X", .request = &systemd__unit_request__descriptor,
                  .response = &systemd__unit_response__descriptor, .handler = handle_echo },
        };

        assert_int_equal(rpc_server_new(&s, NULL), 0);
        assert_int_equal(rpc_server_add_methods(s, test_methods, ELEMENTSOF(test_methods), NULL), 0);
        assert_int_equal(rpc_server_add_methods(s, test_methods, 1, NULL), -EEXIST);
        assert_int_equal(rpc_server_add_methods(s, bad_path, 1, NULL), -EINVAL);
        assert_int_equal(rpc_server_add_methods(s, no_slash, 1, NULL), -EINVAL);
}

/* ---- mutual TLS ---- */

typedef struct TlsFixture {
        char *dir;
        TlsCredentials *server, *client, *stranger;
        RpcServer *rpc;
        Address *address;
} TlsFixture;

static TlsCredentials *issue(const char *dir, const char *ca_dir, const char *name, CertKeyType type,
                             char **ips) {
        CertRequest req = { .name = name, .ip_addresses = ips, .days = 1, .key_type = type };
        _cleanup_free_ char *err = NULL, *ca = NULL, *cert = NULL, *key = NULL;
        TlsCredentials *c = NULL;

        assert_int_equal(certs_issue(ca_dir, dir, &req, &err), 0);
        assert_true(asprintf(&ca, "%s/%s/ca-cert.pem", dir, name) > 0);
        assert_true(asprintf(&cert, "%s/%s/%s-cert.pem", dir, name, name) > 0);
        assert_true(asprintf(&key, "%s/%s/%s-key.pem", dir, name, name) > 0);
        assert_int_equal(tls_credentials_load(ca, cert, key, &c, &err), 0);
        return c;
}

static int tls_setup(void **state) {
        TlsFixture *t = calloc(1, sizeof(*t));
        char tmpl[] = "/tmp/test-rpc-tls-XXXXXX";
        _cleanup_free_ char *ca = NULL, *other_ca = NULL;
        CertRequest ca_req = { .days = 1, .key_type = CERT_KEY_ED25519 };
        char *ips[] = { (char *) "127.0.0.1", NULL };

        assert_non_null(t);
        t->dir = strdup(mkdtemp(tmpl));
        assert_true(asprintf(&ca, "%s/ca", t->dir) > 0);
        assert_true(asprintf(&other_ca, "%s/other-ca", t->dir) > 0);
        assert_int_equal(certs_create_ca(ca, &ca_req, NULL), 0);
        assert_int_equal(certs_create_ca(other_ca, &ca_req, NULL), 0);

        t->server = issue(t->dir, ca, "admin-vm", CERT_KEY_ED25519, ips);
        t->client = issue(t->dir, ca, "gui-vm", CERT_KEY_ECDSA_P256, ips);
        t->stranger = issue(t->dir, other_ca, "gui-vm-2", CERT_KEY_ED25519, NULL);

        assert_int_equal(address_parse("127.0.0.1:0", &t->address, NULL), 0);
        assert_int_equal(rpc_server_new(&t->rpc, NULL), 0);
        assert_int_equal(rpc_server_add_methods(t->rpc, test_methods, ELEMENTSOF(test_methods), &ts), 0);
        assert_int_equal(rpc_server_add_listener(t->rpc, t->address, t->server, NULL), 0);
        assert_int_equal(rpc_server_start(t->rpc), 0);
        *state = t;
        return 0;
}

static int tls_teardown(void **state) {
        TlsFixture *t = *state;
        _cleanup_free_ char *cmd = NULL;

        rpc_server_free(t->rpc);
        address_free(t->address);
        tls_credentials_free(t->server);
        tls_credentials_free(t->client);
        tls_credentials_free(t->stranger);
        assert_true(asprintf(&cmd, "rm -rf '%s'", t->dir) > 0);
        assert_int_equal(system(cmd), 0);
        free(t->dir);
        free(t);
        return 0;
}

static void test_mtls_identity(void **state) {
        TlsFixture *t = *state;
        _cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
        _cleanup_(rpc_status_done) RpcStatus st = RPC_STATUS_NULL;
        _cleanup_free_ char *text = NULL;

        assert_int_equal(rpc_channel_new(&ch, t->address, "admin-vm", t->client, NULL), 0);
        assert_int_equal(call_text(ch, "/givc.test.Test/WhoAmI", "", &text, &st), 0);
        assert_string_equal(text, "cn=gui-vm dns=gui-vm ip=127.0.0.1");
}

static void test_mtls_refusals(void **state) {
        TlsFixture *t = *state;
        _cleanup_(rpc_channel_freep) RpcChannel *stranger = NULL, *plain = NULL, *wrong_name = NULL;
        _cleanup_(rpc_status_done) RpcStatus st1 = RPC_STATUS_NULL, st2 = RPC_STATUS_NULL,
                st3 = RPC_STATUS_NULL;
        char *text = NULL;

        /* A certificate from another CA. */
        assert_int_equal(rpc_channel_new(&stranger, t->address, "admin-vm", t->stranger, NULL), 0);
        assert_int_equal(call_text(stranger, "/givc.test.Test/Echo", "x", &text, &st1), -EREMOTEIO);
        assert_int_equal(st1.code, RPC_UNAVAILABLE);

        /* Plaintext to a TLS server. */
        assert_int_equal(rpc_channel_new(&plain, t->address, NULL, NULL, NULL), 0);
        assert_int_equal(call_text(plain, "/givc.test.Test/Echo", "x", &text, &st2), -EREMOTEIO);
        assert_int_equal(st2.code, RPC_UNAVAILABLE);

        /* The server's certificate does not name "net-vm". */
        assert_int_equal(rpc_channel_new(&wrong_name, t->address, "net-vm", t->client, NULL), 0);
        assert_int_equal(call_text(wrong_name, "/givc.test.Test/Echo", "x", &text, &st3), -EREMOTEIO);
        assert_int_equal(st3.code, RPC_UNAVAILABLE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_unary, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_error_status, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_unknown_method, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_garbage_then_ok, fixture_setup, fixture_teardown),
                cmocka_unit_test(test_slow_handlers_have_their_own_pool),
                cmocka_unit_test_setup_teardown(test_blocking_handler_blocks_nothing_else, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_server_stream, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_bidi, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_client_cancel_reaches_handler, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_deadline, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_send_queue_bound, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_health, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_health_watch_sees_shutdown, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_shutdown_ends_streams, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_reflection, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_address_in_use, fixture_setup, fixture_teardown),
                cmocka_unit_test(test_add_methods_validation),
                cmocka_unit_test_setup_teardown(test_mtls_identity, tls_setup, tls_teardown),
                cmocka_unit_test_setup_teardown(test_mtls_refusals, tls_setup, tls_teardown),
        };

        rpc_init();
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        rpc_shutdown();
        return r;
}
