// The thread's OpenSSL error queue: the one way SaMDKit reads it.

import CSaMDOpenSSL
import CSaMDShims

/// The calling thread's OpenSSL error queue (`ERR_get_error_all`).
///
/// Every failing OpenSSL call leaves entries here; drain them into the module's own error at the call site,
/// or clear the queue before a call whose failure is judged by its return value, so that no stale entry is
/// reported with a later, unrelated failure.
package enum OpenSSLErrorQueue {
    /// At most this many entries are kept from one drain; the rest are removed and discarded.
    package static let maximumEntries = 16

    /// One entry of the queue, with the texts OpenSSL keeps for it read at the time it was removed.
    package struct Entry: Sendable, Hashable {
        /// The packed OpenSSL error code (`ERR_get_error`).
        package let code: UInt
        /// The library that raised it (`ERR_lib_error_string`), e.g. "PEM routines".
        package let library: String?
        /// The reason (`ERR_reason_error_string`), e.g. "no start line".
        package let reason: String?
        /// Extra text OpenSSL attached to the entry (`ERR_TXT_STRING`), if any.
        package let data: String?

        /// The library code (`ERR_GET_LIB`), e.g. `ERR_LIB_PEM`.
        package var libraryCode: Int32 { CSaMDShims_ERR_GET_LIB(self.code) }

        /// The reason code (`ERR_GET_REASON`), e.g. `PEM_R_NO_START_LINE`.
        package var reasonCode: Int32 { CSaMDShims_ERR_GET_REASON(self.code) }

        /// `"library: reason"`, with "OpenSSL" and "error <code>" where OpenSSL has no text.
        package var summary: String {
            "\(self.library ?? "OpenSSL"): \(self.reason ?? "error \(self.code)")"
        }

        /// OpenSSL's own one-line form (`ERR_error_string_n`), e.g.
        /// `"error:0480006C:PEM routines::no start line"`.
        package var errorString: String {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(self.code, &buffer, buffer.count)
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// Removes every entry from the calling thread's queue and returns the first ``maximumEntries`` of them,
    /// oldest first. The queue is empty afterwards.
    package static func drain() -> [Entry] {
        var entries: [Entry] = []
        while true {
            var data: UnsafePointer<CChar>? = nil
            var flags: Int32 = 0
            let code = ERR_get_error_all(nil, nil, nil, &data, &flags)
            if code == 0 { break }
            guard entries.count < Self.maximumEntries else { continue }
            let text: String? =
                if let data, flags & ERR_TXT_STRING != 0 { String(cString: data) } else { nil }
            entries.append(
                Entry(
                    code: code,
                    library: ERR_lib_error_string(code).map { String(cString: $0) },
                    reason: ERR_reason_error_string(code).map { String(cString: $0) },
                    data: text
                )
            )
        }
        return entries
    }

    /// Drains the queue into `"[OpenSSL: library: reason; …]"` for a message, or `""` when it was empty.
    package static func drainSummary() -> String {
        let entries = self.drain()
        guard !entries.isEmpty else { return "" }
        return "[OpenSSL: " + entries.map(\.summary).joined(separator: "; ") + "]"
    }

    /// Empties the queue without reading it, before a call whose failure is judged by its return value.
    package static func clear() {
        ERR_clear_error()
    }
}
