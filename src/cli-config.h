/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The CLI's global options: upstream givc-cli's (spec §4) and their
 * environment variables, where the GIVC_-prefixed variable wins over the
 * plain one and an option wins over both.
 *
 *   --addr ADDR     [GIVC_ADDR, ADDR]       admin address; or unix:PATH,
 *                                           unix-abstract:NAME (no port then)
 *   --port PORT     [GIVC_PORT, PORT]
 *   --name NAME     [GIVC_NAME, NAME]       TLS name of the admin
 *   --cacert PATH   [GIVC_CA_CERT, CA_CERT]
 *   --cert PATH     [GIVC_HOST_CERT, HOST_CERT]
 *   --key PATH      [GIVC_HOST_KEY, HOST_KEY]  (--host-key: the same, as upstream)
 *   --notls                                 plaintext
 *   --notls         [GIVC_NO_TLS=true]
 *   --timeout TIME  [GIVC_TIMEOUT]          deadline of each call (default 5s)
 *   --debug
 *
 * Parsing only collects; cli_config_resolve() then insists on an address
 * and the TLS files, so `givc cli start --help` works without them.
 */

#include <stdbool.h>
#include <stdint.h>

#include "address.h"
#include "admin-config.h"

typedef struct CliConfig {
        char *address;        /* as given */
        char *address_source; /* "--addr", "ADDR" or "GIVC_ADDR", for messages */
        char *port;
        Address *target;      /* set by cli_config_resolve() */
        char *name;
        bool use_tls;
        char *ca_cert;
        char *cert;
        char *key;
        int64_t timeout_ms;
        bool timeout_set; /* given with --timeout or GIVC_TIMEOUT, not the default */
        int log_level;
        int command_index; /* argv index of the subcommand; argc when there is none */
} CliConfig;

/**
 * cli_config_parse() - parse the environment and the global options, which
 * come before the subcommand
 * @ret_error: on -EINVAL, a malloc'd sentence naming the option or variable
 *
 * Return: a ConfigParseResult, -EINVAL, -ENOMEM.
 */
int cli_config_parse(CliConfig *c, int argc, char **argv, char **ret_error);

/**
 * cli_config_resolve() - the admin's address, and the TLS files unless --notls
 * @ret_error: on -EINVAL, a malloc'd sentence saying what is missing or wrong
 *
 * Return: 0, -EINVAL, -ENOMEM.
 */
int cli_config_resolve(CliConfig *c, char **ret_error);

void cli_config_done(CliConfig *c);
