/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * admin.AdminService (spec §3): registration of agents and their services,
 * starting applications in VMs (booting the VM through the host agent when
 * needed), pausing, resuming and stopping them, power actions on the host,
 * locale and timezone for every VM, and the registry's QueryList and Watch.
 *
 * Beyond upstream: registrations are bound to the client certificate; a VM
 * that has to boot is waited for (its agent's registration) instead of
 * slept on; the monitor polls every agent in parallel with deadlines and
 * reports only changes; the registry, locale and timezone survive restarts
 * (also a SIGKILL: a started application, a locale or a timezone is saved
 * before its reply is sent); Watch subscribers have bounded queues.
 */

#include <stdbool.h>
#include <stdint.h>

#include "registry.h"
#include "rpc-server.h"
#include "timer.h"
#include "tls.h"

typedef struct AdminService AdminService;

/* What the service has to say that the applet should log. */
typedef void (*AdminLogCallback)(int level, const char *text, void *userdata);

typedef struct AdminServiceConfig {
        const TlsCredentials *tls;     /* the admin's own, also for calls to agents; NULL: plaintext */
        const char *state_dir;         /* where the state is kept; NULL: nothing is kept */
        Timers *timers;                /* runs the monitor */
        int64_t monitor_interval_ms;   /* 0: 5 s */
        int64_t poll_timeout_ms;       /* each poll of an agent; 0: the interval, at most 3 s */
        int64_t vm_start_timeout_ms;   /* waiting for a booting VM's agent; 0: 30 s */
        int64_t call_timeout_ms;       /* other calls to agents; 0: 30 s */
        bool restart_vms;              /* start a VM again whose agent went away */
        AdminLogCallback log;
        void *log_userdata;
} AdminServiceConfig;

/**
 * admin_service_new() - create the service, with the registry, locale and
 * timezone restored from the state directory if there is one
 * @ret_error: on failure, a sentence for people
 *
 * A state file that cannot be read is moved aside (and reported through
 * the log callback); the admin then starts empty and agents re-register.
 */
int admin_service_new(AdminService **ret, const AdminServiceConfig *c, char **ret_error);
AdminService *admin_service_free(AdminService *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(AdminService *, admin_service_free);

/* Adds AdminService's methods and shutdown hook to @s (before rpc_server_start()). */
int admin_service_attach(AdminService *a, RpcServer *s);

/* Starts the monitor (its first round right away) and the state writer. */
int admin_service_start(AdminService *a);

/* Stops the monitor and writes the state a last time. */
void admin_service_stop(AdminService *a);

Registry *admin_service_registry(AdminService *a);
