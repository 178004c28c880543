// The OpenSSL 3.0 `pkcs11` ENGINE (libp11's engine, Debian package libengine-pkcs11-openssl): loads a private key
// held in a PKCS#11 token by RFC 7512 URI. ENGINE is deprecated in OpenSSL 3; its use is confined to engine.c.
#ifndef CSAMD_SHIMS_ENGINE_H
#define CSAMD_SHIMS_ENGINE_H

#include <stddef.h>
#include <openssl/evp.h>

#ifdef __cplusplus
extern "C" {
#endif

/// How CSaMDShims_pkcs11_engine_load_private_key ended.
typedef enum {
    CSAMD_PKCS11_ENGINE_OK = 0,
    /// ENGINE_by_id("pkcs11") failed: the engine is not in OpenSSL's engines directory ($OPENSSL_ENGINES or ENGINESDIR).
    CSAMD_PKCS11_ENGINE_MISSING = 1,
    /// The engine refused a control command (MODULE_PATH, PIN, QUIET).
    CSAMD_PKCS11_ENGINE_CONTROL_FAILED = 2,
    /// ENGINE_init failed.
    CSAMD_PKCS11_ENGINE_INIT_FAILED = 3,
    /// ENGINE_load_private_key returned no key; the OpenSSL error queue says why.
    CSAMD_PKCS11_ENGINE_LOAD_FAILED = 4,
    /// The engine is already bound to another module path in this process.
    CSAMD_PKCS11_ENGINE_OTHER_MODULE_BOUND = 5,
    /// An argument was NULL or too long.
    CSAMD_PKCS11_ENGINE_INVALID_ARGUMENT = 6,
} CSaMDShims_pkcs11_engine_status;

/// Loads the private key `key_uri` (an RFC 7512 URI with path attributes only) through the `pkcs11` engine bound to
/// `module_path`. The engine is bound to the first module path used in the process, initialised and kept for the life
/// of the process (finishing it would C_Finalize the module under the keys and sessions still using it); another
/// module path is then refused (CSAMD_PKCS11_ENGINE_OTHER_MODULE_BOUND): OpenSSL lists one instance of an engine id
/// and libp11 loads its module once. The PIN (`pin_length` bytes, no NUL
/// needed) is given with the engine's PIN control for this load only and replaced by an empty one afterwards, so
/// that the engine keeps no copy; the temporary NUL-terminated copy made here is cleansed. Serialised by a lock.
/// Returns the key (the caller owns one reference) or NULL with `*status` set.
EVP_PKEY *CSaMDShims_pkcs11_engine_load_private_key(
    const char *module_path, const char *key_uri, const unsigned char *pin, size_t pin_length, int *status);

/// The module path the engine is bound to, or NULL before the first load.
const char *CSaMDShims_pkcs11_engine_bound_module_path(void);

/// Whether a token labelled `label` (at most 32 bytes, CK_TOKEN_INFO.label without its blank padding) is present in
/// the module at `module_path`, as the module already loaded and initialised in this process (by the engine) sees it:
/// 1 present, 0 absent, -1 unknown (the module is not loaded, or a call failed). Never loads, initialises or finalises
/// the module itself.
int CSaMDShims_pkcs11_engine_token_present(const char *module_path, const char *label);

#ifdef __cplusplus
}
#endif

#endif
