import SaMDOpenSSLSupport

extension CryptoError {
    /// An error for a failed OpenSSL call, carrying the drained error queue.
    static func openSSL(
        _ reason: String,
        file: String = #fileID,
        line: Int = #line
    ) -> CryptoError {
        CryptoError(.openSSLFailure, reason, openSSLErrors: OpenSSLErrorEntry.drainQueue(), file: file, line: line)
    }

    /// An error with a specific code for a failed OpenSSL call, carrying the drained error queue.
    static func openSSL(
        _ code: Code,
        _ reason: String,
        file: String = #fileID,
        line: Int = #line
    ) -> CryptoError {
        CryptoError(code, reason, openSSLErrors: OpenSSLErrorEntry.drainQueue(), file: file, line: line)
    }
}

extension OpenSSLErrorEntry {
    /// Drains the calling thread's OpenSSL error queue (`OpenSSLErrorQueue.drain()`, in SaMDOpenSSLSupport), oldest first.
    static func drainQueue() -> [OpenSSLErrorEntry] {
        OpenSSLErrorQueue.drain().map {
            OpenSSLErrorEntry(code: $0.code, library: $0.library, reason: $0.reason, data: $0.data)
        }
    }
}
