/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Why a TLS connection fails, in words. gRPC core reports every failed
 * connection as UNAVAILABLE with a message about subchannels; a person
 * needs to know whether nothing listens there, the server does not speak
 * TLS, its certificate is for another name or from another CA, or it turned
 * our certificate away. The probe makes one connection of its own with the
 * same files and the same checks (ALPN "h2", as gRPC offers) and says which.
 */

#include <stdint.h>

#include "address.h"

/**
 * tls_probe() - connect to @address with TLS and report what goes wrong
 * @tls_name: the name the server's certificate must carry
 * @ca_path, @cert_path, @key_path: the client's files (already loaded once,
 *                                  so known to be readable and consistent);
 *                                  @ca_path NULL: plaintext, only connect
 * @timeout_ms: for the connection and the handshake together
 * @ret_reason: a malloc'd sentence; on success too ("the TLS handshake with
 *              X succeeds"), so the caller can say the problem is elsewhere
 *
 * A server that hangs up while the probe writes raises no SIGPIPE: it is
 * blocked in the calling thread meanwhile, and taken back if it came.
 *
 * Return: 0 when the handshake succeeded and the server kept the
 * connection; -ECONNREFUSED (and other socket errors), -ETIMEDOUT,
 * -EPROTO (not TLS), -EKEYREJECTED (a certificate was rejected, by either
 * side), -ENOMEM.
 */
int tls_probe(const Address *address, const char *tls_name, const char *ca_path, const char *cert_path,
              const char *key_path, int64_t timeout_ms, char **ret_reason);
