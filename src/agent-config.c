/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Settings are collected as strings from the environment (JSON first, the
 * older flat variables where the JSON is absent), then overridden by
 * options, then validated together, so every message can name the
 * variable or option the value came from.
 */

#include <getopt.h>
#include <syslog.h>

#include "agent-config.h"
#include "json-util.h"
#include "log.h"
#include "error-util.h"
#include "parse-util.h"

#define DEFAULT_SHUTDOWN_GRACE_MS 5000

/* A setting and where its value came from, for messages. */
typedef struct Setting {
        char *value;
        const char *source;
} Setting;

static void setting_done(Setting *s) {
        s->value = mfree(s->value);
}

static int setting_set(Setting *s, const char *value, const char *source) {
        int r = free_and_strdup(&s->value, value);

        if (r >= 0)
                s->source = source;
        return r;
}

typedef struct Raw {
        Setting name, addr, port, protocol;
        Setting tls, ca_cert, host_cert, host_key;
} Raw;

static void raw_done(Raw *r) {
        setting_done(&r->name);
        setting_done(&r->addr);
        setting_done(&r->port);
        setting_done(&r->protocol);
        setting_done(&r->tls);
        setting_done(&r->ca_cert);
        setting_done(&r->host_cert);
        setting_done(&r->host_key);
}

/* Copies a string member of a JSON object into a setting. */
static int json_member(json_object *o, const char *var, const char *key, Setting *s, char **ret_error) {
        const char *v;
        int r;

        r = json_get_string_ci(o, key, &v);
        if (r < 0)
                return error_set(ret_error, -EINVAL, "%s: '%s' must be a string", var, key);
        if (!v)
                return 0;
        return setting_set(s, v, var);
}

static int parse_json_env(const char *var, json_object **ret, char **ret_error) {
        const char *e = getenv(var), *why = NULL;
        json_object *o = NULL;
        int r;

        *ret = NULL;
        if (isempty(e))
                return 0;
        r = json_parse(e, &o, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_set(ret_error, -EINVAL, "%s is not valid JSON: %s", var, why);
        if (!json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return error_set(ret_error, -EINVAL, "%s must be a JSON object", var);
        }
        *ret = o;
        return 0;
}

static int read_environment(Raw *raw, AgentConfig *c, char **ret_error) {
        _cleanup_json_ json_object *agent = NULL, *tls = NULL;
        const char *e;
        int r;

        r = parse_json_env("AGENT", &agent, ret_error);
        if (r < 0)
                return r;
        if (agent) {
                if ((r = json_member(agent, "AGENT", "name", &raw->name, ret_error)) < 0 ||
                    (r = json_member(agent, "AGENT", "addr", &raw->addr, ret_error)) < 0 ||
                    (r = json_member(agent, "AGENT", "port", &raw->port, ret_error)) < 0 ||
                    (r = json_member(agent, "AGENT", "protocol", &raw->protocol, ret_error)) < 0)
                        return r;
        } else {
                static const struct {
                        const char *var;
                        size_t offset;
                } flat[] = {
                        { "NAME", offsetof(Raw, name) },
                        { "ADDR", offsetof(Raw, addr) },
                        { "PORT", offsetof(Raw, port) },
                        { "PROTO", offsetof(Raw, protocol) },
                };

                for (size_t i = 0; i < ELEMENTSOF(flat); i++)
                        if ((e = getenv(flat[i].var))) {
                                r = setting_set((Setting *) ((char *) raw + flat[i].offset), e, flat[i].var);
                                if (r < 0)
                                        return r;
                        }
        }

        r = parse_json_env("TLS_CONFIG", &tls, ret_error);
        if (r < 0)
                return r;
        if (tls) {
                bool enable = false;

                r = json_get_bool_ci(tls, "enable", &enable);
                if (r == -EINVAL)
                        return error_set(ret_error, -EINVAL, "TLS_CONFIG: 'enable' must be true or false");
                c->use_tls = enable;
                if ((r = json_member(tls, "TLS_CONFIG", "caCertPath", &raw->ca_cert, ret_error)) < 0 ||
                    (r = json_member(tls, "TLS_CONFIG", "certPath", &raw->host_cert, ret_error)) < 0 ||
                    (r = json_member(tls, "TLS_CONFIG", "keyPath", &raw->host_key, ret_error)) < 0)
                        return r;
        } else if ((e = getenv("TLS"))) {
                /* Upstream's older agent: anything but "false" turns TLS on. */
                c->use_tls = !streq(e, "false");
                if ((e = getenv("CA_CERT")) && (r = setting_set(&raw->ca_cert, e, "CA_CERT")) < 0)
                        return r;
                if ((e = getenv("HOST_CERT")) && (r = setting_set(&raw->host_cert, e, "HOST_CERT")) < 0)
                        return r;
                if ((e = getenv("HOST_KEY")) && (r = setting_set(&raw->host_key, e, "HOST_KEY")) < 0)
                        return r;
        }

        /* Upstream: "true" means verbose, anything else the default. */
        e = getenv("DEBUG");
        if (e && streq(e, "true"))
                c->log_level = LOG_DEBUG;
        return 0;
}

enum {
        ARG_NAME = 0x100,
        ARG_ADDR,
        ARG_PORT,
        ARG_PROTOCOL,
        ARG_USE_TLS,
        ARG_NO_TLS,
        ARG_CA_CERT,
        ARG_HOST_CERT,
        ARG_HOST_KEY,
        ARG_DEBUG,
        ARG_CHECK_CONFIG,
        ARG_SHUTDOWN_GRACE,
        ARG_VERSION,
};

static int read_options(Raw *raw, AgentConfig *c, int argc, char **argv, char **ret_error) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "name", required_argument, NULL, ARG_NAME },
                { "addr", required_argument, NULL, ARG_ADDR },
                { "port", required_argument, NULL, ARG_PORT },
                { "protocol", required_argument, NULL, ARG_PROTOCOL },
                { "use-tls", no_argument, NULL, ARG_USE_TLS },
                { "no-tls", no_argument, NULL, ARG_NO_TLS },
                { "ca-cert", required_argument, NULL, ARG_CA_CERT },
                { "host-cert", required_argument, NULL, ARG_HOST_CERT },
                { "host-key", required_argument, NULL, ARG_HOST_KEY },
                { "debug", no_argument, NULL, ARG_DEBUG },
                { "check-config", no_argument, NULL, ARG_CHECK_CONFIG },
                { "shutdown-grace", required_argument, NULL, ARG_SHUTDOWN_GRACE },
                {},
        };
        int opt, r;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                r = 0;
                switch (opt) {
                case 'h':
                        return CONFIG_HELP;
                case ARG_VERSION:
                        return CONFIG_VERSION;
                case ARG_NAME:
                        r = setting_set(&raw->name, optarg, "--name");
                        break;
                case ARG_ADDR:
                        r = setting_set(&raw->addr, optarg, "--addr");
                        break;
                case ARG_PORT:
                        r = setting_set(&raw->port, optarg, "--port");
                        break;
                case ARG_PROTOCOL:
                        r = setting_set(&raw->protocol, optarg, "--protocol");
                        break;
                case ARG_USE_TLS:
                        c->use_tls = true;
                        break;
                case ARG_NO_TLS:
                        c->use_tls = false;
                        break;
                case ARG_CA_CERT:
                        r = setting_set(&raw->ca_cert, optarg, "--ca-cert");
                        break;
                case ARG_HOST_CERT:
                        r = setting_set(&raw->host_cert, optarg, "--host-cert");
                        break;
                case ARG_HOST_KEY:
                        r = setting_set(&raw->host_key, optarg, "--host-key");
                        break;
                case ARG_DEBUG:
                        c->log_level = LOG_DEBUG;
                        break;
                case ARG_CHECK_CONFIG:
                        c->check_config = true;
                        break;
                case ARG_SHUTDOWN_GRACE:
                        if (parse_duration_ms(optarg, &c->shutdown_grace_ms) < 0)
                                return error_set(ret_error, -EINVAL, "--shutdown-grace '%s' is not a duration (e.g. 5s)", optarg);
                        break;
                case '?':
                        return error_getopt(argv, ret_error);
                default:
                        return error_set(ret_error, -EINVAL, "cannot parse the command line");
                }
                if (r < 0)
                        return r;
        }
        if (optind < argc)
                return error_set(ret_error, -EINVAL, "unexpected argument '%s'", argv[optind]);
        return CONFIG_RUN;
}

static int validate(Raw *raw, AgentConfig *c, char **ret_error) {
        const char *why = NULL;
        int r;

        if (isempty(raw->name.value))
                return error_set(ret_error, -EINVAL, "the agent has no name: set AGENT (\"name\"), NAME or --name");
        if (strspn(raw->name.value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
            strlen(raw->name.value))
                return error_set(ret_error, -EINVAL, "%s: the name '%s' may only contain letters, digits, '-', '_' and '.'",
                            raw->name.source, raw->name.value);
        if (isempty(raw->addr.value))
                return error_set(ret_error, -EINVAL, "the agent has no address to listen on: set AGENT (\"addr\"), ADDR or --addr");

        r = address_from_transport(raw->protocol.value, raw->addr.value, raw->port.value, &c->listen, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_set(ret_error, -EINVAL, "%s/%s: cannot listen on address '%s' port '%s' protocol '%s': %s",
                            raw->addr.source, raw->port.value ? raw->port.source : raw->addr.source,
                            raw->addr.value, strempty(raw->port.value), strempty(raw->protocol.value), why);
        if (c->listen->kind == ADDRESS_TCP && c->listen->port == 0)
                return error_set(ret_error, -EINVAL, "%s: the port must be from 1 to 65535",
                            raw->port.value ? raw->port.source : raw->addr.source);

        c->name = TAKE_PTR(raw->name.value);
        c->addr = TAKE_PTR(raw->addr.value);
        c->port = TAKE_PTR(raw->port.value);
        c->protocol = raw->protocol.value ? TAKE_PTR(raw->protocol.value) : strdup("tcp");
        if (!c->protocol)
                return -ENOMEM;

        if (c->use_tls) {
                if (isempty(raw->ca_cert.value))
                        return error_set(ret_error, -EINVAL, "TLS is on but no CA certificate is given "
                                               "(TLS_CONFIG \"caCertPath\", CA_CERT or --ca-cert)");
                if (isempty(raw->host_cert.value))
                        return error_set(ret_error, -EINVAL, "TLS is on but no certificate is given "
                                               "(TLS_CONFIG \"certPath\", HOST_CERT or --host-cert)");
                if (isempty(raw->host_key.value))
                        return error_set(ret_error, -EINVAL, "TLS is on but no key is given "
                                               "(TLS_CONFIG \"keyPath\", HOST_KEY or --host-key)");
                c->ca_cert = TAKE_PTR(raw->ca_cert.value);
                c->host_cert = TAKE_PTR(raw->host_cert.value);
                c->host_key = TAKE_PTR(raw->host_key.value);
        }
        return 0;
}

int agent_config_parse(AgentConfig *c, int argc, char **argv, char **ret_error) {
        _cleanup_(raw_done) Raw raw = {};
        int r, result;

        *c = (AgentConfig) {
                .log_level = LOG_INFO,
                .shutdown_grace_ms = DEFAULT_SHUTDOWN_GRACE_MS,
        };

        r = read_environment(&raw, c, ret_error);
        if (r < 0)
                return r;
        result = read_options(&raw, c, argc, argv, ret_error);
        if (result != CONFIG_RUN)
                return result;
        r = validate(&raw, c, ret_error);
        if (r < 0)
                return r;
        return CONFIG_RUN;
}

void agent_config_done(AgentConfig *c) {
        free(c->name);
        free(c->addr);
        free(c->port);
        free(c->protocol);
        address_free(c->listen);
        free(c->ca_cert);
        free(c->host_cert);
        free(c->host_key);
        *c = (AgentConfig) {};
}
