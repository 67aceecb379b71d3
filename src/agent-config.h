/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The agent's configuration, read the way upstream's Go agent reads it
 * (spec §2.1), with a command-line option for every setting; options win
 * over the environment.
 *
 *   AGENT={"name","addr","port","protocol"}      own endpoint and TLS name
 *     or the older NAME, ADDR, PORT, PROTO
 *   TLS_CONFIG={"enable","caCertPath","certPath","keyPath"}
 *     or the older TLS (!= "false" means on), CA_CERT, HOST_CERT, HOST_KEY
 *   DEBUG=true                                    debug logging
 *
 * JSON keys match case-insensitively, as Go's encoding/json does.
 */

#include <stdbool.h>
#include <stdint.h>

#include "address.h"
#include "admin-config.h"

typedef struct AgentConfig {
        char *name;     /* the agent's name; its unit is givc-<name>.service */
        char *addr;     /* as configured, for the admin's TransportConfig */
        char *port;
        char *protocol; /* "tcp", "unix" or "abstract" */
        Address *listen;

        bool use_tls;
        char *ca_cert;
        char *host_cert;
        char *host_key;

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
