// OpenSSL's per-thread error queue, turned into a DevelopmentPKIError.

import CSaMDOpenSSL

extension DevelopmentPKIError {
    /// A ``Code/openSSL`` error naming `call`, with the drained (and so cleared) error queue of this thread.
    static func openSSL(_ call: String, file: String = #fileID, line: Int = #line) -> DevelopmentPKIError {
        DevelopmentPKIError(.openSSL, "\(call) failed\(OpenSSLErrorQueue.drain())", file: file, line: line)
    }

    /// An error of `code` (other than ``Code/openSSL``) whose reason ends with the drained error queue.
    static func openSSL(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line)
        -> DevelopmentPKIError
    {
        DevelopmentPKIError(code, reason + OpenSSLErrorQueue.drain(), file: file, line: line)
    }
}

enum OpenSSLErrorQueue {
    /// `": message; message"`, or `""` when the queue is empty. Always empties the queue.
    static func drain() -> String {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.isEmpty ? "" : ": " + messages.joined(separator: "; ")
    }
}
