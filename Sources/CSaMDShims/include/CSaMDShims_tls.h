// Wrappers for the OpenSSL function-like macros and inline functions that SaMDTLS needs.
// Each is a one-line call to the macro it names; no logic lives here.
#ifndef CSAMD_SHIMS_TLS_H
#define CSAMD_SHIMS_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#ifdef __cplusplus
extern "C" {
#endif

int CSaMDShims_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version);
int CSaMDShims_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version);
int CSaMDShims_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list);
int CSaMDShims_SSL_CTX_set1_sigalgs_list(SSL_CTX *ctx, const char *list);
long CSaMDShims_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode);
long CSaMDShims_SSL_CTX_sess_set_cache_size(SSL_CTX *ctx, long size);
long CSaMDShims_SSL_CTX_sess_number(SSL_CTX *ctx);
long CSaMDShims_SSL_CTX_sess_get_cache_size(SSL_CTX *ctx);
long CSaMDShims_SSL_CTX_set_mode(SSL_CTX *ctx, long mode);
/// SSL_CTX_add1_chain_cert: appends `x509` to the context's chain (up-referencing it).
int CSaMDShims_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *x509);
int CSaMDShims_SSL_set_tlsext_host_name(SSL *ssl, const char *name);
void CSaMDShims_BIO_set_mem_eof_return(BIO *bio, int value);
/// Copies the ticket-encryption keys of `from` into `to` (48 bytes in OpenSSL 3.0: name, HMAC and AES keys).
int CSaMDShims_SSL_CTX_copy_ticket_keys(SSL_CTX *from, SSL_CTX *to);

int CSaMDShims_ERR_GET_LIB(unsigned long code);
int CSaMDShims_ERR_GET_REASON(unsigned long code);

int CSaMDShims_sk_X509_num(const STACK_OF(X509) *stack);
X509 *CSaMDShims_sk_X509_value(const STACK_OF(X509) *stack, int index);
STACK_OF(X509) *CSaMDShims_sk_X509_new_null(void);
int CSaMDShims_sk_X509_push(STACK_OF(X509) *stack, X509 *x509);
/// Frees the stack and releases one reference of each certificate in it.
void CSaMDShims_sk_X509_pop_free(STACK_OF(X509) *stack);

int CSaMDShims_sk_GENERAL_NAME_num(const GENERAL_NAMES *names);
GENERAL_NAME *CSaMDShims_sk_GENERAL_NAME_value(const GENERAL_NAMES *names, int index);
void CSaMDShims_GENERAL_NAMES_free(GENERAL_NAMES *names);
/// The fields of one GENERAL_NAME that SaMDTLS reads: its type and, for string types, the ASN1_STRING.
int CSaMDShims_GENERAL_NAME_type(const GENERAL_NAME *name);
const ASN1_STRING *CSaMDShims_GENERAL_NAME_string(const GENERAL_NAME *name);

int CSaMDShims_sk_ASN1_OBJECT_num(const STACK_OF(ASN1_OBJECT) *stack);
ASN1_OBJECT *CSaMDShims_sk_ASN1_OBJECT_value(const STACK_OF(ASN1_OBJECT) *stack, int index);
void CSaMDShims_EXTENDED_KEY_USAGE_free(EXTENDED_KEY_USAGE *usage);

int CSaMDShims_sk_X509_CRL_num(const STACK_OF(X509_CRL) *stack);

/// SSL_OP_* option bits (function-like macros in OpenSSL 3).
uint64_t CSaMDShims_SSL_OP_NO_COMPRESSION(void);
uint64_t CSaMDShims_SSL_OP_NO_RENEGOTIATION(void);
uint64_t CSaMDShims_SSL_OP_CIPHER_SERVER_PREFERENCE(void);
uint64_t CSaMDShims_SSL_OP_NO_TICKET(void);
/// XN_FLAG_RFC2253 without escaping multibyte characters (names print as UTF-8).
unsigned long CSaMDShims_XN_FLAG_RFC2253_UTF8(void);
/// SSL_get_ex_data_X509_STORE_CTX_idx() then X509_STORE_CTX_get_ex_data: the SSL that a verification runs for.
SSL *CSaMDShims_SSL_from_X509_STORE_CTX(X509_STORE_CTX *ctx);

/// The number of bytes waiting to be read from a memory BIO.
size_t CSaMDShims_BIO_pending(BIO *bio);

#ifdef __cplusplus
}
#endif

#endif
