import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys

/// Addressing: how a record's address (subject, record id, record type) becomes the blind indexes its row is
/// found by and the encryption context it is sealed under, which ids and types are accepted, and which key may
/// open a patient's record.
extension EncryptedRecordStore {
    struct Address {
        let subjectIndex: String
        let recordIndex: [UInt8]
    }

    /// The keys that may open a patient's record: that patient's own subject key (`s-` and the subject index),
    /// never another patient's key, a KEK or a recipient key. A row naming any other key was copied or forged,
    /// whatever that key's state — another patient's shredded key must not make this patient look shredded —
    /// and fails as not authentic before any key is fetched.
    struct PatientKeyProvider: EnvelopeKeyProvider {
        let keyStore: any KeyStore
        let subjectKeyName: String

        func keyEncryptionKey(for identifier: KeyIdentifier) throws -> SecureBytes {
            guard identifier.name == self.subjectKeyName else {
                throw EnvelopeError(
                    .authenticationFailed, "the stored row is not sealed under this patient's subject key")
            }
            return try self.keyStore.keyEncryptionKey(for: identifier)
        }

        func recipientPrivateKey(for identifier: KeyIdentifier) throws -> X25519.PrivateKey {
            throw EnvelopeError(.authenticationFailed, "the stored row is not sealed under this patient's subject key")
        }
    }

    func address(subject: String, recordID: String, recordType: String?) throws -> Address {
        guard Self.isValidIdentifier(recordID) else {
            throw RecordStoreError(.invalidArgument, "a record id is \(Self.identifierRule)")
        }
        if let recordType, !Self.isValidRecordType(recordType) {
            throw RecordStoreError(
                .invalidArgument,
                "a record type is a media type without parameters, type/subtype (RFC 6838 restricted names, 3 to 127 bytes)"
            )
        }
        // The shortest record type (3 bytes, `a/b`) when reading: a record stored with it must be found.
        guard Self.addressByteCount(subject, recordID, recordType ?? "a/b") <= Self.maximumAddressByteCount else {
            throw RecordStoreError(
                .invalidArgument,
                "a subject id, record id and record type take at most \(Self.maximumAddressByteCount) bytes together (UTF-8, after NFC)"
            )
        }
        let subjectIndex = try self.subjectIndex(subject)
        do {
            let recordIndex = try self.keyStore.blindIndex(domain: "samd-store-record", [subject, recordID])
            return Address(subjectIndex: subjectIndex, recordIndex: recordIndex)
        } catch let error as EnvelopeError {
            throw Self.keyError(error)
        }
    }

    /// Bytes of an address in the encryption context: UTF-8 after NFC, as `EncryptionContext` counts them.
    static func addressByteCount(_ subject: String, _ recordID: String, _ recordType: String) -> Int {
        subject.precomposedStringWithCanonicalMapping.utf8.count
            + recordID.precomposedStringWithCanonicalMapping.utf8.count
            + recordType.utf8.count
    }

    func subjectIndex(_ subject: String) throws -> String {
        guard Self.isValidIdentifier(subject) else {
            throw RecordStoreError(.invalidArgument, "a subject id is \(Self.identifierRule)")
        }
        do {
            return try self.keyStore.subjectIndex(of: subject)
        } catch let error as EnvelopeError {
            throw Self.keyError(error)
        }
    }

    static func context(subject: String, recordID: String, recordType: String) throws -> EncryptionContext {
        do {
            return try EncryptionContext([("subject", subject), ("record", recordID), ("type", recordType)])
        } catch let error as EnvelopeError {
            throw RecordStoreError(
                .invalidArgument, "the record's address does not make an encryption context: \(error.reason)",
                underlying: error)
        }
    }

    /// Whether `value` is a subject or record id the store accepts: 1 to 512 bytes of UTF-8 after NFC
    /// normalisation, no control character (C0, DEL, C1), and not a dot segment (`.` or `..`, RFC 3986
    /// §3.3): an id that every HTTP client and URL library normalises away (`/records/s1/..` is `/records/`)
    /// could never be addressed again, and in a path it names another resource. The same rule for every
    /// caller: the gateway (400) and the agent (exit 64, before connecting) check ids with it.
    /// - SeeAlso: RFC 3986 §5.2.4 (remove_dot_segments)
    public static func isValidIdentifier(_ value: String) -> Bool {
        let normalised = value.precomposedStringWithCanonicalMapping
        let count = normalised.utf8.count
        return count >= 1 && count <= 512 && normalised != "." && normalised != ".."
            && !value.unicodeScalars.contains { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) }
    }

    /// What ``isValidIdentifier(_:)`` accepts, in words (error reasons; never the id itself).
    public static let identifierRule = "1 to 512 bytes of UTF-8 without control characters, and not . or .."

    /// Whether `value` is a record type the store accepts: a media type without parameters, `type/subtype`,
    /// each a restricted name of RFC 6838 §4.2 (a letter or digit, then letters, digits and
    /// `! # $ & - ^ _ . +`), 3 to 127 bytes in all. Compared exactly as given (no case folding).
    public static func isValidRecordType(_ value: String) -> Bool {
        let parts = value.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        return (3...127).contains(value.utf8.count) && parts.count == 2
            && parts.allSatisfy { part in
                part.first.map(Self.restrictedNameFirst.contains) == true
                    && part.dropFirst().allSatisfy(Self.restrictedNameRest.contains)
            }
    }

    private static let restrictedNameFirst = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
    private static let restrictedNameRest = restrictedNameFirst.union("!#$&-^_.+".utf8)
}
