/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The OpenSSL plumbing that tls.c, tls-probe.c and certs.c share: cleanup
 * helpers for OpenSSL's types, reading PEM files and parsing PEM text, and
 * the strings they put into messages.
 *
 * Include this ONLY from tls.c, tls-probe.c and certs.c (and openssl-util.c):
 * the only modules that may see OpenSSL headers; everything else goes through
 * tls.h, tls-probe.h and certs.h. Like systemd's openssl-util.h, which is the one place
 * systemd keeps such helpers.
 *
 * Nothing here logs. Functions return 0 or a negative errno, set their ret_
 * parameters only on success, never prompt for a passphrase, and may leave
 * entries in the calling thread's OpenSSL error queue: the public functions
 * of these modules empty it (see openssl_return()).
 */

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "macro.h"

/* A CA bundle of a whole distribution is about 200 KiB; anything this big is
 * not a certificate or key someone meant to configure. */
#define PEM_FILE_MAX ((size_t) 4 * 1024 * 1024)

/* Room for "9999-12-31 23:59:59 UTC" and then some; see asn1_time_format(). */
#define ASN1_TIME_TEXT_MAX 64

DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_INTEGER *, ASN1_INTEGER_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE *, X509_STORE_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE_CTX *, X509_STORE_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_EXTENSION *, X509_EXTENSION_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAME *, GENERAL_NAME_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES *, GENERAL_NAMES_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EXTENDED_KEY_USAGE *, EXTENDED_KEY_USAGE_free);

/* A stack of certificates together with the certificates on it. */
static inline void x509_stack_free(STACK_OF(X509) *s) {
        sk_X509_pop_free(s, X509_free);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(STACK_OF(X509) *, x509_stack_free);

/* For buffers OpenSSL allocated (ASN1_STRING_to_UTF8(), i2d_*(), ...). */
static inline void openssl_freep(void *p) {
        OPENSSL_free(*(void **) p);
}

/**
 * erase_and_free() - wipe @size bytes at @p, then free it
 * @p: malloc'd memory that may hold key material, or NULL
 *
 * Return: NULL, for "p = erase_and_free(p, n);".
 */
static inline void *erase_and_free(void *p, size_t size) {
        if (p) {
                explicit_bzero(p, size);
                free(p);
        }
        return NULL;
}

/**
 * read_pem_file() - read a whole PEM file into a NUL-terminated string
 * @path: the file; regular or not (a pipe works), but not a directory
 * @ret: on success, the text (malloc'd); the caller wipes it before freeing
 *       when it may hold a key, see erase_and_free()
 * @ret_size: on success, its length in bytes, without the NUL
 *
 * No copy of the bytes is left behind in freed memory.
 *
 * Return: 0; -errno of open() or read(); -EISDIR; -EFBIG when the file is
 * larger than PEM_FILE_MAX; -EBADMSG when it contains a NUL byte (no PEM file
 * does, and the text would be cut short); -ENOMEM.
 */
int read_pem_file(const char *path, char **ret, size_t *ret_size);

/**
 * pem_read_next_certificate() - the next certificate of a PEM stream
 * @bio: the stream; blocks of other types (keys, CRLs) are skipped
 * @ret: the certificate, when 1 is returned (caller frees)
 *
 * Return: 1 and a certificate; 0 when the stream has no further certificate
 * (the error queue is then emptied of OpenSSL's "no start line"); -EBADMSG
 * when the next certificate block cannot be parsed.
 */
int pem_read_next_certificate(BIO *bio, X509 **ret);

/**
 * pem_to_certificate() - parse the first certificate in PEM text
 * @pem: the text; need not be NUL-terminated
 * @size: its length
 * @ret: on success, the certificate (caller frees)
 *
 * Return: 0; -EBADMSG when @pem holds no parsable certificate; -ENOMEM.
 */
int pem_to_certificate(const char *pem, size_t size, X509 **ret);

/**
 * pem_to_private_key() - parse the first private key in PEM text
 * @pem: the text (PKCS#8 or the traditional RSA and EC forms); need not be
 *       NUL-terminated
 * @size: its length
 * @ret: on success, the key (caller frees)
 *
 * Return: 0; -ENOKEY when the key is encrypted (no passphrase is asked for);
 * -EBADMSG when @pem holds no other parsable key; -ENOMEM.
 */
int pem_to_private_key(const char *pem, size_t size, EVP_PKEY **ret);

/**
 * asn1_time_format() - a certificate time as "2026-11-27 07:00:00 UTC"
 * @t: the time
 * @buf: where the text goes
 *
 * Return: @buf, which holds "(invalid)" when OpenSSL cannot read @t.
 */
const char *asn1_time_format(const ASN1_TIME *t, char buf[static ASN1_TIME_TEXT_MAX]);

/**
 * x509_name_to_string() - a name on one line, in RFC 2253 form ("CN=ca,O=x")
 * @name: the name, e.g. X509_get_subject_name()
 * @ret: on success, the text (malloc'd)
 *
 * Return: 0 or -ENOMEM.
 */
int x509_name_to_string(const X509_NAME *name, char **ret);

/**
 * openssl_return() - how a public function of tls.c or certs.c ends
 * @r: what it returns
 * @error: the sentence its worker made, or NULL; *@error is handed out
 *         through @ret_error on failure, and otherwise left where it is for
 *         the caller's _cleanup_free_
 * @ret_error: the public caller's, may be NULL
 *
 * Empties the calling thread's OpenSSL error queue, so that a failure here
 * never turns up later as a stale error in someone else's OpenSSL call, and
 * gives every failure a sentence ("out of memory" when it had none).
 *
 * Return: @r.
 */
int openssl_return(int r, char **error, char **ret_error);
