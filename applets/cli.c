/* SPDX-License-Identifier: Apache-2.0 */
/*
 * givc cli: the client of the admin service, with upstream givc-cli's
 * commands and options (spec §4). Global options select and authenticate
 * the admin; a verb table dispatches the subcommand, which parses its own
 * options. Every failure is one line on stderr and exit status 1; a bad
 * command line is exit status 2.
 */

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "admin.pb-c.h"
#include "applets.h"
#include "cli-config.h"
#include "error-util.h"
#include "health.pb-c.h"
#include "json-util.h"
#include "locale-util.h"
#include "log.h"
#include "parse-util.h"
#include "query-output.h"
#include "registry.h"
#include "rpc-client.h"
#include "tls-probe.h"

/* Starting an application may boot its VM (the admin waits up to 30 s for that). */
#define START_TIMEOUT_MS 60000
/* Stopping waits for the application's unit to stop; power requests for the host's job. */
#define STOP_TIMEOUT_MS 30000

static const char cli_help[] =
        "Usage: givc cli [OPTIONS] COMMAND [ARGUMENTS]\n"
        "\n"
        "Control applications, VMs and the system through the givc admin service.\n"
        "\n"
        "Commands:\n"
        "  start APP [--vm VM] [-- ARGS…]  Start an application (in VM, booting it if needed)\n"
        "  stop APP                        Stop an application (APP@N.service, or APP: every instance)\n"
        "  pause APP                       Freeze an application\n"
        "  resume APP                      Thaw a paused application\n"
        "  query-list [--as-json]          List every agent, service and application\n"
        "  query [--by-type N] [--by-name NAME]… [--as-json]\n"
        "                                  List the entries of one type or with these names\n"
        "  watch [--initial] [--limit N] [--as-json]\n"
        "                                  Show changes of the registry as they happen\n"
        "  set-locale LOCALE               Set the locale everywhere (e.g. en_US.UTF-8)\n"
        "  set-timezone ZONE               Set the timezone everywhere (e.g. Europe/Helsinki)\n"
        "  poweroff, reboot, suspend       Power off, reboot or suspend the host\n"
        "  wakeup                          Wake the host up (not supported by the admin)\n"
        "  test ensure [--retry N] SERVICE Wait until SERVICE is registered\n"
        "  health [SERVICE]                Ask whether the admin (or one of its services) is serving\n"
        "  help [COMMAND]                  Show this help, or a command's\n"
        "\n"
        "Options (before the command):\n"
        "      --addr ADDR        Admin address: an IP or host name with --port, or\n"
        "                         unix:PATH or unix-abstract:NAME     [$GIVC_ADDR, $ADDR]\n"
        "      --port PORT        Admin TCP port                      [$GIVC_PORT, $PORT]\n"
        "      --name NAME        Name in the admin's certificate     [$GIVC_NAME, $NAME]\n"
        "                         (default: the host given with --addr;\n"
        "                         localhost for unix: addresses)\n"
        "      --cacert PATH      CA certificate                  [$GIVC_CA_CERT, $CA_CERT]\n"
        "      --cert PATH        Client certificate          [$GIVC_HOST_CERT, $HOST_CERT]\n"
        "      --key PATH         Client private key            [$GIVC_HOST_KEY, $HOST_KEY]\n"
        "      --notls            Plaintext, for an admin without TLS [$GIVC_NO_TLS=true]\n"
        "      --timeout TIME     Give up on a request after TIME      [$GIVC_TIMEOUT]\n"
        "                         (default 5s; 60s for start, 30s for stop and power)\n"
        "      --debug            Log debug messages\n"
        "  -h --help              Show this help ('givc cli COMMAND --help' for a command's)\n"
        "     --version           Show the version\n"
        "\n"
        "Output: query-list, query and watch print a table, or with --as-json upstream\n"
        "givc-cli's JSON, one document per line: an entry is\n"
        "  {\"name\":…,\"description\":…,\"status\":\"Running|PoweredOff|Paused\",\n"
        "   \"trust_level\":…,\"vm_type\":\"Host|AdmVM|SysVM|AppVM\",\n"
        "   \"service_type\":\"Mgr|Svc|App|VM\",\"vm_name\":…|null,\"agent_name\":…|null}\n"
        "a list is an array of entries, and a change is {\"UnitRegistered\":{…}},\n"
        "{\"UnitStatusChanged\":{…}} or {\"UnitShutdown\":{…}}. Other commands print\n"
        "nothing when they succeed.\n"
        "\n"
        "Exit status: 0 on success; 1 when the request failed (one line on stderr says\n"
        "why, with the admin's status code); 2 for a bad command line.\n"
        "\n"
        "Example:\n"
        "  export ADDR=192.168.101.10 PORT=9001 NAME=admin-vm CA_CERT=/etc/givc/ca-cert.pem \\\n"
        "         HOST_CERT=/etc/givc/cert.pem HOST_KEY=/etc/givc/key.pem\n"
        "  givc cli start chromium --vm chromium-vm -- --incognito\n"
        "  givc cli query-list --as-json | jq -r '.[] | select(.status == \"Running\") | .name'\n";

typedef struct Cli {
        CliConfig config;
        TlsCredentials *tls;
        RpcChannel *channel; /* made by connect_admin(), once the command's arguments are good */
        const char *verb;
} Cli;

typedef struct Verb {
        const char *name;
        int (*run)(Cli *cli, int argc, char **argv); /* argv[0] is the command; --help prints its help */
} Verb;

/* ---- talking to the admin ---- */

static int64_t timeout_for(const Cli *cli, int64_t default_ms) {
        return cli->config.timeout_set ? cli->config.timeout_ms : MAX(default_ms, cli->config.timeout_ms);
}

/* One line on stderr for a failed request: what failed, why, and the status name. */
static int report_failure(Cli *cli, const char *what, const RpcStatus *status, int64_t timeout_ms) {
        const CliConfig *c = &cli->config;
        const char *code = strna(rpc_status_code_to_string(status->code));
        bool no_message;

        if (status->code == RPC_UNAVAILABLE) {
                _cleanup_free_ char *reason = NULL;
                int r;

                /* gRPC says only "failed to connect"; find out why. If the handshake works, the
                 * admin itself answered UNAVAILABLE (an agent it needs is unreachable). */
                r = tls_probe(c->target, c->name, c->use_tls ? c->ca_cert : NULL, c->cert, c->key,
                              MIN(timeout_ms, (int64_t) 5000), &reason);
                if (r < 0 && r != -ENOMEM)
                        return log_error("Failed to %s: cannot reach the admin: %s (%s)", what, reason,
                                         code),
                               EXIT_FAILURE;
        }
        if (status->code == RPC_DEADLINE_EXCEEDED)
                return log_error("Failed to %s: no answer within %" PRIi64 " ms (%s); "
                                 "a longer --timeout may help", what, timeout_ms, code),
                       EXIT_FAILURE;
        /* gRPC's own statuses may carry just the code's name as their message. */
        no_message = isempty(status->message) || strcasecmp(status->message, code) == 0;
        if (status->code == RPC_CANCELLED && no_message)
                return log_error("Failed to %s: the admin cancelled the request; it may be shutting "
                                 "down (%s)", what, code),
                       EXIT_FAILURE;
        /* The admin's messages usually say what failed already ("cannot pause 'x': …"). */
        if (status->message && startswith(status->message, "cannot "))
                log_error("C%s (%s)", status->message + 1, code);
        else
                log_error("Failed to %s: %s (%s)", what, no_message ? "no reason given" : status->message,
                          code);
        return EXIT_FAILURE;
}

/* The admin's address and our TLS files, checked only when a command is about to call: a mistake
 * in the command's own arguments is reported first. Logs. Return: 0, EXIT_USAGE, EXIT_FAILURE. */
static int connect_admin(Cli *cli) {
        _cleanup_free_ char *error = NULL;
        int r;

        if (cli->channel)
                return 0;
        r = cli_config_resolve(&cli->config, &error);
        if (r < 0)
                return applet_parse_result(r, "cli", cli_help, error);
        if (cli->config.use_tls) {
                r = tls_credentials_load(cli->config.ca_cert, cli->config.cert, cli->config.key, &cli->tls,
                                         &error);
                if (r < 0)
                        return log_error("%s", error ?: "Failed to load the TLS credentials"), EXIT_FAILURE;
        }
        r = rpc_channel_new(&cli->channel, cli->config.target, cli->config.name, cli->tls, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to create a channel: %m"), EXIT_FAILURE;
        return 0;
}

/* A unary call to the admin; logs the failure. Return: 0, EXIT_USAGE or EXIT_FAILURE. */
static int call_admin(Cli *cli, const char *method, const ProtobufCMessage *request,
                      const ProtobufCMessageDescriptor *response_type, int64_t timeout_ms,
                      ProtobufCMessage **ret_response, const char *what) {
        _cleanup_(rpc_status_done) RpcStatus status = RPC_STATUS_NULL;
        int r;

        r = connect_admin(cli);
        if (r != 0)
                return r;
        r = rpc_channel_call(cli->channel, method, request, response_type, timeout_ms, 0, ret_response,
                             &status);
        if (r < 0)
                return report_failure(cli, what, &status, timeout_ms);
        return 0;
}

static int query_list(Cli *cli, Admin__QueryListResponse **ret) {
        Admin__Empty req = ADMIN__EMPTY__INIT;

        return call_admin(cli, "/admin.AdminService/QueryList", &req.base,
                          &admin__query_list_response__descriptor, timeout_for(cli, 0),
                          (ProtobufCMessage **) ret, "list the registry");
}

/* The terminal's width when stdout is one (tables are fitted to it), else 0: no limit. */
static size_t output_width(void) {
        struct winsize ws = {};
        const char *columns;
        uint64_t n;

        if (!isatty(STDOUT_FILENO))
                return 0;
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
                return ws.ws_col;
        columns = getenv("COLUMNS");
        if (columns && parse_uint64(columns, 1, 9999, &n) >= 0)
                return (size_t) n;
        return 80;
}

static int print_list(Admin__QueryListItem *const *items, size_t n, bool as_json) {
        int r;

        if (as_json) {
                _cleanup_json_ json_object *o = NULL;

                r = query_list_to_json(items, n, &o);
                if (r >= 0)
                        r = json_print_line(stdout, o);
        } else
                r = query_table_print(stdout, items, n, NULL, output_width(), TABLE_HEADER);
        if (r >= 0 && fflush(stdout) != 0)
                r = -EIO;
        if (r < 0)
                return log_error_errno(r, "Failed to write the list: %m"), EXIT_FAILURE;
        return EXIT_SUCCESS;
}

/* ---- command lines of the commands ---- */

/* The options commands take; each command allows some of them. */
typedef enum VerbOption {
        VERB_VM = 1 << 0,
        VERB_AS_JSON = 1 << 1,
        VERB_BY_TYPE = 1 << 2,
        VERB_BY_NAME = 1 << 3,
        VERB_INITIAL = 1 << 4,
        VERB_LIMIT = 1 << 5,
        VERB_RETRY = 1 << 6,
        VERB_TYPE = 1 << 7,
} VerbOption;

static const struct option verb_options[] = {
        { "vm", required_argument, NULL, VERB_VM },
        { "as-json", no_argument, NULL, VERB_AS_JSON },
        { "by-type", required_argument, NULL, VERB_BY_TYPE },
        { "by-name", required_argument, NULL, VERB_BY_NAME },
        { "initial", no_argument, NULL, VERB_INITIAL },
        { "limit", required_argument, NULL, VERB_LIMIT },
        { "retry", required_argument, NULL, VERB_RETRY },
        { "type", required_argument, NULL, VERB_TYPE },
};

typedef struct VerbArgs {
        const char *vm;
        bool as_json;
        bool initial;
        bool by_type;
        UnitType type;   /* with by_type */
        char **names;    /* --by-name, repeated */
        uint64_t limit;  /* UINT64_MAX: none */
        uint64_t retry;
        char **arguments; /* the positional ones */
        int n_arguments;
} VerbArgs;

static void verb_args_done(VerbArgs *a) {
        strv_free(a->names);
}

static int usage_error(const Cli *cli, const char *format, ...) _printf_(2, 3);
static int usage_error(const Cli *cli, const char *format, ...) {
        _cleanup_free_ char *text = NULL;
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&text, format, ap) < 0)
                text = NULL;
        va_end(ap);
        log_error("%s; see 'givc cli %s --help'.", text ?: "invalid command line", cli->verb);
        return EXIT_USAGE;
}

static int parse_unit_type(const Cli *cli, const char *option, const char *value, UnitType *ret) {
        uint64_t t;

        if (parse_uint64(value, 0, UINT32_MAX, &t) < 0 || unit_type_from_u32((uint32_t) t, ret) < 0)
                return usage_error(cli, "%s '%s' is not a type (0 to 14)", option, value);
        return 0;
}

/**
 * parse_verb() - the command line of a command
 * @allowed: the VerbOption flags it takes (--help always)
 * @min_args, @max_args: how many positional arguments
 * @missing: what the first missing argument is, for the message
 *
 * Options may follow the arguments (start foot --vm x), as with upstream's clap.
 * Return: -1 to go on, or the exit status (0 after --help, EXIT_USAGE).
 */
static int parse_verb(const Cli *cli, int argc, char **argv, unsigned allowed, const char *help,
                      int min_args, int max_args, const char *missing, VerbArgs *a) {
        struct option options[ELEMENTSOF(verb_options) + 2] = { { "help", no_argument, NULL, 'h' } };
        size_t n = 1;
        int opt, r;

        *a = (VerbArgs) { .limit = UINT64_MAX, .retry = 1 };
        for (size_t i = 0; i < ELEMENTSOF(verb_options); i++)
                if (allowed & (unsigned) verb_options[i].val)
                        options[n++] = verb_options[i];

        optind = 0;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                r = 0;
                switch (opt) {
                case 'h':
                        return fputs(help, stdout), EXIT_SUCCESS;
                case VERB_VM:
                        if (isempty(optarg))
                                return usage_error(cli, "--vm needs a VM name");
                        a->vm = optarg;
                        break;
                case VERB_AS_JSON:
                        a->as_json = true;
                        break;
                case VERB_BY_TYPE:
                case VERB_TYPE:
                        r = parse_unit_type(cli, opt == VERB_TYPE ? "--type" : "--by-type", optarg,
                                            &a->type);
                        a->by_type = true;
                        break;
                case VERB_BY_NAME:
                        if (strv_extend(&a->names, optarg) < 0)
                                return log_error("Out of memory."), EXIT_FAILURE;
                        break;
                case VERB_INITIAL:
                        a->initial = true;
                        break;
                case VERB_LIMIT:
                        if (parse_uint64(optarg, 0, UINT64_MAX, &a->limit) < 0)
                                return usage_error(cli, "--limit '%s' is not a number", optarg);
                        break;
                case VERB_RETRY:
                        if (parse_uint64(optarg, 1, 86400, &a->retry) < 0)
                                return usage_error(cli, "--retry '%s' is not a number from 1 to 86400",
                                                   optarg);
                        break;
                default: {
                        const char *arg = argv[optind - 1];

                        if (optopt && !startswith(arg, "--"))
                                return usage_error(cli, "unknown option '-%c'", optopt);
                        if (optopt)
                                return usage_error(cli, "option '%s' needs a value", arg);
                        return usage_error(cli, "unknown option '%s'", arg);
                }
                }
                if (r != 0)
                        return r;
        }

        a->arguments = argv + optind;
        a->n_arguments = argc - optind;
        if (a->n_arguments < min_args)
                return usage_error(cli, "missing %s", strna(missing));
        if (a->n_arguments > max_args)
                return usage_error(cli, "unexpected argument '%s'", a->arguments[max_args]);
        for (int i = 0; i < a->n_arguments; i++)
                if (isempty(a->arguments[i]))
                        return usage_error(cli, "an argument is empty");
        return -1;
}

/* ---- the commands ---- */

static int application_call(Cli *cli, const char *method, const char *app, const char *vm, char **args,
                            size_t n_args, int64_t timeout_ms, const char *what) {
        Admin__ApplicationRequest req = ADMIN__APPLICATION_REQUEST__INIT;
        _cleanup_pb_ Admin__ApplicationResponse *resp = NULL;
        _cleanup_free_ char *description = NULL;

        req.appname = (char *) app;
        if (vm) {
                req.__vm_name_case = ADMIN__APPLICATION_REQUEST____VM_NAME_VM_NAME;
                req.vmname = (char *) vm;
        }
        req.args = args;
        req.n_args = n_args;
        if (asprintf(&description, "%s '%s'%s%s", what, app, vm ? " in " : "", vm ?: "") < 0)
                return log_error("Out of memory."), EXIT_FAILURE;
        return call_admin(cli, method, &req.base, &admin__application_response__descriptor, timeout_ms,
                          (ProtobufCMessage **) &resp, description) ?: EXIT_SUCCESS;
}

static const char start_help[] =
        "Usage: givc cli [OPTIONS] start APP [--vm VM] [-- ARGS…]\n"
        "\n"
        "Start application APP as a new instance APP@N.service. Without --vm it runs in\n"
        "APP-vm. The admin boots the VM first (through the host) when it is not\n"
        "running. ARGS after '--' are checked against what the application allows\n"
        "(upstream: 'url', 'flag', 'file').\n"
        "\n"
        "  --vm VM    The VM to run it in\n"
        "\n"
        "Example:\n"
        "  givc cli start chromium --vm chromium-vm -- https://ghaf.dev\n";

static int verb_start(Cli *cli, int argc, char **argv) {
        _cleanup_(verb_args_done) VerbArgs a = {};
        int n_before = argc, r;

        /* '--' ends the command line of start itself: the rest goes to the application. */
        for (int i = 1; i < argc; i++)
                if (streq(argv[i], "--")) {
                        n_before = i;
                        break;
                }
        r = parse_verb(cli, n_before, argv, VERB_VM, start_help, 1, 1, "the application to start", &a);
        if (r >= 0)
                return r;
        return application_call(cli, "/admin.AdminService/StartApplication", a.arguments[0], a.vm,
                                argv + MIN(n_before + 1, argc), (size_t) (argc - MIN(n_before + 1, argc)),
                                timeout_for(cli, START_TIMEOUT_MS), "start");
}

static int app_verb(Cli *cli, int argc, char **argv, const char *method, const char *what,
                    const char *summary, int64_t timeout_ms) {
        _cleanup_(verb_args_done) VerbArgs a = {};
        _cleanup_free_ char *help = NULL;
        int r;

        if (asprintf(&help,
                     "Usage: givc cli [OPTIONS] %s APP\n"
                     "\n"
                     "%s.\n"
                     "APP is an instance name as query-list shows it (chromium@0.service), or the\n"
                     "application's name (chromium) for every instance of it.\n"
                     "\n"
                     "Example:\n"
                     "  givc cli %s chromium@0.service\n",
                     what, summary, what) < 0)
                return log_error("Out of memory."), EXIT_FAILURE;
        r = parse_verb(cli, argc, argv, 0, help, 1, 1, "the application", &a);
        if (r >= 0)
                return r;
        return application_call(cli, method, a.arguments[0], NULL, NULL, 0, timeout_ms, what);
}

static int verb_stop(Cli *cli, int argc, char **argv) {
        return app_verb(cli, argc, argv, "/admin.AdminService/StopApplication", "stop",
                        "Stop the application; it leaves the registry", timeout_for(cli, STOP_TIMEOUT_MS));
}

static int verb_pause(Cli *cli, int argc, char **argv) {
        return app_verb(cli, argc, argv, "/admin.AdminService/PauseApplication", "pause",
                        "Freeze the processes of the application (its status becomes Paused)",
                        timeout_for(cli, 0));
}

static int verb_resume(Cli *cli, int argc, char **argv) {
        return app_verb(cli, argc, argv, "/admin.AdminService/ResumeApplication", "resume",
                        "Thaw the paused application", timeout_for(cli, 0));
}

static int power_verb(Cli *cli, int argc, char **argv, const char *method, const char *help,
                      const char *what) {
        _cleanup_(verb_args_done) VerbArgs a = {};
        _cleanup_pb_ Admin__Empty *resp = NULL;
        Admin__Empty req = ADMIN__EMPTY__INIT;
        int r;

        r = parse_verb(cli, argc, argv, 0, help, 0, 0, NULL, &a);
        if (r >= 0)
                return r;
        return call_admin(cli, method, &req.base, &admin__empty__descriptor,
                          timeout_for(cli, STOP_TIMEOUT_MS), (ProtobufCMessage **) &resp,
                          what) ?: EXIT_SUCCESS;
}

static int verb_poweroff(Cli *cli, int argc, char **argv) {
        return power_verb(cli, argc, argv, "/admin.AdminService/Poweroff",
                          "Usage: givc cli [OPTIONS] poweroff\n\nPower the host off (poweroff.target).\n"
                          "\nExample:\n  givc cli --timeout 60s poweroff\n",
                          "power the host off");
}

static int verb_reboot(Cli *cli, int argc, char **argv) {
        return power_verb(cli, argc, argv, "/admin.AdminService/Reboot",
                          "Usage: givc cli [OPTIONS] reboot\n\nReboot the host (reboot.target).\n"
                          "\nExample:\n  givc cli reboot\n",
                          "reboot the host");
}

static int verb_suspend(Cli *cli, int argc, char **argv) {
        return power_verb(cli, argc, argv, "/admin.AdminService/Suspend",
                          "Usage: givc cli [OPTIONS] suspend\n\nSuspend the host (suspend.target).\n"
                          "\nExample:\n  givc cli suspend\n",
                          "suspend the host");
}

static int verb_wakeup(Cli *cli, int argc, char **argv) {
        return power_verb(cli, argc, argv, "/admin.AdminService/Wakeup",
                          "Usage: givc cli [OPTIONS] wakeup\n\n"
                          "Ask the admin to wake the host up. The admin answers UNIMPLEMENTED, as\n"
                          "upstream's does: nothing can wake a suspended host from inside it.\n"
                          "\nExample:\n  givc cli wakeup     # exit status 1: UNIMPLEMENTED\n",
                          "wake the host up");
}

static const char query_list_help[] =
        "Usage: givc cli [OPTIONS] query-list [--as-json]\n"
        "\n"
        "List every agent, service and application the admin knows: NAME, STATUS\n"
        "(Running, PoweredOff, Paused), VM, TYPE (VM kind/service kind) and AGENT.\n"
        "\n"
        "  --as-json   One JSON array on one line (see 'givc cli --help')\n"
        "\n"
        "Examples:\n"
        "  givc cli query-list\n"
        "  givc cli query-list --as-json | jq -r '.[] | select(.status == \"Running\") | .name'\n";

static const char query_help[] =
        "Usage: givc cli [OPTIONS] query [--by-type N] [--by-name NAME]… [--as-json]\n"
        "\n"
        "List the entries of the registry that match: of type N, and (when given) with\n"
        "one of the names. Types as upstream numbers them:\n"
        "   0 Host/Mgr    1 Host/Svc    2 Host/App\n"
        "   3 AdmVM/VM    4 AdmVM/Mgr   5 AdmVM/Svc   6 AdmVM/App\n"
        "   7 SysVM/VM    8 SysVM/Mgr   9 SysVM/Svc  10 SysVM/App\n"
        "  11 AppVM/VM   12 AppVM/Mgr  13 AppVM/Svc  14 AppVM/App\n"
        "\n"
        "  --by-type N      Only entries of type N\n"
        "  --by-name NAME   Only the entry NAME (may be repeated)\n"
        "  --as-json        One JSON array on one line\n"
        "\n"
        "Example:\n"
        "  givc cli query --by-type 12     # the agents of the application VMs\n";

/* query-list, and query: the same list, filtered. */
static int list_verb(Cli *cli, int argc, char **argv, bool filtered) {
        _cleanup_(verb_args_done) VerbArgs a = {};
        _cleanup_pb_ Admin__QueryListResponse *resp = NULL;
        _cleanup_free_ Admin__QueryListItem **matches = NULL;
        size_t n = 0;
        int r;

        r = parse_verb(cli, argc, argv, VERB_AS_JSON | (filtered ? VERB_BY_TYPE | VERB_BY_NAME : 0),
                       filtered ? query_help : query_list_help, 0, 0, NULL, &a);
        if (r >= 0)
                return r;
        r = query_list(cli, &resp);
        if (r != 0)
                return r;

        matches = calloc(resp->n_list ?: 1, sizeof(*matches));
        if (!matches)
                return log_error("Out of memory."), EXIT_FAILURE;
        for (size_t i = 0; i < resp->n_list; i++)
                if (query_item_matches(resp->list[i], a.by_type ? &a.type : NULL, a.names))
                        matches[n++] = resp->list[i];
        return print_list(matches, n, a.as_json);
}

static int verb_query_list(Cli *cli, int argc, char **argv) {
        return list_verb(cli, argc, argv, false);
}

static int verb_query(Cli *cli, int argc, char **argv) {
        return list_verb(cli, argc, argv, true);
}

static const char watch_help[] =
        "Usage: givc cli [OPTIONS] watch [--initial] [--limit N] [--as-json]\n"
        "\n"
        "Print each change of the registry as it happens: Added, Updated, Removed.\n"
        "Runs until interrupted, or until N changes were printed.\n"
        "\n"
        "  --initial   First print the whole registry as it is now\n"
        "  --limit N   Exit (status 0) after N changes\n"
        "  --as-json   One JSON document a line: with --initial, the registry as an\n"
        "              array first; then each change as {\"UnitRegistered\":{…}},\n"
        "              {\"UnitStatusChanged\":{…}} or {\"UnitShutdown\":{…}}\n"
        "\n"
        "Exits with status 1 when the admin ends the stream (it stops, or this client\n"
        "fell too far behind).\n"
        "\n"
        "Examples:\n"
        "  givc cli watch --initial\n"
        "  givc cli watch --as-json --limit 1     # wait for the next change\n";

static int print_watch_item(const Admin__WatchItem *item, bool as_json, bool *header_done) {
        Admin__QueryListItem *event;
        const char *name;
        int r;

        if (as_json) {
                _cleanup_json_ json_object *o = NULL;

                r = watch_item_to_json(item, &o);
                if (r >= 0)
                        r = json_print_line(stdout, o);
        } else if (item->status_case == ADMIN__WATCH_ITEM__STATUS_INITIAL)
                r = query_table_print(stdout, item->initial ? item->initial->list : NULL,
                                      item->initial ? item->initial->n_list : 0, NULL, output_width(),
                                      TABLE_HEADER);
        else {
                event = (Admin__QueryListItem *) watch_event_item(item);
                name = watch_event_name(item);
                if (!event)
                        return -EBADMSG;
                r = query_table_print(stdout, &event, 1, &name, output_width(),
                                      TABLE_STREAM | (*header_done ? 0 : TABLE_HEADER));
                *header_done = true;
        }
        if (r >= 0 && fflush(stdout) != 0)
                r = -EIO;
        return r;
}

static int verb_watch(Cli *cli, int argc, char **argv) {
        _cleanup_(verb_args_done) VerbArgs a = {};
        _cleanup_(rpc_stream_freep) RpcStream *stream = NULL;
        Admin__Empty req = ADMIN__EMPTY__INIT;
        bool header_done = false, first = true;
        uint64_t seen = 0;
        int r;

        r = parse_verb(cli, argc, argv, VERB_AS_JSON | VERB_INITIAL | VERB_LIMIT, watch_help, 0, 0, NULL,
                       &a);
        if (r >= 0)
                return r;

        r = connect_admin(cli);
        if (r != 0)
                return r;
        r = rpc_channel_open_stream(cli->channel, "/admin.AdminService/Watch", &req.base, -1, 0, &stream);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the registry: %m"), EXIT_FAILURE;

        while (seen < a.limit) {
                _cleanup_pb_ Admin__WatchItem *item = NULL;

                /* The first item (the registry now) must come within the timeout; changes may take
                 * forever. */
                r = rpc_stream_read(stream, &admin__watch_item__descriptor, first ? timeout_for(cli, 0) : -1,
                                    (ProtobufCMessage **) &item);
                if (r == -ETIME) {
                        RpcStatus timeout = { .code = RPC_DEADLINE_EXCEEDED };

                        return report_failure(cli, "watch the registry", &timeout, timeout_for(cli, 0));
                }
                if (r == -EREMOTEIO) {
                        const RpcStatus *status = rpc_stream_status(stream);

                        /* It was connected: the admin went away (stopped, restarted). A probe now
                         * would only meet it half shut down, and blame TLS. */
                        if (!first && status->code == RPC_UNAVAILABLE)
                                return log_error("Failed to watch the registry: the admin went away: "
                                                 "%s (%s)",
                                                 isempty(status->message) ? "the connection was lost"
                                                                          : status->message,
                                                 strna(rpc_status_code_to_string(status->code))),
                                       EXIT_FAILURE;
                        return report_failure(cli, "watch the registry", status, timeout_for(cli, 0));
                }
                if (r == 0)
                        return log_error("The admin ended the Watch stream."), EXIT_FAILURE;
                if (r < 0)
                        return log_error_errno(r, "Failed to watch the registry: %m"), EXIT_FAILURE;

                if (first && item->status_case != ADMIN__WATCH_ITEM__STATUS_INITIAL)
                        return log_error("Failed to watch the registry: the admin did not send the registry "
                                         "first"),
                               EXIT_FAILURE;
                if (!first && item->status_case == ADMIN__WATCH_ITEM__STATUS_INITIAL)
                        continue;
                if (!first || a.initial) {
                        r = print_watch_item(item, a.as_json, &header_done);
                        if (r < 0)
                                return log_error_errno(r, "Failed to print a change: %m"), EXIT_FAILURE;
                }
                if (!first)
                        seen++;
                first = false;
        }
        return EXIT_SUCCESS;
}

static const char locale_help[] =
        "Usage: givc cli [OPTIONS] set-locale LOCALE\n"
        "\n"
        "Set LANG on every VM and the host, now and for agents that register later.\n"
        "LOCALE is C, POSIX or like en_US.UTF-8, fi_FI@euro.\n"
        "\n"
        "Example:\n"
        "  givc cli set-locale fi_FI.UTF-8\n";

static const char timezone_help[] =
        "Usage: givc cli [OPTIONS] set-timezone ZONE\n"
        "\n"
        "Set the timezone of every VM and the host, now and for agents that register\n"
        "later. ZONE is like UTC, Europe/Helsinki, Etc/GMT+8.\n"
        "\n"
        "Example:\n"
        "  givc cli set-timezone Europe/Helsinki\n";

static int setting_verb(Cli *cli, int argc, char **argv, bool locale) {
        _cleanup_(verb_args_done) VerbArgs a = {};
        _cleanup_pb_ Admin__Empty *resp = NULL;
        _cleanup_free_ char *what = NULL;
        const char *value;
        int r;

        r = parse_verb(cli, argc, argv, 0, locale ? locale_help : timezone_help, 1, 1,
                       locale ? "the locale" : "the timezone", &a);
        if (r >= 0)
                return r;
        value = a.arguments[0];
        /* The admin checks the same way; a bad value is a bad command line, found without a round trip. */
        if (locale ? !locale_is_valid(value) : !timezone_is_valid(value))
                return usage_error(cli, "'%s' is not a valid %s", value, locale ? "locale" : "timezone");
        if (asprintf(&what, "set the %s to '%s'", locale ? "locale" : "timezone", value) < 0)
                return log_error("Out of memory."), EXIT_FAILURE;

        if (locale) {
                Admin__LocaleRequest req = ADMIN__LOCALE_REQUEST__INIT;

                req.locale = (char *) value;
                return call_admin(cli, "/admin.AdminService/SetLocale", &req.base, &admin__empty__descriptor,
                                  timeout_for(cli, 0), (ProtobufCMessage **) &resp, what) ?: EXIT_SUCCESS;
        } else {
                Admin__TimezoneRequest req = ADMIN__TIMEZONE_REQUEST__INIT;

                req.timezone = (char *) value;
                return call_admin(cli, "/admin.AdminService/SetTimezone", &req.base,
                                  &admin__empty__descriptor, timeout_for(cli, 0),
                                  (ProtobufCMessage **) &resp, what) ?: EXIT_SUCCESS;
        }
}

static int verb_set_locale(Cli *cli, int argc, char **argv) {
        return setting_verb(cli, argc, argv, true);
}

static int verb_set_timezone(Cli *cli, int argc, char **argv) {
        return setting_verb(cli, argc, argv, false);
}

static const char test_help[] =
        "Usage: givc cli [OPTIONS] test ensure [--retry N] [--type N] [--vm VM] SERVICE\n"
        "\n"
        "Succeed once SERVICE is in the registry: asks up to N times (default 1), a\n"
        "second apart. With --type or --vm, it must also be of that type (a number\n"
        "as in 'givc cli query --help') or in that VM (as query-list's VM column, or\n"
        "microvm@VM.service). Exits 1 with \"test failed '…' not registered\" otherwise.\n"
        "\n"
        "  --retry N   Ask up to N times, a second apart (default 1)\n"
        "  --type N    It must be of type N\n"
        "  --vm VM     It must be in VM\n"
        "\n"
        "Example (CI smoke test):\n"
        "  givc cli test ensure --retry 30 givc-chromium-vm.service\n";

static bool vm_matches(const Admin__QueryListItem *item, const char *vm) {
        _cleanup_free_ char *unit = NULL;

        if (item->__vm_name_case != ADMIN__QUERY_LIST_ITEM____VM_NAME_VM_NAME || !item->vmname)
                return false;
        if (streq(item->vmname, vm))
                return true;
        return asprintf(&unit, "microvm@%s.service", vm) >= 0 && streq(item->vmname, unit);
}

static int verb_test(Cli *cli, int argc, char **argv) {
        _cleanup_(verb_args_done) VerbArgs a = {};
        const char *service;
        int r;

        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
                if (argc >= 2)
                        return fputs(test_help, stdout), EXIT_SUCCESS;
                return usage_error(cli, "missing the test: 'ensure'");
        }
        if (!streq(argv[1], "ensure"))
                return usage_error(cli, "unknown test '%s' (there is 'ensure')", argv[1]);
        r = parse_verb(cli, argc - 1, argv + 1, VERB_RETRY | VERB_TYPE | VERB_VM, test_help, 1, 1,
                       "the service to wait for", &a);
        if (r >= 0)
                return r;
        service = a.arguments[0];

        for (uint64_t attempt = 0; attempt < a.retry; attempt++) {
                _cleanup_pb_ Admin__QueryListResponse *resp = NULL;
                struct timespec second = { .tv_sec = 1 };

                if (attempt > 0)
                        (void) nanosleep(&second, NULL);
                r = query_list(cli, &resp);
                if (r != 0)
                        return r;
                for (size_t i = 0; i < resp->n_list; i++) {
                        const Admin__QueryListItem *item = resp->list[i];

                        if (!streq(item->name, service))
                                continue;
                        if (a.by_type && !query_item_matches(item, &a.type, NULL))
                                return log_error("test failed '%s' registered but of wrong type", service),
                                       EXIT_FAILURE;
                        if (a.vm && !vm_matches(item, a.vm))
                                return log_error("test failed '%s' registered but on wrong VM", service),
                                       EXIT_FAILURE;
                        return EXIT_SUCCESS;
                }
        }
        return log_error("test failed '%s' not registered", service), EXIT_FAILURE;
}

static const char health_help[] =
        "Usage: givc cli [OPTIONS] health [SERVICE]\n"
        "\n"
        "Ask the admin whether it (or SERVICE, e.g. admin.AdminService) is serving,\n"
        "with the standard gRPC health check. Prints SERVING or NOT_SERVING; exit\n"
        "status 0 only for SERVING.\n"
        "\n"
        "Examples:\n"
        "  givc cli health\n"
        "  givc cli health admin.AdminService\n";

static int verb_health(Cli *cli, int argc, char **argv) {
        _cleanup_(verb_args_done) VerbArgs a = {};
        Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        _cleanup_pb_ Grpc__Health__V1__HealthCheckResponse *resp = NULL;
        const ProtobufCEnumValue *v;
        int r;

        r = parse_verb(cli, argc, argv, 0, health_help, 0, 1, NULL, &a);
        if (r >= 0)
                return r;
        req.service = a.n_arguments > 0 ? a.arguments[0] : (char *) "";
        r = call_admin(cli, "/grpc.health.v1.Health/Check", &req.base,
                       &grpc__health__v1__health_check_response__descriptor, timeout_for(cli, 0),
                       (ProtobufCMessage **) &resp, "check the admin's health");
        if (r != 0)
                return r;

        v = protobuf_c_enum_descriptor_get_value(
                &grpc__health__v1__health_check_response__serving_status__descriptor, (int) resp->status);
        printf("%s\n", v ? v->name : "UNKNOWN");
        return resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                       ? EXIT_SUCCESS
                       : EXIT_FAILURE;
}

static const Verb verbs[] = {
        { "start", verb_start },
        { "stop", verb_stop },
        { "pause", verb_pause },
        { "resume", verb_resume },
        { "reboot", verb_reboot },
        { "poweroff", verb_poweroff },
        { "suspend", verb_suspend },
        { "wakeup", verb_wakeup },
        { "query-list", verb_query_list },
        { "query", verb_query },
        { "watch", verb_watch },
        { "set-locale", verb_set_locale },
        { "set-timezone", verb_set_timezone },
        { "test", verb_test },
        { "health", verb_health },
};

static const Verb *find_verb(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name))
                        return &verbs[i];
        return NULL;
}

/* `givc cli help [COMMAND]`: the general help, or the command's (its own --help). */
static int run_help(Cli *cli, int argc, char **argv) {
        const Verb *verb;
        char *help_argv[] = { NULL, (char *) "--help", NULL };

        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h"))
                return fputs(cli_help, stdout), EXIT_SUCCESS;
        verb = find_verb(argv[1]);
        if (!verb) {
                /* As for an unknown command itself: 'help --help' would not say more. */
                log_error("Unknown command '%s'; see 'givc cli --help'.", argv[1]);
                return EXIT_USAGE;
        }
        cli->verb = verb->name;
        help_argv[0] = argv[1];
        return verb->run(cli, 2, help_argv);
}

int cli_main(int argc, char **argv) {
        _cleanup_free_ char *error = NULL;
        Cli cli = {};
        const Verb *verb;
        char **verb_argv;
        int verb_argc, r;

        r = cli_config_parse(&cli.config, argc, argv, &error);
        r = applet_parse_result(r, "cli", cli_help, error);
        if (r >= 0)
                goto finish;
        log_set_max_level(cli.config.log_level);

        if (cli.config.command_index >= argc) {
                log_error("No command given; see 'givc cli --help'.");
                r = EXIT_USAGE;
                goto finish;
        }
        verb_argc = argc - cli.config.command_index;
        verb_argv = argv + cli.config.command_index;
        cli.verb = verb_argv[0];
        if (streq(cli.verb, "help")) {
                r = run_help(&cli, verb_argc, verb_argv);
                goto finish;
        }
        verb = find_verb(cli.verb);
        if (!verb) {
                log_error("Unknown command '%s'; see 'givc cli --help'.", cli.verb);
                r = EXIT_USAGE;
                goto finish;
        }

        r = verb->run(&cli, verb_argc, verb_argv);
finish:
        rpc_channel_free(cli.channel);
        tls_credentials_free(cli.tls);
        cli_config_done(&cli.config);
        return r;
}
