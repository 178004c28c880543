// Wrappers for the OpenSSL macros and structure fields that SaMDTLS's strict chain checks
// (StrictChecks+OpenSSL.swift) need. Each reads one thing; the rules live in Swift.
#ifndef CSAMD_SHIMS_LIMBO_H
#define CSAMD_SHIMS_LIMBO_H

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The NID of the first extension of `x509` that OpenSSL knows how to decode but cannot decode
/// (a malformed extension value), 0 when every known extension decodes.
int CSaMDShims_X509_first_malformed_extension(X509 *x509);

/// The decoded name constraints of `x509`, or NULL when it has none (or they do not decode).
/// Free with CSaMDShims_NAME_CONSTRAINTS_free.
NAME_CONSTRAINTS *CSaMDShims_X509_get_name_constraints(X509 *x509);
void CSaMDShims_NAME_CONSTRAINTS_free(NAME_CONSTRAINTS *constraints);
/// The number of permitted (`excluded` 0) or excluded (`excluded` 1) subtrees; -1 when that field is absent.
int CSaMDShims_NAME_CONSTRAINTS_count(const NAME_CONSTRAINTS *constraints, int excluded);
/// The base name of one permitted or excluded subtree.
GENERAL_NAME *CSaMDShims_NAME_CONSTRAINTS_base(const NAME_CONSTRAINTS *constraints, int excluded, int index);

/// The number of access descriptions in the authorityInfoAccess extension of `x509`: -1 when absent.
int CSaMDShims_X509_authority_info_access_count(X509 *x509);

#ifdef __cplusplus
}
#endif

#endif
