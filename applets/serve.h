/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The life of a server role (agent, admin), shared by their applets:
 * signals, TLS, listeners, readiness, and an orderly stop.
 */

#include <signal.h>

#include "address.h"
#include "rpc-server.h"
#include "tls.h"

/**
 * serve_block_signals() - block SIGTERM, SIGINT and SIGHUP for the whole
 * process and ignore SIGPIPE. Call before anything starts a thread (gRPC
 * does at its first use), so that every thread inherits the mask and
 * serve_run() can sigwait() for them.
 */
void serve_block_signals(void);

typedef struct ServeConfig {
        Address *const *listeners; /* NULL-terminated */
        bool use_tls;
        const char *ca_cert;
        const char *host_cert;
        const char *host_key;
        bool check_config;
        int64_t shutdown_grace_ms;
} ServeConfig;

/**
 * serve_main() - the whole life of a server role: check the TLS files, stop
 * here for --check-config, create the server, let @add_services add the
 * role's services, then serve_run()
 *
 * Return: the exit status.
 */
int serve_main(const ServeConfig *c, int (*add_services)(RpcServer *s, void *userdata), void *userdata);

/**
 * serve_load_tls() - load and check the TLS files, logging what is wrong
 * Return: 0, or a negative errno (already logged).
 */
int serve_load_tls(const char *ca, const char *cert, const char *key, TlsCredentials **ret);

/**
 * serve_run() - listen on @listeners (NULL-terminated), with mutual TLS when
 * @tls is set, else in plaintext with a warning; serve until SIGTERM or
 * SIGINT; then stop within @grace_ms.
 *
 * Tells systemd READY=1 once listening and STOPPING=1 when stopping.
 * Return: 0 after a requested stop, or a negative errno (already logged).
 */
int serve_run(RpcServer *s, Address *const *listeners, const TlsCredentials *tls, int64_t grace_ms);
