import CSaMDOpenSSL

/// The calling thread's OpenSSL error queue.
enum OpenSSLErrorQueue {
    /// At most this many entries are kept from one drain; the rest are discarded.
    static let maximumEntries = 16

    /// Removes every entry from the calling thread's error queue and returns them, oldest first.
    static func drain() -> [OpenSSLErrorEntry] {
        var entries: [OpenSSLErrorEntry] = []
        while true {
            var data: UnsafePointer<CChar>? = nil
            var flags: Int32 = 0
            let code = ERR_get_error_all(nil, nil, nil, &data, &flags)
            if code == 0 { break }
            guard entries.count < Self.maximumEntries else { continue }
            let text: String? =
                if let data, flags & ERR_TXT_STRING != 0 { String(cString: data) } else { nil }
            entries.append(
                OpenSSLErrorEntry(
                    code: code,
                    library: ERR_lib_error_string(code).map { String(cString: $0) },
                    reason: ERR_reason_error_string(code).map { String(cString: $0) },
                    data: text
                )
            )
        }
        return entries
    }

    /// Empties the queue without reading it, before a call whose failure is judged by its return value.
    static func clear() {
        ERR_clear_error()
    }
}

extension CryptoError {
    /// An error for a failed OpenSSL call, carrying the drained error queue.
    static func openSSL(
        _ reason: String,
        file: String = #fileID,
        line: Int = #line
    ) -> CryptoError {
        CryptoError(.openSSLFailure, reason, openSSLErrors: OpenSSLErrorQueue.drain(), file: file, line: line)
    }

    /// An error with a specific code for a failed OpenSSL call, carrying the drained error queue.
    static func openSSL(
        _ code: Code,
        _ reason: String,
        file: String = #fileID,
        line: Int = #line
    ) -> CryptoError {
        CryptoError(code, reason, openSSLErrors: OpenSSLErrorQueue.drain(), file: file, line: line)
    }
}
