// Prefixed C wrappers for what Swift cannot call directly: OpenSSL function-like
// macros, and a few platform probes for the runtime report. Nothing else.
#ifndef CSAMD_SHIMS_H
#define CSAMD_SHIMS_H

#include <stddef.h>

// The umbrella header of module CSaMDShims: the other headers of this folder are included here.
#include "CSaMDShims_tls.h"
#include "CSaMDShims_limbo.h"
#include "CSaMDShims_pkcs11.h"
#include "CSaMDShims_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/// The identity of the file at `path`, following symbolic links (stat(2)): out[0] device, out[1] inode, out[2]
/// size in bytes, out[3] and out[4] the modification time's seconds and nanoseconds. Returns 0, or -1 with errno.
/// (In C because `struct timespec`'s members reach Swift through more than one module.)
int CSaMDShims_file_identity(const char *path, long long out[5]);

/// Sleeps `nanoseconds` (nanosleep(2)); returns early on a signal.
void CSaMDShims_sleep_nanoseconds(long long nanoseconds);

/// OPENSSL_VERSION_NUMBER of the headers SaMDKit was compiled against.
unsigned long CSaMDShims_OPENSSL_VERSION_NUMBER(void);

/// OPENSSL_free(ptr): frees memory that OpenSSL allocated for the caller.
void CSaMDShims_OPENSSL_free(void *ptr);

/// The path of the shared object that holds `SSL_new` (libssl), or NULL.
const char *CSaMDShims_libssl_path(void);

/// The path of the shared object that holds `EVP_EncryptInit_ex` (libcrypto), or NULL.
const char *CSaMDShims_libcrypto_path(void);

/// The path of the shared object that holds `sodium_init` (libsodium), or NULL.
const char *CSaMDShims_libsodium_path(void);

/// Whether the CPU offers AES instructions: 1 yes, 0 no, -1 unknown on this architecture.
int CSaMDShims_cpu_has_aes_instructions(void);

/// The name of the environment variable through which OpenSSL lets a user mask
/// CPU capabilities on this architecture ("OPENSSL_ia32cap", "OPENSSL_armcap"), or NULL.
const char *CSaMDShims_openssl_cpu_capability_variable(void);

/// The build graph of the product this process runs, as SaMDBuildGraphPlugin captured it when it was applied to
/// the product's executable target (NUL-terminated UTF-8 JSON, static storage); NULL when no target of the
/// binary applied the plugin. SaMDSBOM refers to the generated symbol weakly, so a binary without it links.
const unsigned char *CSaMDShims_product_build_graph(void);

#ifdef __cplusplus
}
#endif

#endif
