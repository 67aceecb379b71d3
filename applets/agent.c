/* SPDX-License-Identifier: Apache-2.0 */
/*
 * givc agent: runs on the host and in every VM and serves the admin. This
 * applet wires configuration, TLS and the server together.
 */

#include "agent-config.h"
#include "applets.h"
#include "log.h"
#include "rpc-server.h"
#include "serve.h"

static const char agent_help[] =
        "Usage: givc agent [OPTIONS]\n"
        "\n"
        "The givc agent of a host or VM: a gRPC server over mutual TLS with health\n"
        "checking and server reflection.\n"
        "\n"
        "Own endpoint (AGENT='{\"name\":…,\"addr\":…,\"port\":…,\"protocol\":…}', or NAME, ADDR,\n"
        "PORT, PROTO):\n"
        "      --name NAME            The agent's name (its unit is givc-NAME.service)\n"
        "      --addr ADDR            Address to listen on (IP, host name, or socket path)\n"
        "      --port PORT            TCP port to listen on\n"
        "      --protocol PROTO       tcp (default), unix or abstract\n"
        "\n"
        "TLS (TLS_CONFIG='{\"enable\":true,\"caCertPath\":…,\"certPath\":…,\"keyPath\":…}', or\n"
        "TLS, CA_CERT, HOST_CERT, HOST_KEY):\n"
        "      --use-tls / --no-tls   Use mutual TLS, or plaintext (off unless configured)\n"
        "      --ca-cert PATH         CA certificate clients and servers must chain to\n"
        "      --host-cert PATH       This agent's certificate\n"
        "      --host-key PATH        This agent's private key\n"
        "\n"
        "Other options:\n"
        "      --shutdown-grace TIME  How long running calls may take to finish on\n"
        "                             SIGTERM before they are cancelled (default 5s)\n"
        "      --debug                Log debug messages                       [$DEBUG=true]\n"
        "      --check-config         Check the configuration, TLS files included, and exit\n"
        "  -h --help                  Show this help\n"
        "     --version               Show the version\n"
        "\n"
        "Options win over environment variables.\n"
        "\n"
        "Example:\n"
        "  AGENT='{\"name\":\"gui-vm\",\"addr\":\"192.168.101.3\",\"port\":\"9000\"}' \\\n"
        "  TLS_CONFIG='{\"enable\":true,\"caCertPath\":\"/etc/givc/ca-cert.pem\",\n"
        "               \"certPath\":\"/etc/givc/gui-vm-cert.pem\",\"keyPath\":\"/etc/givc/gui-vm-key.pem\"}' \\\n"
        "  givc agent\n";

int agent_main(int argc, char **argv) {
        _cleanup_(agent_config_done) AgentConfig config = {};
        _cleanup_free_ char *error = NULL;
        int r;

        r = agent_config_parse(&config, argc, argv, &error);
        r = applet_parse_result(r, "agent", agent_help, error);
        if (r >= 0)
                return r;
        log_set_max_level(config.log_level);

        return serve_main(&(ServeConfig) {
                                  .listeners = (Address *[]) { config.listen, NULL },
                                  .use_tls = config.use_tls,
                                  .ca_cert = config.ca_cert,
                                  .host_cert = config.host_cert,
                                  .host_key = config.host_key,
                                  .check_config = config.check_config,
                                  .shutdown_grace_ms = config.shutdown_grace_ms,
                          },
                          NULL, NULL);
}
