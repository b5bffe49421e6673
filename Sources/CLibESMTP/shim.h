#ifndef EVENTLY_CLIBESMTP_SHIM_H
#define EVENTLY_CLIBESMTP_SHIM_H

// libesmtp's headers use size_t and auth_context_t without including what defines them, and
// declare smtp_starttls_set_ctx only when OpenSSL's header came first.
#include <stdarg.h>
#include <stddef.h>
#include <strings.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <auth-client.h>
#include <libesmtp.h>

// A macro in libesmtp.h, which Swift cannot call.
static inline int evently_smtp_set_message_str(smtp_message_t message, const char *text) {
    return smtp_set_message_str(message, (void *)text);
}

// An SSL context that verifies the server's chain against the system's trust store or
// `ca_file`, and its name (or IP address) against `host`. Returns NULL when OpenSSL cannot make
// one or the trust store does not load.
static inline SSL_CTX *evently_smtp_tls_context(const char *ca_file, const char *host) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int loaded = ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx);
    if (loaded != 1) { SSL_CTX_free(ctx); return NULL; }
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1) {
        X509_VERIFY_PARAM_set1_host(param, host, 0);
    }
    return ctx;
}

// The newest OpenSSL error of this thread as text (empty when none), clearing the queue.
static inline void evently_tls_last_error(char *buffer, size_t length) {
    unsigned long code = ERR_peek_last_error();
    if (code != 0) ERR_error_string_n(code, buffer, length); else if (length > 0) buffer[0] = 0;
    ERR_clear_error();
}

// What libesmtp reported through its (variadic, so C-only) event callback.
typedef struct {
    int starttls_missing;
    int certificate_event;
    // Inside an AUTH exchange (from "AUTH ..." to its final, non-334 reply).
    int in_auth;
    // That final reply's code (235 = authenticated), 0 when no AUTH was tried.
    int auth_reply;
} evently_smtp_events;

static void evently_smtp_event_callback(smtp_session_t session, int event, void *arg, ...) {
    (void)session;
    evently_smtp_events *events = (evently_smtp_events *)arg;
    switch (event) {
    case SMTP_EV_EXTNA_STARTTLS:
        events->starttls_missing = 1;
        break;
    case SMTP_EV_WRONG_PEER_CERTIFICATE: {
        // libesmtp's own name check knows DNS names only (a certificate for 127.0.0.1 fails
        // it). OpenSSL has already checked the chain and the name or IP address, set on the
        // context by evently_smtp_tls_context, or the handshake would not have got here.
        va_list arguments;
        va_start(arguments, arg);
        int *ok = va_arg(arguments, int *);
        va_end(arguments);
        *ok = 1;
        break;
    }
    case SMTP_EV_INVALID_PEER_CERTIFICATE:
    case SMTP_EV_NO_PEER_CERTIFICATE:
    case SMTP_EV_UNUSABLE_CA_LIST:
        // The variadic "ok" flag stays 0: the session is refused.
        events->certificate_event = event;
        break;
    default:
        break;
    }
}

// libesmtp moves on to MAIL FROM, unauthenticated, when AUTH fails: watching the protocol is
// the only way to learn that the credentials were refused.
static void evently_smtp_monitor_callback(const char *buffer, int length, int writing, void *arg) {
    evently_smtp_events *events = (evently_smtp_events *)arg;
    if (writing == SMTP_CB_WRITING) {
        if (length >= 5 && strncasecmp(buffer, "AUTH ", 5) == 0) events->in_auth = 1;
    } else if (writing == SMTP_CB_READING && events->in_auth && length >= 3
               && buffer[0] >= '0' && buffer[0] <= '9' && buffer[1] >= '0' && buffer[1] <= '9'
               && buffer[2] >= '0' && buffer[2] <= '9') {
        int code = (buffer[0] - '0') * 100 + (buffer[1] - '0') * 10 + (buffer[2] - '0');
        if (code != 334) {
            events->auth_reply = code;
            events->in_auth = 0;
        }
    }
}

static inline void evently_smtp_record_events(smtp_session_t session, evently_smtp_events *events) {
    smtp_set_eventcb(session, evently_smtp_event_callback, events);
    smtp_set_monitorcb(session, evently_smtp_monitor_callback, events, 0);
}

#endif
