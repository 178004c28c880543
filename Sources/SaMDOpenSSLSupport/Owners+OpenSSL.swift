// One owner per C pointer: each class holds one reference and frees it in deinit.

import CSaMDOpenSSL
import CSaMDShims

/// Owns one reference of an `X509` certificate.
package final class X509Certificate {
    package let pointer: OpaquePointer

    /// Takes ownership of one reference.
    package init(takingOwnership pointer: OpaquePointer) {
        self.pointer = pointer
    }

    /// Adds a reference to `pointer` and owns it.
    package init(referencing pointer: OpaquePointer) {
        X509_up_ref(pointer)
        self.pointer = pointer
    }

    deinit {
        X509_free(self.pointer)
    }
}

/// Owns one reference of an `EVP_PKEY` private key.
package final class PrivateKey {
    package let pointer: OpaquePointer
    /// Takes ownership of one reference.
    package init(takingOwnership pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(self.pointer) }
}

/// Owns one `X509_CRL`.
package final class X509CRL {
    package let pointer: OpaquePointer
    /// Takes ownership of one reference.
    package init(takingOwnership pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_CRL_free(self.pointer) }
}

/// Owns one `STACK_OF(X509)` and one reference of each certificate in it, as `X509_STORE_CTX_init` takes
/// the untrusted certificates of a chain.
package final class X509Stack {
    package let pointer: OpaquePointer

    /// A stack holding `certificates`, in order, each with a reference of its own; `nil` when OpenSSL cannot
    /// allocate the stack or grow it.
    package init?(_ certificates: [X509Certificate]) {
        guard let stack = CSaMDShims_sk_X509_new_null() else { return nil }
        for certificate in certificates {
            X509_up_ref(certificate.pointer)
            guard CSaMDShims_sk_X509_push(stack, certificate.pointer) > 0 else {
                X509_free(certificate.pointer)
                CSaMDShims_sk_X509_pop_free(stack)
                return nil
            }
        }
        self.pointer = stack
    }

    deinit {
        CSaMDShims_sk_X509_pop_free(self.pointer)
    }
}
