// The system libsodium as SaMDKit uses it. Declarations only.
#ifndef CSAMD_SODIUM_SHIM_H
#define CSAMD_SODIUM_SHIM_H

#include <sodium.h>

// Compile-time gate: SaMDKit needs libsodium 1.0.18 or later, whose library
// version is 10.3 (crypto_core_ed25519 helpers, sodium_malloc guard pages,
// XChaCha20-Poly1305 IETF). The run-time gate is in SaMDCrypto (LibraryGate).
#if SODIUM_LIBRARY_VERSION_MAJOR < 10 || (SODIUM_LIBRARY_VERSION_MAJOR == 10 && SODIUM_LIBRARY_VERSION_MINOR < 3)
#error "SaMDKit needs libsodium >= 1.0.18 headers (Debian/Ubuntu: apt-get install libsodium-dev; Fedora: dnf install libsodium-devel; macOS: brew install libsodium)."
#endif

#endif
