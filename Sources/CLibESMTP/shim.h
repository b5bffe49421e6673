#ifndef EVENTLY_CLIBESMTP_SHIM_H
#define EVENTLY_CLIBESMTP_SHIM_H

// libesmtp's headers use size_t and auth_context_t without including what defines them, and
// declare smtp_starttls_set_ctx only when OpenSSL's header came first.
#include <stddef.h>
#include <openssl/ssl.h>
#include <auth-client.h>
#include <libesmtp.h>

// A macro in libesmtp.h, which Swift cannot call.
static inline int evently_smtp_set_message_str(smtp_message_t message, const char *text) {
    return smtp_set_message_str(message, (void *)text);
}

// An SSL context that verifies the server against the system's trust store or `ca_file`.
// Returns NULL when OpenSSL cannot make one or the file does not load.
static inline SSL_CTX *evently_smtp_tls_context(const char *ca_file) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int loaded = ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx);
    if (loaded != 1) { SSL_CTX_free(ctx); return NULL; }
    return ctx;
}

#endif
