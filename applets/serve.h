/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The life of a server role (agent, admin), shared by their applets:
 * signals, TLS, listeners, readiness, the watchdog and an orderly stop.
 */

#include <signal.h>

#include "address.h"
#include "rpc-server.h"
#include "tls.h"

/* What a role adds to the common life of a server; every member may be NULL. */
typedef struct ServeHooks {
        /* Adds the role's services before the server starts. Logs its own errors. */
        int (*add_services)(RpcServer *s, void *userdata);
        /* The server listens and systemd was told READY=1. Logs its own errors. */
        int (*started)(RpcServer *s, void *userdata);
        /* A stop was requested; the server still serves (grace period follows). */
        void (*stopping)(void *userdata);
        void *userdata;
} ServeHooks;

/**
 * serve_block_signals() - block SIGTERM, SIGINT and SIGHUP for the whole
 * process and ignore SIGPIPE. Call before anything starts a thread (gRPC
 * does at its first use), so that every thread inherits the mask and
 * serve_main() can wait for them.
 */
void serve_block_signals(void);

/**
 * serve_load_tls() - load and check the TLS files, logging what is wrong
 * Return: 0, or a negative errno (already logged).
 */
int serve_load_tls(const char *ca, const char *cert, const char *key, TlsCredentials **ret);

/**
 * serve_main() - create a server, listen on @listeners (NULL-terminated) with
 * mutual TLS when @tls is set (else in plaintext, with a warning), serve
 * until SIGTERM or SIGINT, then stop within @grace_ms.
 *
 * Tells systemd READY=1 once listening and STOPPING=1 when stopping, and
 * pings the watchdog when systemd asked for it (WATCHDOG_USEC).
 * Return: the exit status (errors are logged).
 */
int serve_main(Address *const *listeners, const TlsCredentials *tls, int64_t grace_ms, const ServeHooks *hooks);
