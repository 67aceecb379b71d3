/* SPDX-License-Identifier: Apache-2.0 */
/*
 * givc cli: the client of the admin service. Global options select and
 * authenticate the admin; a verb table dispatches the subcommand.
 */

#include <stdio.h>

#include "applets.h"
#include "cli-config.h"
#include "health.pb-c.h"
#include "log.h"
#include "rpc-client.h"

static const char cli_help[] =
        "Usage: givc cli [OPTIONS] COMMAND [ARGUMENTS]\n"
        "\n"
        "Talk to the givc admin service.\n"
        "\n"
        "Commands:\n"
        "  health [SERVICE]       Ask whether the admin (or one of its services) is serving\n"
        "\n"
        "Options (before the command):\n"
        "      --addr ADDR        Admin address: an IP or host name with --port, or\n"
        "                         unix:PATH or unix-abstract:NAME     [$GIVC_ADDR, $ADDR]\n"
        "      --port PORT        Admin TCP port                      [$GIVC_PORT, $PORT]\n"
        "      --name NAME        Name in the admin's certificate     [$GIVC_NAME, $NAME]\n"
        "                         (default: the host given with --addr)\n"
        "      --cacert PATH      CA certificate                  [$GIVC_CA_CERT, $CA_CERT]\n"
        "      --cert PATH        Client certificate          [$GIVC_HOST_CERT, $HOST_CERT]\n"
        "      --key PATH         Client private key            [$GIVC_HOST_KEY, $HOST_KEY]\n"
        "      --notls            Plaintext (only for servers started without TLS)\n"
        "      --timeout TIME     Give up on a call after TIME (default 5s) [$GIVC_TIMEOUT]\n"
        "      --debug            Log debug messages\n"
        "  -h --help              Show this help\n"
        "     --version           Show the version\n"
        "\n"
        "Exit status: 0 on success, 1 when the request failed, 2 for usage errors.\n"
        "\n"
        "Example:\n"
        "  givc cli --addr 192.168.101.10 --port 9001 --name admin-vm \\\n"
        "      --cacert ca-cert.pem --cert ghaf-host-cert.pem --key ghaf-host-key.pem health\n";

typedef struct Verb {
        const char *name;
        int min_args, max_args;
        int (*run)(RpcChannel *channel, const CliConfig *config, int argc, char **argv);
} Verb;

static int verb_health(RpcChannel *channel, const CliConfig *config, int argc, char **argv) {
        Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        _cleanup_pb_ Grpc__Health__V1__HealthCheckResponse *resp = NULL;
        _cleanup_(rpc_status_done) RpcStatus status = RPC_STATUS_NULL;
        const ProtobufCEnumValue *v;
        int r;

        req.service = argc > 1 ? argv[1] : (char *) "";
        r = rpc_channel_call(channel, "/grpc.health.v1.Health/Check", &req.base,
                             &grpc__health__v1__health_check_response__descriptor, config->timeout_ms, 0,
                             (ProtobufCMessage **) &resp, &status);
        if (r < 0) {
                log_error("Health check of '%s' failed: %s (%s)", rpc_channel_target(channel),
                          strna(status.message), strna(rpc_status_code_to_string(status.code)));
                return EXIT_FAILURE;
        }

        v = protobuf_c_enum_descriptor_get_value(&grpc__health__v1__health_check_response__serving_status__descriptor,
                                                 (int) resp->status);
        printf("%s\n", v ? v->name : "UNKNOWN");
        return resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING ? EXIT_SUCCESS
                                                                                                  : EXIT_FAILURE;
}

static const Verb verbs[] = {
        { "health", 0, 1, verb_health },
};

int cli_main(int argc, char **argv) {
        _cleanup_(cli_config_done) CliConfig config = {};
        _cleanup_(tls_credentials_freep) TlsCredentials *tls = NULL;
        _cleanup_(rpc_channel_freep) RpcChannel *channel = NULL;
        _cleanup_free_ char *error = NULL;
        const Verb *verb = NULL;
        int n_args, r;

        r = cli_config_parse(&config, argc, argv, &error);
        r = applet_parse_result(r, "cli", cli_help, error);
        if (r >= 0)
                return r;
        log_set_max_level(config.log_level);

        if (config.command_index >= argc) {
                log_error("No command given; see 'givc cli --help'.");
                return EXIT_USAGE;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, argv[config.command_index]))
                        verb = &verbs[i];
        if (!verb) {
                log_error("Unknown command '%s'; see 'givc cli --help'.", argv[config.command_index]);
                return EXIT_USAGE;
        }
        n_args = argc - config.command_index - 1;
        if (n_args < verb->min_args || n_args > verb->max_args) {
                log_error("Wrong number of arguments for '%s'; see 'givc cli --help'.", verb->name);
                return EXIT_USAGE;
        }

        if (config.use_tls) {
                r = tls_credentials_load(config.ca_cert, config.cert, config.key, &tls, &error);
                if (r < 0) {
                        log_error("%s", error ?: "Failed to load the TLS credentials");
                        return EXIT_FAILURE;
                }
        }

        r = rpc_channel_new(&channel, config.target, config.name, tls, NULL);
        if (r < 0) {
                log_error_errno(r, "Failed to create a channel: %m");
                return EXIT_FAILURE;
        }

        return verb->run(channel, &config, n_args + 1, argv + config.command_index);
}
