/* SPDX-License-Identifier: Apache-2.0 */
/*
 * givc certs: makes the CA and the certificates givc's mutual TLS needs, in
 * upstream's layout (givc-gen-certs), and shows what a certificate holds.
 * The work is done by src/certs.c; this file parses the command line and
 * reports. Exit status: 0 success, 1 failure, 2 usage error.
 */

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>

#include "applets.h"
#include "certs.h"
#include "log.h"
#include "parse-util.h"

#define DEFAULT_DAYS 3650
#define HINT "see 'givc certs --help'"

static const char certs_help[] =
        "Usage: givc certs ca DIR [OPTIONS]\n"
        "       givc certs issue --ca DIR --name NAME [OPTIONS]\n"
        "       givc certs show FILE...\n"
        "\n"
        "Creates a certificate authority and the certificates givc uses for mutual\n"
        "TLS, in the layout of upstream's givc-gen-certs, and shows certificates.\n"
        "\n"
        "Commands:\n"
        "  ca DIR        Create a CA: DIR/ca-cert.pem and DIR/ca-key.pem (CN=GivcCA)\n"
        "  issue         Issue a certificate signed by a CA: OUT/NAME/NAME-cert.pem,\n"
        "                OUT/NAME/NAME-key.pem and a copy of the CA's ca-cert.pem\n"
        "  show FILE...  Describe the certificates in PEM files\n"
        "\n"
        "Options:\n"
        "  -h --help     Show this help ('givc certs COMMAND --help' for a command)\n"
        "\n"
        "Keys are Ed25519 unless --key-type says otherwise, certificates are valid for\n"
        "3650 days unless --days says otherwise, and existing files are never replaced\n"
        "without --force. Key files are created with mode 0600, directories 0700.\n"
        "\n"
        "Example, the certificates of upstream's demo set-up:\n"
        "  givc certs ca /etc/givc\n"
        "  givc certs issue --ca /etc/givc --name admin-vm --ip 192.168.101.10\n"
        "  givc certs issue --ca /etc/givc --name gui-vm --ip 192.168.101.3\n"
        "  givc certs issue --ca /etc/givc --name chromium-vm\n"
        "  givc certs show /etc/givc/admin-vm/admin-vm-cert.pem\n";

static const char certs_ca_help[] =
        "Usage: givc certs ca DIR [OPTIONS]\n"
        "\n"
        "Creates a certificate authority in DIR (made 0700 if missing):\n"
        "DIR/ca-cert.pem, a self-signed certificate with CN=GivcCA, and its key\n"
        "DIR/ca-key.pem (mode 0600). Keep the key secret: it can issue certificates\n"
        "every givc component trusts.\n"
        "\n"
        "Options:\n"
        "      --days N         Validity in days, 1 to 36500 (default 3650)\n"
        "      --key-type TYPE  ed25519 (default), ecdsa (P-256) or rsa (3072 bits)\n"
        "      --force          Replace an existing CA (certificates it issued will\n"
        "                       no longer verify)\n"
        "  -h --help            Show this help\n"
        "\n"
        "Example:\n"
        "  givc certs ca /etc/givc --days 7300\n";

static const char certs_issue_help[] =
        "Usage: givc certs issue --ca DIR --name NAME [OPTIONS]\n"
        "\n"
        "Issues a certificate for NAME, signed by the CA in DIR, and writes\n"
        "OUT/NAME/NAME-cert.pem, OUT/NAME/NAME-key.pem (mode 0600) and a copy of the\n"
        "CA certificate, OUT/NAME/ca-cert.pem. The certificate has CN=NAME and the\n"
        "DNS name NAME, which is the name peers check (an agent's or the admin's\n"
        "\"name\"), and may be used by servers and clients alike.\n"
        "\n"
        "Options:\n"
        "      --ca DIR         The CA directory (made by 'givc certs ca')\n"
        "      --name NAME      The component's name: letters, digits, '.', '_', '-'\n"
        "      --out DIR        Where NAME/ goes (default: the CA directory)\n"
        "      --ip IP          An IP address for the certificate (IPv4 or IPv6);\n"
        "                       may be repeated\n"
        "      --dns NAME       Another DNS name for the certificate; may be repeated\n"
        "      --days N         Validity in days, 1 to 36500 (default 3650)\n"
        "      --key-type TYPE  ed25519 (default), ecdsa (P-256) or rsa (3072 bits)\n"
        "      --force          Replace existing files\n"
        "  -h --help            Show this help\n"
        "\n"
        "Examples:\n"
        "  givc certs issue --ca /etc/givc --name admin-vm --ip 192.168.101.10\n"
        "  givc certs issue --ca ca --out vms --name net-vm --ip 192.168.101.1 \\\n"
        "      --dns net-vm.ghaf --key-type ecdsa\n";

static const char certs_show_help[] =
        "Usage: givc certs show FILE...\n"
        "\n"
        "Describes every certificate in the PEM files: subject, issuer, serial,\n"
        "validity, key type, CA flag, DNS names and IP addresses, key usages, the\n"
        "SHA-256 fingerprint and whether it is valid now.\n"
        "\n"
        "Options:\n"
        "  -h --help            Show this help\n"
        "\n"
        "Example:\n"
        "  givc certs show /etc/givc/ca-cert.pem /etc/givc/admin-vm/admin-vm-cert.pem\n";

enum {
        ARG_DAYS = 0x100,
        ARG_KEY_TYPE,
        ARG_FORCE,
        ARG_CA,
        ARG_NAME,
        ARG_OUT,
        ARG_IP,
        ARG_DNS,
};

static unsigned arg_days = DEFAULT_DAYS;
static CertKeyType arg_key_type = CERT_KEY_ED25519;
static bool arg_force = false;
static const char *arg_ca = NULL;
static const char *arg_name = NULL;
static const char *arg_out = NULL;
static char **arg_ips = NULL;
static char **arg_dns = NULL;

static void arg_reset(void) {
        arg_days = DEFAULT_DAYS;
        arg_key_type = CERT_KEY_ED25519;
        arg_force = false;
        arg_ca = arg_name = arg_out = NULL;
        arg_ips = strv_free(arg_ips);
        arg_dns = strv_free(arg_dns);
}

/* The option getopt_long() just stumbled over, as the user wrote it. */
static const char *bad_option_text(char **argv, char *buf, size_t size) {
        if (optopt > 0 && optopt < 0x100 && isprint(optopt)) {
                (void) snprintf(buf, size, "-%c", optopt);
                return buf;
        }
        return optind > 0 ? argv[optind - 1] : "?";
}

/*
 * Parses the options of one command; @options holds the ones it accepts.
 * Return: >0 to go on, 0 when the help was shown, -EINVAL for a usage error,
 * -ENOMEM (both logged).
 */
static int parse_argv(int argc, char **argv, const struct option *options, const char *help) {
        char buf[8];
        uint64_t u;
        int c, r;

        /* 0 makes glibc start over, as certs_main() may run more than once. */
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs(help, stdout);
                        return 0;
                case ARG_DAYS:
                        r = parse_uint64(optarg, 1, 36500, &u);
                        if (r == -ERANGE) {
                                log_error("--days must be from 1 to 36500, not %s; " HINT ".", optarg);
                                return -EINVAL;
                        }
                        if (r < 0) {
                                log_error("invalid number of days '%s'; " HINT ".", optarg);
                                return -EINVAL;
                        }
                        arg_days = (unsigned) u;
                        break;
                case ARG_KEY_TYPE:
                        arg_key_type = cert_key_type_from_string(optarg);
                        if (arg_key_type < 0) {
                                log_error("unknown key type '%s', expected ed25519, ecdsa or rsa; " HINT ".",
                                          optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_FORCE:
                        arg_force = true;
                        break;
                case ARG_CA:
                        arg_ca = optarg;
                        break;
                case ARG_NAME:
                        arg_name = optarg;
                        break;
                case ARG_OUT:
                        arg_out = optarg;
                        break;
                case ARG_IP:
                        if (strv_extend(&arg_ips, optarg) < 0)
                                return log_error_errno(-ENOMEM, "Out of memory.");
                        break;
                case ARG_DNS:
                        if (strv_extend(&arg_dns, optarg) < 0)
                                return log_error_errno(-ENOMEM, "Out of memory.");
                        break;
                case ':':
                        log_error("option '%s' needs an argument; " HINT ".",
                                  bad_option_text(argv, buf, sizeof(buf)));
                        return -EINVAL;
                default:
                        log_error("unknown option '%s'; " HINT ".", bad_option_text(argv, buf, sizeof(buf)));
                        return -EINVAL;
                }
        return 1;
}

static void print_created(const char *dir, const char *name) {
        printf("created %s%s%s\n", dir, endswith(dir, "/") ? "" : "/", name);
}

/* The library's sentence when there is one (there is unless memory ran out). */
static void log_failure(int r, const char *error, const char *what) {
        if (error)
                log_error_errno(r, "%s.", error);
        else
                log_error_errno(r, "Failed to %s: %m", what);
}

/* -EINVAL means the command line asked for something wrong: a usage error. */
static int exit_status_of(int r) {
        if (r >= 0)
                return EXIT_SUCCESS;
        return r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE;
}

static int verb_ca(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "days", required_argument, NULL, ARG_DAYS },
                { "key-type", required_argument, NULL, ARG_KEY_TYPE },
                { "force", no_argument, NULL, ARG_FORCE },
                {}
        };
        _cleanup_free_ char *error = NULL;
        CertRequest req;
        const char *dir;
        int r;

        r = parse_argv(argc, argv, options, certs_ca_help);
        if (r <= 0)
                return exit_status_of(r);
        if (optind >= argc) {
                log_error("'ca' needs the CA directory; " HINT ".");
                return EXIT_USAGE;
        }
        if (argc - optind > 1) {
                log_error("'ca' takes one directory, not also '%s'; " HINT ".", argv[optind + 1]);
                return EXIT_USAGE;
        }
        dir = argv[optind];

        req = (CertRequest) {
                .days = arg_days,
                .key_type = arg_key_type,
                .overwrite = arg_force,
        };
        r = certs_create_ca(dir, &req, &error);
        if (r == -EINVAL) {
                log_error("%s; " HINT ".", strna(error));
                return EXIT_USAGE;
        }
        if (r < 0) {
                log_failure(r, error, "create the CA");
                return exit_status_of(r);
        }

        print_created(dir, "ca-cert.pem");
        print_created(dir, "ca-key.pem");
        return EXIT_SUCCESS;
}

static int verb_issue(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "ca", required_argument, NULL, ARG_CA },
                { "name", required_argument, NULL, ARG_NAME },
                { "out", required_argument, NULL, ARG_OUT },
                { "ip", required_argument, NULL, ARG_IP },
                { "dns", required_argument, NULL, ARG_DNS },
                { "days", required_argument, NULL, ARG_DAYS },
                { "key-type", required_argument, NULL, ARG_KEY_TYPE },
                { "force", no_argument, NULL, ARG_FORCE },
                {}
        };
        _cleanup_free_ char *error = NULL;
        const char *out, *sep;
        CertRequest req;
        int r;

        r = parse_argv(argc, argv, options, certs_issue_help);
        if (r <= 0)
                return exit_status_of(r);
        if (optind < argc) {
                log_error("unexpected argument '%s' ('issue' takes options only); " HINT ".", argv[optind]);
                return EXIT_USAGE;
        }
        if (!arg_ca || !arg_name) {
                log_error("'issue' needs --ca DIR and --name NAME; " HINT ".");
                return EXIT_USAGE;
        }

        req = (CertRequest) {
                .name = arg_name,
                .dns_names = arg_dns,
                .ip_addresses = arg_ips,
                .days = arg_days,
                .key_type = arg_key_type,
                .overwrite = arg_force,
        };
        r = certs_issue(arg_ca, arg_out, &req, &error);
        if (r == -EINVAL) {
                log_error("%s; " HINT ".", strna(error));
                return EXIT_USAGE;
        }
        if (r == -ENOENT) {
                log_error_errno(r, "%s; create one with 'givc certs ca %s'.", strna(error), arg_ca);
                return EXIT_FAILURE;
        }
        if (r < 0) {
                log_failure(r, error, "issue the certificate");
                return exit_status_of(r);
        }

        out = arg_out ?: arg_ca;
        sep = endswith(out, "/") ? "" : "/";
        printf("created %s%s%s/%s-cert.pem\n", out, sep, arg_name, arg_name);
        printf("created %s%s%s/%s-key.pem\n", out, sep, arg_name, arg_name);
        printf("created %s%s%s/ca-cert.pem\n", out, sep, arg_name);
        return EXIT_SUCCESS;
}

static int verb_show(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int r, status = EXIT_SUCCESS;

        r = parse_argv(argc, argv, options, certs_show_help);
        if (r <= 0)
                return exit_status_of(r);
        if (optind >= argc) {
                log_error("'show' needs at least one file; " HINT ".");
                return EXIT_USAGE;
        }

        /* One failing file does not hide the others. */
        for (int i = optind; i < argc; i++) {
                _cleanup_free_ char *text = NULL, *error = NULL;

                r = certs_describe(argv[i], &text, &error);
                if (r < 0) {
                        log_failure(r, error, "describe the certificate");
                        status = EXIT_FAILURE;
                        continue;
                }
                if (argc - optind > 1)
                        printf("%sfile: %s\n", i > optind ? "\n" : "", argv[i]);
                fputs(text, stdout);
        }
        return status;
}

static int run(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {}
        };
        static const struct {
                const char *name;
                int (*run)(int argc, char **argv);
        } verbs[] = {
                { "ca", verb_ca },
                { "issue", verb_issue },
                { "show", verb_show },
        };
        char buf[8];
        int c;

        /* '+': options after the command are the command's. */
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs(certs_help, stdout);
                        return EXIT_SUCCESS;
                default:
                        log_error("unknown option '%s'; " HINT ".", bad_option_text(argv, buf, sizeof(buf)));
                        return EXIT_USAGE;
                }

        if (optind >= argc) {
                log_error("missing command (ca, issue or show); " HINT ".");
                return EXIT_USAGE;
        }
        if (streq(argv[optind], "help")) {
                fputs(certs_help, stdout);
                return EXIT_SUCCESS;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[optind], verbs[i].name))
                        return verbs[i].run(argc - optind, argv + optind);

        log_error("unknown command '%s'; " HINT ".", argv[optind]);
        return EXIT_USAGE;
}

int certs_main(int argc, char **argv) {
        int status;

        arg_reset();
        status = run(argc, argv);
        arg_reset();
        (void) fflush(stdout);
        return status;
}
