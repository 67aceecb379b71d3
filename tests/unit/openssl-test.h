/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * What test-tls.c and test-certs.c both need: files in a temporary
 * directory, and certificates and keys read, written and made with OpenSSL
 * directly, so the code under test is checked against something it did not
 * make itself. Every helper fails the running test instead of returning an
 * error.
 */

#include "unit-test.h"

#include <ftw.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.h"

/* @dir/FORMAT, malloc'd. Test files wrap it: #define path(...) temp_path(tmpdir, __VA_ARGS__) */
static inline char *temp_path(const char *dir, const char *format, ...) _printf_(2, 3);
static inline char *temp_path(const char *dir, const char *format, ...) {
        _cleanup_free_ char *rel = NULL;
        va_list ap;
        char *p;
        int r;

        va_start(ap, format);
        r = vasprintf(&rel, format, ap);
        va_end(ap);
        assert_true(r >= 0);
        assert_true(asprintf(&p, "%s/%s", dir, rel) >= 0);
        return p;
}

static inline int remove_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

/* Removes @dir and everything below it, for a teardown. Return: 0 or -1. */
static inline int rm_rf(const char *dir) {
        return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The whole file, NUL-terminated (malloc'd); its length in *@ret_size unless NULL. */
static inline char *read_all(const char *p, size_t *ret_size) {
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        char *buf;
        long n;

        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n >= 0);
        rewind(f);
        buf = malloc((size_t) n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t) n, f), (size_t) n);
        buf[n] = '\0';
        if (ret_size)
                *ret_size = (size_t) n;
        return buf;
}

static inline void write_text(const char *p, const char *text) {
        _cleanup_fclose_ FILE *f = fopen(p, "we");

        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
}

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);

/* PEM file @p, opened for reading (@mode "r") or writing ("w"). */
static inline BIO *pem_file(const char *p, const char *mode) {
        BIO *bio = BIO_new_file(p, mode);

        assert_non_null(bio);
        return bio;
}

/* The first certificate in PEM file @p (caller frees). */
static inline X509 *load_cert(const char *p) {
        _cleanup_(BIO_freep) BIO *bio = pem_file(p, "r");
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

        assert_non_null(x);
        return x;
}

/* The unencrypted private key in PEM file @p (caller frees). */
static inline EVP_PKEY *load_key(const char *p) {
        _cleanup_(BIO_freep) BIO *bio = pem_file(p, "r");
        EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

        assert_non_null(k);
        return k;
}

static inline void save_cert(const char *p, X509 *x) {
        _cleanup_(BIO_freep) BIO *bio = pem_file(p, "w");

        assert_int_equal(PEM_write_bio_X509(bio, x), 1);
}

/* Unencrypted PKCS#8, as certs.c writes keys. */
static inline void save_key(const char *p, EVP_PKEY *k) {
        _cleanup_(BIO_freep) BIO *bio = pem_file(p, "w");

        assert_int_equal(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL), 1);
}

/* The identity the transport reads from the certificate in PEM file @p (caller frees). */
static inline PeerIdentity *load_identity(const char *p) {
        _cleanup_free_ char *pem = NULL;
        PeerIdentity *id = NULL;
        size_t size;

        pem = read_all(p, &size);
        assert_int_equal(tls_peer_identity_from_pem(pem, size, &id), 0);
        assert_non_null(id);
        return id;
}

/*
 * A certificate for @cn and @key, valid from now+@from to now+@to seconds,
 * with SAN @san (an openssl config string, or NULL for none), signed by
 * @issuer_key and named after @issuer (self-signed when @issuer is NULL).
 * What certs.c cannot be made to produce: expired or future certificates,
 * certificates without SANs, CAs without a path length.
 */
static inline X509 *make_cert(const char *cn, const char *san, EVP_PKEY *key, X509 *issuer,
                              EVP_PKEY *issuer_key, long from, long to, bool ca) {
        X509 *x = X509_new();
        X509_EXTENSION *ext;
        X509V3_CTX ctx;

        assert_non_null(x);
        assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
        assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
        assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                                                    (const unsigned char *) cn, -1, -1, 0),
                         1);
        assert_int_equal(
                X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x)),
                1);
        assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), from));
        assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), to));
        assert_int_equal(X509_set_pubkey(x, key), 1);
        X509V3_set_ctx(&ctx, issuer ?: x, x, NULL, NULL, 0);
        ext = X509V3_EXT_nconf_nid(NULL, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
        assert_non_null(ext);
        assert_int_equal(X509_add_ext(x, ext, -1), 1);
        X509_EXTENSION_free(ext);
        if (san) {
                ext = X509V3_EXT_nconf_nid(NULL, &ctx, NID_subject_alt_name, san);
                assert_non_null(ext);
                assert_int_equal(X509_add_ext(x, ext, -1), 1);
                X509_EXTENSION_free(ext);
        }
        assert_true(X509_sign(x, issuer_key, EVP_PKEY_is_a(issuer_key, "ED25519") ? NULL : EVP_sha256()) >
                    0);
        return x;
}
