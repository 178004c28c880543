// One owner per C pointer: each class frees what it holds in deinit.

import CSaMDOpenSSL

/// Owns one `EVP_PKEY` reference.
final class OwnedKey {
    let pointer: OpaquePointer
    init(takingOwnership pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(self.pointer) }
}

/// Owns one `X509` reference.
final class OwnedCertificate {
    let pointer: OpaquePointer
    init(takingOwnership pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_free(self.pointer) }
}

/// Owns one memory `BIO`.
final class MemoryBIO {
    let pointer: OpaquePointer

    /// An empty, writable memory BIO.
    init() throws {
        guard let method = BIO_s_mem(), let bio = BIO_new(method) else { throw DevelopmentPKIError.openSSL("BIO_new") }
        self.pointer = bio
    }

    deinit { BIO_free(self.pointer) }

    /// A memory BIO holding a copy of `bytes` (BIO_new_mem_buf would only borrow them).
    convenience init(bytes: [UInt8]) throws {
        try self.init()
        guard !bytes.isEmpty else { return }
        let written = bytes.withUnsafeBytes { BIO_write(self.pointer, $0.baseAddress, Int32($0.count)) }
        guard written == Int32(bytes.count) else { throw DevelopmentPKIError.openSSL("BIO_write") }
    }

    /// Everything written so far.
    func contents() throws -> [UInt8] {
        // BIO_get_mem_data(bio, &data) is a macro for this BIO_ctrl call.
        var data: UnsafeMutablePointer<CChar>? = nil
        let count = BIO_ctrl(self.pointer, BIO_CTRL_INFO, 0, &data)
        guard count >= 0 else { throw DevelopmentPKIError.openSSL("BIO_get_mem_data") }
        guard count > 0, let data else { return [] }
        return data.withMemoryRebound(to: UInt8.self, capacity: count) {
            Array(UnsafeBufferPointer(start: $0, count: count))
        }
    }

    /// Everything written so far, as UTF-8 text.
    func string() throws -> String {
        String(decoding: try self.contents(), as: UTF8.self)
    }
}
