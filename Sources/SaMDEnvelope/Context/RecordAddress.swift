/// The address of a stored record — subject (patient) id, record id and record type — with the rules every
/// record store, the gateway and a device check it by, and the encryption context a record at it is sealed
/// under. A device that seals a record for the store (an outbox) binds it to ``encryptionContext()``; the store
/// opens it under the same context, made from the same address.
///
/// The rules:
/// - ids (subject and record): 1 to 512 bytes of UTF-8 after NFC (``CanonicalNormalization``), no control
///   character (C0, DEL, C1), and not a dot segment (`.` or `..`, RFC 3986 §3.3) — every HTTP client and URL
///   library normalises a dot segment away, so such an id could never be addressed again;
/// - a record type: a media type without parameters, `type/subtype`, each an RFC 6838 §4.2 restricted name,
///   3 to 127 bytes, compared exactly as given (no case folding);
/// - the three together: at most ``maximumByteCount`` bytes (UTF-8, ids after NFC), what the encryption
///   context holds.
/// - SeeAlso: RFC 3986 §5.2.4 (remove_dot_segments), RFC 6838 §4.2 (restricted names)
public struct RecordAddress: Sendable, Hashable {
    /// The subject (patient) id, as given.
    public let subject: String
    /// The record id, as given.
    public let recordID: String
    /// The record type (a media type without parameters).
    public let recordType: String

    /// The most bytes the subject id, record id and record type take together (UTF-8, ids after NFC): 980, what
    /// an encryption context of three pairs holds within ``ChunkedPayload/maximumContextByteCount``.
    public static let maximumByteCount = ChunkedPayload.maximumContextByteCount - 44

    /// What ``isValidIdentifier(_:)`` accepts, in words (for error reasons; never the id itself).
    public static let identifierRule = "1 to 512 bytes of UTF-8 without control characters, and not . or .."

    /// What ``isValidRecordType(_:)`` accepts, in words.
    public static let recordTypeRule =
        "a media type without parameters, type/subtype (RFC 6838 restricted names, 3 to 127 bytes)"

    /// An address, after checking each part and their total length.
    /// - Throws: ``EnvelopeError/Code/invalidContext`` when an id, the type or the total length is refused; the
    ///   reason names the part, never its value.
    public init(subject: String, recordID: String, recordType: String) throws {
        guard Self.isValidIdentifier(subject) else {
            throw EnvelopeError(.invalidContext, "a subject id is \(Self.identifierRule)")
        }
        guard Self.isValidIdentifier(recordID) else {
            throw EnvelopeError(.invalidContext, "a record id is \(Self.identifierRule)")
        }
        guard Self.isValidRecordType(recordType) else {
            throw EnvelopeError(.invalidContext, "a record type is \(Self.recordTypeRule)")
        }
        guard Self.byteCount(subject: subject, recordID: recordID, recordType: recordType) <= Self.maximumByteCount
        else {
            throw EnvelopeError(
                .invalidContext,
                "a subject id, record id and record type take at most \(Self.maximumByteCount) bytes together (UTF-8, after NFC)"
            )
        }
        self.subject = subject
        self.recordID = recordID
        self.recordType = recordType
    }

    /// The encryption context a record at this address is sealed under: the pairs `subject`, `record` and `type`.
    /// - Throws: ``EnvelopeError/Code/invalidContext`` only if the address does not fit a context, which the
    ///   checks of ``init(subject:recordID:recordType:)`` rule out.
    public func encryptionContext() throws -> EncryptionContext {
        try Self.encryptionContext(subject: self.subject, recordID: self.recordID, recordType: self.recordType)
    }

    /// The encryption context of an address whose parts the caller has checked (or that a store reads back):
    /// `subject`, `record`, `type`.
    /// - Throws: ``EnvelopeError/Code/invalidContext`` when the parts do not make a context (a value over 512
    ///   bytes after NFC, or an encoding over ``ChunkedPayload/maximumContextByteCount``).
    public static func encryptionContext(subject: String, recordID: String, recordType: String) throws
        -> EncryptionContext
    {
        try EncryptionContext([("subject", subject), ("record", recordID), ("type", recordType)])
    }

    /// Bytes the three parts take in the encryption context: UTF-8, the ids after NFC.
    public static func byteCount(subject: String, recordID: String, recordType: String) -> Int {
        CanonicalNormalization.nfcUTF8(subject).count + CanonicalNormalization.nfcUTF8(recordID).count
            + recordType.utf8.count
    }

    /// Whether `value` is a subject or record id a store accepts: 1 to 512 bytes of UTF-8 after NFC
    /// normalisation, no control character (C0, DEL, C1), and not a dot segment (`.` or `..`).
    /// - SeeAlso: RFC 3986 §5.2.4 (remove_dot_segments)
    public static func isValidIdentifier(_ value: String) -> Bool {
        let normalised = CanonicalNormalization.nfcUTF8(value)
        return (1...512).contains(normalised.count) && normalised != [0x2E] && normalised != [0x2E, 0x2E]
            && !value.unicodeScalars.contains { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) }
    }

    /// Whether `value` is a record type a store accepts: a media type without parameters, `type/subtype`, each a
    /// restricted name of RFC 6838 §4.2 (a letter or digit, then letters, digits and `! # $ & - ^ _ . +`), 3 to
    /// 127 bytes in all. Compared exactly as given (no case folding).
    public static func isValidRecordType(_ value: String) -> Bool {
        let parts = value.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        return (3...127).contains(value.utf8.count) && parts.count == 2
            && parts.allSatisfy { part in
                part.first.map(Self.isRestrictedNameFirst) == true
                    && part.dropFirst().allSatisfy(Self.isRestrictedNameRest)
            }
    }

    private static func isRestrictedNameFirst(_ byte: UInt8) -> Bool {
        (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte)
    }

    private static func isRestrictedNameRest(_ byte: UInt8) -> Bool {
        Self.isRestrictedNameFirst(byte) || "!#$&-^_.+".utf8.contains(byte)
    }
}
