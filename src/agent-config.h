/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The agent's configuration, read the way upstream's Go agent reads it
 * (spec §2.1), with a command-line option for every setting; options win
 * over the environment.
 *
 *   AGENT={"name","addr","port","protocol"}         own endpoint and TLS name
 *     or the older NAME, ADDR, PORT, PROTO
 *   ADMIN_SERVER={"name","addr","port","protocol"}  the admin to register with
 *     or the older ADMIN_SERVER_NAME, _ADDR, _PORT, _PROTO
 *   TLS_CONFIG={"enable","caCertPath","certPath","keyPath"}
 *     or the older TLS (anything but "false" is on), CA_CERT, HOST_CERT, HOST_KEY
 *   TYPE, SUBTYPE        unit types 0..14 of the agent and of its services
 *   PARENT               copied into the agent's registration
 *   SERVICES             space-separated units the agent may control
 *   APPLICATIONS         JSON application manifests (applications.h)
 *   HWID, HWID_IFACE     serve hwid.HwidService ("false" or unset: off)
 *   DEBUG=true           debug logging
 *
 * JSON keys match case-insensitively, as Go's encoding/json does. AGENT,
 * ADMIN_SERVER, TYPE and SUBTYPE are required, as upstream requires them.
 * WIFI and SOCKET_PROXY are recognised but not served by this agent; asking
 * for them produces a warning (config->warnings), not silence.
 */

#include <stdbool.h>
#include <stdint.h>

#include "address.h"
#include "admin-config.h"
#include "applications.h"
#include "unit.h"

/* Upstream's unit types run from 0 (host manager) to 14 (app VM application). */
#define UNIT_TYPE_MAX 14U

typedef struct AgentConfig {
        char *name;     /* the agent's name; its unit is givc-<name>.service */
        char *addr;     /* as configured, for the admin's TransportConfig */
        char *port;
        char *protocol; /* "tcp", "unix" or "abstract" */
        Address *listen;

        char *admin_name; /* the name on the admin's certificate */
        Address *admin;

        bool use_tls;
        char *ca_cert;
        char *host_cert;
        char *host_key;

        uint32_t type;
        uint32_t subtype;
        char *parent;
        char **services;  /* NULL-terminated, never NULL after parsing */
        AppManifests *applications;
        bool hwid;
        char *hwid_iface; /* NULL: find the one wl* interface */
        UnitBusKind bus_kind;

        char **warnings;  /* sentences to log once, NULL-terminated or NULL */
        int log_level;
        bool check_config;
        int64_t shutdown_grace_ms;
} AgentConfig;

/**
 * agent_config_parse() - read the environment and @argv into @c
 * @ret_error: on failure, a malloc'd sentence naming the variable or option
 *
 * Return: a ConfigParseResult, -EINVAL for a bad value or usage (the caller
 * exits 2, systemd's EXIT_INVALIDARGUMENT), -ENOMEM.
 */
int agent_config_parse(AgentConfig *c, int argc, char **argv, char **ret_error);

void agent_config_done(AgentConfig *c);

/* "givc-<name>.service", malloc'd. */
char *agent_config_unit_name(const AgentConfig *c);
