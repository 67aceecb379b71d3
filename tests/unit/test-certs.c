/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CA and leaf certificates certs.c makes: files, modes and refusal to
 * overwrite; the extensions that gRPC, Go and rustls peers rely on;
 * validation of requests; and the text of certs_describe(). Everything is
 * made in a temporary directory that is removed at the end.
 */

#include <dirent.h>
#include <time.h>

#include <openssl/bn.h>

#include "certs.h"
#include "openssl-test.h"

static char tmpdir[] = "/tmp/givc-test-certs.XXXXXX";

static const CertKeyType key_types[] = { CERT_KEY_ED25519, CERT_KEY_ECDSA_P256, CERT_KEY_RSA_3072 };

#define path(...) temp_path(tmpdir, __VA_ARGS__)

/* ---- helpers ---- */

static bool exists(const char *p) {
        struct stat st;

        return lstat(p, &st) >= 0;
}

static mode_t mode_of(const char *p) {
        struct stat st;

        assert_int_equal(stat(p, &st), 0);
        return st.st_mode & 07777;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

/* Names in a directory, sorted bytewise, as one "a b c" string. */
static char *list_dir(const char *p) {
        struct dirent **entries;
        char *s = NULL;
        size_t size = 0;
        FILE *f;
        int n;

        n = scandir(p, &entries, NULL, by_name);
        assert_true(n >= 0);
        f = open_memstream(&s, &size);
        assert_non_null(f);
        for (int i = 0; i < n; i++) {
                if (!streq(entries[i]->d_name, ".") && !streq(entries[i]->d_name, ".."))
                        fprintf(f, "%s%s", size > 0 || ftell(f) > 0 ? " " : "", entries[i]->d_name);
                free(entries[i]);
        }
        free(entries);
        assert_int_equal(fclose(f), 0);
        return s;
}

static void assert_key_type(EVP_PKEY *k, CertKeyType t) {
        switch (t) {
        case CERT_KEY_ED25519:
                assert_true(EVP_PKEY_is_a(k, "ED25519"));
                break;
        case CERT_KEY_ECDSA_P256: {
                char group[64];

                assert_true(EVP_PKEY_is_a(k, "EC"));
                assert_int_equal(EVP_PKEY_get_group_name(k, group, sizeof(group), NULL), 1);
                assert_string_equal(group, "prime256v1");
                break;
        }
        case CERT_KEY_RSA_3072:
                assert_true(EVP_PKEY_is_a(k, "RSA"));
                assert_int_equal(EVP_PKEY_get_bits(k), 3072);
                break;
        default:
                fail();
        }
}

/* The extension @nid is present exactly once and marked critical or not. */
static void assert_extension_critical(X509 *x, int nid, bool critical) {
        int i = X509_get_ext_by_NID(x, nid, -1);

        assert_true(i >= 0);
        assert_int_equal(X509_get_ext_by_NID(x, nid, i), -1);
        assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(x, i)), critical);
}

/* notBefore/notAfter as seconds relative to now. */
static void validity_offsets(X509 *x, long *ret_before, long *ret_after) {
        ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL));
        int days, secs;

        assert_non_null(now);
        assert_int_equal(ASN1_TIME_diff(&days, &secs, now, X509_get0_notBefore(x)), 1);
        *ret_before = days * 86400L + secs;
        assert_int_equal(ASN1_TIME_diff(&days, &secs, now, X509_get0_notAfter(x)), 1);
        *ret_after = days * 86400L + secs;
        ASN1_TIME_free(now);
}

static int create_ca(const char *rel, CertKeyType t, bool overwrite, char **ret_error) {
        _cleanup_free_ char *dir = path("%s", rel);
        CertRequest req = { .days = 3650, .key_type = t, .overwrite = overwrite };

        return certs_create_ca(dir, &req, ret_error);
}

static int issue(const char *ca, const char *out, const CertRequest *req, char **ret_error) {
        _cleanup_free_ char *ca_dir = path("%s", ca), *out_dir = out ? path("%s", out) : NULL;

        return certs_issue(ca_dir, out_dir, req, ret_error);
}

static bool has_line(const char *text, const char *line) {
        size_t n = strlen(line);

        for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
                        return true;
        return false;
}

static bool has_line_starting(const char *text, const char *prefix) {
        size_t n = strlen(prefix);

        for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, prefix, n) == 0)
                        return true;
        return false;
}

/* ---- fixtures ---- */

static int setup(void **state) {
        _cleanup_free_ char *error = NULL;

        if (!mkdtemp(tmpdir))
                return -1;
        /* One CA of each type, shared by the tests that only need "a CA". */
        if (create_ca("ca-ed25519", CERT_KEY_ED25519, false, &error) < 0 ||
            create_ca("ca-ecdsa", CERT_KEY_ECDSA_P256, false, &error) < 0 ||
            create_ca("ca-rsa", CERT_KEY_RSA_3072, false, &error) < 0)
                return -1;
        return 0;
}

static int teardown(void **state) {
        return rm_rf(tmpdir);
}

/* ---- tests ---- */

static void test_key_type_strings(void **state) {
        assert_int_equal(cert_key_type_from_string("ed25519"), CERT_KEY_ED25519);
        assert_int_equal(cert_key_type_from_string("ecdsa"), CERT_KEY_ECDSA_P256);
        assert_int_equal(cert_key_type_from_string("rsa"), CERT_KEY_RSA_3072);
        assert_int_equal(cert_key_type_from_string("dsa"), -EINVAL);
        assert_int_equal(cert_key_type_from_string(""), -EINVAL);
        assert_int_equal(cert_key_type_from_string(NULL), -EINVAL);
        for (size_t i = 0; i < ELEMENTSOF(key_types); i++)
                assert_int_equal(cert_key_type_from_string(cert_key_type_to_string(key_types[i])),
                                 key_types[i]);
        assert_null(cert_key_type_to_string(_CERT_KEY_TYPE_MAX));
        assert_null(cert_key_type_to_string(_CERT_KEY_TYPE_INVALID));
}

static void test_ca_each_key_type(void **state) {
        static const char *const dirs[] = { "ca-ed25519", "ca-ecdsa", "ca-rsa" };

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *dir = path("%s", dirs[i]), *cert_path = path("%s/ca-cert.pem", dirs[i]),
                                    *key_path = path("%s/ca-key.pem", dirs[i]), *files = list_dir(dir),
                                    *key_text = read_all(key_path, NULL);
                X509 *x = load_cert(cert_path);
                EVP_PKEY *k = load_key(key_path);
                char *subject;
                uint32_t flags;

                /* Exactly the two files, no temporary left behind; a private directory and key. */
                assert_string_equal(files, "ca-cert.pem ca-key.pem");
                assert_int_equal(mode_of(dir), 0700);
                assert_int_equal(mode_of(key_path), 0600);
                assert_int_equal(mode_of(cert_path), 0644);
                assert_true(startswith(key_text, "-----BEGIN PRIVATE KEY-----\n")); /* PKCS#8 */

                assert_key_type(k, key_types[i]);
                assert_int_equal(X509_check_private_key(x, k), 1);
                assert_int_equal(X509_verify(x, k), 1); /* self-signed */
                assert_int_equal(X509_get_version(x), X509_VERSION_3);

                subject = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
                assert_string_equal(subject, "/CN=GivcCA");
                assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);

                flags = X509_get_extension_flags(x);
                assert_true(flags & EXFLAG_CA);
                assert_int_equal(X509_get_pathlen(x), 1);
                assert_extension_critical(x, NID_basic_constraints, true);
                assert_extension_critical(x, NID_key_usage, true);
                assert_int_equal(X509_get_key_usage(x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
                assert_non_null(X509_get0_subject_key_id(x));
                assert_int_equal(X509_get_ext_by_NID(x, NID_ext_key_usage, -1), -1);

                OPENSSL_free(subject);
                X509_free(x);
                EVP_PKEY_free(k);
        }
}

/* Everything a leaf must carry, checked against its CA. */
static void check_leaf(const char *ca, const char *leaf_dir, const char *name, CertKeyType t, unsigned days,
                       const char *const *dns, const char *const *ips) {
        _cleanup_free_ char *dir = path("%s", leaf_dir), *cert_path = path("%s/%s-cert.pem", leaf_dir, name),
                            *key_path = path("%s/%s-key.pem", leaf_dir, name),
                            *copy_path = path("%s/ca-cert.pem", leaf_dir),
                            *ca_path = path("%s/ca-cert.pem", ca), *files = list_dir(dir),
                            *expected_files = NULL, *copy = read_all(copy_path, NULL),
                            *original = read_all(ca_path, NULL), *error = NULL;
        _cleanup_(peer_identity_freep) PeerIdentity *id = NULL;
        _cleanup_(tls_credentials_freep) TlsCredentials *creds = NULL;
        X509 *x = load_cert(cert_path), *issuer = load_cert(ca_path);
        EVP_PKEY *k = load_key(key_path);
        const ASN1_OCTET_STRING *aki, *ski;
        BIGNUM *serial;
        long before, after;
        uint32_t ku;
        size_t n;

        /* The three files, nothing else; the key private. */
        if (strcmp(name, "ca-cert.pem") < 0)
                assert_true(asprintf(&expected_files, "%s-cert.pem %s-key.pem ca-cert.pem", name, name) >=
                            0);
        else
                assert_true(asprintf(&expected_files, "ca-cert.pem %s-cert.pem %s-key.pem", name, name) >=
                            0);
        assert_string_equal(files, expected_files);
        assert_int_equal(mode_of(key_path), 0600);
        assert_int_equal(mode_of(cert_path), 0644);
        assert_string_equal(copy, original);

        /* Key, signature, issuer. */
        assert_key_type(k, t);
        assert_int_equal(X509_check_private_key(x, k), 1);
        assert_int_equal(X509_verify(x, X509_get0_pubkey(issuer)), 1);
        assert_int_equal(X509_check_issued(issuer, x), X509_V_OK);
        assert_int_equal(X509_get_version(x), X509_VERSION_3);

        /* A random positive serial of at most 127 bits. */
        serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        assert_non_null(serial);
        assert_false(BN_is_negative(serial));
        assert_false(BN_is_zero(serial));
        assert_true(BN_num_bits(serial) <= 127);
        BN_free(serial);

        /* Five minutes of clock skew before, @days after. */
        validity_offsets(x, &before, &after);
        assert_true(before <= -290 && before >= -310);
        assert_true(after >= (long) days * 86400 - 10 && after <= (long) days * 86400 + 10);

        /* Extensions. */
        assert_false(X509_get_extension_flags(x) & EXFLAG_CA);
        assert_extension_critical(x, NID_basic_constraints, true);
        assert_extension_critical(x, NID_key_usage, true);
        assert_extension_critical(x, NID_ext_key_usage, false);
        assert_extension_critical(x, NID_subject_alt_name, false);
        ku = X509_get_key_usage(x);
        assert_int_equal(ku, t == CERT_KEY_RSA_3072 ? KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT
                                                     : KU_DIGITAL_SIGNATURE);
        assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER | XKU_SSL_CLIENT);
        assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
        assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0), 1);
        ski = X509_get0_subject_key_id(x);
        aki = X509_get0_authority_key_id(x);
        assert_non_null(ski);
        assert_non_null(aki);
        assert_int_equal(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(issuer)), 0);

        /* Names, as the transport will see them. */
        id = load_identity(cert_path);
        assert_string_equal(id->common_name, name);
        assert_string_equal(id->dns_names[0], name);
        n = 1;
        for (size_t i = 0; dns && dns[i]; i++) {
                if (streq(dns[i], name))
                        continue; /* not repeated */
                assert_non_null(id->dns_names[n]);
                assert_string_equal(id->dns_names[n], dns[i]);
                n++;
        }
        assert_null(id->dns_names[n]);
        n = 0;
        for (; ips && ips[n]; n++)
                assert_true(peer_identity_has_ip(id, ips[n]));
        assert_null(id->ip_addresses[n]);

        /* And the transport accepts the set. */
        assert_int_equal(tls_credentials_load(copy_path, cert_path, key_path, &creds, &error), 0);
        assert_null(error);

        X509_free(x);
        X509_free(issuer);
        EVP_PKEY_free(k);
}

static void test_issue_each_key_type(void **state) {
        static const char *const cas[] = { "ca-ed25519", "ca-ecdsa", "ca-rsa" };
        static const char *const names[] = { "leaf-ed25519", "leaf-ecdsa", "leaf-rsa" };
        const char *dns[] = { "leaf.example", "second.example", NULL };
        const char *ips[] = { "192.168.101.10", "fd00::1", NULL };

        /* Every leaf type under every CA type. */
        for (size_t c = 0; c < ELEMENTSOF(cas); c++)
                for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                        _cleanup_free_ char *out = NULL, *leaf_dir = NULL, *error = NULL;
                        CertRequest req = {
                                .name = names[i],
                                .dns_names = (char **) dns,
                                .ip_addresses = (char **) ips,
                                .days = 10 + (unsigned) i,
                                .key_type = key_types[i],
                        };

                        assert_true(asprintf(&out, "out-%s", cas[c]) >= 0);
                        assert_true(asprintf(&leaf_dir, "%s/%s", out, names[i]) >= 0);
                        assert_int_equal(issue(cas[c], out, &req, &error), 0);
                        assert_null(error);
                        check_leaf(cas[c], leaf_dir, names[i], key_types[i], req.days, dns, ips);
                }
}

static void test_issue_defaults(void **state) {
        _cleanup_free_ char *error = NULL, *out = path("plain-ca/admin-vm"), *ca_dir = path("plain-ca");
        const char *dns[] = { "admin-vm", NULL };
        CertRequest req = { .name = "admin-vm", .dns_names = (char **) dns, .days = 3650 };

        assert_int_equal(create_ca("plain-ca", CERT_KEY_ED25519, false, &error), 0);
        /* No --out: NAME/ goes into the CA directory. A DNS name equal to
         * NAME is not listed twice. */
        assert_int_equal(certs_issue(ca_dir, NULL, &req, &error), 0);
        assert_null(error);
        assert_int_equal(mode_of(out), 0700);
        check_leaf("plain-ca", "plain-ca/admin-vm", "admin-vm", CERT_KEY_ED25519, 3650, dns, NULL);
}

/*
 * The certificate and key files after a second run: still @cert and @key when it was refused,
 * both new when it was told to overwrite them. The key stays private either way.
 */
static void check_second_run(const char *cert_path, const char *key_path, const char *cert, const char *key,
                             bool replaced) {
        _cleanup_free_ char *cert_now = read_all(cert_path, NULL), *key_now = read_all(key_path, NULL);

        if (replaced) {
                assert_string_not_equal(cert, cert_now);
                assert_string_not_equal(key, key_now);
        } else {
                assert_string_equal(cert, cert_now);
                assert_string_equal(key, key_now);
        }
        assert_int_equal(mode_of(key_path), 0600);
}

static void test_ca_refuses_overwrite(void **state) {
        _cleanup_free_ char *error = NULL, *error2 = NULL, *cert_path = path("ca-again/ca-cert.pem"),
                            *key_path = path("ca-again/ca-key.pem"), *cert = NULL, *key = NULL;

        assert_int_equal(create_ca("ca-again", CERT_KEY_ED25519, false, &error), 0);
        cert = read_all(cert_path, NULL);
        key = read_all(key_path, NULL);

        assert_int_equal(create_ca("ca-again", CERT_KEY_ECDSA_P256, false, &error), -EEXIST);
        assert_non_null(error);
        assert_non_null(strstr(error, "--force"));
        check_second_run(cert_path, key_path, cert, key, false);

        /* overwrite replaces both, and the new files are still private. */
        assert_int_equal(create_ca("ca-again", CERT_KEY_ECDSA_P256, true, &error2), 0);
        assert_null(error2);
        check_second_run(cert_path, key_path, cert, key, true);
        {
                EVP_PKEY *k = load_key(key_path);

                assert_key_type(k, CERT_KEY_ECDSA_P256);
                EVP_PKEY_free(k);
        }
}

static void test_issue_refuses_overwrite(void **state) {
        _cleanup_free_ char *error = NULL, *error2 = NULL,
                            *cert_path = path("ca-ed25519/again/again-cert.pem"),
                            *key_path = path("ca-ed25519/again/again-key.pem"), *cert = NULL, *key = NULL;
        CertRequest req = { .name = "again", .days = 5 };

        assert_int_equal(issue("ca-ed25519", NULL, &req, &error), 0);
        cert = read_all(cert_path, NULL);
        key = read_all(key_path, NULL);

        assert_int_equal(issue("ca-ed25519", NULL, &req, &error), -EEXIST);
        assert_non_null(strstr(error, cert_path));
        assert_non_null(strstr(error, "--force"));
        check_second_run(cert_path, key_path, cert, key, false);

        req.overwrite = true;
        assert_int_equal(issue("ca-ed25519", NULL, &req, &error2), 0);
        check_second_run(cert_path, key_path, cert, key, true);
        check_leaf("ca-ed25519", "ca-ed25519/again", "again", CERT_KEY_ED25519, 5, NULL, NULL);
}

/* certs_issue() refuses @req with -EINVAL and a sentence that contains @expected. */
static void assert_issue_invalid(const char *ca_dir, const char *leaf_dir, const CertRequest *req,
                                 const char *expected) {
        _cleanup_free_ char *error = NULL;

        assert_int_equal(certs_issue(ca_dir, leaf_dir, req, &error), -EINVAL);
        assert_non_null(error);
        assert_non_null(strstr(error, expected));
}

static void test_invalid_requests(void **state) {
        static const char *const bad_names[] = {
                "", ".hidden", "-option", "a/b", "a b", "a,b", "..", "na\xc3\xafve",
                "x12345678901234567890123456789012345678901234567890123456789012345", /* 65 */
        };
        static const char *const bad_dns[] = { "", ".x", "-x", "a b", "a:b", "*.example" };
        static const char *const bad_ips[] = { "", "1.2.3", "256.1.1.1", "::g", "1.2.3.4/24", "host" };
        _cleanup_free_ char *leaf_dir = path("out-invalid"), *ca_dir = path("ca-ed25519"), *long_dns = NULL,
                            *ca_new = path("ca-invalid"), *e1 = NULL, *e2 = NULL;
        CertRequest zero = { .name = "ok", .days = 0 }, many = { .name = "ok", .days = 36501 },
                    type = { .name = "ok", .days = 1, .key_type = _CERT_KEY_TYPE_MAX };

        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++)
                assert_issue_invalid(ca_dir, leaf_dir, &(CertRequest) { .name = bad_names[i], .days = 1 },
                                     "invalid certificate name");
        for (size_t i = 0; i < ELEMENTSOF(bad_dns); i++) {
                char *dns[] = { (char *) bad_dns[i], NULL };

                assert_issue_invalid(ca_dir, leaf_dir,
                                     &(CertRequest) { .name = "ok", .dns_names = dns, .days = 1 },
                                     "invalid DNS name");
        }
        for (size_t i = 0; i < ELEMENTSOF(bad_ips); i++) {
                char *ips[] = { (char *) bad_ips[i], NULL };

                assert_issue_invalid(ca_dir, leaf_dir,
                                     &(CertRequest) { .name = "ok", .ip_addresses = ips, .days = 1 },
                                     "invalid IP address");
        }

        /* 254 characters is one too many for a DNS name. */
        long_dns = malloc(255);
        assert_non_null(long_dns);
        memset(long_dns, 'a', 254);
        long_dns[254] = '\0';
        {
                char *dns[] = { long_dns, NULL };

                assert_issue_invalid(ca_dir, leaf_dir,
                                     &(CertRequest) { .name = "ok", .dns_names = dns, .days = 1 },
                                     "invalid DNS name");
        }

        /* Days out of range, an unknown key type, no request at all. */
        assert_issue_invalid(ca_dir, leaf_dir, &zero, "days");
        assert_issue_invalid(ca_dir, leaf_dir, &many, "days");
        assert_issue_invalid(ca_dir, leaf_dir, &type, "key type");
        assert_issue_invalid(ca_dir, leaf_dir, NULL, "no certificate request");
        assert_int_equal(certs_create_ca(ca_new, &zero, &e1), -EINVAL);
        assert_int_equal(certs_create_ca(ca_new, &many, &e2), -EINVAL);
        assert_false(exists(ca_new));

        /* Nothing was written for any of them. */
        assert_false(exists(leaf_dir));
}

static void test_limits_accepted(void **state) {
        _cleanup_free_ char *error = NULL, *name = malloc(65), *dns = malloc(254), *cert_path = NULL;
        char *dns_list[] = { dns, NULL };
        CertRequest req = {
                .name = name, .dns_names = dns_list, .days = 36500, .key_type = CERT_KEY_ED25519
        };
        X509 *x;
        long before, after;

        /* 64 characters of name, 253 of DNS name and 36500 days are allowed. */
        assert_non_null(name);
        assert_non_null(dns);
        memset(name, 'n', 64);
        name[64] = '\0';
        memset(dns, 'd', 253);
        dns[253] = '\0';
        assert_int_equal(issue("ca-ed25519", "out-limits", &req, &error), 0);
        cert_path = path("out-limits/%s/%s-cert.pem", name, name);
        x = load_cert(cert_path);
        validity_offsets(x, &before, &after);
        assert_true(after > 36499L * 86400);
        X509_free(x);
}

static void test_missing_ca(void **state) {
        _cleanup_free_ char *error = NULL, *expected = path("no-such-ca/ca-cert.pem"), *leaf = path("x");
        CertRequest req = { .name = "x", .days = 1 };

        assert_int_equal(issue("no-such-ca", NULL, &req, &error), -ENOENT);
        assert_non_null(strstr(error, expected));
        assert_false(exists(leaf));
}

static void test_ca_key_mismatch(void **state) {
        _cleanup_free_ char *error = NULL, *mixed = path("mixed-ca"),
                            *src_cert = path("ca-ed25519/ca-cert.pem"),
                            *src_key = path("ca-ecdsa/ca-key.pem"), *dst_cert = path("mixed-ca/ca-cert.pem"),
                            *dst_key = path("mixed-ca/ca-key.pem");
        CertRequest req = { .name = "x", .days = 1 };

        assert_int_equal(mkdir(mixed, 0700), 0);
        assert_int_equal(link(src_cert, dst_cert), 0);
        assert_int_equal(link(src_key, dst_key), 0);
        assert_int_equal(issue("mixed-ca", NULL, &req, &error), -EKEYREJECTED);
        assert_non_null(strstr(error, "does not belong"));
}

static void test_leaf_dir_is_ca_dir(void **state) {
        _cleanup_free_ char *error = NULL, *key = path("ca-ed25519/ca-key.pem"),
                            *before = read_all(key, NULL), *after = NULL;
        CertRequest req = { .name = "ca-ed25519", .days = 1, .overwrite = true };

        /* --out DIR/.. --name DIR would write ca-ed25519-key.pem and ca-cert.pem into the CA. */
        assert_int_equal(issue("ca-ed25519", ".", &req, &error), -EINVAL);
        assert_non_null(strstr(error, "is the CA directory"));
        after = read_all(key, NULL);
        assert_string_equal(before, after);
}

static void test_rollback(void **state) {
        _cleanup_free_ char *error = NULL, *out = path("out-rollback"), *dir = path("out-rollback/broken"),
                            *blocker = path("out-rollback/broken/ca-cert.pem"), *files = NULL;
        CertRequest req = { .name = "broken", .days = 1, .overwrite = true };

        /* The last file cannot be renamed into place, as a directory is in
         * the way: the certificate and key already renamed must go again,
         * and no temporary file may stay behind. */
        assert_int_equal(mkdir(out, 0700), 0);
        assert_int_equal(mkdir(dir, 0700), 0);
        assert_int_equal(mkdir(blocker, 0700), 0);
        assert_int_equal(issue("ca-ed25519", "out-rollback", &req, &error), -EISDIR);
        assert_non_null(strstr(error, blocker));
        files = list_dir(dir);
        assert_string_equal(files, "ca-cert.pem");
}

/* A self-signed CA valid from now+@from to now+@to seconds, as DIR/ca-cert.pem and DIR/ca-key.pem. */
static void make_self_signed(const char *rel, long from, long to) {
        _cleanup_free_ char *dir = path("%s", rel), *cert_path = path("%s/ca-cert.pem", rel),
                            *key_path = path("%s/ca-key.pem", rel);
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        X509 *x;

        assert_non_null(k);
        assert_int_equal(mkdir(dir, 0700), 0);
        x = make_cert("OldCA", NULL, k, NULL, k, from, to, true);
        save_cert(cert_path, x);
        save_key(key_path, k);
        X509_free(x);
        EVP_PKEY_free(k);
}

static void test_expired_ca(void **state) {
        _cleanup_free_ char *error = NULL, *leaf = path("expired-ca/x");
        CertRequest req = { .name = "x", .days = 1 };

        make_self_signed("expired-ca", -10 * 86400L, -86400L);
        assert_int_equal(issue("expired-ca", NULL, &req, &error), -EKEYEXPIRED);
        assert_non_null(strstr(error, "expired on"));
        assert_false(exists(leaf));
}

static void test_describe_leaf(void **state) {
        _cleanup_free_ char *error = NULL, *text = NULL,
                            *cert_path = path("out-describe/described/described-cert.pem");
        char *dns[] = { (char *) "foo", NULL };
        char *ips[] = { (char *) "127.0.0.2", (char *) "::1", NULL };
        CertRequest req = { .name = "described", .dns_names = dns, .ip_addresses = ips, .days = 3650 };
        const char *p;

        assert_int_equal(issue("ca-ed25519", "out-describe", &req, &error), 0);
        assert_int_equal(certs_describe(cert_path, &text, &error), 0);
        assert_null(error);

        assert_true(has_line(text, "subject: CN=described"));
        assert_true(has_line(text, "issuer: CN=GivcCA"));
        assert_true(has_line(text, "key: Ed25519"));
        assert_true(has_line(text, "CA: no"));
        assert_true(has_line(text, "DNS names: described, foo"));
        assert_true(has_line(text, "IP addresses: 127.0.0.2, ::1"));
        assert_true(has_line(text, "key usage: digital signature"));
        assert_true(has_line(text, "extended key usage: server auth, client auth"));
        assert_true(has_line(text, "status: valid"));
        assert_true(endswith(text, "status: valid\n"));

        /* serial: hex pairs; dates: "YYYY-MM-DD HH:MM:SS UTC"; SHA-256: 32 pairs. */
        p = strstr(text, "\nserial: ");
        assert_non_null(p);
        p += strlen("\nserial: ");
        assert_true(strspn(p, "0123456789ABCDEF:") >= 2);
        assert_int_equal(p[strspn(p, "0123456789ABCDEF:")], '\n');
        p = strstr(text, "\nnot before: ");
        assert_non_null(p);
        assert_int_equal(strcspn(p + 1, "\n"), strlen("not before: 2026-11-27 07:00:00 UTC"));
        assert_true(has_line_starting(text, "not after: "));
        p = strstr(text, "\nSHA-256 fingerprint: ");
        assert_non_null(p);
        p += strlen("\nSHA-256 fingerprint: ");
        assert_int_equal(strspn(p, "0123456789ABCDEF:"), 32 * 3 - 1);
}

static void test_describe_ca_and_types(void **state) {
        static const char *const cas[] = { "ca-ed25519", "ca-ecdsa", "ca-rsa" };
        static const char *const keys[] = { "key: Ed25519", "key: ECDSA P-256", "key: RSA 3072" };

        for (size_t i = 0; i < ELEMENTSOF(cas); i++) {
                _cleanup_free_ char *error = NULL, *text = NULL, *cert_path = path("%s/ca-cert.pem", cas[i]);

                assert_int_equal(certs_describe(cert_path, &text, &error), 0);
                assert_true(has_line(text, "subject: CN=GivcCA"));
                assert_true(has_line(text, "issuer: CN=GivcCA"));
                assert_true(has_line(text, keys[i]));
                assert_true(has_line(text, "CA: yes (path length 1)"));
                assert_true(has_line(text, "key usage: certificate sign, CRL sign"));
                assert_true(has_line(text, "status: valid"));
                /* Lines without content are left out. */
                assert_false(has_line_starting(text, "DNS names:"));
                assert_false(has_line_starting(text, "IP addresses:"));
                assert_false(has_line_starting(text, "extended key usage:"));
        }
}

static void test_describe_status(void **state) {
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *old = NULL, *future = NULL,
                            *old_path = path("describe-old/ca-cert.pem"),
                            *future_path = path("describe-future/ca-cert.pem");

        make_self_signed("describe-old", -10 * 86400L, -86400L);
        make_self_signed("describe-future", 86400L, 10 * 86400L);
        assert_int_equal(certs_describe(old_path, &old, &e1), 0);
        assert_int_equal(certs_describe(future_path, &future, &e2), 0);
        assert_true(endswith(old, "status: EXPIRED\n"));
        assert_true(endswith(future, "status: not yet valid\n"));
        /* Without pathlen the CA line has no path length. */
        assert_true(has_line(old, "CA: yes"));
}

static void test_describe_errors(void **state) {
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL, *missing = path("nope.pem"),
                            *key = path("ca-ed25519/ca-key.pem"), *dir = path("ca-ed25519");
        char *text = NULL;

        assert_int_equal(certs_describe(missing, &text, &e1), -ENOENT);
        assert_non_null(strstr(e1, missing));
        assert_int_equal(certs_describe(key, &text, &e2), -EBADMSG);
        assert_non_null(strstr(e2, key));
        assert_true(certs_describe(dir, &text, &e3) < 0);
        assert_null(text);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_key_type_strings),
                cmocka_unit_test(test_ca_each_key_type),
                cmocka_unit_test(test_issue_each_key_type),
                cmocka_unit_test(test_issue_defaults),
                cmocka_unit_test(test_ca_refuses_overwrite),
                cmocka_unit_test(test_issue_refuses_overwrite),
                cmocka_unit_test(test_invalid_requests),
                cmocka_unit_test(test_limits_accepted),
                cmocka_unit_test(test_missing_ca),
                cmocka_unit_test(test_ca_key_mismatch),
                cmocka_unit_test(test_leaf_dir_is_ca_dir),
                cmocka_unit_test(test_rollback),
                cmocka_unit_test(test_expired_ca),
                cmocka_unit_test(test_describe_leaf),
                cmocka_unit_test(test_describe_ca_and_types),
                cmocka_unit_test(test_describe_status),
                cmocka_unit_test(test_describe_errors),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
