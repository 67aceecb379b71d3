/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Certificates and keys as the transport needs them, and the identity of an
 * authenticated peer. This module (with certs.c and tls-probe.c) is the
 * only code that includes OpenSSL headers; it uses OpenSSL 3 APIs only.
 *
 * Loading checks everything a person can get wrong before any socket is
 * opened: unreadable or non-PEM files, a key that does not belong to the
 * certificate, a certificate that was not issued by the configured CA, or
 * that has expired. Such failures come back with a sentence in *ret_error
 * that names the file and the problem.
 */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

typedef struct TlsCredentials {
        char *ca_path;   /* where each PEM was read from, for messages */
        char *cert_path;
        char *key_path;
        char *ca_pem;    /* trusted CA certificate(s), PEM, NUL-terminated */
        char *cert_pem;  /* own certificate (chain), PEM */
        char *key_pem;   /* own private key, PEM; cleared with explicit_bzero on free */
} TlsCredentials;

/**
 * tls_credentials_load() - read and cross-check a CA, certificate and key
 * @ca_path: PEM file with the CA certificate(s) peers must chain to
 * @cert_path: PEM file with this side's certificate (optionally a chain)
 * @key_path: PEM file with the private key of @cert_path (Ed25519, ECDSA, RSA)
 * @ret: on success, the new credentials (free with tls_credentials_free())
 * @ret_error: on failure, if not NULL, a malloc'd sentence naming the file and
 *             what is wrong with it (caller frees)
 *
 * Return: 0, -ENOENT/-EACCES (file), -EBADMSG (not PEM / unparsable),
 * -EKEYREJECTED (key does not match certificate, or certificate not issued by
 * the CA), -EKEYEXPIRED (certificate expired or not yet valid), -ENOMEM.
 */
int tls_credentials_load(const char *ca_path, const char *cert_path, const char *key_path,
                         TlsCredentials **ret, char **ret_error);
TlsCredentials *tls_credentials_free(TlsCredentials *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(TlsCredentials *, tls_credentials_free);

/*
 * Who is on the other end of an authenticated connection, taken from its
 * leaf certificate. The name a givc component goes by (agent "gui-vm",
 * admin "admin-vm") is its certificate's DNS SAN, as upstream's certificates
 * carry it; the CN is the fallback for certificates without DNS SANs.
 */
typedef struct PeerIdentity {
        char *subject;       /* one-line RFC 2253 subject, e.g. "CN=gui-vm" */
        char *common_name;   /* NULL when the subject has no CN */
        char **dns_names;    /* SAN DNS names, NULL-terminated (never NULL itself) */
        char **ip_addresses; /* SAN IP addresses in text form, NULL-terminated (never NULL) */
} PeerIdentity;

/**
 * tls_peer_identity_from_pem() - parse the identity of a PEM certificate
 * @pem: the certificate; need not be NUL-terminated
 * @size: length of @pem in bytes
 * @ret: the identity (free with peer_identity_free())
 *
 * Return: 0, -EBADMSG when @pem is not a certificate, -ENOMEM.
 */
int tls_peer_identity_from_pem(const char *pem, size_t size, PeerIdentity **ret);
PeerIdentity *peer_identity_free(PeerIdentity *id);
DEFINE_TRIVIAL_CLEANUP_FUNC(PeerIdentity *, peer_identity_free);

/**
 * peer_identity_has_name() - does this peer go by @name?
 *
 * True when @name is one of the DNS SANs, or, for a certificate without any
 * DNS SAN, when it equals the CN. Comparison is exact (case-sensitive, no
 * wildcards): identities are configured names, not host names to match.
 */
bool peer_identity_has_name(const PeerIdentity *id, const char *name);

/**
 * peer_identity_has_ip() - is @ip (text form, v4 or v6) one of the SAN IPs?
 * Textual forms are normalised, so "::1" matches "0:0:0:0:0:0:0:1".
 */
bool peer_identity_has_ip(const PeerIdentity *id, const char *ip);
