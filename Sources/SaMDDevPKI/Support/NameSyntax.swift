// Syntax checks for the names that go into certificates and file names.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Checks on the text of identifiers and subjectAltName values, before any of it reaches OpenSSL's
/// configuration parser (which splits on commas) or a file name.
enum NameSyntax {
    /// 1…`maximumLength` characters, each ASCII `A–Z a–z 0–9 . _ -`.
    static func isIdentifier(_ text: String, maximumLength: Int) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...maximumLength).contains(bytes.count) else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default:
                false
            }
        }
    }

    /// A host name in the preferred syntax (RFC 1034 §3.5, as relaxed by RFC 1123 §2.1): at most 253
    /// characters, dot-separated labels of 1–63 letters, digits and hyphens, no label starting or ending
    /// with a hyphen. The leftmost label may be `*` (a wildcard, RFC 6125 §6.4.3).
    static func isDNSName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...253).contains(bytes.count) else { return false }
        let labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        for (index, label) in labels.enumerated() {
            if index == 0 && labels.count > 1 && label.elementsEqual([UInt8(ascii: "*")]) { continue }
            guard (1...63).contains(label.count),
                label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-"),
                label.allSatisfy({ isLetterOrDigit($0) || $0 == UInt8(ascii: "-") })
            else { return false }
        }
        return true
    }

    /// An IPv4 address in dotted-quad form or an IPv6 address in text form (RFC 4291 §2.2).
    static func isIPAddress(_ text: String) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        if text.contains(":") {
            return inet_pton(AF_INET6, text, &buffer) == 1
        }
        return inet_pton(AF_INET, text, &buffer) == 1
    }

    /// `scheme:rest` with an RFC 3986 scheme, no comma, space or control character.
    static func isURI(_ text: String) -> Bool {
        guard isSafeValue(text), let colon = text.firstIndex(of: ":"), colon != text.startIndex,
            text.index(after: colon) != text.endIndex
        else { return false }
        let scheme = text[..<colon].utf8
        guard let first = scheme.first, isLetter(first) else { return false }
        return scheme.allSatisfy {
            isLetterOrDigit($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
        }
    }

    /// `local@domain`, exactly one `@`, neither side empty, no comma, space or control character.
    static func isEmailAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return isSafeValue(text) && parts.count == 2 && parts.allSatisfy { !$0.isEmpty }
    }

    /// Non-empty printable ASCII without a comma or a space: safe in an OpenSSL X509V3 configuration list.
    static func isSafeValue(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ",") }
    }

    /// `text` for an error message: at most 80 characters, control and non-ASCII characters escaped.
    static func printable(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars.prefix(80) {
            result +=
                scalar.isASCII && scalar.value >= 0x20 && scalar.value < 0x7F
                ? String(scalar) : scalar.escaped(asASCII: true)
        }
        return text.unicodeScalars.count > 80 ? result + "…" : result
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
    }

    private static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        isLetter(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
