/// The encryption context of a record: key/value pairs (patient id, record id, record type…) that
/// the payload is bound to. A record opens only with exactly the context it was sealed with. The
/// context is never stored in the envelope: it may hold patient identifiers, and the caller supplies
/// it again to open.
///
/// Canonical encoding (what the payload is bound to), version 1:
/// - keys: 1 … 64 bytes of ASCII `a-z 0-9 . _ -` (lower case only, so there is no case folding);
/// - values: any Unicode string, normalised to NFC, at most 512 bytes of UTF-8 after normalisation;
/// - pairs sorted by key (byte order), so the order the caller gives does not matter;
/// - a key given twice is refused, never merged or overwritten;
/// - bytes: `"samd-context-v1" ‖ 0x00 ‖ count (u16 BE)` then per pair
///   `key length (u8) ‖ key ‖ value length (u16 BE) ‖ value`;
/// - at most 32 pairs and ``ChunkedPayload/maximumContextByteCount`` bytes in all.
public struct EncryptionContext: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    /// The pairs, sorted by key, values in NFC.
    public let pairs: [(key: String, value: String)]
    /// The canonical encoding.
    public let canonicalBytes: [UInt8]

    public static let maximumPairCount = 32
    public static let maximumKeyByteCount = 64
    public static let maximumValueByteCount = 512
    static let prefix = Array("samd-context-v1".utf8) + [0]

    /// The empty context.
    public static let empty = try! EncryptionContext([(String, String)]())

    /// - Throws: ``EnvelopeError/Code/invalidContext`` for a malformed or duplicate key, an oversized value,
    ///   too many pairs, or an encoding over the limit.
    public init(_ pairs: [(String, String)]) throws {
        guard pairs.count <= Self.maximumPairCount else {
            throw EnvelopeError(
                .invalidContext, "an encryption context has at most \(Self.maximumPairCount) pairs, got \(pairs.count)")
        }
        var normalised: [(key: String, value: String)] = []
        for (key, value) in pairs {
            let keyBytes = Array(key.utf8)
            guard (1...Self.maximumKeyByteCount).contains(keyBytes.count),
                keyBytes.allSatisfy({
                    (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D
                })
            else {
                throw EnvelopeError(
                    .invalidContext,
                    "context keys are 1 to 64 characters of a-z 0-9 . _ - (a key of \(keyBytes.count) bytes is not)")
            }
            let nfc = CanonicalNormalization.nfc(value)
            guard nfc.utf8.count <= Self.maximumValueByteCount else {
                throw EnvelopeError(
                    .invalidContext, "the value of context key \"\(key)\" exceeds \(Self.maximumValueByteCount) bytes")
            }
            normalised.append((key, nfc))
        }
        normalised.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        for index in normalised.indices.dropFirst() where normalised[index].key == normalised[index - 1].key {
            throw EnvelopeError(.invalidContext, "context key \"\(normalised[index].key)\" is given twice")
        }
        var bytes = Self.prefix
        bytes += [UInt8(normalised.count >> 8), UInt8(normalised.count & 0xFF)]
        for (key, value) in normalised {
            let valueBytes = Array(value.utf8)
            bytes.append(UInt8(key.utf8.count))
            bytes += key.utf8
            bytes += [UInt8(valueBytes.count >> 8), UInt8(valueBytes.count & 0xFF)]
            bytes += valueBytes
        }
        guard bytes.count <= ChunkedPayload.maximumContextByteCount else {
            throw EnvelopeError(
                .invalidContext,
                "the encoded context is \(bytes.count) bytes, over \(ChunkedPayload.maximumContextByteCount)")
        }
        self.pairs = normalised
        self.canonicalBytes = bytes
    }

    /// A context from a dictionary (order is irrelevant: pairs are sorted).
    public init(_ dictionary: [String: String]) throws {
        try self.init(dictionary.map { ($0.key, $0.value) })
    }

    public static func == (lhs: EncryptionContext, rhs: EncryptionContext) -> Bool {
        lhs.canonicalBytes == rhs.canonicalBytes
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.canonicalBytes)
    }

    /// `dump` and debuggers see the keys only.
    public var customMirror: Mirror {
        Mirror(self, children: ["keys": self.pairs.map(\.key)], displayStyle: .struct)
    }

    /// Names the keys only: values may be patient identifiers and are never printed.
    public var description: String {
        "EncryptionContext(keys: [" + self.pairs.map(\.key).joined(separator: ", ") + "], values redacted)"
    }
}
