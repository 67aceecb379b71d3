/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Endpoint addresses as people write them and as gRPC wants them:
 *
 *   HOST:PORT            TCP; HOST is an IPv4 literal, a name, or an IPv6
 *   [IPV6]:PORT          literal in brackets
 *   unix:PATH            a unix socket (unix:///PATH is accepted too)
 *   unix-abstract:NAME   a socket in the abstract namespace
 *
 * and upstream's TransportConfig {Protocol, Address, Port}: "tcp", "unix" and
 * "abstract". The canonical string of an address is also its gRPC target and
 * listen address.
 */

#include <stdint.h>

#include "macro.h"

typedef enum AddressKind {
        ADDRESS_TCP,
        ADDRESS_UNIX,
        ADDRESS_UNIX_ABSTRACT,
        _ADDRESS_KIND_MAX,
        _ADDRESS_KIND_INVALID = -EINVAL,
} AddressKind;

typedef struct Address {
        AddressKind kind;
        char *host;    /* TCP: without brackets */
        uint16_t port; /* TCP: 0 means "any free port" when listening */
        char *path;    /* UNIX: file system path; UNIX_ABSTRACT: the name */
} Address;

/**
 * address_parse() - parse one of the forms above
 * @ret_error: on -EINVAL, a static string saying what is wrong
 *
 * Return: 0, -EINVAL, -ENOMEM.
 */
int address_parse(const char *s, Address **ret, const char **ret_error);

/**
 * address_from_transport() - build an address from upstream's
 * TransportConfig fields (protocol "tcp", "unix" or "abstract"; an empty
 * protocol means "tcp", as upstream's Nix modules default to it)
 */
int address_from_transport(const char *protocol, const char *address, const char *port, Address **ret,
                           const char **ret_error);

Address *address_free(Address *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(Address *, address_free);

/* The canonical form, e.g. "127.0.0.1:9000", "[::1]:9000", "unix:/run/a.sock". */
char *address_to_string(const Address *a);

/*
 * The name a server's certificate must carry when nothing else is
 * configured: the host for TCP, "localhost" for unix sockets (what gRPC
 * checks for unix: targets).
 */
const char *address_default_tls_name(const Address *a);
