#include "CSaMDShims_tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>

int CSaMDShims_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_min_proto_version(ctx, version); }
int CSaMDShims_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_max_proto_version(ctx, version); }
int CSaMDShims_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) { return (int)SSL_CTX_set1_groups_list(ctx, list); }
int CSaMDShims_SSL_CTX_set1_sigalgs_list(SSL_CTX *ctx, const char *list) { return (int)SSL_CTX_set1_sigalgs_list(ctx, list); }
long CSaMDShims_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_session_cache_mode(ctx, mode); }
long CSaMDShims_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
int CSaMDShims_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *x509) { return (int)SSL_CTX_add1_chain_cert(ctx, x509); }
int CSaMDShims_SSL_set_tlsext_host_name(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }
void CSaMDShims_BIO_set_mem_eof_return(BIO *bio, int value) { (void)BIO_set_mem_eof_return(bio, value); }

int CSaMDShims_SSL_CTX_copy_ticket_keys(SSL_CTX *from, SSL_CTX *to) {
    unsigned char keys[80];
    long length = SSL_CTX_get_tlsext_ticket_keys(from, NULL, 0);
    if (length <= 0 || length > (long)sizeof(keys)) return 0;
    if (SSL_CTX_get_tlsext_ticket_keys(from, keys, length) != 1) return 0;
    int ok = (int)SSL_CTX_set_tlsext_ticket_keys(to, keys, length);
    OPENSSL_cleanse(keys, sizeof(keys));
    return ok;
}

int CSaMDShims_ERR_GET_LIB(unsigned long code) { return ERR_GET_LIB(code); }
int CSaMDShims_ERR_GET_REASON(unsigned long code) { return ERR_GET_REASON(code); }

int CSaMDShims_sk_X509_num(const STACK_OF(X509) *stack) { return sk_X509_num(stack); }
X509 *CSaMDShims_sk_X509_value(const STACK_OF(X509) *stack, int index) { return sk_X509_value(stack, index); }
STACK_OF(X509) *CSaMDShims_sk_X509_new_null(void) { return sk_X509_new_null(); }
int CSaMDShims_sk_X509_push(STACK_OF(X509) *stack, X509 *x509) { return sk_X509_push(stack, x509); }
void CSaMDShims_sk_X509_pop_free(STACK_OF(X509) *stack) { sk_X509_pop_free(stack, X509_free); }

int CSaMDShims_sk_GENERAL_NAME_num(const GENERAL_NAMES *names) { return sk_GENERAL_NAME_num(names); }
GENERAL_NAME *CSaMDShims_sk_GENERAL_NAME_value(const GENERAL_NAMES *names, int index) { return sk_GENERAL_NAME_value(names, index); }
void CSaMDShims_GENERAL_NAMES_free(GENERAL_NAMES *names) { GENERAL_NAMES_free(names); }
int CSaMDShims_GENERAL_NAME_type(const GENERAL_NAME *name) { return name->type; }
const ASN1_STRING *CSaMDShims_GENERAL_NAME_string(const GENERAL_NAME *name) {
    switch (name->type) {
    case GEN_DNS: return name->d.dNSName;
    case GEN_URI: return name->d.uniformResourceIdentifier;
    case GEN_EMAIL: return name->d.rfc822Name;
    case GEN_IPADD: return name->d.iPAddress;
    default: return NULL;
    }
}

int CSaMDShims_sk_ASN1_OBJECT_num(const STACK_OF(ASN1_OBJECT) *stack) { return sk_ASN1_OBJECT_num(stack); }
ASN1_OBJECT *CSaMDShims_sk_ASN1_OBJECT_value(const STACK_OF(ASN1_OBJECT) *stack, int index) { return sk_ASN1_OBJECT_value(stack, index); }
void CSaMDShims_EXTENDED_KEY_USAGE_free(EXTENDED_KEY_USAGE *usage) { EXTENDED_KEY_USAGE_free(usage); }

int CSaMDShims_sk_X509_CRL_num(const STACK_OF(X509_CRL) *stack) { return sk_X509_CRL_num(stack); }

size_t CSaMDShims_BIO_pending(BIO *bio) { return BIO_ctrl_pending(bio); }

uint64_t CSaMDShims_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
uint64_t CSaMDShims_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
uint64_t CSaMDShims_SSL_OP_CIPHER_SERVER_PREFERENCE(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }
uint64_t CSaMDShims_SSL_OP_NO_TICKET(void) { return SSL_OP_NO_TICKET; }
unsigned long CSaMDShims_XN_FLAG_RFC2253_UTF8(void) { return XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB; }
SSL *CSaMDShims_SSL_from_X509_STORE_CTX(X509_STORE_CTX *ctx) {
    return (SSL *)X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
}
long CSaMDShims_SSL_CTX_sess_set_cache_size(SSL_CTX *ctx, long size) { return SSL_CTX_sess_set_cache_size(ctx, size); }
long CSaMDShims_SSL_CTX_sess_number(SSL_CTX *ctx) { return SSL_CTX_sess_number(ctx); }
long CSaMDShims_SSL_CTX_sess_get_cache_size(SSL_CTX *ctx) { return SSL_CTX_sess_get_cache_size(ctx); }
