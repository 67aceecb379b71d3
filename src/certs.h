/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A certificate authority and leaf certificates for givc, made with OpenSSL 3
 * (no openssl command lines). The layout is upstream's (givc-gen-certs), so
 * NixOS configurations and the demo can point at the same paths:
 *
 *   CA:    DIR/ca-cert.pem, DIR/ca-key.pem (0600)
 *          CN=GivcCA, basicConstraints critical CA:true, pathlen:1,
 *          keyUsage critical keyCertSign, cRLSign
 *   leaf:  OUT/NAME/NAME-cert.pem, OUT/NAME/NAME-key.pem (0600),
 *          OUT/NAME/ca-cert.pem (a copy of the CA certificate)
 *          CN=NAME, SAN DNS:NAME plus the extra DNS names and IPs,
 *          basicConstraints CA:false, keyUsage digitalSignature (and
 *          keyEncipherment for RSA), extendedKeyUsage serverAuth, clientAuth
 *          (upstream's script requested the EKU but never issued it)
 *
 * Files are written to a temporary name and renamed into place, keys are
 * created 0600 from the start, and nothing is overwritten unless asked.
 */

#include <stdbool.h>

#include "macro.h"

typedef enum CertKeyType {
        CERT_KEY_ED25519,
        CERT_KEY_ECDSA_P256,
        CERT_KEY_RSA_3072,
        _CERT_KEY_TYPE_MAX,
        _CERT_KEY_TYPE_INVALID = -EINVAL,
} CertKeyType;

/* "ed25519", "ecdsa" (P-256), "rsa" (3072 bits). */
CertKeyType cert_key_type_from_string(const char *s);
const char *cert_key_type_to_string(CertKeyType t);

typedef struct CertRequest {
        const char *name;          /* CN and first DNS SAN; [A-Za-z0-9._-], 1..64 chars */
        char **dns_names;          /* extra DNS SANs, NULL-terminated, may be NULL */
        char **ip_addresses;       /* IP SANs (v4 or v6 text), NULL-terminated, may be NULL */
        unsigned days;             /* validity from now, 1..36500 */
        CertKeyType key_type;
        bool overwrite;            /* replace existing files instead of refusing */
} CertRequest;

/**
 * certs_create_ca() - create a new CA in @dir (created 0700 if missing)
 * @ret_error: on failure, a malloc'd sentence saying what went wrong
 *
 * Return: 0; -EEXIST when a CA already exists there and !overwrite;
 * -EINVAL for a bad request; other negative errno on I/O or crypto failure.
 * Only req->days, req->key_type and req->overwrite are used (the CN is GivcCA).
 */
int certs_create_ca(const char *dir, const CertRequest *req, char **ret_error);

/**
 * certs_issue() - issue a leaf certificate signed by the CA in @ca_dir
 * @out_dir: where OUT/NAME/ goes; the CA directory when NULL
 *
 * Return: 0; -ENOENT when the CA is missing; -EEXIST when the leaf files
 * exist and !overwrite; -EINVAL for a bad name, IP or validity; other
 * negative errno on I/O or crypto failure.
 */
int certs_issue(const char *ca_dir, const char *out_dir, const CertRequest *req, char **ret_error);

/**
 * certs_describe() - a readable description of a PEM certificate file:
 * subject, issuer, serial, validity, key type, CA flag, SANs, key usages and
 * the SHA-256 fingerprint, one "label: value" per line.
 *
 * Return: 0 and a malloc'd text in *ret_text; -ENOENT, -EBADMSG, -ENOMEM.
 */
int certs_describe(const char *path, char **ret_text, char **ret_error);
