/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The admin service's configuration: upstream givc-admin's command line and
 * environment (spec §3.1), plus what givc adds.
 *
 *   --addr ADDR / ADDR, --port PORT / PORT   one TCP listener ADDR:PORT
 *   --listen-tcp IP:PORT (repeatable)        more TCP listeners
 *   --listen-unix PATH (repeatable)          unix socket listeners
 *   --listen ADDRESS (repeatable)            any address form (address.h)
 *   --use-tls / TLS=true|false               mutual TLS, with
 *   --ca-cert / CA_CERT, --host-cert / HOST_CERT, --host-key / HOST_KEY
 *   --services / SERVICES                    accepted and ignored, as upstream
 *   --state-dir DIR / STATE_DIRECTORY        where the registry, locale and
 *                                            timezone are kept (/var/lib/givc)
 *   --monitor-interval TIME                  how often agents are polled (5s)
 *   --vm-start-timeout TIME                  how long to wait for a booting VM (30s)
 *   --restart-vms                            start a VM again whose agent went away
 *   --debug, GIVC_LOG=LEVEL, DEBUG=true      log level
 *   --check-config                           validate and exit
 *
 * Options win over the environment. Upstream's Nix module also exports
 * NAME, PROTO, TYPE and SUBTYPE; upstream ignores them and so do we.
 */

#include <stdbool.h>

#include "address.h"

typedef struct AdminConfig {
        Address **listeners; /* NULL-terminated */
        size_t n_listeners;
        bool use_tls;
        char *ca_cert;
        char *host_cert;
        char *host_key;
        char **services;
        int log_level; /* a LOG_* level */
        bool check_config;
        int64_t shutdown_grace_ms;
        char *state_dir;
        int64_t monitor_interval_ms;
        int64_t vm_start_timeout_ms;
        bool restart_vms;
} AdminConfig;

#define ADMIN_DEFAULT_STATE_DIR "/var/lib/givc"

/* What admin_config_parse() found, besides errors. */
typedef enum ConfigParseResult {
        CONFIG_RUN = 0,     /* go ahead */
        CONFIG_HELP = 1,    /* --help was given */
        CONFIG_VERSION = 2, /* --version was given */
} ConfigParseResult;

/**
 * admin_config_parse() - read the environment and @argv (argv[0] is the
 * applet name) into @c
 * @ret_error: on failure, a malloc'd sentence naming the option or variable
 *
 * Return: a ConfigParseResult, or -EINVAL for a bad value or usage (the
 * caller exits 2), -ENOMEM.
 */
int admin_config_parse(AdminConfig *c, int argc, char **argv, char **ret_error);

void admin_config_done(AdminConfig *c);
