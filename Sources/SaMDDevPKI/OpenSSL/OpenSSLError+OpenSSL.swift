// OpenSSL failures turned into DevelopmentPKIError: the drained error queue, and memory BIOs that throw it.

import SaMDOpenSSLSupport

extension DevelopmentPKIError {
    /// A ``Code/openSSL`` error naming `call`, with the drained (and so cleared) error queue of this thread.
    static func openSSL(_ call: String, file: String = #fileID, line: Int = #line) -> DevelopmentPKIError {
        DevelopmentPKIError(.openSSL, "\(call) failed\(Self.drainedQueue())", file: file, line: line)
    }

    /// An error of `code` (other than ``Code/openSSL``) whose reason ends with the drained error queue.
    static func openSSL(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line)
        -> DevelopmentPKIError
    {
        DevelopmentPKIError(code, reason + Self.drainedQueue(), file: file, line: line)
    }

    /// `": message; message"` in OpenSSL's own form (`ERR_error_string_n`), or `""` when the queue is empty.
    /// Always empties the queue.
    private static func drainedQueue() -> String {
        let messages = OpenSSLErrorQueue.drain().map(\.errorString)
        return messages.isEmpty ? "" : ": " + messages.joined(separator: "; ")
    }
}

extension MemoryBIO {
    /// An empty memory BIO for a PEM or name writer.
    /// - Throws: ``DevelopmentPKIError/Code/openSSL`` when OpenSSL cannot allocate one.
    static func empty() throws -> MemoryBIO {
        guard let bio = MemoryBIO() else { throw DevelopmentPKIError.openSSL("BIO_new") }
        return bio
    }

    /// A memory BIO holding the UTF-8 bytes of `text`, for a PEM reader.
    /// - Throws: ``DevelopmentPKIError/Code/openSSL`` when OpenSSL cannot allocate one.
    static func reading(_ text: String) throws -> MemoryBIO {
        guard let bio = MemoryBIO(bytes: Array(text.utf8)) else { throw DevelopmentPKIError.openSSL("BIO_write") }
        return bio
    }
}
