/* SPDX-License-Identifier: Apache-2.0 */
/*
 * givc admin: the admin service. This applet wires configuration, TLS and
 * the server together; the service itself lives in src/.
 */

#include <stdio.h>

#include "admin-config.h"
#include "applets.h"
#include "log.h"
#include "rpc-server.h"
#include "serve.h"

static const char admin_help[] =
        "Usage: givc admin [OPTIONS]\n"
        "\n"
        "The admin service of givc: the registry of agents, services and\n"
        "applications of every VM, with health checking and server reflection.\n"
        "\n"
        "Listeners (at least one; options may be repeated):\n"
        "      --addr ADDR            IP address to listen on, with --port    [$ADDR]\n"
        "      --port PORT            TCP port to listen on, with --addr      [$PORT]\n"
        "      --listen-tcp IP:PORT   Another TCP listener ([IPV6]:PORT for IPv6)\n"
        "      --listen-unix PATH     A unix socket listener\n"
        "      --listen ADDRESS       Any listener: HOST:PORT, unix:PATH, unix-abstract:NAME\n"
        "\n"
        "TLS (clients must present a certificate issued by the CA):\n"
        "      --use-tls              Use mutual TLS                          [$TLS=true]\n"
        "      --ca-cert PATH         CA certificate (PEM)                    [$CA_CERT]\n"
        "      --host-cert PATH       This server's certificate (PEM)         [$HOST_CERT]\n"
        "      --host-key PATH        This server's private key (PEM)         [$HOST_KEY]\n"
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

int admin_main(int argc, char **argv) {
        _cleanup_(admin_config_done) AdminConfig config = {};
        _cleanup_(tls_credentials_freep) TlsCredentials *tls = NULL;
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

        return serve_main(config.listeners, tls, config.shutdown_grace_ms, NULL);
}
