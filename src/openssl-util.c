/* SPDX-License-Identifier: Apache-2.0 */

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "openssl-util.h"

/* A growing read buffer that is wiped before it is freed: it may hold a key. */
typedef struct Buffer {
        char *data;
        size_t size;
        size_t allocated;
} Buffer;

static void buffer_wipe(Buffer *b) {
        erase_and_free(b->data, b->allocated);
        *b = (Buffer) {};
}

static int buffer_reserve(Buffer *b, size_t n) {
        char *p;

        if (b->allocated >= n)
                return 0;
        /* No realloc(): it could leave a copy of key bytes in freed memory. */
        p = malloc(n);
        if (!p)
                return -ENOMEM;
        if (b->data) {
                memcpy(p, b->data, b->size);
                erase_and_free(b->data, b->allocated);
        }
        b->data = p;
        b->allocated = n;
        return 0;
}

int read_pem_file(const char *path, char **ret, size_t *ret_size) {
        _cleanup_(buffer_wipe) Buffer b = {};
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        ssize_t n;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;

        /* Room for the whole file, its NUL, and one byte to see EOF in. */
        r = buffer_reserve(&b, S_ISREG(st.st_mode) && (size_t) st.st_size <= PEM_FILE_MAX
                                       ? (size_t) st.st_size + 2
                                       : 4096);
        if (r < 0)
                return r;
        for (;;) {
                if (b.allocated - b.size < 2) {
                        r = buffer_reserve(&b, b.allocated * 2);
                        if (r < 0)
                                return r;
                }
                n = read(fd, b.data + b.size, b.allocated - b.size - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                b.size += (size_t) n;
                if (b.size > PEM_FILE_MAX)
                        return -EFBIG;
        }
        b.data[b.size] = '\0';
        if (memchr(b.data, '\0', b.size))
                return -EBADMSG;

        *ret_size = b.size;
        *ret = TAKE_PTR(b.data);
        b = (Buffer) {};
        return 0;
}

/* OpenSSL's default would prompt on the terminal. Remember that it was asked. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata) {
        bool *asked = userdata;

        if (asked)
                *asked = true;
        return -1;
}

/* True when the last OpenSSL error says "no (further) PEM block of that type". */
static bool pem_error_is_no_start_line(void) {
        unsigned long e = ERR_peek_last_error();

        return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

int pem_read_next_certificate(BIO *bio, X509 **ret) {
        X509 *x;

        x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
        if (!x) {
                if (!pem_error_is_no_start_line())
                        return -EBADMSG;
                /* The normal end of the stream, not an error: leave no trace
                 * that a later pem_error_is_no_start_line() could misread. */
                ERR_clear_error();
                return 0;
        }
        *ret = x;
        return 1;
}

/* A read-only memory BIO over @pem; -EBADMSG for what a BIO cannot address. */
static int pem_bio(const char *pem, size_t size, BIO **ret) {
        BIO *bio;

        if (size > INT_MAX)
                return -EBADMSG;
        bio = BIO_new_mem_buf(pem, (int) size);
        if (!bio)
                return -ENOMEM;
        *ret = bio;
        return 0;
}

int pem_to_certificate(const char *pem, size_t size, X509 **ret) {
        _cleanup_(BIO_freep) BIO *bio = NULL;
        X509 *x;
        int r;

        r = pem_bio(pem, size, &bio);
        if (r < 0)
                return r;
        r = pem_read_next_certificate(bio, &x);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;
        *ret = x;
        return 0;
}

int pem_to_private_key(const char *pem, size_t size, EVP_PKEY **ret) {
        _cleanup_(BIO_freep) BIO *bio = NULL;
        bool asked = false;
        EVP_PKEY *k;
        int r;

        r = pem_bio(pem, size, &bio);
        if (r < 0)
                return r;
        /* Reads PKCS#8 and the traditional RSA/EC forms alike. */
        k = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, &asked);
        if (!k)
                return asked ? -ENOKEY : -EBADMSG;
        *ret = k;
        return 0;
}

const char *asn1_time_format(const ASN1_TIME *t, char buf[static ASN1_TIME_TEXT_MAX]) {
        struct tm tm = {};

        if (ASN1_TIME_to_tm(t, &tm) != 1 ||
            strftime(buf, ASN1_TIME_TEXT_MAX, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                (void) snprintf(buf, ASN1_TIME_TEXT_MAX, "(invalid)");
        return buf;
}

int x509_name_to_string(const X509_NAME *name, char **ret) {
        _cleanup_(BIO_freep) BIO *bio = NULL;
        char *data = NULL, *s;
        long n;

        /* OpenSSL fails here only when it cannot allocate. */
        bio = BIO_new(BIO_s_mem());
        if (!bio)
                return -ENOMEM;
        if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) < 0)
                return -ENOMEM;
        n = BIO_get_mem_data(bio, &data);
        if (n < 0)
                return -ENOMEM;
        s = strndup(data ?: "", (size_t) n);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int openssl_return(int r, char **error, char **ret_error) {
        ERR_clear_error();
        if (r < 0 && ret_error)
                *ret_error = TAKE_PTR(*error) ?: strdup("out of memory");
        return r;
}
