/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checking TLS material before it is used, and reading a peer's identity.
 *
 * gRPC takes certificates and keys as PEM text, not as OpenSSL objects, so
 * TlsCredentials keeps each file's bytes exactly as they were read. OpenSSL
 * parses them here only to catch mistakes early: gRPC reports a bad key or
 * an untrusted certificate at handshake time, and then only in its log.
 * Nothing parsed outlives a call.
 *
 * Invariants: every public function leaves the OpenSSL error queue of the
 * calling thread empty, so a failed check here never turns up later as a
 * stale error in gRPC's own OpenSSL calls; no function ever prompts for a
 * passphrase (encrypted keys are refused); key bytes are wiped before the
 * memory holding them is freed.
 */

#include <arpa/inet.h>

#include <openssl/err.h>

#include "error-util.h"
#include "openssl-util.h"
#include "parse-util.h"
#include "tls.h"

static int load_file(const char *what, const char *path, char **ret, size_t *ret_size, char **ret_error) {
        int r;

        r = read_pem_file(path, ret, ret_size);
        if (r == -EFBIG)
                return error_set(ret_error, -EBADMSG,
                                 "%s file '%s' is larger than %zu MiB; it is not a PEM file", what, path,
                                 PEM_FILE_MAX / 1024 / 1024);
        if (r == -EBADMSG)
                return error_set(ret_error, r, "%s file '%s' contains a NUL byte; it is not a PEM file",
                                 what, path);
        if (r < 0)
                return error_set(ret_error, r, "cannot read %s '%s': %s", what, path, strerror(-r));
        return 0;
}

static bool looks_like_pem(const char *text) {
        return strstr(text, "-----BEGIN ");
}

/* Every CERTIFICATE block of @text, in order; blocks of other types are skipped. */
static int parse_certificates(const char *what, const char *path, const char *text, size_t size,
                              STACK_OF(X509) **ret, char **ret_error) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL;
        _cleanup_(BIO_freep) BIO *bio = NULL;
        int r;

        if (!looks_like_pem(text))
                return error_set(ret_error, -EBADMSG, "%s file '%s' is not a PEM file", what, path);

        bio = BIO_new_mem_buf(text, (int) size);
        certs = sk_X509_new_null();
        if (!bio || !certs)
                return -ENOMEM;

        for (;;) {
                X509 *x;

                r = pem_read_next_certificate(bio, &x);
                if (r < 0)
                        return error_set(ret_error, r, "cannot parse certificate %d in %s file '%s'",
                                         sk_X509_num(certs) + 1, what, path);
                if (r == 0)
                        break;
                if (sk_X509_push(certs, x) <= 0) {
                        X509_free(x);
                        return -ENOMEM;
                }
        }
        if (sk_X509_num(certs) == 0)
                return error_set(ret_error, -EBADMSG, "%s file '%s' contains no certificate", what, path);

        *ret = TAKE_PTR(certs);
        return 0;
}

static int parse_private_key(const char *path, const char *text, size_t size, EVP_PKEY **ret,
                             char **ret_error) {
        int r;

        if (!looks_like_pem(text))
                return error_set(ret_error, -EBADMSG, "private key file '%s' is not a PEM file", path);

        r = pem_to_private_key(text, size, ret);
        if (r == -ENOKEY)
                return error_set(ret_error, -EBADMSG,
                                 "private key '%s' is encrypted; givc needs an unencrypted key", path);
        if (r == -EBADMSG && !strstr(text, "PRIVATE KEY-----"))
                return error_set(ret_error, r, "private key file '%s' contains no private key", path);
        if (r == -EBADMSG)
                return error_set(ret_error, r, "cannot parse the private key in '%s'", path);
        return r;
}

/*
 * The validity period of one certificate of the chain. @label names it in
 * messages: the file for the own certificate, subject and file for others.
 */
static int check_validity(X509 *x, const char *label, char **ret_error) {
        const ASN1_TIME *not_before = X509_get0_notBefore(x), *not_after = X509_get0_notAfter(x);
        char date[ASN1_TIME_TEXT_MAX];
        int c;

        c = X509_cmp_current_time(not_after);
        if (c == 0)
                return error_set(ret_error, -EBADMSG, "%s has an invalid end date", label);
        if (c < 0)
                return error_set(ret_error, -EKEYEXPIRED, "%s expired on %s", label,
                                 asn1_time_format(not_after, date));
        c = X509_cmp_current_time(not_before);
        if (c == 0)
                return error_set(ret_error, -EBADMSG, "%s has an invalid start date", label);
        if (c > 0)
                return error_set(ret_error, -EKEYEXPIRED, "%s is not valid before %s", label,
                                 asn1_time_format(not_before, date));
        return 0;
}

static int verify_chain(const char *ca_path, const char *cert_path, STACK_OF(X509) *cas,
                        STACK_OF(X509) *certs, char **ret_error) {
        _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = NULL;
        _cleanup_(X509_STORE_freep) X509_STORE *store = NULL;
        STACK_OF(X509) *chain;
        int r, e;

        store = X509_STORE_new();
        ctx = X509_STORE_CTX_new();
        if (!store || !ctx)
                return -ENOMEM;
        for (int i = 0; i < sk_X509_num(cas); i++)
                if (X509_STORE_add_cert(store, sk_X509_value(cas, i)) != 1)
                        return error_set(ret_error, -EBADMSG, "cannot use certificate %d of CA file '%s'",
                                         i + 1, ca_path);

        /* The rest of the certificate file is the chain up to the CA. No
         * purpose is set: upstream's certificates have neither keyUsage nor
         * extendedKeyUsage. Time is checked below, with better messages. */
        if (X509_STORE_CTX_init(ctx, store, sk_X509_value(certs, 0), certs) != 1)
                return -ENOMEM;
        X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);

        r = X509_verify_cert(ctx);
        if (r < 0)
                return -ENOMEM;
        if (r == 0) {
                e = X509_STORE_CTX_get_error(ctx);
                switch (e) {
                case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
                case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
                case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
                case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
                case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
                case X509_V_ERR_CERT_SIGNATURE_FAILURE:
                        return error_set(ret_error, -EKEYREJECTED,
                                         "certificate '%s' was not issued by the CA in '%s'", cert_path,
                                         ca_path);
                default:
                        return error_set(ret_error, -EKEYREJECTED,
                                         "certificate '%s' does not verify against the CA in '%s': %s",
                                         cert_path, ca_path, X509_verify_cert_error_string(e));
                }
        }

        /* Leaf first, then up: an expired leaf is the likelier mistake. */
        chain = X509_STORE_CTX_get0_chain(ctx);
        for (int i = 0; i < sk_X509_num(chain); i++) {
                _cleanup_free_ char *label = NULL, *subject = NULL;
                X509 *x = sk_X509_value(chain, i);
                int k;

                if (i == 0)
                        k = asprintf(&label, "certificate '%s'", cert_path);
                else {
                        r = x509_name_to_string(X509_get_subject_name(x), &subject);
                        if (r < 0)
                                return r;
                        if (i == sk_X509_num(chain) - 1)
                                k = asprintf(&label, "CA certificate '%s' in '%s'", subject, ca_path);
                        else
                                k = asprintf(&label, "intermediate certificate '%s'", subject);
                }
                if (k < 0) {
                        label = NULL; /* undefined after a failed asprintf() */
                        return -ENOMEM;
                }
                r = check_validity(x, label, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

TlsCredentials *tls_credentials_free(TlsCredentials *c) {
        if (!c)
                return NULL;
        erase_and_free(c->key_pem, strlen(strempty(c->key_pem)));
        free(c->ca_path);
        free(c->cert_path);
        free(c->key_path);
        free(c->ca_pem);
        free(c->cert_pem);
        return mfree(c);
}

static int credentials_load(const char *ca_path, const char *cert_path, const char *key_path,
                            TlsCredentials **ret, char **ret_error) {
        _cleanup_(tls_credentials_freep) TlsCredentials *c = NULL;
        _cleanup_(x509_stack_freep) STACK_OF(X509) *cas = NULL, *certs = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        size_t ca_size, cert_size, key_size;
        int r;

        if (isempty(ca_path) || isempty(cert_path) || isempty(key_path))
                return error_set(ret_error, -EINVAL,
                                 "the CA certificate, certificate and key paths must be set");

        ERR_clear_error();
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->ca_path = strdup(ca_path);
        c->cert_path = strdup(cert_path);
        c->key_path = strdup(key_path);
        if (!c->ca_path || !c->cert_path || !c->key_path)
                return -ENOMEM;

        /* All three files first: "cannot read" is the most common mistake. */
        r = load_file("CA certificate", ca_path, &c->ca_pem, &ca_size, ret_error);
        if (r < 0)
                return r;
        r = load_file("certificate", cert_path, &c->cert_pem, &cert_size, ret_error);
        if (r < 0)
                return r;
        r = load_file("private key", key_path, &c->key_pem, &key_size, ret_error);
        if (r < 0)
                return r;

        r = parse_certificates("CA certificate", ca_path, c->ca_pem, ca_size, &cas, ret_error);
        if (r < 0)
                return r;
        r = parse_certificates("certificate", cert_path, c->cert_pem, cert_size, &certs, ret_error);
        if (r < 0)
                return r;
        r = parse_private_key(key_path, c->key_pem, key_size, &key, ret_error);
        if (r < 0)
                return r;

        if (X509_check_private_key(sk_X509_value(certs, 0), key) != 1)
                return error_set(ret_error, -EKEYREJECTED, "key '%s' does not belong to certificate '%s'",
                                 key_path, cert_path);

        r = verify_chain(ca_path, cert_path, cas, certs, ret_error);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

int tls_credentials_load(const char *ca_path, const char *cert_path, const char *key_path,
                         TlsCredentials **ret, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = credentials_load(ca_path, cert_path, key_path, ret, &error);
        if (r == -ENOMEM)
                (void) error_set(&error, r, "out of memory while loading the TLS credentials");
        return openssl_return(r, &error, ret_error);
}

PeerIdentity *peer_identity_free(PeerIdentity *id) {
        if (!id)
                return NULL;
        free(id->subject);
        free(id->common_name);
        strv_free(id->dns_names);
        strv_free(id->ip_addresses);
        return mfree(id);
}

/* The first CN of @name as UTF-8, or NULL in *ret when there is none. */
static int common_name_utf8(X509_NAME *name, char **ret) {
        _cleanup_(openssl_freep) unsigned char *utf8 = NULL;
        X509_NAME_ENTRY *entry;
        char *cn;
        int i, n;

        i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
        if (i < 0) {
                *ret = NULL;
                return 0;
        }
        entry = X509_NAME_get_entry(name, i);
        n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
        if (n < 0)
                return -EBADMSG;
        /* "admin-vm\0.evil" must not pass as "admin-vm". */
        if (memchr(utf8, '\0', (size_t) n))
                return -EBADMSG;
        cn = strndup((const char *) utf8, (size_t) n);
        if (!cn)
                return -ENOMEM;
        *ret = cn;
        return 0;
}

static int ip_to_string(const ASN1_OCTET_STRING *o, char **ret) {
        char text[INET6_ADDRSTRLEN];
        int family;

        switch (ASN1_STRING_length(o)) {
        case 4:
                family = AF_INET;
                break;
        case 16:
                family = AF_INET6;
                break;
        default:
                /* An address with a netmask (name constraints only), or garbage. */
                *ret = NULL;
                return 0;
        }
        if (!inet_ntop(family, ASN1_STRING_get0_data(o), text, sizeof(text)))
                return -EBADMSG;
        *ret = strdup(text);
        return *ret ? 0 : -ENOMEM;
}

static int collect_subject_alt_names(X509 *x, char ***ret_dns, char ***ret_ips) {
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *names = NULL;
        _cleanup_strv_free_ char **dns = NULL, **ips = NULL;
        size_t n_dns = 0, n_ips = 0;
        int crit = -1, n;

        names = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
        if (!names && crit != -1)
                /* Present but unparsable (-1 would mean absent), or twice (-2). */
                return -EBADMSG;
        n = names ? sk_GENERAL_NAME_num(names) : 0;

        dns = calloc((size_t) n + 1, sizeof(char *));
        ips = calloc((size_t) n + 1, sizeof(char *));
        if (!dns || !ips)
                return -ENOMEM;

        for (int i = 0; i < n; i++) {
                const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
                int type, r;
                void *v;

                v = GENERAL_NAME_get0_value(g, &type);
                if (type == GEN_DNS) {
                        const ASN1_IA5STRING *s = v;
                        size_t len = (size_t) ASN1_STRING_length(s);

                        if (memchr(ASN1_STRING_get0_data(s), '\0', len))
                                return -EBADMSG;
                        dns[n_dns] = strndup((const char *) ASN1_STRING_get0_data(s), len);
                        if (!dns[n_dns])
                                return -ENOMEM;
                        n_dns++;
                } else if (type == GEN_IPADD) {
                        r = ip_to_string(v, &ips[n_ips]);
                        if (r < 0)
                                return r;
                        if (ips[n_ips])
                                n_ips++;
                }
        }

        *ret_dns = TAKE_PTR(dns);
        *ret_ips = TAKE_PTR(ips);
        return 0;
}

static int peer_identity_parse(const char *pem, size_t size, PeerIdentity **ret) {
        _cleanup_(peer_identity_freep) PeerIdentity *id = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        int r;

        if (!pem || size == 0)
                return -EBADMSG;
        ERR_clear_error();
        r = pem_to_certificate(pem, size, &x);
        if (r < 0)
                return r;

        id = calloc(1, sizeof(*id));
        if (!id)
                return -ENOMEM;
        r = x509_name_to_string(X509_get_subject_name(x), &id->subject);
        if (r < 0)
                return r;
        r = common_name_utf8(X509_get_subject_name(x), &id->common_name);
        if (r < 0)
                return r;
        r = collect_subject_alt_names(x, &id->dns_names, &id->ip_addresses);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(id);
        return 0;
}

int tls_peer_identity_from_pem(const char *pem, size_t size, PeerIdentity **ret) {
        int r;

        r = peer_identity_parse(pem, size, ret);
        ERR_clear_error();
        return r;
}

bool peer_identity_has_name(const PeerIdentity *id, const char *name) {
        if (!id || isempty(name))
                return false;
        if (strv_contains(id->dns_names, name))
                return true;
        /* The CN counts only for certificates that carry no DNS name at all
         * (RFC 6125 §6.4.4): otherwise the SANs are the complete list. */
        if (id->dns_names && id->dns_names[0])
                return false;
        return streq_ptr(id->common_name, name);
}

/*
 * An address as 16 bytes: IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so a
 * client that reaches a dual-stack listener over IPv4 (and so shows up as
 * ::ffff:a.b.c.d) still matches its certificate's IPv4 SAN.
 */
static bool ip_parse(const char *s, unsigned char ret[static 16]) {
        static const unsigned char mapped_prefix[12] = { [10] = 0xff, [11] = 0xff };
        struct in_addr a4;

        if (inet_pton(AF_INET, s, &a4) == 1) {
                memcpy(ret, mapped_prefix, sizeof(mapped_prefix));
                memcpy(ret + 12, &a4, 4);
                return true;
        }
        return inet_pton(AF_INET6, s, ret) == 1;
}

bool peer_identity_has_ip(const PeerIdentity *id, const char *ip) {
        unsigned char want[16], have[16];

        if (!id || isempty(ip) || !ip_parse(ip, want))
                return false;
        for (char **i = id->ip_addresses; i && *i; i++)
                if (ip_parse(*i, have) && memcmp(want, have, sizeof(want)) == 0)
                        return true;
        return false;
}
