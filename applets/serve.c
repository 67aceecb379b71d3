/* SPDX-License-Identifier: Apache-2.0 */

#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "serve.h"

static sigset_t stop_signals(void) {
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        return mask;
}

void serve_block_signals(void) {
        sigset_t mask = stop_signals();

        (void) signal(SIGPIPE, SIG_IGN);
        (void) pthread_sigmask(SIG_BLOCK, &mask, NULL);
}

int serve_load_tls(const char *ca, const char *cert, const char *key, TlsCredentials **ret) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = tls_credentials_load(ca, cert, key, ret, &error);
        if (r < 0)
                return log_error_errno(r, "%s", error ?: "Failed to load the TLS credentials: %m");
        return 0;
}

int serve_run(RpcServer *s, Address *const *listeners, const TlsCredentials *tls, int64_t grace_ms) {
        sigset_t mask = stop_signals();
        int sig, r;

        if (!tls)
                log_warning("TLS is off: anyone who can reach the listeners can use this server. "
                            "Use plaintext only for local tests.");

        for (Address *const *a = listeners; *a; a++) {
                _cleanup_free_ char *error = NULL, *text = NULL;

                r = rpc_server_add_listener(s, *a, tls, &error);
                if (r < 0)
                        return log_error_errno(r, "%s", error ?: "Failed to add a listener: %m");
                text = address_to_string(*a);
                log_info("Listening on %s (%s).", strna(text), tls ? "mutual TLS" : "plaintext");
        }

        r = rpc_server_start(s);
        if (r < 0)
                return log_error_errno(r, "Failed to start the server: %m");

        (void) sd_notify(false, "READY=1\nSTATUS=Serving");

        for (;;) {
                r = sigwait(&mask, &sig);
                if (r != 0)
                        return log_error_errno(-r, "Failed to wait for signals: %m");
                if (sig == SIGHUP) {
                        log_info("Ignoring SIGHUP: the configuration is read at start only.");
                        continue;
                }
                break;
        }

        log_info("Received %s, stopping.", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping");
        rpc_server_shutdown(s, grace_ms);
        log_info("Stopped.");
        return 0;
}

int serve_main(const ServeConfig *c, int (*add_services)(RpcServer *s, void *userdata), void *userdata) {
        _cleanup_(tls_credentials_freep) TlsCredentials *tls = NULL;
        _cleanup_(rpc_server_freep) RpcServer *server = NULL;
        int r;

        if (c->use_tls && serve_load_tls(c->ca_cert, c->host_cert, c->host_key, &tls) < 0)
                return EXIT_FAILURE;

        if (c->check_config) {
                printf("The configuration is valid.\n");
                return EXIT_SUCCESS;
        }

        serve_block_signals();

        r = rpc_server_new(&server, NULL);
        if (r < 0) {
                log_error_errno(r, "Failed to create the server: %m");
                return EXIT_FAILURE;
        }
        if (add_services) {
                r = add_services(server, userdata);
                if (r < 0)
                        return EXIT_FAILURE; /* logged by the role */
        }

        r = serve_run(server, c->listeners, tls, c->shutdown_grace_ms);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
