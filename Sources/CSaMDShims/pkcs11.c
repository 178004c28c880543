#include "CSaMDShims_pkcs11.h"

#include <dlfcn.h>
#include <string.h>

void *CSaMDShims_pkcs11_dlopen(const char *path, char *error, size_t error_capacity) {
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL && error != NULL && error_capacity > 0) {
        const char *text = dlerror();
        if (text == NULL) text = "dlopen failed";
        strncpy(error, text, error_capacity - 1);
        error[error_capacity - 1] = '\0';
    }
    return handle;
}

void CSaMDShims_pkcs11_dlclose(void *handle) {
    if (handle != NULL) dlclose(handle);
}

int CSaMDShims_pkcs11_get_function_list(void *handle, CK_FUNCTION_LIST_PTR *list, CK_RV *rv) {
    CK_C_GetFunctionList get_function_list = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
    if (get_function_list == NULL) return -1;
    *rv = get_function_list(list);
    return 0;
}

CK_RV CSaMDShims_pkcs11_initialize(CK_FUNCTION_LIST_PTR list) {
    CK_C_INITIALIZE_ARGS arguments;
    memset(&arguments, 0, sizeof arguments);
    arguments.flags = CKF_OS_LOCKING_OK;
    return list->C_Initialize(&arguments);
}
