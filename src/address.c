/* SPDX-License-Identifier: Apache-2.0 */

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <sys/un.h>

#include "address.h"

/* sun_path holds 108 bytes including the terminating NUL (or, for abstract
 * sockets, the leading NUL). */
#define UNIX_PATH_MAX_LEN (sizeof(((struct sockaddr_un *) NULL)->sun_path) - 1)

Address *address_free(Address *a) {
        if (!a)
                return NULL;
        free(a->host);
        free(a->path);
        free(a);
        return NULL;
}

static int parse_port(const char *s, uint16_t *ret) {
        char *end;
        unsigned long v;

        if (isempty(s) || strspn(s, "0123456789") != strlen(s) || strlen(s) > 5)
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end || v > 65535)
                return -EINVAL;
        *ret = (uint16_t) v;
        return 0;
}

static bool valid_host_name(const char *s) {
        /* Letters, digits, '-', '.', '_' (some VM names have it), 1..253 chars. */
        size_t n = strlen(s);

        return n > 0 && n <= 253 &&
               strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") == n;
}

static int address_new(AddressKind kind, Address **ret) {
        Address *a = calloc(1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        a->kind = kind;
        *ret = a;
        return 0;
}

static int parse_socket_path(AddressKind kind, const char *p, Address **ret, const char **ret_error) {
        _cleanup_(address_freep) Address *a = NULL;
        int r;

        if (isempty(p)) {
                *ret_error = kind == ADDRESS_UNIX ? "the socket path is empty" : "the socket name is empty";
                return -EINVAL;
        }
        if (strlen(p) > UNIX_PATH_MAX_LEN) {
                *ret_error = "the socket path is longer than 107 bytes";
                return -EINVAL;
        }
        if (kind == ADDRESS_UNIX && p[0] != '/') {
                *ret_error = "the socket path must be absolute";
                return -EINVAL;
        }

        r = address_new(kind, &a);
        if (r < 0)
                return r;
        a->path = strdup(p);
        if (!a->path)
                return -ENOMEM;
        *ret = TAKE_PTR(a);
        return 0;
}

static int parse_tcp(const char *host, size_t host_len, const char *port, Address **ret,
                     const char **ret_error) {
        _cleanup_(address_freep) Address *a = NULL;
        uint16_t p;
        int r;

        if (parse_port(port, &p) < 0) {
                *ret_error = "the port is not a number from 0 to 65535";
                return -EINVAL;
        }

        r = address_new(ADDRESS_TCP, &a);
        if (r < 0)
                return r;
        a->host = strndup(host, host_len);
        if (!a->host)
                return -ENOMEM;
        a->port = p;

        if (strchr(a->host, ':')) {
                struct in6_addr in6;

                if (inet_pton(AF_INET6, a->host, &in6) != 1) {
                        *ret_error = "the host is not a valid IPv6 address";
                        return -EINVAL;
                }
        } else if (!valid_host_name(a->host)) {
                *ret_error = "the host is neither an IP address nor a host name";
                return -EINVAL;
        }

        *ret = TAKE_PTR(a);
        return 0;
}

int address_parse(const char *s, Address **ret, const char **ret_error) {
        const char *e, *colon;
        const char *dummy;

        if (!ret_error)
                ret_error = &dummy;

        if (isempty(s)) {
                *ret_error = "the address is empty";
                return -EINVAL;
        }

        e = startswith(s, "unix-abstract:");
        if (e)
                return parse_socket_path(ADDRESS_UNIX_ABSTRACT, e, ret, ret_error);
        e = startswith(s, "unix:");
        if (e) {
                /* unix:///path is the URI form of unix:/path. */
                const char *uri = startswith(e, "//");
                return parse_socket_path(ADDRESS_UNIX, uri ?: e, ret, ret_error);
        }

        if (s[0] == '[') {
                const char *close = strchr(s, ']');

                if (!close || close[1] != ':') {
                        *ret_error = "an IPv6 address must be written [ADDRESS]:PORT";
                        return -EINVAL;
                }
                if (close == s + 1) {
                        *ret_error = "the host is empty";
                        return -EINVAL;
                }
                return parse_tcp(s + 1, (size_t) (close - s - 1), close + 2, ret, ret_error);
        }

        colon = strrchr(s, ':');
        if (!colon) {
                *ret_error = "expected HOST:PORT, [IPV6]:PORT, unix:PATH or unix-abstract:NAME";
                return -EINVAL;
        }
        if (strchr(s, ':') != colon) {
                *ret_error = "an IPv6 address must be written [ADDRESS]:PORT";
                return -EINVAL;
        }
        if (colon == s) {
                *ret_error = "the host is empty";
                return -EINVAL;
        }
        return parse_tcp(s, (size_t) (colon - s), colon + 1, ret, ret_error);
}

int address_from_transport(const char *protocol, const char *address, const char *port, Address **ret,
                           const char **ret_error) {
        const char *dummy;

        if (!ret_error)
                ret_error = &dummy;

        if (isempty(protocol) || streq(protocol, "tcp")) {
                if (isempty(address)) {
                        *ret_error = "the address is empty";
                        return -EINVAL;
                }
                /* An IPv6 literal may come with or without brackets. */
                if (address[0] == '[' && endswith(address, "]"))
                        return parse_tcp(address + 1, strlen(address) - 2, port, ret, ret_error);
                return parse_tcp(address, strlen(address), strempty(port), ret, ret_error);
        }
        if (streq(protocol, "unix"))
                return parse_socket_path(ADDRESS_UNIX, address, ret, ret_error);
        if (streq(protocol, "abstract"))
                return parse_socket_path(ADDRESS_UNIX_ABSTRACT, address, ret, ret_error);
        if (streq(protocol, "vsock")) {
                *ret_error = "the vsock protocol is not supported by this build "
                             "(gRPC core 1.51 has no vsock transport)";
                return -EPROTONOSUPPORT;
        }

        *ret_error = "unknown protocol (expected tcp, unix or abstract)";
        return -EINVAL;
}

char *address_to_string(const Address *a) {
        char *s = NULL;
        int r = -1;

        switch (a->kind) {
        case ADDRESS_TCP:
                if (strchr(a->host, ':'))
                        r = asprintf(&s, "[%s]:%u", a->host, a->port);
                else
                        r = asprintf(&s, "%s:%u", a->host, a->port);
                break;
        case ADDRESS_UNIX:
                r = asprintf(&s, "unix:%s", a->path);
                break;
        case ADDRESS_UNIX_ABSTRACT:
                r = asprintf(&s, "unix-abstract:%s", a->path);
                break;
        default:
                return NULL;
        }
        return r < 0 ? NULL : s;
}

const char *address_default_tls_name(const Address *a) {
        return a->kind == ADDRESS_TCP ? a->host : "localhost";
}
