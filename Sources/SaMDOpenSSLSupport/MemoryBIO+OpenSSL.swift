// Memory BIOs: bytes in for the PEM readers, bytes out of the PEM and name writers.

import CSaMDOpenSSL
import CSaMDShims

/// Owns one memory `BIO` (`BIO_s_mem`).
package final class MemoryBIO {
    package let pointer: OpaquePointer

    /// An empty, writable memory BIO; `nil` when OpenSSL cannot allocate one.
    package init?() {
        guard let method = BIO_s_mem(), let bio = BIO_new(method) else { return nil }
        self.pointer = bio
    }

    deinit {
        BIO_free(self.pointer)
    }

    /// A memory BIO holding a copy of `bytes` (`BIO_new_mem_buf` would only borrow them) that reports the end
    /// of its data as end of file, as a read-only one does: a reader that reaches the end sees EOF, not "retry".
    /// `nil` when OpenSSL cannot allocate it or `bytes` is longer than `Int32.max`.
    package convenience init?(bytes: [UInt8]) {
        guard bytes.count <= Int(Int32.max) else { return nil }
        self.init()
        CSaMDShims_BIO_set_mem_eof_return(self.pointer, 0)
        guard !bytes.isEmpty else { return }
        let written = bytes.withUnsafeBytes { BIO_write(self.pointer, $0.baseAddress, Int32($0.count)) }
        guard written == Int32(bytes.count) else { return nil }
    }

    /// Everything written and not yet read, without consuming it.
    package func contents() -> [UInt8] {
        // BIO_get_mem_data(bio, &data) is a macro for this BIO_ctrl call.
        var data: UnsafeMutablePointer<CChar>? = nil
        let count = BIO_ctrl(self.pointer, BIO_CTRL_INFO, 0, &data)
        guard count > 0, let data else { return [] }
        return data.withMemoryRebound(to: UInt8.self, capacity: count) {
            Array(UnsafeBufferPointer(start: $0, count: count))
        }
    }

    /// ``contents()`` as UTF-8 text (PEM, an RFC 2253 name).
    package func string() -> String {
        String(decoding: self.contents(), as: UTF8.self)
    }
}
