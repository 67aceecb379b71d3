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
#include "error-util.h"
#include "json-util.h"
#include "log.h"
#include "parse-util.h"

#define DEFAULT_SHUTDOWN_GRACE_MS 5000

/* A setting and where its value came from, for messages. */
typedef struct Setting {
        char *value;
        const char *source;
} Setting;

static int setting_set(Setting *s, const char *value, const char *source) {
        int r = free_and_strdup(&s->value, value);

        if (r >= 0)
                s->source = source;
        return r;
}

typedef struct Transport {
        Setting name, addr, port, protocol;
} Transport;

typedef struct Raw {
        Transport agent, admin;
        Setting ca_cert, host_cert, host_key;
        Setting type, subtype, parent, services, applications, hwid_iface;
} Raw;

static void raw_done(Raw *r) {
        Setting *all[] = {
                &r->agent.name, &r->agent.addr, &r->agent.port, &r->agent.protocol,
                &r->admin.name, &r->admin.addr, &r->admin.port, &r->admin.protocol,
                &r->ca_cert,    &r->host_cert,  &r->host_key,   &r->type,
                &r->subtype,    &r->parent,     &r->services,   &r->applications,
                &r->hwid_iface,
        };

        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                all[i]->value = mfree(all[i]->value);
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

/* A TransportConfig from JSON (AGENT, ADMIN_SERVER) or from the older flat variables. */
static int read_transport(const char *json_var, const char *const flat_vars[4], Transport *t,
                          char **ret_error) {
        _cleanup_json_ json_object *o = NULL;
        Setting *fields[] = { &t->name, &t->addr, &t->port, &t->protocol };
        static const char *const keys[] = { "name", "addr", "port", "protocol" };
        int r;

        r = parse_json_env(json_var, &o, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                const char *e;

                if (o)
                        r = json_member(o, json_var, keys[i], fields[i], ret_error);
                else if ((e = getenv(flat_vars[i])))
                        r = setting_set(fields[i], e, flat_vars[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_environment(Raw *raw, AgentConfig *c, char **ret_error) {
        static const char *const agent_flat[4] = { "NAME", "ADDR", "PORT", "PROTO" };
        static const char *const admin_flat[4] = {
                "ADMIN_SERVER_NAME", "ADMIN_SERVER_ADDR", "ADMIN_SERVER_PORT", "ADMIN_SERVER_PROTO",
        };
        static const struct {
                const char *var;
                size_t offset;
        } plain[] = {
                { "TYPE", offsetof(Raw, type) },
                { "SUBTYPE", offsetof(Raw, subtype) },
                { "PARENT", offsetof(Raw, parent) },
                { "SERVICES", offsetof(Raw, services) },
                { "APPLICATIONS", offsetof(Raw, applications) },
                { "HWID_IFACE", offsetof(Raw, hwid_iface) },
        };
        _cleanup_json_ json_object *tls = NULL;
        const char *e;
        int r;

        r = read_transport("AGENT", agent_flat, &raw->agent, ret_error);
        if (r < 0)
                return r;
        r = read_transport("ADMIN_SERVER", admin_flat, &raw->admin, ret_error);
        if (r < 0)
                return r;

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
        } else if ((e = getenv("TLS")) || (!getenv("AGENT") && getenv("NAME"))) {
                /* Upstream's older agent (NAME, ADDR, … instead of AGENT): anything but "false",
                 * absent included, turns TLS on. */
                c->use_tls = !streq_ptr(e, "false");
                if ((e = getenv("CA_CERT")) && (r = setting_set(&raw->ca_cert, e, "CA_CERT")) < 0)
                        return r;
                if ((e = getenv("HOST_CERT")) && (r = setting_set(&raw->host_cert, e, "HOST_CERT")) < 0)
                        return r;
                if ((e = getenv("HOST_KEY")) && (r = setting_set(&raw->host_key, e, "HOST_KEY")) < 0)
                        return r;
        }

        for (size_t i = 0; i < ELEMENTSOF(plain); i++)
                if ((e = getenv(plain[i].var))) {
                        r = setting_set((Setting *) ((char *) raw + plain[i].offset), e, plain[i].var);
                        if (r < 0)
                                return r;
                }

        /* Upstream: present and not "false" turns these on. */
        e = getenv("HWID");
        c->hwid = e && !streq(e, "false");
        e = getenv("WIFI");
        if (!isempty(e) && !streq(e, "false") &&
            strv_extend(&c->warnings,
                        "WIFI is set, but this agent does not serve wifimanager.WifiService") < 0)
                return -ENOMEM;
        e = getenv("SOCKET_PROXY");
        if (!isempty(e) && !streq(e, "[]") && !streq(e, "null") &&
            strv_extend(&c->warnings, "SOCKET_PROXY is set, but this agent does not run socket proxies") < 0)
                return -ENOMEM;

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
        ARG_ADMIN_NAME,
        ARG_ADMIN_ADDR,
        ARG_ADMIN_PORT,
        ARG_ADMIN_PROTOCOL,
        ARG_USE_TLS,
        ARG_NO_TLS,
        ARG_CA_CERT,
        ARG_HOST_CERT,
        ARG_HOST_KEY,
        ARG_TYPE,
        ARG_SUBTYPE,
        ARG_PARENT,
        ARG_SERVICES,
        ARG_APPLICATIONS,
        ARG_HWID,
        ARG_NO_HWID,
        ARG_HWID_IFACE,
        ARG_SYSTEM,
        ARG_USER,
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
                { "admin-name", required_argument, NULL, ARG_ADMIN_NAME },
                { "admin-addr", required_argument, NULL, ARG_ADMIN_ADDR },
                { "admin-port", required_argument, NULL, ARG_ADMIN_PORT },
                { "admin-protocol", required_argument, NULL, ARG_ADMIN_PROTOCOL },
                { "use-tls", no_argument, NULL, ARG_USE_TLS },
                { "no-tls", no_argument, NULL, ARG_NO_TLS },
                { "ca-cert", required_argument, NULL, ARG_CA_CERT },
                { "host-cert", required_argument, NULL, ARG_HOST_CERT },
                { "host-key", required_argument, NULL, ARG_HOST_KEY },
                { "type", required_argument, NULL, ARG_TYPE },
                { "subtype", required_argument, NULL, ARG_SUBTYPE },
                { "parent", required_argument, NULL, ARG_PARENT },
                { "services", required_argument, NULL, ARG_SERVICES },
                { "applications", required_argument, NULL, ARG_APPLICATIONS },
                { "hwid", no_argument, NULL, ARG_HWID },
                { "no-hwid", no_argument, NULL, ARG_NO_HWID },
                { "hwid-iface", required_argument, NULL, ARG_HWID_IFACE },
                { "system", no_argument, NULL, ARG_SYSTEM },
                { "user", no_argument, NULL, ARG_USER },
                { "debug", no_argument, NULL, ARG_DEBUG },
                { "check-config", no_argument, NULL, ARG_CHECK_CONFIG },
                { "shutdown-grace", required_argument, NULL, ARG_SHUTDOWN_GRACE },
                {},
        };
        /* Options that just set a string setting. */
        static const struct {
                int option;
                const char *name;
                size_t offset;
        } strings[] = {
                { ARG_NAME, "--name", offsetof(Raw, agent.name) },
                { ARG_ADDR, "--addr", offsetof(Raw, agent.addr) },
                { ARG_PORT, "--port", offsetof(Raw, agent.port) },
                { ARG_PROTOCOL, "--protocol", offsetof(Raw, agent.protocol) },
                { ARG_ADMIN_NAME, "--admin-name", offsetof(Raw, admin.name) },
                { ARG_ADMIN_ADDR, "--admin-addr", offsetof(Raw, admin.addr) },
                { ARG_ADMIN_PORT, "--admin-port", offsetof(Raw, admin.port) },
                { ARG_ADMIN_PROTOCOL, "--admin-protocol", offsetof(Raw, admin.protocol) },
                { ARG_CA_CERT, "--ca-cert", offsetof(Raw, ca_cert) },
                { ARG_HOST_CERT, "--host-cert", offsetof(Raw, host_cert) },
                { ARG_HOST_KEY, "--host-key", offsetof(Raw, host_key) },
                { ARG_TYPE, "--type", offsetof(Raw, type) },
                { ARG_SUBTYPE, "--subtype", offsetof(Raw, subtype) },
                { ARG_PARENT, "--parent", offsetof(Raw, parent) },
                { ARG_SERVICES, "--services", offsetof(Raw, services) },
                { ARG_APPLICATIONS, "--applications", offsetof(Raw, applications) },
                { ARG_HWID_IFACE, "--hwid-iface", offsetof(Raw, hwid_iface) },
        };
        int opt, r;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                bool done = false;

                for (size_t i = 0; i < ELEMENTSOF(strings) && !done; i++)
                        if (strings[i].option == opt) {
                                r = setting_set((Setting *) ((char *) raw + strings[i].offset), optarg,
                                                strings[i].name);
                                if (r < 0)
                                        return r;
                                done = true;
                        }
                if (done)
                        continue;

                switch (opt) {
                case 'h':
                        return CONFIG_HELP;
                case ARG_VERSION:
                        return CONFIG_VERSION;
                case ARG_USE_TLS:
                        c->use_tls = true;
                        break;
                case ARG_NO_TLS:
                        c->use_tls = false;
                        break;
                case ARG_HWID:
                        c->hwid = true;
                        break;
                case ARG_NO_HWID:
                        c->hwid = false;
                        break;
                case ARG_SYSTEM:
                        c->bus_kind = UNIT_BUS_SYSTEM;
                        break;
                case ARG_USER:
                        c->bus_kind = UNIT_BUS_USER;
                        break;
                case ARG_DEBUG:
                        c->log_level = LOG_DEBUG;
                        break;
                case ARG_CHECK_CONFIG:
                        c->check_config = true;
                        break;
                case ARG_SHUTDOWN_GRACE:
                        if (parse_duration_ms(optarg, &c->shutdown_grace_ms) < 0)
                                return error_set(ret_error, -EINVAL,
                                                 "--shutdown-grace '%s' is not a duration (e.g. 5s)",
                                                 optarg);
                        break;
                case '?':
                        return error_getopt(argv, ret_error);
                default:
                        return error_set(ret_error, -EINVAL, "cannot parse the command line");
                }
        }
        if (optind < argc)
                return error_set(ret_error, -EINVAL, "unexpected argument '%s'", argv[optind]);
        return CONFIG_RUN;
}

/* Builds the address of a transport; @what is "the agent" or "the admin". */
static int transport_address(Transport *t, const char *what, const char *hint, Address **ret,
                             char **ret_error) {
        const char *why = NULL;
        int r;

        if (isempty(t->addr.value))
                return error_set(ret_error, -EINVAL, "%s has no address: set %s", what, hint);
        r = address_from_transport(t->protocol.value, t->addr.value, t->port.value, ret, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_set(ret_error, -EINVAL, "%s: %s address '%s' port '%s' protocol '%s': %s",
                                 t->addr.source, what, t->addr.value, strempty(t->port.value),
                                 strempty(t->protocol.value), why);
        if ((*ret)->kind == ADDRESS_TCP && (*ret)->port == 0)
                return error_set(ret_error, -EINVAL, "%s: the port of %s must be from 1 to 65535",
                                 t->port.value ? t->port.source : t->addr.source, what);
        return 0;
}

static int parse_unit_type(Setting *s, const char *name, uint32_t *ret, char **ret_error) {
        uint64_t v;

        if (isempty(s->value))
                return error_set(ret_error, -EINVAL, "no %s given: set %s or --%s (a number from 0 to %u)",
                                 name, name, name[0] == 'T' ? "type" : "subtype", UNIT_TYPE_MAX);
        if (parse_uint64(s->value, 0, UNIT_TYPE_MAX, &v) < 0)
                return error_set(ret_error, -EINVAL, "%s%s'%s' is not a unit type (a number from 0 to %u)",
                                 s->source, startswith(s->source, "--") ? " " : "=", s->value,
                                 UNIT_TYPE_MAX);
        *ret = (uint32_t) v;
        return 0;
}

static bool name_is_valid(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= 200 &&
               strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

static int validate(Raw *raw, AgentConfig *c, char **ret_error) {
        _cleanup_free_ char *apps_error = NULL;
        int r;

        if (isempty(raw->agent.name.value))
                return error_set(ret_error, -EINVAL,
                                 "the agent has no name: set AGENT (\"name\"), NAME or --name");
        if (!name_is_valid(raw->agent.name.value))
                return error_set(ret_error, -EINVAL,
                                 "%s: the name '%s' may only contain letters, digits, '-', '_' and '.'",
                                 raw->agent.name.source, raw->agent.name.value);
        r = transport_address(&raw->agent, "the agent", "AGENT (\"addr\"), ADDR or --addr", &c->listen,
                              ret_error);
        if (r < 0)
                return r;
        r = transport_address(&raw->admin, "the admin",
                              "ADMIN_SERVER (\"addr\"), ADMIN_SERVER_ADDR or --admin-addr", &c->admin,
                              ret_error);
        if (r < 0)
                return r;

        r = parse_unit_type(&raw->type, "TYPE", &c->type, ret_error);
        if (r < 0)
                return r;
        r = parse_unit_type(&raw->subtype, "SUBTYPE", &c->subtype, ret_error);
        if (r < 0)
                return r;

        /* Upstream splits SERVICES at single spaces; runs of white space are kept apart here. */
        r = strv_split(raw->services.value, " \t\n", &c->services);
        if (r < 0)
                return r;
        for (char **s = c->services; *s; s++)
                if (!unit_name_is_plausible(*s))
                        return error_set(ret_error, -EINVAL, "%s: '%s' is not a unit name",
                                         raw->services.source, *s);

        r = app_manifests_parse(raw->applications.value, &c->applications, &apps_error);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_set(ret_error, -EINVAL, "%s: %s", raw->applications.source, strna(apps_error));

        if (c->use_tls) {
                if (isempty(raw->ca_cert.value))
                        return error_set(ret_error, -EINVAL,
                                         "TLS is on but no CA certificate is given "
                                         "(TLS_CONFIG \"caCertPath\", CA_CERT or --ca-cert)");
                if (isempty(raw->host_cert.value))
                        return error_set(ret_error, -EINVAL,
                                         "TLS is on but no certificate is given "
                                         "(TLS_CONFIG \"certPath\", HOST_CERT or --host-cert)");
                if (isempty(raw->host_key.value))
                        return error_set(ret_error, -EINVAL,
                                         "TLS is on but no key is given "
                                         "(TLS_CONFIG \"keyPath\", HOST_KEY or --host-key)");
        }

        if (raw->hwid_iface.value && !isempty(raw->hwid_iface.value) &&
            (!name_is_valid(raw->hwid_iface.value) || strlen(raw->hwid_iface.value) > 15))
                return error_set(ret_error, -EINVAL, "%s: '%s' is not a network interface name",
                                 raw->hwid_iface.source, raw->hwid_iface.value);

        c->name = TAKE_PTR(raw->agent.name.value);
        c->addr = TAKE_PTR(raw->agent.addr.value);
        c->port = raw->agent.port.value ? TAKE_PTR(raw->agent.port.value) : strdup("");
        c->protocol = raw->agent.protocol.value && !isempty(raw->agent.protocol.value)
                              ? TAKE_PTR(raw->agent.protocol.value)
                              : strdup("tcp");
        /* The admin's certificate names it; without a name, its address is checked. */
        c->admin_name = raw->admin.name.value && !isempty(raw->admin.name.value)
                                ? TAKE_PTR(raw->admin.name.value)
                                : strdup(address_default_tls_name(c->admin));
        c->parent = TAKE_PTR(raw->parent.value);
        c->hwid_iface = isempty(raw->hwid_iface.value) ? NULL : TAKE_PTR(raw->hwid_iface.value);
        if (!c->port || !c->protocol || !c->admin_name)
                return -ENOMEM;
        if (c->use_tls) {
                c->ca_cert = TAKE_PTR(raw->ca_cert.value);
                c->host_cert = TAKE_PTR(raw->host_cert.value);
                c->host_key = TAKE_PTR(raw->host_key.value);
        }
        return 0;
}

int agent_config_parse(AgentConfig *c, int argc, char **argv, char **ret_error) {
        _cleanup_(raw_done) Raw raw = {};
        _cleanup_free_ char *env_error = NULL;
        int r, result;

        *c = (AgentConfig) {
                .log_level = LOG_INFO,
                .shutdown_grace_ms = DEFAULT_SHUTDOWN_GRACE_MS,
                /* Upstream: root controls the system manager, anyone else their user manager. */
                .bus_kind = geteuid() == 0 ? UNIT_BUS_SYSTEM : UNIT_BUS_USER,
        };

        /* --help and --version work whatever the environment holds; its mistakes count otherwise. */
        r = read_environment(&raw, c, &env_error);
        result = read_options(&raw, c, argc, argv, ret_error);
        if (result != CONFIG_RUN)
                return result;
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(env_error);
                return r;
        }
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
        free(c->admin_name);
        address_free(c->admin);
        free(c->ca_cert);
        free(c->host_cert);
        free(c->host_key);
        free(c->parent);
        strv_free(c->services);
        app_manifests_free(c->applications);
        free(c->hwid_iface);
        strv_free(c->warnings);
        *c = (AgentConfig) {};
}

char *agent_config_unit_name(const AgentConfig *c) {
        char *s;

        if (asprintf(&s, "givc-%s.service", c->name) < 0)
                return NULL;
        return s;
}
