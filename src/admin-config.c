/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsing happens in two passes over one set of settings: the environment
 * first, then the options, so that an option always wins. Validation that
 * needs the whole picture (TLS files present, at least one listener) runs at
 * the end.
 */

#include <getopt.h>
#include <syslog.h>

#include "admin-config.h"
#include "log.h"
#include "error-util.h"
#include "parse-util.h"

#define DEFAULT_SHUTDOWN_GRACE_MS 5000
#define DEFAULT_MONITOR_INTERVAL_MS 5000
#define DEFAULT_VM_START_TIMEOUT_MS 30000

static int add_listener(AdminConfig *c, Address *a) {
        Address **l = reallocarray(c->listeners, c->n_listeners + 2, sizeof(Address *));

        if (!l) {
                address_free(a);
                return -ENOMEM;
        }
        l[c->n_listeners++] = a;
        l[c->n_listeners] = NULL;
        c->listeners = l;
        return 0;
}

static int add_listener_string(AdminConfig *c, const char *what, const char *value, bool tcp_only,
                               char **ret_error) {
        Address *a = NULL;
        const char *why = NULL;
        int r;

        r = address_parse(value, &a, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_set(ret_error, -EINVAL, "%s '%s' is not a valid address: %s", what, value, why);
        if (tcp_only && a->kind != ADDRESS_TCP) {
                address_free(a);
                return error_set(ret_error, -EINVAL, "%s '%s' is not IP:PORT", what, value);
        }
        return add_listener(c, a);
}

static int set_string(char **p, const char *value) {
        return free_and_strdup(p, value);
}

enum {
        ARG_ADDR = 0x100,
        ARG_PORT,
        ARG_LISTEN_TCP,
        ARG_LISTEN_UNIX,
        ARG_LISTEN,
        ARG_VSOCK,
        ARG_USE_TLS,
        ARG_CA_CERT,
        ARG_HOST_CERT,
        ARG_HOST_KEY,
        ARG_SERVICES,
        ARG_DEBUG,
        ARG_CHECK_CONFIG,
        ARG_SHUTDOWN_GRACE,
        ARG_STATE_DIR,
        ARG_MONITOR_INTERVAL,
        ARG_VM_START_TIMEOUT,
        ARG_RESTART_VMS,
        ARG_VERSION,
};

int admin_config_parse(AdminConfig *c, int argc, char **argv, char **ret_error) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "addr", required_argument, NULL, ARG_ADDR },
                { "port", required_argument, NULL, ARG_PORT },
                { "listen-tcp", required_argument, NULL, ARG_LISTEN_TCP },
                { "listen-unix", required_argument, NULL, ARG_LISTEN_UNIX },
                { "listen", required_argument, NULL, ARG_LISTEN },
                { "vsock", required_argument, NULL, ARG_VSOCK },
                { "use-tls", no_argument, NULL, ARG_USE_TLS },
                { "ca-cert", required_argument, NULL, ARG_CA_CERT },
                { "host-cert", required_argument, NULL, ARG_HOST_CERT },
                { "host-key", required_argument, NULL, ARG_HOST_KEY },
                { "services", required_argument, NULL, ARG_SERVICES },
                { "debug", no_argument, NULL, ARG_DEBUG },
                { "check-config", no_argument, NULL, ARG_CHECK_CONFIG },
                { "shutdown-grace", required_argument, NULL, ARG_SHUTDOWN_GRACE },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "monitor-interval", required_argument, NULL, ARG_MONITOR_INTERVAL },
                { "vm-start-timeout", required_argument, NULL, ARG_VM_START_TIMEOUT },
                { "restart-vms", no_argument, NULL, ARG_RESTART_VMS },
                {},
        };
        _cleanup_free_ char *addr = NULL, *port = NULL;
        const char *e, *addr_source = "ADDR", *port_source = "PORT";
        int opt, r;

        *c = (AdminConfig) {
                .log_level = LOG_INFO,
                .shutdown_grace_ms = DEFAULT_SHUTDOWN_GRACE_MS,
                .monitor_interval_ms = DEFAULT_MONITOR_INTERVAL_MS,
                .vm_start_timeout_ms = DEFAULT_VM_START_TIMEOUT_MS,
        };

        /* systemd's StateDirectory= says where (the first of a list). */
        e = getenv("STATE_DIRECTORY");
        if (!isempty(e)) {
                c->state_dir = strndup(e, strcspn(e, ":"));
                if (!c->state_dir)
                        return -ENOMEM;
        }

        /* The environment. */
        if ((e = getenv("ADDR")) && (r = set_string(&addr, e)) < 0)
                return r;
        if ((e = getenv("PORT")) && (r = set_string(&port, e)) < 0)
                return r;
        e = getenv("TLS");
        if (!isempty(e)) {
                r = parse_boolean(e);
                if (r < 0)
                        return error_set(ret_error, -EINVAL, "TLS='%s' is not a boolean (true or false)", e);
                c->use_tls = r;
        }
        if ((e = getenv("CA_CERT")) && (r = set_string(&c->ca_cert, e)) < 0)
                return r;
        if ((e = getenv("HOST_CERT")) && (r = set_string(&c->host_cert, e)) < 0)
                return r;
        if ((e = getenv("HOST_KEY")) && (r = set_string(&c->host_key, e)) < 0)
                return r;
        e = getenv("GIVC_LOG");
        if (!isempty(e)) {
                r = log_level_from_string(e);
                if (r < 0)
                        return error_set(ret_error, -EINVAL,
                                         "GIVC_LOG='%s' is not a log level (debug, info, warning, error)",
                                         e);
                c->log_level = r;
        }
        e = getenv("DEBUG");
        if (e && parse_boolean(e) > 0)
                c->log_level = LOG_DEBUG;

        /* The options. */
        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        return CONFIG_HELP;
                case ARG_VERSION:
                        return CONFIG_VERSION;
                case ARG_ADDR:
                        r = set_string(&addr, optarg);
                        if (r < 0)
                                return r;
                        addr_source = "--addr";
                        break;
                case ARG_PORT:
                        r = set_string(&port, optarg);
                        if (r < 0)
                                return r;
                        port_source = "--port";
                        break;
                case ARG_LISTEN_TCP:
                        r = add_listener_string(c, "--listen-tcp", optarg, true, ret_error);
                        if (r < 0)
                                return r;
                        break;
                case ARG_LISTEN_UNIX: {
                        _cleanup_free_ char *s = NULL;

                        if (asprintf(&s, "unix:%s", optarg) < 0)
                                return -ENOMEM;
                        r = add_listener_string(c, "--listen-unix", s, false, ret_error);
                        if (r < 0)
                                return r;
                        break;
                }
                case ARG_LISTEN:
                        r = add_listener_string(c, "--listen", optarg, false, ret_error);
                        if (r < 0)
                                return r;
                        break;
                case ARG_VSOCK:
                        return error_set(ret_error, -EINVAL,
                                         "--vsock: vsock listeners are not supported by this build "
                                         "(gRPC core 1.51 has no vsock transport)");
                case ARG_USE_TLS:
                        c->use_tls = true;
                        break;
                case ARG_CA_CERT:
                        r = set_string(&c->ca_cert, optarg);
                        if (r < 0)
                                return r;
                        break;
                case ARG_HOST_CERT:
                        r = set_string(&c->host_cert, optarg);
                        if (r < 0)
                                return r;
                        break;
                case ARG_HOST_KEY:
                        r = set_string(&c->host_key, optarg);
                        if (r < 0)
                                return r;
                        break;
                case ARG_SERVICES:
                        c->services = strv_free(c->services);
                        r = strv_split(optarg, ", ", &c->services);
                        if (r < 0)
                                return r;
                        break;
                case ARG_DEBUG:
                        c->log_level = LOG_DEBUG;
                        break;
                case ARG_CHECK_CONFIG:
                        c->check_config = true;
                        break;
                case ARG_SHUTDOWN_GRACE:
                        r = parse_duration_ms(optarg, &c->shutdown_grace_ms);
                        if (r < 0)
                                return error_set(ret_error, -EINVAL,
                                                 "--shutdown-grace '%s' is not a duration (e.g. 5s)",
                                                 optarg);
                        break;
                case ARG_STATE_DIR:
                        if (optarg[0] != '/')
                                return error_set(ret_error, -EINVAL,
                                                 "--state-dir '%s' must be an absolute path", optarg);
                        r = set_string(&c->state_dir, optarg);
                        if (r < 0)
                                return r;
                        break;
                case ARG_MONITOR_INTERVAL:
                        if (parse_duration_ms(optarg, &c->monitor_interval_ms) < 0 ||
                            c->monitor_interval_ms < 100)
                                return error_set(ret_error, -EINVAL,
                                                 "--monitor-interval '%s' is not a duration of at least "
                                                 "100ms", optarg);
                        break;
                case ARG_VM_START_TIMEOUT:
                        if (parse_duration_ms(optarg, &c->vm_start_timeout_ms) < 0 ||
                            c->vm_start_timeout_ms < 1)
                                return error_set(ret_error, -EINVAL,
                                                 "--vm-start-timeout '%s' is not a duration", optarg);
                        break;
                case ARG_RESTART_VMS:
                        c->restart_vms = true;
                        break;
                case '?':
                        return error_getopt(argv, ret_error);
                default:
                        return error_set(ret_error, -EINVAL, "cannot parse the command line");
                }

        if (optind < argc)
                return error_set(ret_error, -EINVAL, "unexpected argument '%s'", argv[optind]);

        if (!c->services && (e = getenv("SERVICES"))) {
                r = strv_split(e, ", ", &c->services);
                if (r < 0)
                        return r;
        }

        /* ADDR and PORT make one TCP listener together. */
        if (!isempty(addr) || !isempty(port)) {
                _cleanup_free_ char *s = NULL;
                Address *a = NULL;
                const char *why = NULL;

                if (isempty(addr))
                        return error_set(ret_error, -EINVAL,
                                         "%s is set but no address (--addr or ADDR) goes with it",
                                         port_source);
                if (isempty(port))
                        return error_set(ret_error, -EINVAL,
                                         "%s is set but no port (--port or PORT) goes with it", addr_source);
                r = address_from_transport("tcp", addr, port, &a, &why);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return error_set(ret_error, -EINVAL,
                                         "%s '%s' with %s '%s' is not a valid TCP address: %s",
                                         addr_source, addr, port_source, port, why);
                if (a->port == 0) {
                        address_free(a);
                        return error_set(ret_error, -EINVAL,
                                         "%s must be a port from 1 to 65535", port_source);
                }
                r = add_listener(c, a);
                if (r < 0)
                        return r;
        }

        if (!c->state_dir && !(c->state_dir = strdup(ADMIN_DEFAULT_STATE_DIR)))
                return -ENOMEM;

        if (c->n_listeners == 0)
                return error_set(ret_error, -EINVAL,
                                 "nothing to listen on: give --addr and --port (or ADDR and PORT), "
                                 "--listen-tcp, --listen-unix or --listen");

        if (c->use_tls) {
                if (isempty(c->ca_cert))
                        return error_set(ret_error, -EINVAL,
                                         "TLS is on but no CA certificate is given (--ca-cert or CA_CERT)");
                if (isempty(c->host_cert))
                        return error_set(ret_error, -EINVAL,
                                         "TLS is on but no certificate is given (--host-cert or HOST_CERT)");
                if (isempty(c->host_key))
                        return error_set(ret_error, -EINVAL,
                                         "TLS is on but no key is given (--host-key or HOST_KEY)");
        }

        return CONFIG_RUN;
}

void admin_config_done(AdminConfig *c) {
        for (size_t i = 0; i < c->n_listeners; i++)
                address_free(c->listeners[i]);
        free(c->listeners);
        free(c->ca_cert);
        free(c->host_cert);
        free(c->host_key);
        strv_free(c->services);
        free(c->state_dir);
        *c = (AdminConfig) {};
}
