/* SPDX-License-Identifier: Apache-2.0 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "error-util.h"
#include "openssl-util.h"
#include "thread-util.h"
#include "tls-probe.h"
#include "tls.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(SSL_CTX *, SSL_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(SSL *, SSL_free);

/* Waits until @fd is ready for @events or @deadline (monotonic µs) passes. */
static int wait_fd(int fd, short events, uint64_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                uint64_t now = now_monotonic_usec();
                int r;

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) MIN((deadline - now + 999) / 1000, (uint64_t) INT32_MAX));
                if (r > 0)
                        return 0;
                if (r < 0 && errno != EINTR)
                        return -errno;
        }
}

static int connect_to(const Address *a, const char *where, uint64_t deadline, int *ret_fd,
                      char **ret_reason) {
        struct sockaddr_storage storage = {};
        socklen_t len = 0;
        _cleanup_close_ int fd = -EBADF;
        int r, error = 0;
        socklen_t error_len = sizeof(error);

        if (a->kind == ADDRESS_TCP) {
                struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
                struct addrinfo *result = NULL;
                char port[8];

                (void) snprintf(port, sizeof(port), "%u", a->port);
                r = getaddrinfo(a->host, port, &hints, &result);
                if (r != 0)
                        return error_set(ret_reason, -EHOSTUNREACH, "cannot resolve '%s': %s", a->host,
                                         gai_strerror(r));
                memcpy(&storage, result->ai_addr, result->ai_addrlen);
                len = result->ai_addrlen;
                freeaddrinfo(result);
        } else {
                struct sockaddr_un *un = (struct sockaddr_un *) &storage;
                size_t n = strlen(a->path);
                size_t offset = a->kind == ADDRESS_UNIX_ABSTRACT ? 1 : 0;

                if (n + offset >= sizeof(un->sun_path))
                        return error_set(ret_reason, -ENAMETOOLONG, "the socket path of %s is too long",
                                         where);
                un->sun_family = AF_UNIX;
                memcpy(un->sun_path + offset, a->path, n);
                len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + offset + n + (offset ? 0 : 1));
        }

        fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return error_set(ret_reason, -errno, "cannot create a socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *) &storage, len) < 0) {
                if (errno != EINPROGRESS)
                        return error_set(ret_reason, -errno, "cannot connect to %s: %s", where,
                                         strerror(errno));
                r = wait_fd(fd, POLLOUT, deadline);
                if (r < 0)
                        return error_set(ret_reason, r, "no answer from %s within the timeout", where);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_len) < 0)
                        return error_set(ret_reason, -errno, "cannot connect to %s: %s", where,
                                         strerror(errno));
                if (error != 0)
                        return error_set(ret_reason, -error, "cannot connect to %s: %s", where,
                                         strerror(error));
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The names a certificate is for, for "it is for …". */
static char *certificate_names(X509 *cert) {
        _cleanup_(peer_identity_freep) PeerIdentity *id = NULL;
        _cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_mem());
        char *data = NULL, *names = NULL;
        long n;

        if (!bio || PEM_write_bio_X509(bio, cert) != 1)
                return NULL;
        n = BIO_get_mem_data(bio, &data);
        if (n <= 0 || tls_peer_identity_from_pem(data, (size_t) n, &id) < 0)
                return NULL;
        for (char **p = id->dns_names; *p; p++) {
                char *joined;

                if (asprintf(&joined, "%s%s'%s'", strempty(names), names ? ", " : "", *p) < 0)
                        return mfree(names);
                free(names);
                names = joined;
        }
        if (!names && id->common_name && asprintf(&names, "'%s' (its CN)", id->common_name) < 0)
                return NULL;
        return names;
}

/* Keeps the server's certificate for messages: after a failed verification OpenSSL drops it. */
static int keep_leaf(int preverify_ok, X509_STORE_CTX *store) {
        SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
        X509 **leaf = ssl ? SSL_get_app_data(ssl) : NULL;
        X509 *cert = X509_STORE_CTX_get0_cert(store);

        if (leaf && !*leaf && cert && X509_up_ref(cert) == 1)
                *leaf = cert;
        return preverify_ok;
}

static bool is_ip(const char *s) {
        unsigned char buf[sizeof(struct in6_addr)];

        return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Turns a failed handshake into a sentence. */
static int handshake_failure(SSL *ssl, X509 *leaf, const char *where, const char *tls_name,
                             const char *ca_path, const char *cert_path, char **ret_reason) {
        long verify = SSL_get_verify_result(ssl);
        unsigned long e = ERR_peek_last_error();
        /* A failed read or write of the socket itself: 0, as when OpenSSL says nothing. */
        int reason = ERR_GET_LIB(e) == ERR_LIB_SYS ? 0 : ERR_GET_REASON(e);

        if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
                _cleanup_free_ char *names = NULL;

                if (leaf)
                        names = certificate_names(leaf);
                return error_set(ret_reason, -EKEYREJECTED,
                                 "the certificate of %s is not for '%s' but for %s: "
                                 "give its name with --name",
                                 where, tls_name, names ?: "other names");
        }
        if (verify != X509_V_OK)
                return error_set(ret_reason, -EKEYREJECTED,
                                 "the certificate of %s cannot be verified with the CA in '%s': %s%s",
                                 where, ca_path, X509_verify_cert_error_string(verify),
                                 IN_SET(verify, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
                                        X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                                        X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
                                         ? " (another CA issued it)"
                                         : "");
        switch (reason) {
        case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
        case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
        case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
        case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
                return error_set(ret_reason, -EKEYREJECTED,
                                 "%s refused our certificate '%s' (%s): "
                                 "it does not trust the CA that issued it",
                                 where, cert_path, ERR_reason_error_string(e));
        case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
                return error_set(ret_reason, -EPROTO, "%s speaks TLS but not gRPC (no HTTP/2)", where);
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_PACKET_LENGTH_TOO_LONG:
                /* What came back is no TLS record: a plaintext gRPC server answers with HTTP/2. */
                return error_set(ret_reason, -EPROTO,
                                 "%s does not answer TLS: if it runs without TLS, add --notls", where);
        case 0: /* no word from OpenSSL: the connection was closed or reset */
        case SSL_R_UNEXPECTED_EOF_WHILE_READING:
                /* No TLS answer and no HTTP/2 one either, which no gRPC server does. */
                return error_set(ret_reason, -ECONNRESET,
                                 "%s closed the connection during the TLS handshake "
                                 "(is it shutting down, or not a gRPC server?)", where);
        default:
                return error_set(ret_reason, -EPROTO, "the TLS handshake with %s failed: %s", where,
                                 strna(ERR_reason_error_string(e)));
        }
}

/* Without TLS: does the server answer HTTP/2, or does it expect TLS? */
static int probe_plaintext(int fd, const char *where, uint64_t deadline, char **ret_reason) {
        static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
        unsigned char answer[9];
        ssize_t n;

        if (send(fd, preface, sizeof(preface) - 1, MSG_NOSIGNAL) < 0)
                return error_set(ret_reason, -errno, "%s closed the connection: %s", where, strerror(errno));
        if (wait_fd(fd, POLLIN, deadline) < 0)
                return error_set(ret_reason, 0, "%s accepts connections", where);
        n = recv(fd, answer, sizeof(answer), 0);
        /* An HTTP/2 server answers with its SETTINGS frame (type 4); a TLS server with an alert
         * record (0x15) or by hanging up. */
        if (n >= 4 && answer[3] == 4)
                return error_set(ret_reason, 0, "%s answers HTTP/2 without TLS", where);
        return error_set(ret_reason, -EPROTO,
                         "%s does not answer without TLS: it probably expects TLS, so leave out --notls",
                         where);
}

static int probe(const Address *address, const char *where, const char *tls_name, const char *ca_path,
                 const char *cert_path, const char *key_path, int64_t timeout_ms, char **ret_reason) {
        static const unsigned char alpn[] = "\x02h2";
        uint64_t deadline = now_monotonic_usec() + (uint64_t) MAX(timeout_ms, 1) * USEC_PER_MSEC;
        _cleanup_(SSL_CTX_freep) SSL_CTX *ctx = NULL;
        _cleanup_(SSL_freep) SSL *ssl = NULL;
        _cleanup_(X509_freep) X509 *leaf = NULL;
        _cleanup_close_ int fd = -EBADF;
        const unsigned char *selected = NULL;
        unsigned selected_len = 0;
        char byte;
        int r;

        r = connect_to(address, where, deadline, &fd, ret_reason);
        if (r < 0)
                return r;
        if (!ca_path)
                return probe_plaintext(fd, where, deadline, ret_reason);

        ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
                return -ENOMEM;
        if (SSL_CTX_load_verify_locations(ctx, ca_path, NULL) != 1 ||
            SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1)
                return error_set(ret_reason, -EBADMSG, "cannot load '%s', '%s' or '%s' again", ca_path,
                                 cert_path, key_path);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, keep_leaf);
        if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0)
                return -ENOMEM;

        ssl = SSL_new(ctx);
        if (!ssl || SSL_set_fd(ssl, fd) != 1)
                return -ENOMEM;
        SSL_set_app_data(ssl, &leaf);
        if (is_ip(tls_name)) {
                if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), tls_name) != 1)
                        return -ENOMEM;
        } else if (SSL_set1_host(ssl, tls_name) != 1 || SSL_set_tlsext_host_name(ssl, tls_name) != 1)
                return -ENOMEM;

        for (;;) {
                int k = SSL_connect(ssl), err;

                if (k == 1)
                        break;
                err = SSL_get_error(ssl, k);
                if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
                        return handshake_failure(ssl, leaf, where, tls_name, ca_path, cert_path, ret_reason);
                r = wait_fd(fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
                if (r < 0)
                        return error_set(ret_reason, r, "%s accepted the connection but the TLS handshake "
                                         "did not finish in time", where);
        }

        SSL_get0_alpn_selected(ssl, &selected, &selected_len);
        if (selected_len != 2 || memcmp(selected, "h2", 2) != 0)
                return error_set(ret_reason, -EPROTO, "%s speaks TLS but not gRPC (no HTTP/2)", where);

        /* With TLS 1.3 the server checks our certificate after our side is done: its verdict (an
         * alert, or its HTTP/2 settings) is the first thing to read. */
        for (;;) {
                int k = SSL_peek(ssl, &byte, 1), err;

                if (k > 0)
                        break;
                err = SSL_get_error(ssl, k);
                if (err == SSL_ERROR_ZERO_RETURN)
                        return error_set(ret_reason, -ECONNRESET,
                                         "%s closed the connection after the TLS handshake", where);
                if (err == SSL_ERROR_SYSCALL ||
                    (err == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_last_error()) ==
                                                     SSL_R_UNEXPECTED_EOF_WHILE_READING))
                        /* Hung up without a word, right after checking our certificate. */
                        return error_set(ret_reason, -EKEYREJECTED,
                                         "%s closed the connection after the TLS handshake: it does not "
                                         "accept our certificate '%s' (it trusts only its own CA)",
                                         where, cert_path);
                if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
                        return handshake_failure(ssl, leaf, where, tls_name, ca_path, cert_path, ret_reason);
                if (wait_fd(fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) < 0)
                        break; /* silent, but it kept the connection: no complaint about us */
        }
        return error_set(ret_reason, 0, "the TLS handshake with %s succeeds", where);
}

/*
 * OpenSSL's socket BIO writes with write(2): a server that hangs up while we
 * write (an admin shutting down) must get a message, not SIGPIPE killing the
 * process. The signal is blocked in this thread while we probe, and one that
 * came meanwhile is taken back, so the caller's disposition stays untouched.
 */
static int probe_without_sigpipe(const Address *address, const char *where, const char *tls_name,
                                 const char *ca_path, const char *cert_path, const char *key_path,
                                 int64_t timeout_ms, char **ret_reason) {
        static const struct timespec no_wait = {};
        sigset_t sigpipe, saved, pending;
        bool was_pending;
        int r;

        (void) sigemptyset(&sigpipe);
        (void) sigaddset(&sigpipe, SIGPIPE);
        was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
        (void) pthread_sigmask(SIG_BLOCK, &sigpipe, &saved); /* fails only for a bad 'how' */

        r = probe(address, where, tls_name, ca_path, cert_path, key_path, timeout_ms, ret_reason);

        if (!was_pending)
                while (sigtimedwait(&sigpipe, NULL, &no_wait) == SIGPIPE)
                        ;
        (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
        return r;
}

int tls_probe(const Address *address, const char *tls_name, const char *ca_path, const char *cert_path,
              const char *key_path, int64_t timeout_ms, char **ret_reason) {
        _cleanup_free_ char *where = NULL, *reason = NULL;
        int r;

        where = address_to_string(address);
        if (!where)
                return -ENOMEM;
        r = probe_without_sigpipe(address, where, tls_name ?: address_default_tls_name(address), ca_path,
                                  cert_path, key_path, timeout_ms, &reason);
        if (r < 0)
                return openssl_return(r, &reason, ret_reason);
        ERR_clear_error();
        if (!reason)
                return -ENOMEM;
        *ret_reason = TAKE_PTR(reason);
        return 0;
}
