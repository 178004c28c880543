import Foundation

/// How every document SaMDSBOM writes (CycloneDX, SPDX, CSAF) is serialised.
enum SBOMJSON {
    /// `document` as pretty-printed JSON with sorted keys and unescaped slashes: the same input gives the same
    /// bytes, but for the ids and timestamps the document itself carries.
    static func serialize(_ document: [String: Any]) throws -> Data {
        try JSONSerialization.data(
            withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }

    /// RFC 3339 date-time in UTC, whole seconds (`2026-12-07T08:00:00Z`).
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
