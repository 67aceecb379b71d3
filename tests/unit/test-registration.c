/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's registration against a stand-in admin made of our own server:
 * an admin that comes up late, one that restarts, one that refuses.
 */

#include <pthread.h>

#include "admin.pb-c.h"
#include "registration.h"
#include "rpc-server.h"
#include "unit-test.h"

typedef struct FakeAdmin {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        char *names[64];
        char *parents[64];
        uint32_t types[64];
        char *transport_port;
        size_t n;
        bool refuse;
        RegistrationState last_state;
        unsigned n_states[_REGISTRATION_STATE_MAX];
} FakeAdmin;

static FakeAdmin fake = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void handle_register(RpcCall *call, const ProtobufCMessage *request, void *userdata) {
        const Admin__RegistryRequest *req = (const void *) request;
        Admin__RegistryResponse resp = ADMIN__REGISTRY_RESPONSE__INIT;

        pthread_mutex_lock(&fake.lock);
        if (fake.refuse) {
                pthread_mutex_unlock(&fake.lock);
                (void) rpc_call_fail(call, RPC_PERMISSION_DENIED, "not you");
                return;
        }
        if (fake.n < ELEMENTSOF(fake.names)) {
                fake.names[fake.n] = strdup(req->name);
                fake.parents[fake.n] = strdup(req->parent);
                fake.types[fake.n] = req->type;
                if (req->transport)
                        (void) free_and_strdup(&fake.transport_port, req->transport->port);
                fake.n++;
        }
        pthread_cond_broadcast(&fake.cond);
        pthread_mutex_unlock(&fake.lock);
        (void) rpc_call_reply(call, &resp.base);
}

static const RpcMethod admin_methods[] = {
        {
                .path = "/admin.AdminService/RegisterService",
                .request = &admin__registry_request__descriptor,
                .response = &admin__registry_response__descriptor,
                .kind = RPC_UNARY,
                .handler = handle_register,
        },
};

static void on_state(RegistrationState state, const char *text, void *userdata) {
        pthread_mutex_lock(&fake.lock);
        fake.last_state = state;
        fake.n_states[state]++;
        pthread_cond_broadcast(&fake.cond);
        pthread_mutex_unlock(&fake.lock);
}

static void wait_registrations(size_t n) {
        pthread_mutex_lock(&fake.lock);
        while (fake.n < n)
                pthread_cond_wait(&fake.cond, &fake.lock);
        pthread_mutex_unlock(&fake.lock);
}

static void wait_state(RegistrationState state, unsigned times) {
        pthread_mutex_lock(&fake.lock);
        while (fake.n_states[state] < times)
                pthread_cond_wait(&fake.cond, &fake.lock);
        pthread_mutex_unlock(&fake.lock);
}

static RpcServer *start_admin(Address *a) {
        RpcServer *s = NULL;

        assert_int_equal(rpc_server_new(&s, NULL), 0);
        assert_int_equal(rpc_server_add_methods(s, admin_methods, ELEMENTSOF(admin_methods), NULL), 0);
        assert_int_equal(rpc_server_add_listener(s, a, NULL, NULL), 0);
        assert_int_equal(rpc_server_start(s), 0);
        return s;
}

static void reset_fake(void) {
        pthread_mutex_lock(&fake.lock);
        for (size_t i = 0; i < fake.n; i++) {
                free(fake.names[i]);
                free(fake.parents[i]);
        }
        fake.n = 0;
        fake.refuse = false;
        fake.transport_port = mfree(fake.transport_port);
        memset(fake.n_states, 0, sizeof(fake.n_states));
        pthread_mutex_unlock(&fake.lock);
}

static Address *admin_address(void) {
        char s[64];
        Address *a = NULL;

        snprintf(s, sizeof(s), "unix-abstract:givc-test-admin-%d-%ld", (int) getpid(), random());
        assert_int_equal(address_parse(s, &a, NULL), 0);
        return a;
}

static RegistrationConfig config_for(const Address *admin) {
        static char *services[] = { "foo.service", "reboot.target", "bar.service", NULL };

        return (RegistrationConfig) {
                .admin = admin,
                .agent_unit = "givc-gui-vm.service",
                .parent = "microvm@gui-vm.service",
                .type = 8,
                .subtype = 9,
                .protocol = "tcp",
                .address = "192.168.101.3",
                .port = "9000",
                .name = "gui-vm",
                .services = services,
                .call_timeout_ms = 2000,
                .max_backoff_ms = 200,
                .callback = on_state,
        };
}

static void test_late_admin_and_restart(void **state) {
        _cleanup_(address_freep) Address *a = admin_address();
        RegistrationConfig c = config_for(a);
        Registration *r = NULL;
        RpcServer *admin;

        reset_fake();
        assert_int_equal(registration_start(&r, &c), 0);

        /* The admin is not there yet. */
        wait_state(REGISTRATION_CONNECTING, 1);
        admin = start_admin(a);

        /* The agent, then its services (not its targets). */
        wait_registrations(3);
        assert_string_equal(fake.names[0], "givc-gui-vm.service");
        assert_string_equal(fake.parents[0], "microvm@gui-vm.service");
        assert_int_equal(fake.types[0], 8);
        assert_string_equal(fake.names[1], "foo.service");
        assert_string_equal(fake.parents[1], "givc-gui-vm.service");
        assert_int_equal(fake.types[1], 9);
        assert_string_equal(fake.names[2], "bar.service");
        assert_string_equal(fake.transport_port, "9000");
        assert_int_equal(registration_count(r), 1);

        /* The admin restarts: the agent notices and registers again. */
        rpc_server_free(admin);
        wait_state(REGISTRATION_LOST, 1);
        admin = start_admin(a);
        wait_registrations(6);
        assert_string_equal(fake.names[3], "givc-gui-vm.service");
        assert_int_equal(registration_count(r), 2);

        r = registration_free(r);
        rpc_server_free(admin);
}

static void test_refused(void **state) {
        _cleanup_(address_freep) Address *a = admin_address();
        RegistrationConfig c = config_for(a);
        Registration *r = NULL;
        RpcServer *admin;

        reset_fake();
        fake.refuse = true;
        admin = start_admin(a);
        assert_int_equal(registration_start(&r, &c), 0);
        wait_state(REGISTRATION_FAILED, 2);
        assert_int_equal(registration_count(r), 0);

        /* It keeps trying, and succeeds once the admin accepts. */
        pthread_mutex_lock(&fake.lock);
        fake.refuse = false;
        pthread_mutex_unlock(&fake.lock);
        wait_registrations(1);
        r = registration_free(r);
        rpc_server_free(admin);
}

static void test_stop_while_waiting(void **state) {
        _cleanup_(address_freep) Address *a = admin_address();
        RegistrationConfig c = config_for(a);
        Registration *r = NULL;

        reset_fake();
        assert_int_equal(registration_start(&r, &c), 0);
        wait_state(REGISTRATION_CONNECTING, 1);
        /* Returns promptly although the admin never came. */
        r = registration_free(r);
        assert_null(r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_late_admin_and_restart),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_stop_while_waiting),
        };
        int r;

        rpc_init();
        r = cmocka_run_group_tests(tests, NULL, NULL);
        reset_fake();
        rpc_shutdown();
        return r;
}
