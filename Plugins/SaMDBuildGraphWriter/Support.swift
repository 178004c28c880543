import Foundation

/// A failure that stops the build, with a message for the person building (printed as `error: …`).
struct WriterFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `text` with control and invisible formatting characters written as `\u{…}`, for messages that quote input.
func escaped(_ text: String) -> String {
    text.unicodeScalars.map { scalar in
        ProductConfiguration.isInvisible(scalar) || scalar == "\\"
            ? "\\u{\(String(scalar.value, radix: 16, uppercase: true))}" : String(scalar)
    }.joined()
}

/// Bounded reads of local files.
enum BoundedRead {
    /// The file's bytes, or nil when it cannot be read or holds more than `limit` bytes.
    static func file(_ url: URL, limit: Int) -> Data? {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: limit + 1), data.count <= limit else { return nil }
        return data
    }

    static func text(_ url: URL, limit: Int) -> String? {
        self.file(url, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }
}
