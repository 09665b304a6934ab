// OpenSSL (apt: libssl-dev) for TLS on the loop through memory BIOs. Only small static-inline
// wrappers for what OpenSSL exposes as macros, which Swift cannot call.
#ifndef TITAN_OPENSSL_SHIM_H
#define TITAN_OPENSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>

/// TLS 1.2 at least; no compression, no renegotiation; small idle connections (buffers released
/// while nothing is in flight); no session tickets (every connection authenticates afresh).
static inline int titan_ssl_ctx_configure(SSL_CTX *ctx) {
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) return 0;
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    return 1;
}

/// Server Name Indication for a DNS name (never for an IP literal).
static inline int titan_ssl_set_sni(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/// Bytes waiting in a memory BIO.
static inline size_t titan_bio_pending(BIO *bio) {
    return BIO_ctrl_pending(bio);
}

/// The reason string of an OpenSSL error code (e.g. "certificate verify failed").
static inline const char *titan_err_reason(unsigned long code) {
    return ERR_reason_error_string(code);
}

/// The TLS alert number carried in an SSL_R_* reason for an alert received from the peer
/// (OpenSSL encodes them as SSL_AD_REASON_OFFSET + alert), or -1.
static inline int titan_err_alert(unsigned long code) {
    int reason = ERR_GET_REASON(code);
    if (ERR_GET_LIB(code) == ERR_LIB_SSL && reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256)
        return reason - SSL_AD_REASON_OFFSET;
    return -1;
}

/// True for "certificate verify failed": this end refused the peer's certificate.
static inline int titan_err_verify_failed(unsigned long code) {
    return ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

/// True for "wrong version number"/"packet length too long"/"http request": the peer did not
/// speak TLS at all.
static inline int titan_err_not_tls(unsigned long code) {
    if (ERR_GET_LIB(code) != ERR_LIB_SSL) return 0;
    int reason = ERR_GET_REASON(code);
    return reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG
        || reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST
        || reason == SSL_R_UNKNOWN_PROTOCOL || reason == SSL_R_RECORD_LENGTH_MISMATCH;
}

/// Verification as OpenSSL does it, but the peer's own certificate is kept (in the SSL's app
/// data slot) when it fails, so the error can say what names the certificate is for.
static inline int titan_verify_callback(int ok, X509_STORE_CTX *store) {
    if (!ok && X509_STORE_CTX_get_error_depth(store) == 0) {
        SSL *ssl = (SSL *)X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
        X509 *cert = X509_STORE_CTX_get_current_cert(store);
        if (ssl != NULL && cert != NULL && SSL_get_app_data(ssl) == NULL && X509_up_ref(cert) == 1)
            SSL_set_app_data(ssl, cert);
    }
    return ok;
}

static inline void titan_ssl_ctx_verify_peer(SSL_CTX *ctx) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, titan_verify_callback);
}

/// The peer certificate that failed verification, if any (owned by the SSL until
/// titan_ssl_release_failed_cert).
static inline X509 *titan_ssl_failed_cert(SSL *ssl) {
    return (X509 *)SSL_get_app_data(ssl);
}

static inline void titan_ssl_release_failed_cert(SSL *ssl) {
    X509 *cert = (X509 *)SSL_get_app_data(ssl);
    if (cert != NULL) {
        SSL_set_app_data(ssl, NULL);
        X509_free(cert);
    }
}

#endif
