// The system OpenSSL as SaMDKit uses it. Declarations only.
#ifndef CSAMD_OPENSSL_SHIM_H
#define CSAMD_OPENSSL_SHIM_H

#include <openssl/opensslv.h>

// Compile-time gate: SaMDKit needs OpenSSL 3.0 or later (providers, EVP_KDF,
// OSSL_PARAM). The run-time gate is in SaMDCrypto (LibraryGate).
#if !defined(OPENSSL_VERSION_MAJOR) || OPENSSL_VERSION_MAJOR < 3
#error "SaMDKit needs OpenSSL >= 3.0 headers (Debian/Ubuntu: apt-get install libssl-dev; Fedora: dnf install openssl-devel; macOS: brew install openssl@3)."
#endif
#if defined(LIBRESSL_VERSION_NUMBER) || defined(OPENSSL_IS_BORINGSSL)
#error "SaMDKit needs OpenSSL 3 itself, not LibreSSL or BoringSSL."
#endif

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>

#endif
