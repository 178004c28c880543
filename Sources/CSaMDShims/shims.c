#define _GNU_SOURCE 1
#include "CSaMDShims.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <sodium.h>

#if defined(__linux__) && defined(__aarch64__)
#include <sys/auxv.h>
#include <asm/hwcap.h>
#endif

unsigned long CSaMDShims_OPENSSL_VERSION_NUMBER(void) {
    return OPENSSL_VERSION_NUMBER;
}

void CSaMDShims_OPENSSL_free(void *ptr) {
    OPENSSL_free(ptr);
}

static const char *shared_object_path(const void *symbol) {
    Dl_info info;
    if (symbol == NULL || dladdr(symbol, &info) == 0 || info.dli_fname == NULL) {
        return NULL;
    }
    return info.dli_fname;
}

const char *CSaMDShims_libssl_path(void) {
    return shared_object_path((const void *)&SSL_new);
}

const char *CSaMDShims_libcrypto_path(void) {
    return shared_object_path((const void *)&EVP_EncryptInit_ex);
}

const char *CSaMDShims_libsodium_path(void) {
    return shared_object_path((const void *)&sodium_init);
}

int CSaMDShims_cpu_has_aes_instructions(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("aes") ? 1 : 0;
#elif defined(__linux__) && defined(__aarch64__)
    return (getauxval(AT_HWCAP) & HWCAP_AES) ? 1 : 0;
#elif defined(__APPLE__) && defined(__aarch64__)
    return 1; /* every Apple silicon CPU has the ARMv8 crypto extension */
#else
    return -1;
#endif
}

const char *CSaMDShims_openssl_cpu_capability_variable(void) {
#if defined(__x86_64__) || defined(__i386__)
    return "OPENSSL_ia32cap";
#elif defined(__aarch64__) || defined(__arm__)
    return "OPENSSL_armcap";
#else
    return NULL;
#endif
}

// Defined by the source SaMDBuildGraphPlugin generates into a product's executable target; weak, so that a binary
// that did not apply the plugin (a test bundle, a product built without it) links and sees NULL.
extern const unsigned char *samd_sbom_product_build_graph(void) __attribute__((weak));

const unsigned char *CSaMDShims_product_build_graph(void) {
    return samd_sbom_product_build_graph != NULL ? samd_sbom_product_build_graph() : NULL;
}

int CSaMDShims_file_identity(const char *path, long long out[5]) {
    struct stat info;
    if (stat(path, &info) != 0) return -1;
    out[0] = (long long)info.st_dev;
    out[1] = (long long)info.st_ino;
    out[2] = (long long)info.st_size;
    out[3] = (long long)info.st_mtim.tv_sec;
    out[4] = (long long)info.st_mtim.tv_nsec;
    return 0;
}

void CSaMDShims_sleep_nanoseconds(long long nanoseconds) {
    if (nanoseconds <= 0) return;
    struct timespec request = {.tv_sec = (time_t)(nanoseconds / 1000000000LL), .tv_nsec = (long)(nanoseconds % 1000000000LL)};
    (void)nanosleep(&request, NULL);
}
