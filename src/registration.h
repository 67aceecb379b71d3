/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The agent's registration with the admin (spec §2.3), kept alive.
 *
 * A thread registers the agent entry ("givc-<name>.service", TYPE, PARENT,
 * its own TransportConfig) and then each ".service" of SERVICES (SUBTYPE,
 * Parent = the agent entry). While the admin is unreachable it waits for it
 * to come up (without polling: a call that waits for the connection), and
 * backs off exponentially, up to a cap, after other failures.
 *
 * Upstream registers once per agent start, so an admin restart loses the
 * agent until the agent restarts too. Here, once registered, the thread
 * holds a stream open to the admin (grpc.health.v1.Health/Watch, or
 * admin.AdminService/Watch for an admin without health checking, like
 * upstream's); when that stream ends, the admin went away, and the thread
 * registers again as soon as it is back.
 */

#include <stdint.h>

#include "address.h"
#include "tls.h"

typedef struct Registration Registration;

typedef enum RegistrationState {
        REGISTRATION_CONNECTING, /* the admin is not reachable (yet) */
        REGISTRATION_FAILED,     /* the admin refused; retrying later */
        REGISTRATION_REGISTERED, /* the agent entry is registered */
        REGISTRATION_LOST,       /* the connection to the admin broke; registering again */
        _REGISTRATION_STATE_MAX,
        _REGISTRATION_STATE_INVALID = -EINVAL,
} RegistrationState;

/* Called from the registration thread on every change; @text says what happened. */
typedef void (*RegistrationCallback)(RegistrationState state, const char *text, void *userdata);

typedef struct RegistrationConfig {
        const Address *admin;
        const char *admin_tls_name;
        const TlsCredentials *tls;   /* NULL: plaintext */

        const char *agent_unit;      /* givc-<name>.service */
        const char *parent;          /* PARENT, may be NULL */
        uint32_t type;
        uint32_t subtype;
        const char *protocol;        /* the agent's own TransportConfig */
        const char *address;
        const char *port;
        const char *name;
        char *const *services;       /* SERVICES; only ".service" units are registered */

        int64_t call_timeout_ms;     /* each registration call; 0: 5 s */
        int64_t max_backoff_ms;      /* cap of the backoff after a refusal; 0: 30 s */

        RegistrationCallback callback;
        void *userdata;
} RegistrationConfig;

/* Starts the thread. The configuration must outlive it. */
int registration_start(Registration **ret, const RegistrationConfig *c);

/* Stops the thread (ending any wait or stream at once) and frees. Returns NULL. */
Registration *registration_free(Registration *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Registration *, registration_free);

/* How many times the agent entry was registered so far. */
unsigned registration_count(Registration *r);
