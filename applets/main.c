/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The givc multi-call binary. The applet is chosen by the name it was
 * invoked as (givc-agent, givc-admin, givc-cli, givc-certs, or the bare
 * role name), or, for "givc", by the first argument: `givc agent --help`.
 * An unknown applet exits 127, like a shell's "command not found".
 */

#include <getopt.h>
#include <libgen.h>
#include <stdio.h>

#include "admin-config.h"
#include "applets.h"
#include "config.h"
#include "log.h"
#include "macro.h"

typedef struct Applet {
        const char *name;
        int (*main)(int argc, char **argv);
        const char *summary;
} Applet;

static const Applet applets[] = {
        { "admin", admin_main, "system-wide registry, application starter and power control" },
        { "agent", agent_main, "controls the systemd units of a host or VM for the admin" },
        { "certs", certs_main, "creates a CA and certificates for givc, shows certificates" },
        { "cli", cli_main, "command-line client of the admin service" },
};

#define EXIT_APPLET_NOT_FOUND 127

static const Applet *applet_find(const char *name) {
        const char *role = startswith(name, "givc-") ?: name;

        for (size_t i = 0; i < ELEMENTSOF(applets); i++)
                if (streq(applets[i].name, role))
                        return &applets[i];
        return NULL;
}

static void help(FILE *f) {
        fprintf(f, "Usage: givc APPLET [ARGUMENTS...]\n"
               "       givc-APPLET [ARGUMENTS...]\n"
               "\n"
               "givc is the control plane of Ghaf's virtual machines: gRPC over mutual TLS\n"
               "between an admin service, an agent in the host and in every VM, and a client.\n"
               "\n"
               "Applets:\n");
        for (size_t i = 0; i < ELEMENTSOF(applets); i++)
                fprintf(f, "  %-8s %s\n", applets[i].name, applets[i].summary);
        fprintf(f, "\n"
               "Options:\n"
               "  -h --help     Show this help\n"
               "     --version  Show the version\n"
               "     --list     List the applets, one per line\n"
               "\n"
               "Run 'givc APPLET --help' for an applet's options.\n");
}

int applet_parse_result(int r, const char *applet, const char *help, const char *error) {
        if (r == -ENOMEM)
                return log_error_errno(r, "Failed to parse the command line: %m"), EXIT_FAILURE;
        if (r < 0) {
                log_error("%s; see 'givc %s --help'.", error ?: "invalid command line", applet);
                return EXIT_USAGE;
        }
        if (r == CONFIG_HELP) {
                fputs(help, stdout);
                return EXIT_SUCCESS;
        }
        if (r == CONFIG_VERSION) {
                printf("givc %s\n", GIVC_VERSION);
                return EXIT_SUCCESS;
        }
        return -1;
}

static int run_applet(const Applet *a, int argc, char **argv) {
        /* Logging names the role the way a person invoked or deployed it. */
        static char program[32];

        (void) snprintf(program, sizeof(program), "givc-%s", a->name);
        log_setup(program);
        return a->main(argc, argv);
}

int main(int argc, char **argv) {
        const Applet *a;
        const char *invoked;

        invoked = argc > 0 && argv[0] ? basename(argv[0]) : "givc";
        if (!streq(invoked, "givc")) {
                a = applet_find(invoked);
                if (!a) {
                        fprintf(stderr, "givc: unknown applet '%s'; 'givc --list' shows the applets.\n",
                                invoked);
                        return EXIT_APPLET_NOT_FOUND;
                }
                return run_applet(a, argc, argv);
        }

        if (argc < 2) {
                help(stderr);
                return EXIT_USAGE;
        }
        if (streq(argv[1], "-h") || streq(argv[1], "--help") || streq(argv[1], "help")) {
                help(stdout);
                return EXIT_SUCCESS;
        }
        if (streq(argv[1], "--version")) {
                printf("givc %s\n", GIVC_VERSION);
                return EXIT_SUCCESS;
        }
        if (streq(argv[1], "--list")) {
                for (size_t i = 0; i < ELEMENTSOF(applets); i++)
                        printf("%s\n", applets[i].name);
                return EXIT_SUCCESS;
        }
        if (argv[1][0] == '-') {
                fprintf(stderr, "givc: unknown option '%s'; see 'givc --help'.\n", argv[1]);
                return EXIT_USAGE;
        }

        a = applet_find(argv[1]);
        if (!a) {
                fprintf(stderr, "givc: unknown applet '%s'; 'givc --list' shows the applets.\n", argv[1]);
                return EXIT_APPLET_NOT_FOUND;
        }
        return run_applet(a, argc - 1, argv + 1);
}
