/* SPDX-License-Identifier: Apache-2.0 */
/*
 * givc admin: the admin service. This applet wires configuration, TLS and
 * the server together; the service itself lives in src/.
 */

#include <stdio.h>

#include "admin-config.h"
#include "admin-service.h"
#include "applets.h"
#include "log.h"
#include "rpc-server.h"
#include "serve.h"
#include "timer.h"

static const char admin_help[] =
        "Usage: givc admin [OPTIONS]\n"
        "\n"
        "The admin service of givc: the registry of agents, services and\n"
        "applications of every VM; it starts applications in their VMs (booting the\n"
        "VM through the host agent when needed), pauses, resumes and stops them, powers\n"
        "the host off, reboots or suspends it, sets locale and timezone everywhere, and\n"
        "streams the registry's changes (Watch).\n"
        "\n"
        "Listeners (at least one; options may be repeated):\n"
        "      --addr ADDR            IP address to listen on, with --port    [$ADDR]\n"
        "      --port PORT            TCP port to listen on, with --addr      [$PORT]\n"
        "      --listen-tcp IP:PORT   Another TCP listener ([IPV6]:PORT for IPv6)\n"
        "      --listen-unix PATH     A unix socket listener\n"
        "      --listen ADDRESS       Any listener: HOST:PORT, unix:PATH, unix-abstract:NAME\n"
        "      --vsock CID:PORT       Upstream's vsock listener: refused, as gRPC core 1.51\n"
        "                             has no vsock transport\n"
        "\n"
        "TLS (clients must present a certificate issued by the CA):\n"
        "      --use-tls              Use mutual TLS                          [$TLS=true]\n"
        "      --ca-cert PATH         CA certificate (PEM)                    [$CA_CERT]\n"
        "      --host-cert PATH       This server's certificate (PEM)         [$HOST_CERT]\n"
        "      --host-key PATH        This server's private key (PEM)         [$HOST_KEY]\n"
        "\n"
        "Registry and monitor:\n"
        "      --state-dir DIR        Where the registry, locale and timezone are kept\n"
        "                             (default /var/lib/givc)           [$STATE_DIRECTORY]\n"
        "      --monitor-interval TIME\n"
        "                             How often every agent is asked for the status\n"
        "                             of what it runs (default 5s)\n"
        "      --vm-start-timeout TIME\n"
        "                             How long StartApplication waits for a booting\n"
        "                             VM's agent to register (default 30s)\n"
        "      --restart-vms          Start a VM again when its agent went away\n"
        "\n"
        "Other options:\n"
        "      --services LIST        Accepted for compatibility; no effect   [$SERVICES]\n"
        "      --shutdown-grace TIME  How long running calls may take to finish on\n"
        "                             SIGTERM before they are cancelled (default 5s)\n"
        "      --debug                Log debug messages        [$GIVC_LOG=debug, $DEBUG=true]\n"
        "      --check-config         Check the configuration, TLS files included, and exit\n"
        "  -h --help                  Show this help\n"
        "     --version               Show the version\n"
        "\n"
        "Options win over environment variables. Without TLS the server warns that\n"
        "it is open to anyone who can reach it.\n"
        "\n"
        "Example:\n"
        "  givc admin --addr 192.168.101.10 --port 9001 --use-tls \\\n"
        "      --ca-cert /etc/givc/ca-cert.pem --host-cert /etc/givc/admin-vm-cert.pem \\\n"
        "      --host-key /etc/givc/admin-vm-key.pem\n";

static void on_admin_log(int level, const char *text, void *userdata) {
        log_full_errno(level, 0, "%s", text);
}

static int admin_add_services(RpcServer *s, void *userdata) {
        int r = admin_service_attach(userdata, s);

        if (r < 0)
                return log_error_errno(r, "Failed to add the admin service: %m");
        return 0;
}

static int admin_started(RpcServer *s, void *userdata) {
        int r = admin_service_start(userdata);

        if (r < 0)
                return log_error_errno(r, "Failed to start the monitor: %m");
        return 0;
}

int admin_main(int argc, char **argv) {
        _cleanup_(admin_config_done) AdminConfig config = {};
        _cleanup_(tls_credentials_freep) TlsCredentials *tls = NULL;
        _cleanup_(timers_freep) Timers *timers = NULL;
        _cleanup_(admin_service_freep) AdminService *service = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = admin_config_parse(&config, argc, argv, &error);
        r = applet_parse_result(r, "admin", admin_help, error);
        if (r >= 0)
                return r;
        log_set_max_level(config.log_level);

        if (config.use_tls && serve_load_tls(config.ca_cert, config.host_cert, config.host_key, &tls) < 0)
                return EXIT_FAILURE;
        if (config.check_config) {
                printf("The configuration is valid.\n");
                return EXIT_SUCCESS;
        }
        if (!tls)
                log_warning("Without TLS, registrations cannot be checked against certificates: "
                            "any client may register anything.");

        serve_block_signals();
        r = timers_new(&timers);
        if (r < 0)
                return log_error_errno(r, "Failed to start the timer thread: %m"), EXIT_FAILURE;
        r = admin_service_new(&service,
                              &(AdminServiceConfig) {
                                      .tls = tls,
                                      .state_dir = config.state_dir,
                                      .timers = timers,
                                      .monitor_interval_ms = config.monitor_interval_ms,
                                      .vm_start_timeout_ms = config.vm_start_timeout_ms,
                                      .restart_vms = config.restart_vms,
                                      .log = on_admin_log,
                              },
                              &error);
        if (r < 0) {
                log_error_errno(r, "%s", error ?: "Failed to set up the admin service: %m");
                return EXIT_FAILURE;
        }

        r = serve_main(config.listeners, tls, config.shutdown_grace_ms,
                       &(ServeHooks) {
                               .add_services = admin_add_services,
                               .started = admin_started,
                               .userdata = service,
                       });
        /* The server is gone: no handler can use the service any more. */
        admin_service_stop(service);
        return r;
}
