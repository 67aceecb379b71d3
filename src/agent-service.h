/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * What an agent serves: systemd.UnitControlService (the units it is allowed
 * to control), locale.LocaleClient (locale and timezone through
 * systemd-localed/timedated) and, when configured, hwid.HwidService.
 *
 * The whitelist is the agent's own unit (givc-<name>.service), the units of
 * SERVICES, and instances of the applications of its manifest
 * ("<app>@<N>.service"): also those an earlier run of the agent started.
 * Anything else is NOT_FOUND, as upstream answers.
 *
 * Where upstream was wrong, this is right: StartUnit starts (upstream
 * restarted), KillUnit reports failures (upstream ignored them), an
 * application instance that exists already is refused (upstream replaced
 * it), and MonitorUnit samples systemd's accounting and ends early when the
 * unit stops or the client goes away.
 */

#include <stdint.h>

#include "applications.h"
#include "rpc-server.h"
#include "timer.h"

typedef struct AgentService AgentService;

typedef struct AgentServiceConfig {
        const char *agent_unit;            /* givc-<name>.service */
        const char *self_unit;             /* the unit the agent really runs in, when that is another
                                            * (givc-agent@<name>.service); requests for agent_unit go to
                                            * it. NULL: the same. */
        char *const *services;             /* SERVICES, NULL-terminated */
        const AppManifests *applications;  /* may be NULL */
        const char *hwid_iface;            /* serve hwid.HwidService from this interface; NULL: not served */
        const char *sysfs_net;             /* where interfaces are (HWID_SYSFS_NET) */
        Timers *timers;                    /* runs MonitorUnit's samples */
        int64_t job_timeout_ms;            /* longest wait for a start/stop job; 0: 90 s */
        int64_t monitor_interval_ms;       /* 0: upstream's 400 ms */
        unsigned monitor_samples;          /* 0: upstream's 50 */
} AgentServiceConfig;

/* The configuration's strings and objects must outlive the service. */
int agent_service_new(AgentService **ret, const AgentServiceConfig *c);
AgentService *agent_service_free(AgentService *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(AgentService *, agent_service_free);

/* Adds the services' methods to @s (before rpc_server_start()). */
int agent_service_attach(AgentService *a, RpcServer *s);

/* Is @unit one the agent may control? */
bool agent_service_unit_allowed(const AgentService *a, const char *unit);

/* Allowed as the agent itself or one of its SERVICES, not as an application instance. */
bool agent_service_unit_listed(const AgentService *a, const char *unit);
