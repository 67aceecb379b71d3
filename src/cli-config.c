/* SPDX-License-Identifier: Apache-2.0 */

#include <getopt.h>
#include <syslog.h>

#include "cli-config.h"
#include "error-util.h"
#include "parse-util.h"

#define DEFAULT_TIMEOUT_MS 5000

/* GIVC_<NAME> wins over <NAME>; *ret_source says which was used. */
static const char *getenv_givc(const char *name, const char **ret_source) {
        static __thread char prefixed[64];
        const char *e;

        (void) snprintf(prefixed, sizeof(prefixed), "GIVC_%s", name);
        e = getenv(prefixed);
        if (e) {
                *ret_source = prefixed;
                return e;
        }
        *ret_source = name;
        return getenv(name);
}

enum {
        ARG_ADDR = 0x100,
        ARG_PORT,
        ARG_NAME,
        ARG_CACERT,
        ARG_CERT,
        ARG_KEY,
        ARG_NOTLS,
        ARG_VSOCK,
        ARG_TIMEOUT,
        ARG_DEBUG,
        ARG_VERSION,
};

int cli_config_parse(CliConfig *c, int argc, char **argv, char **ret_error) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "addr", required_argument, NULL, ARG_ADDR },
                { "port", required_argument, NULL, ARG_PORT },
                { "name", required_argument, NULL, ARG_NAME },
                { "cacert", required_argument, NULL, ARG_CACERT },
                { "cert", required_argument, NULL, ARG_CERT },
                { "key", required_argument, NULL, ARG_KEY },
                { "host-key", required_argument, NULL, ARG_KEY },
                { "notls", no_argument, NULL, ARG_NOTLS },
                { "vsock", required_argument, NULL, ARG_VSOCK },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "debug", no_argument, NULL, ARG_DEBUG },
                {},
        };
        _cleanup_free_ char *addr = NULL, *port = NULL, *addr_source = NULL;
        const char *e, *source;
        int opt, r;

        *c = (CliConfig) {
                .use_tls = true,
                .timeout_ms = DEFAULT_TIMEOUT_MS,
                /* Only errors: gRPC's warnings about a failed connection are explained by our own. */
                .log_level = LOG_ERR,
        };

        if ((e = getenv_givc("ADDR", &source))) {
                if (free_and_strdup(&addr, e) < 0 || free_and_strdup(&addr_source, source) < 0)
                        return -ENOMEM;
        }
        if ((e = getenv_givc("PORT", &source)) && free_and_strdup(&port, e) < 0)
                return -ENOMEM;
        if ((e = getenv_givc("NAME", &source)) && free_and_strdup(&c->name, e) < 0)
                return -ENOMEM;
        if ((e = getenv_givc("CA_CERT", &source)) && free_and_strdup(&c->ca_cert, e) < 0)
                return -ENOMEM;
        if ((e = getenv_givc("HOST_CERT", &source)) && free_and_strdup(&c->cert, e) < 0)
                return -ENOMEM;
        if ((e = getenv_givc("HOST_KEY", &source)) && free_and_strdup(&c->key, e) < 0)
                return -ENOMEM;
        if ((e = getenv("GIVC_TIMEOUT"))) {
                if (parse_duration_ms(e, &c->timeout_ms) < 0 || c->timeout_ms <= 0)
                        return error_set(ret_error, -EINVAL,
                                         "GIVC_TIMEOUT='%s' is not a positive duration (e.g. 5s)", e);
                c->timeout_set = true;
        }
        /* Later upstream CLIs read GIVC_NO_TLS (clap's bool: "true"/"false"). */
        if ((e = getenv("GIVC_NO_TLS"))) {
                r = parse_boolean(e);
                if (r < 0)
                        return error_set(ret_error, -EINVAL, "GIVC_NO_TLS='%s' is not true or false", e);
                c->use_tls = !r;
        }

        /* "+": stop at the subcommand; its options are its own. */
        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
                r = 0;
                switch (opt) {
                case 'h':
                        return CONFIG_HELP;
                case ARG_VERSION:
                        return CONFIG_VERSION;
                case ARG_ADDR:
                        if (free_and_strdup(&addr, optarg) < 0 ||
                            free_and_strdup(&addr_source, "--addr") < 0)
                                return -ENOMEM;
                        break;
                case ARG_PORT:
                        r = free_and_strdup(&port, optarg);
                        break;
                case ARG_NAME:
                        r = free_and_strdup(&c->name, optarg);
                        break;
                case ARG_CACERT:
                        r = free_and_strdup(&c->ca_cert, optarg);
                        break;
                case ARG_CERT:
                        r = free_and_strdup(&c->cert, optarg);
                        break;
                case ARG_KEY:
                        r = free_and_strdup(&c->key, optarg);
                        break;
                case ARG_NOTLS:
                        c->use_tls = false;
                        break;
                case ARG_VSOCK:
                        return error_set(ret_error, -EINVAL, "--vsock: vsock is not supported by this build "
                                               "(gRPC core 1.51 has no vsock transport)");
                case ARG_TIMEOUT:
                        if (parse_duration_ms(optarg, &c->timeout_ms) < 0 || c->timeout_ms <= 0)
                                return error_set(ret_error, -EINVAL,
                                                 "--timeout '%s' is not a positive duration (e.g. 5s)",
                                                 optarg);
                        c->timeout_set = true;
                        break;
                case ARG_DEBUG:
                        c->log_level = LOG_DEBUG;
                        break;
                case '?':
                        return error_getopt(argv, ret_error);
                default:
                        return error_set(ret_error, -EINVAL, "cannot parse the command line");
                }
                if (r < 0)
                        return r;
        }
        c->command_index = optind;
        c->address = TAKE_PTR(addr);
        c->address_source = TAKE_PTR(addr_source);
        c->port = TAKE_PTR(port);
        return CONFIG_RUN;
}

int cli_config_resolve(CliConfig *c, char **ret_error) {
        const char *why = NULL;
        int r;

        if (isempty(c->address))
                return error_set(ret_error, -EINVAL, "no admin address: give --addr (or set ADDR)");
        if (startswith(c->address, "unix:") || startswith(c->address, "unix-abstract:")) {
                r = address_parse(c->address, &c->target, &why);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return error_set(ret_error, -EINVAL, "%s '%s' is not a valid address: %s",
                                         c->address_source, c->address, why);
        } else {
                if (isempty(c->port))
                        return error_set(ret_error, -EINVAL, "no admin port: give --port (or set PORT)");
                r = address_from_transport("tcp", c->address, c->port, &c->target, &why);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 || c->target->port == 0)
                        return error_set(ret_error, -EINVAL,
                                         "'%s' port '%s' is not a valid admin address: %s", c->address,
                                         c->port, why ?: "the port must be from 1 to 65535");
        }

        if (c->use_tls) {
                if (isempty(c->ca_cert))
                        return error_set(ret_error, -EINVAL,
                                         "no CA certificate: give --cacert (or set CA_CERT), or --notls");
                if (isempty(c->cert))
                        return error_set(ret_error, -EINVAL,
                                         "no client certificate: give --cert (or set HOST_CERT), "
                                         "or --notls");
                if (isempty(c->key))
                        return error_set(ret_error, -EINVAL,
                                         "no client key: give --key (or set HOST_KEY), or --notls");
        }
        return 0;
}

void cli_config_done(CliConfig *c) {
        address_free(c->target);
        free(c->address);
        free(c->address_source);
        free(c->port);
        free(c->name);
        free(c->ca_cert);
        free(c->cert);
        free(c->key);
        *c = (CliConfig) {};
}
