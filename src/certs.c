/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small certificate authority for givc, in upstream's file layout (see
 * certs.h), made with OpenSSL 3 directly instead of openssl command lines.
 *
 * Writing is all or nothing per call: every file is first written in full to
 * a temporary name in its final directory (created 0600, so a key is never
 * readable by others, not even for a moment), synced, and only then renamed
 * into place. If anything fails, the temporary files and whatever was already
 * renamed are removed again. Without req->overwrite the renames refuse to
 * replace an existing file (RENAME_NOREPLACE), so two concurrent runs cannot
 * silently replace each other's key either.
 *
 * The leaves are made for gRPC over mutual TLS: DNS SANs carry the names the
 * peers check, and extendedKeyUsage allows both the server and client role.
 */

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "certs.h"
#include "error-util.h"
#include "openssl-util.h"
#include "tls.h"

#define CA_COMMON_NAME "GivcCA"
#define CA_CERT_FILE "ca-cert.pem"
#define CA_KEY_FILE "ca-key.pem"
#define NAME_MAX_LEN 64
#define DNS_NAME_MAX_LEN 253
#define DAYS_MAX 36500
/* VMs boot with clocks that can be a little behind the one that issued. */
#define CLOCK_SKEW_SEC (5 * 60)
/* The most files one call writes: a leaf's certificate, key and CA copy. */
#define FILES_MAX 3

/* Memory that may hold key material. */
typedef struct Secret {
        char *data;
        size_t size;
} Secret;

static void secret_wipe(Secret *s) {
        erase_and_free(s->data, s->size);
        *s = (Secret) {};
}

static char *path_join(const char *dir, const char *name) {
        char *p;

        if (asprintf(&p, "%s%s%s", dir, endswith(dir, "/") ? "" : "/", name) < 0)
                return NULL;
        return p;
}

static const char *const key_type_table[_CERT_KEY_TYPE_MAX] = {
        [CERT_KEY_ED25519] = "ed25519",
        [CERT_KEY_ECDSA_P256] = "ecdsa",
        [CERT_KEY_RSA_3072] = "rsa",
};

CertKeyType cert_key_type_from_string(const char *s) {
        if (!s)
                return _CERT_KEY_TYPE_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(key_type_table); i++)
                if (streq(s, key_type_table[i]))
                        return (CertKeyType) i;
        return _CERT_KEY_TYPE_INVALID;
}

const char *cert_key_type_to_string(CertKeyType t) {
        if (t < 0 || t >= _CERT_KEY_TYPE_MAX)
                return NULL;
        return key_type_table[t];
}

/* ---- validation ---- */

/* Letters, digits, '.', '_', '-'; not starting with '.' or '-' (no hidden
 * files, no option look-alikes, no "..", no empty DNS label in front). */
static bool name_is_valid(const char *s, size_t max) {
        size_t n;

        if (isempty(s) || s[0] == '.' || s[0] == '-')
                return false;
        n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
        return s[n] == '\0' && n <= max;
}

static bool ip_is_valid(const char *s) {
        unsigned char buf[sizeof(struct in6_addr)];

        return s && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

/* What making a CA and issuing a leaf both need: the CA directory, a validity and a key type. */
static int validate_common(const char *ca_dir, const CertRequest *req, char **ret_error) {
        if (isempty(ca_dir))
                return error_set(ret_error, -EINVAL, "no CA directory given");
        if (!req)
                return error_set(ret_error, -EINVAL, "no certificate request given");
        if (req->days < 1 || req->days > DAYS_MAX)
                return error_set(ret_error, -EINVAL, "invalid validity of %u days: use 1 to %u days",
                                 req->days, DAYS_MAX);
        if (!cert_key_type_to_string(req->key_type))
                return error_set(ret_error, -EINVAL, "invalid key type %d", (int) req->key_type);
        return 0;
}

static int validate_leaf(const char *ca_dir, const CertRequest *req, char **ret_error) {
        int r;

        r = validate_common(ca_dir, req, ret_error);
        if (r < 0)
                return r;
        if (!name_is_valid(req->name, NAME_MAX_LEN))
                return error_set(
                        ret_error, -EINVAL,
                        "invalid certificate name '%s': use 1 to %d letters, digits, '.', '_' or '-', "
                        "not starting with '.' or '-'",
                        strempty(req->name), NAME_MAX_LEN);
        for (char **d = req->dns_names; d && *d; d++)
                if (!name_is_valid(*d, DNS_NAME_MAX_LEN))
                        return error_set(
                                ret_error, -EINVAL,
                                "invalid DNS name '%s': use 1 to %d letters, digits, '.', '_' or '-', "
                                "not starting with '.' or '-'",
                                *d, DNS_NAME_MAX_LEN);
        for (char **i = req->ip_addresses; i && *i; i++)
                if (!ip_is_valid(*i))
                        return error_set(ret_error, -EINVAL, "invalid IP address '%s'", *i);
        return 0;
}

/* ---- making keys and certificates ---- */

static int generate_key(CertKeyType type, EVP_PKEY **ret) {
        EVP_PKEY *k = NULL;

        switch (type) {
        case CERT_KEY_ED25519:
                k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
                break;
        case CERT_KEY_ECDSA_P256:
                k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
                break;
        case CERT_KEY_RSA_3072:
                k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 3072);
                break;
        default:
                return -EINVAL;
        }
        if (!k)
                return -EIO;
        *ret = k;
        return 0;
}

/* Ed25519 and Ed448 sign the message itself; everything else signs SHA-256. */
static const EVP_MD *signature_digest(EVP_PKEY *signer) {
        if (EVP_PKEY_is_a(signer, "ED25519") || EVP_PKEY_is_a(signer, "ED448"))
                return NULL;
        return EVP_sha256();
}

/* A random positive serial of up to 127 bits (RFC 5280 allows 20 octets). */
static int set_random_serial(X509 *x) {
        _cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *serial = NULL;
        _cleanup_(BN_freep) BIGNUM *bn = NULL;
        unsigned char bytes[16];

        do {
                if (RAND_bytes(bytes, sizeof(bytes)) != 1)
                        return -EIO;
                bytes[0] &= 0x7f;
                bn = BN_bin2bn(bytes, sizeof(bytes), bn);
                if (!bn)
                        return -ENOMEM;
        } while (BN_is_zero(bn));

        serial = BN_to_ASN1_INTEGER(bn, NULL);
        if (!serial)
                return -ENOMEM;
        return X509_set_serialNumber(x, serial) == 1 ? 0 : -ENOMEM;
}

static int add_extension(X509 *x, X509V3_CTX *ctx, int nid, const char *value) {
        _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;

        ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
        if (!ext)
                return -EIO;
        return X509_add_ext(x, ext, -1) == 1 ? 0 : -ENOMEM;
}

/* Appends a name of @type (GEN_DNS or GEN_IPADD) whose value is the @len bytes at @data. */
static int push_general_name(GENERAL_NAMES *names, int type, const void *data, int len) {
        _cleanup_(GENERAL_NAME_freep) GENERAL_NAME *g = NULL;
        ASN1_STRING *s;

        g = GENERAL_NAME_new();
        s = ASN1_STRING_type_new(type == GEN_DNS ? V_ASN1_IA5STRING : V_ASN1_OCTET_STRING);
        if (!g || !s || ASN1_STRING_set(s, data, len) != 1) {
                ASN1_STRING_free(s);
                return -ENOMEM;
        }
        GENERAL_NAME_set0_value(g, type, s);
        if (sk_GENERAL_NAME_push(names, g) <= 0)
                return -ENOMEM;
        g = NULL;
        return 0;
}

static int push_dns_name(GENERAL_NAMES *names, const char *dns) {
        /* A name given twice (--dns NAME) goes in once. */
        for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
                int type;
                const ASN1_STRING *v = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(names, i), &type);

                if (type == GEN_DNS && (size_t) ASN1_STRING_length(v) == strlen(dns) &&
                    memcmp(ASN1_STRING_get0_data(v), dns, strlen(dns)) == 0)
                        return 0;
        }
        return push_general_name(names, GEN_DNS, dns, -1);
}

static int push_ip_address(GENERAL_NAMES *names, const char *ip) {
        unsigned char bytes[sizeof(struct in6_addr)];
        int len;

        if (inet_pton(AF_INET, ip, bytes) == 1)
                len = 4;
        else if (inet_pton(AF_INET6, ip, bytes) == 1)
                len = 16;
        else
                return -EINVAL;
        return push_general_name(names, GEN_IPADD, bytes, len);
}

static int add_subject_alt_names(X509 *x, const CertRequest *req) {
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *names = NULL;
        int r;

        names = sk_GENERAL_NAME_new_null();
        if (!names)
                return -ENOMEM;
        /* The name first: it is what peers are configured to expect. */
        r = push_dns_name(names, req->name);
        if (r < 0)
                return r;
        for (char **d = req->dns_names; d && *d; d++) {
                r = push_dns_name(names, *d);
                if (r < 0)
                        return r;
        }
        for (char **i = req->ip_addresses; i && *i; i++) {
                r = push_ip_address(names, *i);
                if (r < 0)
                        return r;
        }
        return X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1 ? 0 : -ENOMEM;
}

/*
 * A certificate for @key named @common_name, signed by @issuer_key. A CA
 * certificate when @issuer is NULL (self-signed), a leaf for @req otherwise.
 */
static int make_certificate(const char *common_name, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                            const CertRequest *req, CertKeyType key_type, X509 **ret) {
        _cleanup_(X509_freep) X509 *x = NULL;
        X509V3_CTX ctx;
        X509_NAME *subject;
        int r;

        x = X509_new();
        if (!x)
                return -ENOMEM;
        if (X509_set_version(x, X509_VERSION_3) != 1)
                return -ENOMEM;
        r = set_random_serial(x);
        if (r < 0)
                return r;

        subject = X509_get_subject_name(x);
        if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *) common_name, -1,
                                       -1, 0) != 1)
                return -ENOMEM;
        if (X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) != 1)
                return -ENOMEM;

        if (!X509_gmtime_adj(X509_getm_notBefore(x), -CLOCK_SKEW_SEC) ||
            !X509_time_adj_ex(X509_getm_notAfter(x), (int) req->days, 0, NULL))
                return -EIO;
        if (X509_set_pubkey(x, key) != 1)
                return -ENOMEM;

        X509V3_set_ctx(&ctx, issuer ?: x, x, NULL, NULL, 0);
        if (!issuer) {
                r = add_extension(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:1");
                if (r >= 0)
                        r = add_extension(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
                if (r >= 0)
                        r = add_extension(x, &ctx, NID_subject_key_identifier, "hash");
        } else {
                r = add_extension(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
                if (r >= 0)
                        r = add_extension(x, &ctx, NID_key_usage,
                                          key_type == CERT_KEY_RSA_3072
                                                  ? "critical,digitalSignature,keyEncipherment"
                                                  : "critical,digitalSignature");
                if (r >= 0)
                        r = add_extension(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
                if (r >= 0)
                        r = add_extension(x, &ctx, NID_subject_key_identifier, "hash");
                /* "issuer" is only used when the CA has no key identifier of its own. */
                if (r >= 0)
                        r = add_extension(x, &ctx, NID_authority_key_identifier, "keyid,issuer");
                if (r >= 0)
                        r = add_subject_alt_names(x, req);
        }
        if (r < 0)
                return r;

        if (X509_sign(x, issuer_key, signature_digest(issuer_key)) <= 0)
                return -EIO;

        *ret = TAKE_PTR(x);
        return 0;
}

static int bio_to_secret(BIO *bio, Secret *ret) {
        char *data;
        long n;

        n = BIO_get_mem_data(bio, &data);
        if (n <= 0)
                return -EIO;
        ret->data = malloc((size_t) n + 1);
        if (!ret->data)
                return -ENOMEM;
        memcpy(ret->data, data, (size_t) n);
        ret->data[n] = '\0';
        ret->size = (size_t) n;
        return 0;
}

static int certificate_to_pem(X509 *x, Secret *ret) {
        _cleanup_(BIO_freep) BIO *bio = NULL;

        bio = BIO_new(BIO_s_mem());
        if (!bio)
                return -ENOMEM;
        if (PEM_write_bio_X509(bio, x) != 1)
                return -ENOMEM;
        return bio_to_secret(bio, ret);
}

/* Unencrypted PKCS#8 ("BEGIN PRIVATE KEY"), as upstream's genpkey writes. */
static int private_key_to_pem(EVP_PKEY *k, Secret *ret) {
        _cleanup_(BIO_freep) BIO *bio = NULL;

        /* The secure-heap BIO clears its memory when freed. */
        bio = BIO_new(BIO_s_secmem());
        if (!bio)
                return -ENOMEM;
        if (PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) != 1)
                return -ENOMEM;
        return bio_to_secret(bio, ret);
}

/* ---- writing files ---- */

static int mkdir_p(const char *path, mode_t mode, bool *ret_created) {
        _cleanup_free_ char *p = NULL;
        struct stat st;
        bool created = false;

        p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1;; s++) {
                bool last = *s == '\0';

                if (*s != '/' && !last)
                        continue;
                *s = '\0';
                if (mkdir(p, mode) >= 0)
                        created = last;
                else if (errno != EEXIST)
                        return negative_errno();
                else if (stat(p, &st) < 0)
                        return negative_errno();
                else if (!S_ISDIR(st.st_mode))
                        return -ENOTDIR;
                if (last)
                        break;
                *s = '/';
        }
        if (ret_created)
                *ret_created = created;
        return 0;
}

/* One file on its way into place. */
typedef struct StagedFile {
        char *path;     /* the final name */
        char *temp;     /* the temporary name while not yet renamed */
        bool committed; /* renamed into place */
} StagedFile;

static void staged_file_done(StagedFile *f) {
        f->path = mfree(f->path);
        f->temp = mfree(f->temp);
}

/* Undoes what was done: temporary files go, and so do files already renamed. */
static void staged_files_rollback(StagedFile *files, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (files[i].committed)
                        (void) unlink(files[i].path);
                else if (files[i].temp)
                        (void) unlink(files[i].temp);
                files[i].committed = false;
                files[i].temp = mfree(files[i].temp);
        }
}

static int write_all(int fd, const char *data, size_t size) {
        while (size > 0) {
                ssize_t n = write(fd, data, size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                data += n;
                size -= (size_t) n;
        }
        return 0;
}

/* Writes @data to a new temporary file next to @path. @f takes ownership of @path. */
static int stage_file(StagedFile *f, char *path, const Secret *data, mode_t mode) {
        _cleanup_close_ int fd = -EBADF;
        char *slash;
        int r;

        f->path = path;
        slash = strrchr(path, '/');
        if (asprintf(&f->temp, "%.*s.%s.XXXXXX", slash ? (int) (slash - path + 1) : 0, path,
                     slash ? slash + 1 : path) < 0) {
                f->temp = NULL;
                return -ENOMEM;
        }

        /* mkostemp() creates the file 0600 with O_CREAT|O_EXCL: private from the start. */
        fd = mkostemp(f->temp, O_CLOEXEC);
        if (fd < 0) {
                r = negative_errno();
                f->temp = mfree(f->temp);
                return r;
        }
        r = RET_NERRNO(fchmod(fd, mode));
        if (r >= 0)
                r = write_all(fd, data->data, data->size);
        if (r >= 0)
                r = RET_NERRNO(fsync(fd));
        if (r >= 0)
                r = RET_NERRNO(close(TAKE_FD(fd)));
        if (r < 0) {
                (void) unlink(f->temp);
                f->temp = mfree(f->temp);
        }
        return r;
}

static int commit_file(StagedFile *f, bool overwrite) {
        int r;

        if (overwrite)
                r = RET_NERRNO(rename(f->temp, f->path));
        else {
                r = RET_NERRNO(renameat2(AT_FDCWD, f->temp, AT_FDCWD, f->path, RENAME_NOREPLACE));
                if (r == -EINVAL || r == -ENOSYS) {
                        /* A file system without RENAME_NOREPLACE: link() does not replace either. */
                        r = RET_NERRNO(link(f->temp, f->path));
                        if (r >= 0)
                                (void) unlink(f->temp);
                }
        }
        if (r < 0)
                return r;
        f->committed = true;
        f->temp = mfree(f->temp);
        return 0;
}

static void sync_directory(const char *path) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0)
                (void) fsync(fd);
}

/* A planned file: its contents and mode. */
typedef struct FileSpec {
        const char *name;
        const Secret *data;
        mode_t mode;
} FileSpec;

/* Return: 0 when none of the files exists, -EEXIST with the path in *ret_path otherwise. */
static int find_existing(const char *dir, const FileSpec *specs, size_t n, char **ret_path,
                         char **ret_error) {
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *p = path_join(dir, specs[i].name);
                struct stat st;
                int r;

                if (!p)
                        return -ENOMEM;
                if (lstat(p, &st) >= 0) {
                        *ret_path = TAKE_PTR(p);
                        return -EEXIST;
                }
                r = negative_errno();
                if (r != -ENOENT && r != -ENOTDIR)
                        return error_set(ret_error, r, "cannot access '%s': %s", p, strerror(-r));
        }
        return 0;
}

/* Writes all of @specs into @dir, or none of them. */
static int write_files(const char *dir, const FileSpec *specs, size_t n, bool overwrite, char **ret_error) {
        StagedFile files[FILES_MAX] = {};
        int r = 0;

        if (n > ELEMENTSOF(files))
                return -E2BIG;
        for (size_t i = 0; i < n && r >= 0; i++) {
                char *p = path_join(dir, specs[i].name);

                if (!p)
                        r = -ENOMEM;
                else {
                        r = stage_file(&files[i], p, specs[i].data, specs[i].mode);
                        if (r < 0)
                                (void) error_set(ret_error, r, "cannot write '%s': %s", p, strerror(-r));
                }
        }
        for (size_t i = 0; i < n && r >= 0; i++) {
                r = commit_file(&files[i], overwrite);
                if (r == -EEXIST)
                        (void) error_set(ret_error, r, "'%s' already exists; use --force to replace it",
                                         files[i].path);
                else if (r < 0)
                        (void) error_set(ret_error, r, "cannot rename '%s' to '%s': %s", files[i].temp,
                                         files[i].path, strerror(-r));
        }
        if (r < 0)
                staged_files_rollback(files, n);
        else
                sync_directory(dir);
        for (size_t i = 0; i < n; i++)
                staged_file_done(&files[i]);
        return r;
}

/* ---- making and writing both ---- */

typedef struct Ca {
        Secret cert_pem; /* the file's bytes, copied next to each leaf */
        X509 *cert;
        EVP_PKEY *key;
} Ca;

static void ca_done(Ca *ca) {
        secret_wipe(&ca->cert_pem);
        X509_free(ca->cert);
        EVP_PKEY_free(ca->key);
        *ca = (Ca) {};
}

/*
 * What making a CA and a leaf have in common: a new key and certificate for @req (the CA's own
 * when @ca is NULL, a leaf signed by @ca otherwise), as PEM in @cert_pem and @key_pem, and then
 * all of @specs (which point at those) written into @dir. @dir is created 0700 when missing, and
 * removed again when writing fails.
 */
static int make_and_write(const char *dir, const CertRequest *req, const Ca *ca, Secret *cert_pem,
                          Secret *key_pem, const FileSpec *specs, size_t n_specs, char **ret_error) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        bool created = false;
        int r;

        r = generate_key(req->key_type, &key);
        if (r < 0)
                return error_set(ret_error, r, "cannot generate a %s key",
                                 cert_key_type_to_string(req->key_type));
        if (ca)
                r = make_certificate(req->name, key, ca->cert, ca->key, req, req->key_type, &cert);
        else
                r = make_certificate(CA_COMMON_NAME, key, NULL, key, req, req->key_type, &cert);
        if (r < 0 && ca)
                return error_set(ret_error, r, "cannot create the certificate for '%s'", req->name);
        if (r < 0)
                return error_set(ret_error, r, "cannot create the CA certificate");
        r = certificate_to_pem(cert, cert_pem);
        if (r >= 0)
                r = private_key_to_pem(key, key_pem);
        if (r < 0 && ca)
                return error_set(ret_error, r, "cannot encode the certificate for '%s' as PEM", req->name);
        if (r < 0)
                return error_set(ret_error, r, "cannot encode the CA as PEM");

        r = mkdir_p(dir, 0700, &created);
        if (r < 0)
                return error_set(ret_error, r, "cannot create directory '%s': %s", dir, strerror(-r));
        r = write_files(dir, specs, n_specs, req->overwrite, ret_error);
        if (r < 0 && created)
                (void) rmdir(dir);
        return r;
}

/* ---- the CA ---- */

static int create_ca(const char *dir, const CertRequest *req, char **ret_error) {
        _cleanup_(secret_wipe) Secret cert_pem = {}, key_pem = {};
        _cleanup_free_ char *existing = NULL;
        const FileSpec specs[] = {
                { CA_CERT_FILE, &cert_pem, 0644 },
                { CA_KEY_FILE, &key_pem, 0600 },
        };
        int r;

        r = validate_common(dir, req, ret_error);
        if (r < 0)
                return r;
        if (!req->overwrite) {
                r = find_existing(dir, specs, ELEMENTSOF(specs), &existing, ret_error);
                if (r == -EEXIST)
                        return error_set(ret_error, r,
                                         "a CA already exists in '%s' ('%s'); use --force to replace it "
                                         "(certificates it issued will then no longer verify)",
                                         dir, existing);
                if (r < 0)
                        return r;
        }
        return make_and_write(dir, req, NULL, &cert_pem, &key_pem, specs, ELEMENTSOF(specs), ret_error);
}

int certs_create_ca(const char *dir, const CertRequest *req, char **ret_error) {
        _cleanup_free_ char *error = NULL;

        return openssl_return(create_ca(dir, req, &error), &error, ret_error);
}

/* ---- leaves ---- */

static int read_ca_file(const char *dir, const char *name, const char *what, Secret *ret, char **ret_error) {
        _cleanup_free_ char *p = NULL;
        int r;

        p = path_join(dir, name);
        if (!p)
                return -ENOMEM;
        r = read_pem_file(p, &ret->data, &ret->size);
        if (r == -ENOENT)
                return error_set(ret_error, r, "no CA in '%s': '%s' does not exist", dir, p);
        if (r == -EFBIG || r == -EBADMSG)
                return error_set(ret_error, -EBADMSG, "%s '%s' is not a PEM file", what, p);
        if (r < 0)
                return error_set(ret_error, r, "cannot read %s '%s': %s", what, p, strerror(-r));
        return 0;
}

static int load_ca(const char *dir, Ca *ret, char **ret_error) {
        _cleanup_(ca_done) Ca ca = {};
        _cleanup_(secret_wipe) Secret key_pem = {};
        char date[ASN1_TIME_TEXT_MAX];
        int r;

        r = read_ca_file(dir, CA_CERT_FILE, "CA certificate", &ca.cert_pem, ret_error);
        if (r < 0)
                return r;
        r = read_ca_file(dir, CA_KEY_FILE, "CA key", &key_pem, ret_error);
        if (r < 0)
                return r;

        r = pem_to_certificate(ca.cert_pem.data, ca.cert_pem.size, &ca.cert);
        if (r == -EBADMSG)
                return error_set(ret_error, r, "cannot parse the CA certificate in '%s/%s'", dir,
                                 CA_CERT_FILE);
        if (r < 0)
                return r;
        r = pem_to_private_key(key_pem.data, key_pem.size, &ca.key);
        if (r == -EBADMSG || r == -ENOKEY)
                return error_set(ret_error, -EBADMSG,
                                 "cannot parse the CA key in '%s/%s' (it must not be encrypted)", dir,
                                 CA_KEY_FILE);
        if (r < 0)
                return r;

        if (X509_check_private_key(ca.cert, ca.key) != 1)
                return error_set(ret_error, -EKEYREJECTED,
                                 "CA key '%s/%s' does not belong to CA certificate '%s/%s'", dir,
                                 CA_KEY_FILE, dir, CA_CERT_FILE);
        if (X509_check_ca(ca.cert) == 0)
                return error_set(ret_error, -EKEYREJECTED, "'%s/%s' is not a CA certificate", dir,
                                 CA_CERT_FILE);
        if (X509_cmp_current_time(X509_get0_notAfter(ca.cert)) < 0)
                return error_set(ret_error, -EKEYEXPIRED, "the CA certificate '%s/%s' expired on %s", dir,
                                 CA_CERT_FILE, asn1_time_format(X509_get0_notAfter(ca.cert), date));

        *ret = ca;
        ca = (Ca) {};
        return 0;
}

static bool same_directory(const char *a, const char *b) {
        struct stat sa, sb;

        return stat(a, &sa) >= 0 && stat(b, &sb) >= 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int issue(const char *ca_dir, const char *out_dir, const CertRequest *req, char **ret_error) {
        _cleanup_(secret_wipe) Secret cert_pem = {}, key_pem = {};
        _cleanup_free_ char *dir = NULL, *cert_name = NULL, *key_name = NULL, *existing = NULL;
        _cleanup_(ca_done) Ca ca = {};
        int r;

        r = validate_leaf(ca_dir, req, ret_error);
        if (r < 0)
                return r;
        r = load_ca(ca_dir, &ca, ret_error);
        if (r < 0)
                return r;

        dir = path_join(isempty(out_dir) ? ca_dir : out_dir, req->name);
        if (asprintf(&cert_name, "%s-cert.pem", req->name) < 0)
                cert_name = NULL;
        if (asprintf(&key_name, "%s-key.pem", req->name) < 0)
                key_name = NULL;
        if (!dir || !cert_name || !key_name)
                return -ENOMEM;

        const FileSpec specs[] = {
                { cert_name, &cert_pem, 0644 },
                { key_name, &key_pem, 0600 },
                { CA_CERT_FILE, &ca.cert_pem, 0644 },
        };

        /* "--name ca --out CADIR/.." would put ca-key.pem over the CA's own key. */
        if (same_directory(dir, ca_dir))
                return error_set(ret_error, -EINVAL, "the certificate directory '%s' is the CA directory",
                                 dir);
        if (!req->overwrite) {
                r = find_existing(dir, specs, ELEMENTSOF(specs), &existing, ret_error);
                if (r == -EEXIST)
                        return error_set(ret_error, r, "'%s' already exists; use --force to replace it",
                                         existing);
                if (r < 0)
                        return r;
        }
        return make_and_write(dir, req, &ca, &cert_pem, &key_pem, specs, ELEMENTSOF(specs), ret_error);
}

int certs_issue(const char *ca_dir, const char *out_dir, const CertRequest *req, char **ret_error) {
        _cleanup_free_ char *error = NULL;

        return openssl_return(issue(ca_dir, out_dir, req, &error), &error, ret_error);
}

/* ---- describing ---- */

static void print_time(FILE *f, const char *label, const ASN1_TIME *t) {
        char buf[ASN1_TIME_TEXT_MAX];

        fprintf(f, "%s: %s\n", label, asn1_time_format(t, buf));
}

static void print_hex(FILE *f, const unsigned char *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%02X", i > 0 ? ":" : "", p[i]);
}

/* An empty name when OpenSSL runs out of memory: the rest is still worth seeing. */
static void print_name(FILE *f, const char *label, const X509_NAME *name) {
        _cleanup_free_ char *s = NULL;

        (void) x509_name_to_string(name, &s);
        fprintf(f, "%s: %s\n", label, strempty(s));
}

static void print_serial(FILE *f, const ASN1_INTEGER *serial) {
        _cleanup_(BN_freep) BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
        _cleanup_free_ unsigned char *bytes = NULL;
        int n;

        fputs("serial: ", f);
        if (bn) {
                n = BN_num_bytes(bn);
                bytes = malloc((size_t) MAX(n, 1));
                if (bytes && BN_bn2bin(bn, bytes) == n) {
                        if (BN_is_negative(bn))
                                fputc('-', f);
                        if (n == 0)
                                fputs("00", f);
                        print_hex(f, bytes, (size_t) n);
                }
        }
        fputc('\n', f);
}

static void print_key(FILE *f, EVP_PKEY *k) {
        char group[80];
        const char *nist;

        fputs("key: ", f);
        if (!k)
                fputs("(unreadable)", f);
        else if (EVP_PKEY_is_a(k, "ED25519"))
                fputs("Ed25519", f);
        else if (EVP_PKEY_is_a(k, "ED448"))
                fputs("Ed448", f);
        else if (EVP_PKEY_is_a(k, "EC")) {
                if (EVP_PKEY_get_group_name(k, group, sizeof(group), NULL) != 1)
                        strcpy(group, "(unknown curve)");
                nist = EC_curve_nid2nist(OBJ_sn2nid(group));
                fprintf(f, "ECDSA %s", nist ?: group);
        } else if (EVP_PKEY_is_a(k, "RSA") || EVP_PKEY_is_a(k, "RSA-PSS"))
                fprintf(f, "RSA %d", EVP_PKEY_get_bits(k));
        else
                fputs(strna(EVP_PKEY_get0_type_name(k)), f);
        fputc('\n', f);
}

static void print_key_usage(FILE *f, X509 *x) {
        static const struct {
                uint32_t bit;
                const char *name;
        } usages[] = {
                { KU_DIGITAL_SIGNATURE, "digital signature" },
                { KU_NON_REPUDIATION, "content commitment" },
                { KU_KEY_ENCIPHERMENT, "key encipherment" },
                { KU_DATA_ENCIPHERMENT, "data encipherment" },
                { KU_KEY_AGREEMENT, "key agreement" },
                { KU_KEY_CERT_SIGN, "certificate sign" },
                { KU_CRL_SIGN, "CRL sign" },
                { KU_ENCIPHER_ONLY, "encipher only" },
                { KU_DECIPHER_ONLY, "decipher only" },
        };
        uint32_t ku;
        bool first = true;

        if (!(X509_get_extension_flags(x) & EXFLAG_KUSAGE))
                return;
        ku = X509_get_key_usage(x);
        fputs("key usage:", f);
        for (size_t i = 0; i < ELEMENTSOF(usages); i++)
                if (ku & usages[i].bit) {
                        fprintf(f, "%s %s", first ? "" : ",", usages[i].name);
                        first = false;
                }
        fputc('\n', f);
}

static void print_extended_key_usage(FILE *f, X509 *x) {
        _cleanup_(EXTENDED_KEY_USAGE_freep) EXTENDED_KEY_USAGE *eku = NULL;

        eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
        if (!eku || sk_ASN1_OBJECT_num(eku) == 0)
                return;
        fputs("extended key usage:", f);
        for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
                const ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku, i);
                char oid[128];
                const char *name;

                switch (OBJ_obj2nid(o)) {
                case NID_server_auth:
                        name = "server auth";
                        break;
                case NID_client_auth:
                        name = "client auth";
                        break;
                case NID_code_sign:
                        name = "code signing";
                        break;
                case NID_email_protect:
                        name = "email protection";
                        break;
                case NID_time_stamp:
                        name = "time stamping";
                        break;
                case NID_OCSP_sign:
                        name = "OCSP signing";
                        break;
                case NID_anyExtendedKeyUsage:
                        name = "any";
                        break;
                default:
                        if (OBJ_obj2txt(oid, sizeof(oid), o, 1) <= 0)
                                strcpy(oid, "(unknown)");
                        name = oid;
                }
                fprintf(f, "%s %s", i > 0 ? "," : "", name);
        }
        fputc('\n', f);
}

static void print_list(FILE *f, const char *label, char **l) {
        if (!l || !l[0])
                return;
        fprintf(f, "%s: ", label);
        for (size_t i = 0; l[i]; i++)
                fprintf(f, "%s%s", i > 0 ? ", " : "", l[i]);
        fputc('\n', f);
}

static int describe_one(FILE *f, X509 *x) {
        _cleanup_(peer_identity_freep) PeerIdentity *id = NULL;
        _cleanup_(BIO_freep) BIO *bio = NULL;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        uint32_t flags;
        char *data;
        long n;
        int r;

        /* The SANs as the transport sees them: one parser for both. */
        bio = BIO_new(BIO_s_mem());
        if (!bio || PEM_write_bio_X509(bio, x) != 1)
                return -ENOMEM;
        n = BIO_get_mem_data(bio, &data);
        r = tls_peer_identity_from_pem(data, (size_t) MAX(n, 0L), &id);
        if (r < 0)
                return r;

        print_name(f, "subject", X509_get_subject_name(x));
        print_name(f, "issuer", X509_get_issuer_name(x));
        print_serial(f, X509_get0_serialNumber(x));
        print_time(f, "not before", X509_get0_notBefore(x));
        print_time(f, "not after", X509_get0_notAfter(x));
        print_key(f, X509_get0_pubkey(x));

        flags = X509_get_extension_flags(x);
        if (flags & EXFLAG_CA) {
                long pathlen = X509_get_pathlen(x);

                if (pathlen >= 0)
                        fprintf(f, "CA: yes (path length %ld)\n", pathlen);
                else
                        fputs("CA: yes\n", f);
        } else
                fputs("CA: no\n", f);

        print_list(f, "DNS names", id->dns_names);
        print_list(f, "IP addresses", id->ip_addresses);
        print_key_usage(f, x);
        print_extended_key_usage(f, x);

        if (X509_digest(x, EVP_sha256(), md, &md_len) != 1)
                return -EIO;
        fputs("SHA-256 fingerprint: ", f);
        print_hex(f, md, md_len);
        fputc('\n', f);

        if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
                fputs("status: EXPIRED\n", f);
        else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
                fputs("status: not yet valid\n", f);
        else
                fputs("status: valid\n", f);
        return 0;
}

static int describe(const char *path, char **ret_text, char **ret_error) {
        _cleanup_(secret_wipe) Secret pem = {};
        _cleanup_(BIO_freep) BIO *bio = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;
        unsigned count = 0;
        int r;

        if (isempty(path))
                return error_set(ret_error, -EINVAL, "no file given");
        r = read_pem_file(path, &pem.data, &pem.size);
        if (r == -EFBIG || r == -EBADMSG)
                return error_set(ret_error, -EBADMSG, "'%s' is not a PEM file", path);
        if (r < 0)
                return error_set(ret_error, r, "cannot read '%s': %s", path, strerror(-r));

        bio = BIO_new_mem_buf(pem.data, (int) pem.size);
        f = open_memstream(&text, &size);
        if (!bio || !f)
                return -ENOMEM;

        /* Every certificate of a chain or bundle, separated by a blank line. */
        for (;;) {
                _cleanup_(X509_freep) X509 *x = NULL;

                r = pem_read_next_certificate(bio, &x);
                if (r == 0)
                        break;
                if (r > 0) {
                        if (count > 0)
                                fputc('\n', f);
                        r = describe_one(f, x);
                }
                if (r == -EBADMSG)
                        return error_set(ret_error, r, "cannot parse certificate %u in '%s'", count + 1,
                                         path);
                if (r < 0)
                        return r;
                count++;
        }
        if (count == 0)
                return error_set(ret_error, -EBADMSG, "'%s' contains no PEM certificate", path);

        if (fclose(TAKE_PTR(f)) != 0)
                return -ENOMEM;
        *ret_text = TAKE_PTR(text);
        return 0;
}

int certs_describe(const char *path, char **ret_text, char **ret_error) {
        _cleanup_free_ char *error = NULL;

        return openssl_return(describe(path, ret_text, &error), &error, ret_error);
}
