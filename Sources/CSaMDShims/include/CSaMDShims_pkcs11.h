// Loading a PKCS#11 module at run time: dlopen, C_GetFunctionList, C_Initialize with OS locking. Everything
// else is called through the function list from Swift (SaMDOpenSSLSupport's PKCS11*.swift). SaMDKit never links
// a PKCS#11 library: the OASIS header (p11-kit's copy, self-contained) is needed only at build time.
#ifndef CSAMD_SHIMS_PKCS11_H
#define CSAMD_SHIMS_PKCS11_H

#include <stddef.h>
#include <p11-kit-1/p11-kit/pkcs11.h>

#ifdef __cplusplus
extern "C" {
#endif

/// dlopen(path, RTLD_NOW | RTLD_LOCAL). On failure NULL, and dlerror()'s text (truncated, NUL-terminated) in
/// `error` when `error_capacity` > 0.
void *CSaMDShims_pkcs11_dlopen(const char *path, char *error, size_t error_capacity);

/// dlclose(handle), for a module that failed to initialise.
void CSaMDShims_pkcs11_dlclose(void *handle);

/// Looks up `C_GetFunctionList` in `handle` and calls it. Returns 0 and sets `*rv` to its return value (and
/// `*list` when CKR_OK); returns -1 when the shared object has no `C_GetFunctionList` (not a PKCS#11 module).
int CSaMDShims_pkcs11_get_function_list(void *handle, CK_FUNCTION_LIST_PTR *list, CK_RV *rv);

/// C_Initialize with CKF_OS_LOCKING_OK and no mutex callbacks (PKCS#11 v2.40 §5.4, case 2: the module uses
/// the operating system's locking). CKR_CRYPTOKI_ALREADY_INITIALIZED is returned as is: the caller decides.
CK_RV CSaMDShims_pkcs11_initialize(CK_FUNCTION_LIST_PTR list);

#ifdef __cplusplus
}
#endif

#endif
