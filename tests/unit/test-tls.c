/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading and cross-checking TLS credentials, and reading a peer's identity.
 * The material is made by certs.c in a temporary directory; what certs.c
 * cannot make on purpose (expired, not yet valid, SANs without the CN,
 * encrypted or traditional-format keys) is made here with OpenSSL.
 */

#include <grp.h>
#include <sys/wait.h>
#include <time.h>

#include "certs.h"
#include "openssl-test.h"

static char tmpdir[] = "/tmp/givc-test-tls.XXXXXX";

#define path(...) temp_path(tmpdir, __VA_ARGS__)

/* ---- helpers ---- */

/* A leaf signed by the test CA "ca", written to NAME-cert.pem beside a copy of its key. */
static void make_leaf_files(const char *name, const char *san, long from, long to) {
        _cleanup_free_ char *ca_cert = path("ca/ca-cert.pem"), *ca_key = path("ca/ca-key.pem"),
                            *cert = path("%s-cert.pem", name), *kp = path("%s-key.pem", name);
        EVP_PKEY *issuer_key = load_key(ca_key), *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        X509 *issuer = load_cert(ca_cert), *x;

        assert_non_null(key);
        x = make_cert(name, san, key, issuer, issuer_key, from, to, false);
        save_cert(cert, x);
        save_key(kp, key);
        X509_free(x);
        X509_free(issuer);
        EVP_PKEY_free(key);
        EVP_PKEY_free(issuer_key);
}

static int load(const char *ca, const char *cert, const char *key, TlsCredentials **ret, char **ret_error) {
        _cleanup_free_ char *a = path("%s", ca), *c = path("%s", cert), *k = path("%s", key);

        return tls_credentials_load(a, c, k, ret, ret_error);
}

/*
 * Loading CA, CERT and KEY (relative to the test directory) fails with @expected_r and a sentence
 * that contains @what. Return: the sentence, for more checks (caller frees).
 */
static char *load_fails(const char *ca, const char *cert, const char *key, int expected_r,
                        const char *what) {
        TlsCredentials *c = NULL;
        char *error = NULL;

        assert_int_equal(load(ca, cert, key, &c, &error), expected_r);
        assert_null(c);
        assert_non_null(error);
        assert_non_null(strstr(error, what));
        return error;
}

static PeerIdentity *identity_of(const char *rel) {
        _cleanup_free_ char *p = path("%s", rel);

        return load_identity(p);
}

/* ---- fixtures ---- */

static void issue(const char *ca, const char *name, CertKeyType type, char **dns, char **ips) {
        _cleanup_free_ char *ca_dir = path("%s", ca), *error = NULL;
        CertRequest req = {
                .name = name,
                .dns_names = dns,
                .ip_addresses = ips,
                .days = 30,
                .key_type = type,
        };

        assert_int_equal(certs_issue(ca_dir, tmpdir, &req, &error), 0);
        assert_null(error);
}

static int setup(void **state) {
        char *dns[] = { (char *) "ed.example", NULL };
        char *ips[] = { (char *) "127.0.0.2", (char *) "::1", NULL };
        CertRequest ca = { .days = 30, .key_type = CERT_KEY_ED25519 };
        _cleanup_free_ char *ca_dir = NULL, *ca2_dir = NULL, *error = NULL;

        if (!mkdtemp(tmpdir))
                return -1;
        ca_dir = path("ca");
        ca2_dir = path("ca2");
        if (certs_create_ca(ca_dir, &ca, &error) < 0 || certs_create_ca(ca2_dir, &ca, &error) < 0)
                return -1;
        issue("ca", "ed", CERT_KEY_ED25519, dns, ips);
        issue("ca", "ec", CERT_KEY_ECDSA_P256, NULL, NULL);
        issue("ca", "rsa", CERT_KEY_RSA_3072, NULL, NULL);
        issue("ca2", "other", CERT_KEY_ED25519, NULL, NULL);
        return 0;
}

static int teardown(void **state) {
        return rm_rf(tmpdir);
}

/* ---- loading ---- */

static void test_load_each_key_type(void **state) {
        static const char *const names[] = { "ed", "ec", "rsa" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_(tls_credentials_freep) TlsCredentials *c = NULL;
                _cleanup_free_ char *cert = path("%s/%s-cert.pem", names[i], names[i]),
                                    *key = path("%s/%s-key.pem", names[i], names[i]),
                                    *ca = path("%s/ca-cert.pem", names[i]), *error = NULL, *ca_text = NULL,
                                    *cert_text = NULL, *key_text = NULL;

                assert_int_equal(tls_credentials_load(ca, cert, key, &c, &error), 0);
                assert_null(error);
                assert_non_null(c);
                assert_string_equal(c->ca_path, ca);
                assert_string_equal(c->cert_path, cert);
                assert_string_equal(c->key_path, key);

                /* gRPC gets the files byte for byte. */
                ca_text = read_all(ca, NULL);
                cert_text = read_all(cert, NULL);
                key_text = read_all(key, NULL);
                assert_string_equal(c->ca_pem, ca_text);
                assert_string_equal(c->cert_pem, cert_text);
                assert_string_equal(c->key_pem, key_text);
        }
}

static void test_load_chain_and_bundle(void **state) {
        _cleanup_(tls_credentials_freep) TlsCredentials *c = NULL;
        _cleanup_free_ char *leaf = path("ed/ed-cert.pem"), *ca = path("ca/ca-cert.pem"),
                            *ca2 = path("ca2/ca-cert.pem"), *leaf_text = read_all(leaf, NULL),
                            *ca_text = read_all(ca, NULL), *ca2_text = read_all(ca2, NULL), *chain = NULL,
                            *bundle = NULL, *chain_path = path("chain.pem"),
                            *bundle_path = path("bundle.pem"), *error = NULL;

        /* The certificate file may carry the chain after the leaf... */
        assert_true(asprintf(&chain, "%s%s", leaf_text, ca_text) >= 0);
        write_text(chain_path, chain);
        /* ...and the CA file may hold several CAs, ours not the first. */
        assert_true(asprintf(&bundle, "%s%s", ca2_text, ca_text) >= 0);
        write_text(bundle_path, bundle);

        assert_int_equal(load("bundle.pem", "chain.pem", "ed/ed-key.pem", &c, &error), 0);
        assert_null(error);
        assert_string_equal(c->cert_pem, chain);
        assert_string_equal(c->ca_pem, bundle);
}

static void write_traditional_key(const char *from, const char *to) {
        _cleanup_free_ char *src = path("%s", from), *dst = path("%s", to);
        EVP_PKEY *k = load_key(src);
        _cleanup_(BIO_freep) BIO *bio = pem_file(dst, "w");

        assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, k, NULL, NULL, 0, NULL, NULL), 1);
        EVP_PKEY_free(k);
}

static void test_load_traditional_keys(void **state) {
        _cleanup_(tls_credentials_freep) TlsCredentials *ec = NULL, *rsa = NULL;
        _cleanup_free_ char *ec_path = path("ec-trad.pem"), *rsa_path = path("rsa-trad.pem"),
                            *ec_text = NULL, *rsa_text = NULL;

        write_traditional_key("ec/ec-key.pem", "ec-trad.pem");
        write_traditional_key("rsa/rsa-key.pem", "rsa-trad.pem");
        ec_text = read_all(ec_path, NULL);
        rsa_text = read_all(rsa_path, NULL);
        assert_non_null(strstr(ec_text, "BEGIN EC PRIVATE KEY"));
        assert_non_null(strstr(rsa_text, "BEGIN RSA PRIVATE KEY"));

        assert_int_equal(load("ca/ca-cert.pem", "ec/ec-cert.pem", "ec-trad.pem", &ec, NULL), 0);
        assert_int_equal(load("ca/ca-cert.pem", "rsa/rsa-cert.pem", "rsa-trad.pem", &rsa, NULL), 0);
        assert_string_equal(ec->key_pem, ec_text);
        assert_string_equal(rsa->key_pem, rsa_text);
}

static void test_wrong_key(void **state) {
        _cleanup_free_ char *key = path("ec/ec-key.pem"), *cert = path("ed/ed-cert.pem"),
                            *error = load_fails("ca/ca-cert.pem", "ed/ed-cert.pem", "ec/ec-key.pem",
                                                -EKEYREJECTED, "does not belong to certificate");

        assert_non_null(strstr(error, key));
        assert_non_null(strstr(error, cert));
}

static void test_other_ca(void **state) {
        _cleanup_free_ char *ca = path("ca/ca-cert.pem"), *cert = path("other/other-cert.pem"),
                            *error = load_fails("ca/ca-cert.pem", "other/other-cert.pem",
                                                "other/other-key.pem", -EKEYREJECTED,
                                                "was not issued by the CA");

        assert_non_null(strstr(error, ca));
        assert_non_null(strstr(error, cert));
}

static void test_missing_files(void **state) {
        static const char *const good[3] = { "ca/ca-cert.pem", "ed/ed-cert.pem", "ed/ed-key.pem" };

        /* Each of the three positions, so every message names the right file. */
        for (size_t i = 0; i < 3; i++) {
                const char *files[3] = { good[0], good[1], good[2] };
                _cleanup_free_ char *error = NULL, *missing = path("nope-%zu.pem", i);

                files[i] = strrchr(missing, '/') + 1;
                error = load_fails(files[0], files[1], files[2], -ENOENT, "cannot read");
                assert_non_null(strstr(error, missing));
                assert_non_null(strstr(error, "No such file or directory"));
        }
}

static void test_directory(void **state) {
        _cleanup_free_ char *dir = path("ca"),
                            *error = load_fails("ca", "ed/ed-cert.pem", "ed/ed-key.pem", -EISDIR,
                                                "cannot read CA certificate");

        assert_non_null(strstr(error, dir));
}

/* -EACCES with the path and reason in the message; 0 when it is so. */
static int check_unreadable(const char *locked) {
        _cleanup_free_ char *error = NULL;
        TlsCredentials *c = NULL;
        int r;

        r = load("locked.pem", "ed/ed-cert.pem", "ed/ed-key.pem", &c, &error);
        if (r != -EACCES || c || !error)
                return -1;
        return strstr(error, locked) && strstr(error, "Permission denied") ? 0 : -1;
}

static void test_unreadable(void **state) {
        _cleanup_free_ char *locked = path("locked.pem"), *src = path("ca/ca-cert.pem"),
                            *text = read_all(src, NULL);
        int status;
        pid_t pid;

        write_text(locked, text);
        assert_int_equal(chmod(locked, 0), 0);
        if (geteuid() != 0) {
                assert_int_equal(check_unreadable(locked), 0);
                return;
        }

        /* Root reads a file of mode 0000 anyway: check as nobody, in a child. */
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int status_child = 2;

                if (setresgid(65534, 65534, 65534) >= 0 && setgroups(0, NULL) >= 0 &&
                    setresuid(65534, 65534, 65534) >= 0)
                        status_child = check_unreadable(locked) == 0 ? 0 : 1;
                /* _exit() runs no cleanup handlers; keep leak checkers quiet. */
                free(locked);
                free(src);
                free(text);
                _exit(status_child);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_garbage(void **state) {
        static const char garbage[] = "this is not a certificate\n";
        static const char broken[] =
                "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
        _cleanup_free_ char *g = path("garbage.pem"), *b = path("broken.pem"), *e1 = NULL, *e2 = NULL,
                            *e3 = NULL, *e4 = NULL, *e5 = NULL;

        write_text(g, garbage);
        write_text(b, broken);

        e1 = load_fails("garbage.pem", "ed/ed-cert.pem", "ed/ed-key.pem", -EBADMSG, "not a PEM file");
        assert_non_null(strstr(e1, g));
        e2 = load_fails("ca/ca-cert.pem", "broken.pem", "ed/ed-key.pem", -EBADMSG, b);
        e3 = load_fails("ca/ca-cert.pem", "ed/ed-cert.pem", "garbage.pem", -EBADMSG, "private key");

        /* Files swapped: a key where the certificate goes and the other way round. */
        e4 = load_fails("ca/ca-cert.pem", "ed/ed-key.pem", "ed/ed-key.pem", -EBADMSG,
                        "contains no certificate");
        e5 = load_fails("ca/ca-cert.pem", "ed/ed-cert.pem", "ed/ed-cert.pem", -EBADMSG,
                        "contains no private key");
}

static void test_encrypted_key(void **state) {
        _cleanup_free_ char *src = path("ed/ed-key.pem"), *dst = path("encrypted.pem"), *error = NULL;
        EVP_PKEY *k = load_key(src);
        BIO *bio = pem_file(dst, "w");

        assert_int_equal(PEM_write_bio_PrivateKey(bio, k, EVP_aes_256_cbc(), (unsigned char *) "secret", 6,
                                                  NULL, NULL),
                         1);
        BIO_free(bio);
        EVP_PKEY_free(k);

        /* Must fail, not prompt on the terminal. */
        error = load_fails("ca/ca-cert.pem", "ed/ed-cert.pem", "encrypted.pem", -EBADMSG, "encrypted");
}

static void test_expired(void **state) {
        _cleanup_free_ char *error = NULL, *cert = path("expired-cert.pem");

        make_leaf_files("expired", "DNS:expired", -10 * 86400L, -86400L);
        error = load_fails("ca/ca-cert.pem", "expired-cert.pem", "expired-key.pem", -EKEYEXPIRED,
                           "expired on ");
        assert_non_null(strstr(error, cert));
        assert_non_null(strstr(error, " UTC"));
}

static void test_not_yet_valid(void **state) {
        _cleanup_free_ char *error = NULL, *cert = path("future-cert.pem");
        char year[8];
        time_t t = time(NULL) + 400 * 86400L;
        struct tm tm;

        make_leaf_files("future", "DNS:future", 400 * 86400L, 800 * 86400L);
        error = load_fails("ca/ca-cert.pem", "future-cert.pem", "future-key.pem", -EKEYEXPIRED,
                           "not valid before");
        assert_non_null(strstr(error, cert));
        /* The message carries the date. */
        assert_non_null(gmtime_r(&t, &tm));
        assert_true(strftime(year, sizeof(year), "%Y-", &tm) > 0);
        assert_non_null(strstr(error, year));
}

static void test_expired_ca(void **state) {
        _cleanup_free_ char *ca_path = path("old-ca.pem"), *leaf_path = path("old-leaf-cert.pem"),
                            *key_path = path("old-leaf-key.pem"), *error = NULL;
        EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"),
                 *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        X509 *ca, *leaf;

        assert_non_null(ca_key);
        assert_non_null(key);
        ca = make_cert("OldCA", NULL, ca_key, NULL, ca_key, -20 * 86400L, -86400L, true);
        leaf = make_cert("old-leaf", "DNS:old-leaf", key, ca, ca_key, -300, 86400L, false);
        save_cert(ca_path, ca);
        save_cert(leaf_path, leaf);
        save_key(key_path, key);

        error = load_fails("old-ca.pem", "old-leaf-cert.pem", "old-leaf-key.pem", -EKEYEXPIRED,
                           "CA certificate 'CN=OldCA'");
        assert_non_null(strstr(error, "expired on"));

        X509_free(ca);
        X509_free(leaf);
        EVP_PKEY_free(ca_key);
        EVP_PKEY_free(key);
}

static void test_null_error_pointer(void **state) {
        TlsCredentials *c = NULL;

        /* ret_error is optional. */
        assert_int_equal(load("ca/ca-cert.pem", "nope.pem", "ed/ed-key.pem", &c, NULL), -ENOENT);
        assert_null(c);
        assert_null(tls_credentials_free(NULL));
        assert_null(peer_identity_free(NULL));
}

/* ---- identity ---- */

static void test_identity(void **state) {
        _cleanup_(peer_identity_freep) PeerIdentity *id = identity_of("ed/ed-cert.pem");

        assert_string_equal(id->subject, "CN=ed");
        assert_string_equal(id->common_name, "ed");
        assert_non_null(id->dns_names);
        assert_string_equal(id->dns_names[0], "ed");
        assert_string_equal(id->dns_names[1], "ed.example");
        assert_null(id->dns_names[2]);
        assert_non_null(id->ip_addresses);
        assert_string_equal(id->ip_addresses[0], "127.0.0.2");
        assert_string_equal(id->ip_addresses[1], "::1");
        assert_null(id->ip_addresses[2]);
}

static void test_identity_not_nul_terminated(void **state) {
        _cleanup_(peer_identity_freep) PeerIdentity *id = NULL;
        _cleanup_free_ char *p = path("ec/ec-cert.pem"), *text = NULL, *exact = NULL;
        size_t size;

        /* Exactly the bytes, no terminator: an over-read shows up under ASan. */
        text = read_all(p, &size);
        exact = malloc(size);
        assert_non_null(exact);
        memcpy(exact, text, size);
        assert_int_equal(tls_peer_identity_from_pem(exact, size, &id), 0);
        assert_string_equal(id->common_name, "ec");
        assert_string_equal(id->dns_names[0], "ec");
        assert_null(id->dns_names[1]);
        /* No IP SANs: an empty list, not NULL. */
        assert_non_null(id->ip_addresses);
        assert_null(id->ip_addresses[0]);
}

static void test_identity_bad_input(void **state) {
        _cleanup_free_ char *p = path("ed/ed-key.pem"), *key = NULL;
        PeerIdentity *id = NULL;
        size_t size;

        assert_int_equal(tls_peer_identity_from_pem("garbage", 7, &id), -EBADMSG);
        assert_int_equal(tls_peer_identity_from_pem("", 0, &id), -EBADMSG);
        key = read_all(p, &size);
        assert_int_equal(tls_peer_identity_from_pem(key, size, &id), -EBADMSG);
        assert_null(id);
}

static void test_identity_without_san(void **state) {
        _cleanup_(peer_identity_freep) PeerIdentity *id = NULL;

        make_leaf_files("cn-only", NULL, -300, 86400L);
        id = identity_of("cn-only-cert.pem");
        assert_string_equal(id->subject, "CN=cn-only");
        assert_string_equal(id->common_name, "cn-only");
        assert_non_null(id->dns_names);
        assert_null(id->dns_names[0]);
        assert_non_null(id->ip_addresses);
        assert_null(id->ip_addresses[0]);
}

static void test_has_name(void **state) {
        _cleanup_(peer_identity_freep) PeerIdentity *ed = identity_of("ed/ed-cert.pem"), *cn_only = NULL,
                                                     *san_only = NULL;

        assert_true(peer_identity_has_name(ed, "ed"));
        assert_true(peer_identity_has_name(ed, "ed.example"));
        assert_false(peer_identity_has_name(ed, "ED"));       /* exact, case-sensitive */
        assert_false(peer_identity_has_name(ed, "*.example")); /* no wildcards */
        assert_false(peer_identity_has_name(ed, "e"));
        assert_false(peer_identity_has_name(ed, ""));
        assert_false(peer_identity_has_name(ed, NULL));
        assert_false(peer_identity_has_name(NULL, "ed"));

        /* The CN counts without DNS SANs... */
        make_leaf_files("cn-only2", NULL, -300, 86400L);
        cn_only = identity_of("cn-only2-cert.pem");
        assert_true(peer_identity_has_name(cn_only, "cn-only2"));
        assert_false(peer_identity_has_name(cn_only, "cn-only"));

        /* ...and not when there are some that do not include it. */
        make_leaf_files("cn-elsewhere", "DNS:san-name", -300, 86400L);
        san_only = identity_of("cn-elsewhere-cert.pem");
        assert_string_equal(san_only->common_name, "cn-elsewhere");
        assert_true(peer_identity_has_name(san_only, "san-name"));
        assert_false(peer_identity_has_name(san_only, "cn-elsewhere"));
}

static void test_has_ip(void **state) {
        _cleanup_(peer_identity_freep) PeerIdentity *ed = identity_of("ed/ed-cert.pem"), *ec = NULL,
                                                    *v6 = NULL;

        assert_true(peer_identity_has_ip(ed, "127.0.0.2"));
        assert_true(peer_identity_has_ip(ed, "::1"));
        assert_true(peer_identity_has_ip(ed, "0:0:0:0:0:0:0:1"));
        assert_true(peer_identity_has_ip(ed, "0000::0001"));
        /* An IPv4 client seen through a dual-stack socket. */
        assert_true(peer_identity_has_ip(ed, "::ffff:127.0.0.2"));
        assert_false(peer_identity_has_ip(ed, "127.0.0.3"));
        assert_false(peer_identity_has_ip(ed, "::2"));
        assert_false(peer_identity_has_ip(ed, "ed"));
        assert_false(peer_identity_has_ip(ed, ""));
        assert_false(peer_identity_has_ip(ed, NULL));

        ec = identity_of("ec/ec-cert.pem");
        assert_false(peer_identity_has_ip(ec, "127.0.0.2"));

        /* The SAN in long form, the query in short form. */
        make_leaf_files("v6", "DNS:v6,IP:fd00:0:0:0:0:0:0:42", -300, 86400L);
        v6 = identity_of("v6-cert.pem");
        assert_string_equal(v6->ip_addresses[0], "fd00::42");
        assert_true(peer_identity_has_ip(v6, "fd00::42"));
        assert_true(peer_identity_has_ip(v6, "FD00:0::0:42"));
        assert_false(peer_identity_has_ip(v6, "fd00::43"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_load_each_key_type),
                cmocka_unit_test(test_load_chain_and_bundle),
                cmocka_unit_test(test_load_traditional_keys),
                cmocka_unit_test(test_wrong_key),
                cmocka_unit_test(test_other_ca),
                cmocka_unit_test(test_missing_files),
                cmocka_unit_test(test_directory),
                cmocka_unit_test(test_unreadable),
                cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_encrypted_key),
                cmocka_unit_test(test_expired),
                cmocka_unit_test(test_not_yet_valid),
                cmocka_unit_test(test_expired_ca),
                cmocka_unit_test(test_null_error_pointer),
                cmocka_unit_test(test_identity),
                cmocka_unit_test(test_identity_not_nul_terminated),
                cmocka_unit_test(test_identity_bad_input),
                cmocka_unit_test(test_identity_without_san),
                cmocka_unit_test(test_has_name),
                cmocka_unit_test(test_has_ip),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
