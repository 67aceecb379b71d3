/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The entry point of each applet: argv[0] is the applet's name. */
int agent_main(int argc, char **argv);
int admin_main(int argc, char **argv);
int cli_main(int argc, char **argv);
int certs_main(int argc, char **argv);

/* Exit status for a bad command line or configuration (systemd's EXIT_INVALIDARGUMENT). */
#define EXIT_USAGE 2

/**
 * applet_parse_result() - act on what a *_config_parse() function returned
 * @applet: "admin", "agent", …, for messages
 * @help: the applet's --help text
 * @error: the sentence the parser left for a failure (may be NULL)
 *
 * Prints the help or the version, or logs the error once.
 * Return: the exit status to return, or -1 when the applet goes on.
 */
int applet_parse_result(int r, const char *applet, const char *help, const char *error);
