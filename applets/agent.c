/* SPDX-License-Identifier: Apache-2.0 */
/*
 * givc agent: runs on the host and in every VM, controls that machine's
 * systemd units for the admin and registers with it. This applet wires the
 * configuration, systemd, TLS, the server and the registration together.
 */

#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "agent-config.h"
#include "agent-service.h"
#include "applets.h"
#include "hwid.h"
#include "log.h"
#include "registration.h"
#include "serve.h"
#include "timer.h"
#include "unit.h"

static const char agent_help[] =
        "Usage: givc agent [OPTIONS]\n"
        "\n"
        "The givc agent of a host or VM: controls the units of a systemd manager for\n"
        "the admin service, starts applications, sets locale and timezone, and keeps\n"
        "itself registered with the admin. Configured by upstream's environment\n"
        "variables; every setting also has an option, and options win.\n"
        "\n"
        "Own endpoint [AGENT='{\"name\":…,\"addr\":…,\"port\":…,\"protocol\":…}', or NAME, ADDR,\n"
        "PORT, PROTO]:\n"
        "      --name NAME            The agent's name; its unit is givc-NAME.service\n"
        "      --addr ADDR            Address to listen on (IP, host name, or socket path)\n"
        "      --port PORT            TCP port to listen on\n"
        "      --protocol PROTO       tcp (default), unix or abstract\n"
        "\n"
        "Admin [ADMIN_SERVER='{…same keys…}', or ADMIN_SERVER_NAME, _ADDR, _PORT, _PROTO]:\n"
        "      --admin-name NAME      Name on the admin's certificate\n"
        "      --admin-addr ADDR      --admin-port PORT      --admin-protocol PROTO\n"
        "\n"
        "TLS [TLS_CONFIG='{\"enable\":true,\"caCertPath\":…,\"certPath\":…,\"keyPath\":…}', or\n"
        "TLS, CA_CERT, HOST_CERT, HOST_KEY]:\n"
        "      --use-tls / --no-tls   Mutual TLS, or plaintext (off unless configured)\n"
        "      --ca-cert PATH         CA certificate peers must chain to\n"
        "      --host-cert PATH       This agent's certificate\n"
        "      --host-key PATH        This agent's private key\n"
        "\n"
        "What it controls:\n"
        "      --system / --user      The system manager, or the user's manager\n"
        "                             (default: system for root, user otherwise)\n"
        "      --type N               Unit type of the agent, 0..14               [$TYPE]\n"
        "      --subtype N            Unit type of its services, 0..14         [$SUBTYPE]\n"
        "      --parent UNIT          Reported to the admin, e.g. microvm@gui-vm.service [$PARENT]\n"
        "      --services \"A B …\"     More units it may control and registers [$SERVICES]\n"
        "      --applications JSON    Applications it may start           [$APPLICATIONS]\n"
        "                             [{\"name\":\"foot\",\"command\":\"/bin/foot\","
        "\"args\":[\"flag\",\"url\",\"file\"]}]\n"
        "      --hwid / --no-hwid     Serve hwid.HwidService         [$HWID=true|false]\n"
        "      --hwid-iface IFACE     Interface whose MAC is the id (default: the one wl*) [$HWID_IFACE]\n"
        "\n"
        "Other options:\n"
        "      --shutdown-grace TIME  How long running calls may take to finish on\n"
        "                             SIGTERM before they are cancelled (default 5s)\n"
        "      --debug                Log debug messages                       [$DEBUG=true]\n"
        "      --check-config         Check the configuration, TLS files included, and exit\n"
        "  -h --help                  Show this help\n"
        "     --version               Show the version\n"
        "\n"
        "Example:\n"
        "  AGENT='{\"name\":\"gui-vm\",\"addr\":\"192.168.101.3\",\"port\":\"9000\"}' \\\n"
        "  ADMIN_SERVER='{\"name\":\"admin-vm\",\"addr\":\"192.168.101.10\",\"port\":\"9001\"}' \\\n"
        "  TLS_CONFIG='{\"enable\":true,\"caCertPath\":\"/etc/givc/ca-cert.pem\",\n"
        "               \"certPath\":\"/etc/givc/gui-vm-cert.pem\","
        "\"keyPath\":\"/etc/givc/gui-vm-key.pem\"}' \\\n"
        "  TYPE=8 SUBTYPE=9 SERVICES='reboot.target poweroff.target' givc agent\n";

typedef struct Agent {
        AgentConfig *config;
        char *unit;
        const TlsCredentials *tls;
        AgentService *service;
        Registration *registration;
        RegistrationConfig registration_config;
} Agent;

static void on_registration(RegistrationState state, const char *text, void *userdata) {
        switch (state) {
        case REGISTRATION_REGISTERED:
                log_info("%s", text);
                break;
        case REGISTRATION_CONNECTING:
                log_debug("%s", text);
                break;
        default:
                log_warning("%s", text);
        }
        (void) sd_notifyf(false, "STATUS=%s", text);
}

static int agent_add_services(RpcServer *s, void *userdata) {
        Agent *a = userdata;
        int r;

        r = agent_service_attach(a->service, s);
        if (r < 0)
                return log_error_errno(r, "Failed to add the agent's services: %m");
        return 0;
}

static int agent_started(RpcServer *s, void *userdata) {
        Agent *a = userdata;
        int r;

        a->registration_config = (RegistrationConfig) {
                .admin = a->config->admin,
                .admin_tls_name = a->config->admin_name,
                .tls = a->tls,
                .agent_unit = a->unit,
                .parent = a->config->parent,
                .type = a->config->type,
                .subtype = a->config->subtype,
                .protocol = a->config->protocol,
                .address = a->config->addr,
                .port = a->config->port,
                .name = a->config->name,
                .services = a->config->services,
                .callback = on_registration,
        };
        r = registration_start(&a->registration, &a->registration_config);
        if (r < 0)
                return log_error_errno(r, "Failed to start registering with the admin: %m");
        return 0;
}

static void agent_stopping(void *userdata) {
        Agent *a = userdata;

        /* Stop registering before the server goes away. */
        a->registration = registration_free(a->registration);
}

int agent_main(int argc, char **argv) {
        _cleanup_(agent_config_done) AgentConfig config = {};
        _cleanup_(tls_credentials_freep) TlsCredentials *tls = NULL;
        _cleanup_free_ char *self_unit = NULL; /* outlives the service */
        _cleanup_(agent_service_freep) AgentService *service = NULL;
        _cleanup_(timers_freep) Timers *timers = NULL;
        _cleanup_free_ char *error = NULL, *unit = NULL, *hwid_iface = NULL;
        Agent agent = {};
        int r;

        r = agent_config_parse(&config, argc, argv, &error);
        r = applet_parse_result(r, "agent", agent_help, error);
        if (r >= 0)
                return r;
        log_set_max_level(config.log_level);
        for (char **w = config.warnings; w && *w; w++)
                log_warning("%s.", *w);

        unit = agent_config_unit_name(&config);
        if (!unit)
                return log_error_errno(-ENOMEM, "Failed to allocate memory: %m"), EXIT_FAILURE;

        if (config.use_tls && serve_load_tls(config.ca_cert, config.host_cert, config.host_key, &tls) < 0)
                return EXIT_FAILURE;
        if (config.hwid) {
                r = hwid_find_interface(HWID_SYSFS_NET, config.hwid_iface, &hwid_iface, &error);
                if (r < 0) {
                        log_error_errno(r, "%s", error ?: "Failed to find the hardware id interface: %m");
                        return EXIT_FAILURE;
                }
        }
        if (config.check_config) {
                printf("The configuration is valid.\n");
                return EXIT_SUCCESS;
        }

        /* systemd first: an agent that cannot reach its manager is of no use. */
        unit_bus_set_kind(config.bus_kind);
        r = unit_bus_check(&error);
        if (r < 0) {
                log_error_errno(r, "%s", error ?: "Failed to connect to the service manager: %m");
                return EXIT_FAILURE;
        }
        log_debug("Controlling the %s manager as '%s'.", unit_bus_kind_to_string(config.bus_kind), unit);
        /* The workers open their own; this thread makes no more calls. */
        unit_bus_close_thread();

        serve_block_signals();
        r = timers_new(&timers);
        if (r < 0)
                return log_error_errno(r, "Failed to start the timer thread: %m"), EXIT_FAILURE;
        /* Started from a template (givc-agent@NAME.service), the agent still registers upstream's
         * givc-NAME.service; requests for that name go to the unit it really runs in. */
        if (unit_of_self(&self_unit) >= 0 && !streq(self_unit, unit))
                log_debug("Running in '%s', which stands in for '%s'.", self_unit, unit);
        else
                self_unit = mfree(self_unit);
        r = agent_service_new(&service, &(AgentServiceConfig) {
                                                .agent_unit = unit,
                                                .self_unit = self_unit,
                                                .services = config.services,
                                                .applications = config.applications,
                                                .hwid_iface = hwid_iface,
                                                .sysfs_net = HWID_SYSFS_NET,
                                                .timers = timers,
                                        });
        if (r < 0)
                return log_error_errno(r, "Failed to set up the agent's services: %m"), EXIT_FAILURE;

        agent = (Agent) {
                .config = &config,
                .unit = unit,
                .tls = tls,
                .service = service,
        };
        r = serve_main((Address *[]) { config.listen, NULL }, tls, config.shutdown_grace_ms,
                       &(ServeHooks) {
                               .add_services = agent_add_services,
                               .started = agent_started,
                               .stopping = agent_stopping,
                               .userdata = &agent,
                       });
        agent.registration = registration_free(agent.registration);
        unit_bus_close_thread();
        return r;
}
