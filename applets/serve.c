/* SPDX-License-Identifier: Apache-2.0 */

#include <inttypes.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

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

/* Waits for a stop signal, pinging the watchdog meanwhile if systemd wants that. */
static int wait_for_stop(void) {
        sigset_t mask = stop_signals();
        uint64_t watchdog_usec = 0;
        struct timespec interval;

        if (sd_watchdog_enabled(false, &watchdog_usec) <= 0)
                watchdog_usec = 0;
        /* Twice per watchdog period, as systemd recommends. */
        interval = (struct timespec) {
                .tv_sec = (time_t) (watchdog_usec / 2 / USEC_PER_SEC),
                .tv_nsec = (long) (watchdog_usec / 2 % USEC_PER_SEC * NSEC_PER_USEC),
        };
        if (watchdog_usec > 0)
                log_debug("Pinging the watchdog every %" PRIu64 " ms.", watchdog_usec / 2 / USEC_PER_MSEC);

        for (;;) {
                int sig;

                if (watchdog_usec > 0) {
                        sig = sigtimedwait(&mask, NULL, &interval);
                        if (sig < 0 && errno == EAGAIN) {
                                (void) sd_notify(false, "WATCHDOG=1");
                                continue;
                        }
                } else
                        sig = sigwaitinfo(&mask, NULL);
                if (sig < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "Failed to wait for signals: %m");
                }
                if (sig == SIGHUP) {
                        log_info("Ignoring SIGHUP: the configuration is read at start only.");
                        continue;
                }
                return sig;
        }
}

/* With --debug, a line for every call: which method, who asked, what came of it, how long it took. */
static void log_call(const RpcCallSummary *c, void *userdata) {
        log_debug("%s from %s: %s in %.1f ms", strna(c->method), strna(c->peer),
                  c->answered ? strna(rpc_status_code_to_string(c->code)) : "cancelled",
                  (double) c->duration_usec / 1000.0);
}

int serve_main(Address *const *listeners, const TlsCredentials *tls, int64_t grace_ms,
               const ServeHooks *hooks) {
        _cleanup_(rpc_server_freep) RpcServer *s = NULL;
        ServeHooks h = hooks ? *hooks : (ServeHooks) {};
        int sig, r;

        serve_block_signals();

        r = rpc_server_new(&s, &(RpcServerOptions) {
                                       .on_call_end = log_get_max_level() >= LOG_DEBUG ? log_call : NULL,
                               });
        if (r < 0) {
                log_error_errno(r, "Failed to create the server: %m");
                return EXIT_FAILURE;
        }
        if (h.add_services && h.add_services(s, h.userdata) < 0)
                return EXIT_FAILURE;

        if (!tls)
                log_warning("TLS is off: anyone who can reach the listeners can use this server. "
                            "Use plaintext only for local tests.");
        for (Address *const *a = listeners; *a; a++) {
                _cleanup_free_ char *error = NULL, *text = NULL;

                r = rpc_server_add_listener(s, *a, tls, &error);
                if (r < 0) {
                        log_error_errno(r, "%s", error ?: "Failed to add a listener: %m");
                        return EXIT_FAILURE;
                }
                text = address_to_string(*a);
                log_info("Listening on %s (%s).", strna(text), tls ? "mutual TLS" : "plaintext");
        }

        r = rpc_server_start(s);
        if (r < 0) {
                log_error_errno(r, "Failed to start the server: %m");
                return EXIT_FAILURE;
        }
        (void) sd_notify(false, "READY=1\nSTATUS=Serving");

        if (h.started && h.started(s, h.userdata) < 0) {
                if (h.stopping)
                        h.stopping(h.userdata);
                (void) rpc_server_shutdown(s, 0);
                return EXIT_FAILURE;
        }

        sig = wait_for_stop();
        if (sig > 0)
                log_info("Received %s, stopping.", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping");
        if (h.stopping)
                h.stopping(h.userdata);
        if (rpc_server_shutdown(s, grace_ms) == -ETIMEDOUT)
                log_warning("Some calls were still being handled %d ms after they were cancelled; "
                            "exiting without them.", RPC_SHUTDOWN_HARD_MS);
        log_info("Stopped.");
        return sig > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
