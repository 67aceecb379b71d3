/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* What every cmocka test file needs, in the order cmocka wants it. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "macro.h"

/* The number of arguments in a NULL-terminated argv (macros pass NULL for "none"). */
static inline int count_args(char **argv) {
        int n = 0;

        while (argv[n])
                n++;
        return n;
}

/* Unsets every variable givc reads, leaving the test runner's own (CMOCKA_*). */
static inline void clear_environment(void) {
        static const char *const names[] = {
                "ADDR", "PORT", "NAME", "PROTO", "TYPE", "SUBTYPE", "TLS", "CA_CERT", "HOST_CERT", "HOST_KEY",
                "SERVICES", "DEBUG", "GIVC_LOG", "AGENT", "ADMIN_SERVER", "TLS_CONFIG", "APPLICATIONS",
                "PARENT", "HWID", "HWID_IFACE", "WIFI", "SOCKET_PROXY", "ADMIN_SERVER_NAME", "ADMIN_SERVER_ADDR",
                "ADMIN_SERVER_PORT", "ADMIN_SERVER_PROTO", "GIVC_ADDR", "GIVC_PORT", "GIVC_NAME", "GIVC_CA_CERT",
                "GIVC_HOST_CERT", "GIVC_HOST_KEY", "GIVC_TIMEOUT", "GIVC_NO_TLS", "STATE_DIRECTORY",
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                unsetenv(names[i]);
}
