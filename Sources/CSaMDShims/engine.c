// The `pkcs11` ENGINE on OpenSSL 3.0: the one file of SaMDKit that uses the deprecated ENGINE API.
// On OpenSSL >= 3 with pkcs11-provider the provider (OSSL_STORE with a pkcs11: URI) replaces this file.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "CSaMDShims_engine.h"

#include <dlfcn.h>
#include <p11-kit-1/p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>

#define CSAMD_PKCS11_ENGINE_MAXIMUM_PATH 4096
#define CSAMD_PKCS11_ENGINE_MAXIMUM_PIN 256

static pthread_mutex_t engine_lock = PTHREAD_MUTEX_INITIALIZER;
static ENGINE *bound_engine = NULL;
static char *bound_module_path = NULL;

// The `pkcs11` engine bound to `module_path`: found (ENGINE_by_id loads it from OpenSSL's engines directory), bound
// and initialised on first use, kept for the life of the process. OpenSSL lists one instance of an engine id, and
// libp11 loads its module once, at the first key load; so one module per process. Called with engine_lock held.
static ENGINE *engine_for_module(const char *module_path, int *status) {
    if (bound_engine != NULL) {
        if (strcmp(bound_module_path, module_path) == 0) return bound_engine;
        *status = CSAMD_PKCS11_ENGINE_OTHER_MODULE_BOUND;
        return NULL;
    }
    char *copy = strdup(module_path);
    if (copy == NULL) {
        *status = CSAMD_PKCS11_ENGINE_INVALID_ARGUMENT;
        return NULL;
    }
    ENGINE *engine = ENGINE_by_id("pkcs11");
    if (engine == NULL) {
        free(copy);
        *status = CSAMD_PKCS11_ENGINE_MISSING;
        return NULL;
    }
    if (ENGINE_ctrl_cmd_string(engine, "MODULE_PATH", module_path, 0) != 1) {
        ENGINE_free(engine);
        free(copy);
        *status = CSAMD_PKCS11_ENGINE_CONTROL_FAILED;
        return NULL;
    }
    // Optional: libp11 before 0.4.11 has no QUIET; its messages would then go to stderr (never a PIN).
    (void)ENGINE_ctrl_cmd_string(engine, "QUIET", NULL, 1);
    ERR_clear_error();
    if (ENGINE_init(engine) != 1) {
        ENGINE_free(engine);
        free(copy);
        *status = CSAMD_PKCS11_ENGINE_INIT_FAILED;
        return NULL;
    }
    // ENGINE_init took a functional reference; the structural one from ENGINE_by_id is kept with it, for good.
    bound_engine = engine;
    bound_module_path = copy;
    return engine;
}

const char *CSaMDShims_pkcs11_engine_bound_module_path(void) {
    pthread_mutex_lock(&engine_lock);
    const char *path = bound_module_path;
    pthread_mutex_unlock(&engine_lock);
    return path;
}

EVP_PKEY *CSaMDShims_pkcs11_engine_load_private_key(
    const char *module_path, const char *key_uri, const unsigned char *pin, size_t pin_length, int *status) {
    int ignored;
    if (status == NULL) status = &ignored;
    if (module_path == NULL || key_uri == NULL || (pin == NULL && pin_length > 0)
        || strlen(module_path) > CSAMD_PKCS11_ENGINE_MAXIMUM_PATH || pin_length > CSAMD_PKCS11_ENGINE_MAXIMUM_PIN
        || (pin_length > 0 && memchr(pin, 0, pin_length) != NULL)) {
        *status = CSAMD_PKCS11_ENGINE_INVALID_ARGUMENT;
        return NULL;
    }
    char pin_text[CSAMD_PKCS11_ENGINE_MAXIMUM_PIN + 1];
    if (pin_length > 0) memcpy(pin_text, pin, pin_length);
    pin_text[pin_length] = 0;

    EVP_PKEY *key = NULL;
    pthread_mutex_lock(&engine_lock);
    ENGINE *engine = engine_for_module(module_path, status);
    if (engine != NULL) {
        if (ENGINE_ctrl_cmd_string(engine, "PIN", pin_text, 0) != 1) {
            *status = CSAMD_PKCS11_ENGINE_CONTROL_FAILED;
        } else {
            key = ENGINE_load_private_key(engine, key_uri, NULL, NULL);
            *status = key != NULL ? CSAMD_PKCS11_ENGINE_OK : CSAMD_PKCS11_ENGINE_LOAD_FAILED;
            // Replace the engine's copy of the PIN (libp11 cleanses the old one); the session stays logged in.
            unsigned long mark = ERR_peek_last_error();
            (void)ENGINE_ctrl_cmd_string(engine, "PIN", "", 0);
            if (key != NULL && ERR_peek_last_error() != mark) ERR_clear_error();
        }
    }
    pthread_mutex_unlock(&engine_lock);
    OPENSSL_cleanse(pin_text, sizeof(pin_text));
    return key;
}

int CSaMDShims_pkcs11_engine_token_present(const char *module_path, const char *label) {
    if (module_path == NULL || label == NULL) return -1;
    size_t label_length = strlen(label);
    if (label_length > 32) return 0;
    void *module = dlopen(module_path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (module == NULL) return -1;
    int result = -1;
    CK_C_GetFunctionList get_function_list = (CK_C_GetFunctionList)dlsym(module, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR functions = NULL;
    CK_ULONG count = 0;
    if (get_function_list != NULL && get_function_list(&functions) == CKR_OK && functions != NULL
        && functions->C_GetSlotList(CK_TRUE, NULL, &count) == CKR_OK && count <= 1024) {
        CK_SLOT_ID slots[1024];
        if (functions->C_GetSlotList(CK_TRUE, slots, &count) == CKR_OK) {
            result = 0;
            for (CK_ULONG index = 0; index < count && result == 0; index++) {
                CK_TOKEN_INFO info;
                if (functions->C_GetTokenInfo(slots[index], &info) != CKR_OK) continue;
                int matches = memcmp(info.label, label, label_length) == 0;
                for (size_t rest = label_length; matches && rest < sizeof(info.label); rest++) {
                    matches = info.label[rest] == ' ';
                }
                if (matches) result = 1;
            }
        }
    }
    dlclose(module);
    return result;
}
