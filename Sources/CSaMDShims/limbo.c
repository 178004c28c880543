#include "CSaMDShims_limbo.h"

#include <openssl/err.h>

int CSaMDShims_X509_first_malformed_extension(X509 *x509) {
    int count = X509_get_ext_count(x509);
    for (int index = 0; index < count; index++) {
        X509_EXTENSION *extension = X509_get_ext(x509, index);
        const X509V3_EXT_METHOD *method = X509V3_EXT_get(extension);
        if (method == NULL) continue;
        void *value = X509V3_EXT_d2i(extension);
        if (value == NULL) {
            ERR_clear_error();
            int nid = OBJ_obj2nid(X509_EXTENSION_get_object(extension));
            return nid == NID_undef ? -1 : nid;
        }
        if (method->it != NULL) {
            ASN1_item_free((ASN1_VALUE *)value, ASN1_ITEM_ptr(method->it));
        } else if (method->ext_free != NULL) {
            method->ext_free(value);
        }
    }
    return 0;
}

NAME_CONSTRAINTS *CSaMDShims_X509_get_name_constraints(X509 *x509) {
    NAME_CONSTRAINTS *constraints = X509_get_ext_d2i(x509, NID_name_constraints, NULL, NULL);
    if (constraints == NULL) ERR_clear_error();
    return constraints;
}

void CSaMDShims_NAME_CONSTRAINTS_free(NAME_CONSTRAINTS *constraints) { NAME_CONSTRAINTS_free(constraints); }

int CSaMDShims_NAME_CONSTRAINTS_count(const NAME_CONSTRAINTS *constraints, int excluded) {
    STACK_OF(GENERAL_SUBTREE) *subtrees = excluded ? constraints->excludedSubtrees : constraints->permittedSubtrees;
    return subtrees == NULL ? -1 : sk_GENERAL_SUBTREE_num(subtrees);
}

GENERAL_NAME *CSaMDShims_NAME_CONSTRAINTS_base(const NAME_CONSTRAINTS *constraints, int excluded, int index) {
    STACK_OF(GENERAL_SUBTREE) *subtrees = excluded ? constraints->excludedSubtrees : constraints->permittedSubtrees;
    GENERAL_SUBTREE *subtree = subtrees == NULL ? NULL : sk_GENERAL_SUBTREE_value(subtrees, index);
    return subtree == NULL ? NULL : subtree->base;
}

int CSaMDShims_X509_authority_info_access_count(X509 *x509) {
    int critical = 0;
    AUTHORITY_INFO_ACCESS *access = X509_get_ext_d2i(x509, NID_info_access, &critical, NULL);
    if (access == NULL) {
        ERR_clear_error();
        return -1;
    }
    int count = sk_ACCESS_DESCRIPTION_num(access);
    AUTHORITY_INFO_ACCESS_free(access);
    return count;
}
