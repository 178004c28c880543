import SaMDCrypto
import SaMDEnvelope
import SaMDKeys

/// Addressing: how a record's address (subject, record id, record type) becomes the blind indexes its row is
/// found by and the encryption context it is sealed under, which ids and types are accepted, and which key may
/// open a patient's record.
extension EncryptedRecordStore {
    typealias Address = RecordAddressing.Address
    typealias PatientKeyProvider = RecordAddressing.PatientKeyProvider

    /// The addressing over this store's key store.
    var addressing: RecordAddressing { RecordAddressing(keyStore: self.keyStore) }

    func address(subject: String, recordID: String, recordType: String?) throws -> Address {
        try self.addressing.address(subject: subject, recordID: recordID, recordType: recordType)
    }

    static func addressByteCount(_ subject: String, _ recordID: String, _ recordType: String) -> Int {
        RecordAddressing.addressByteCount(subject, recordID, recordType)
    }

    func subjectIndex(_ subject: String) throws -> String {
        try self.addressing.subjectIndex(subject)
    }

    static func context(subject: String, recordID: String, recordType: String) throws -> EncryptionContext {
        try RecordAddressing.context(subject: subject, recordID: recordID, recordType: recordType)
    }

    /// Whether `value` is a subject or record id the store accepts: 1 to 512 bytes of UTF-8 after NFC
    /// normalisation, no control character (C0, DEL, C1), and not a dot segment (`.` or `..`, RFC 3986
    /// §3.3): an id that every HTTP client and URL library normalises away (`/records/s1/..` is `/records/`)
    /// could never be addressed again, and in a path it names another resource. The same rule for every
    /// caller: the gateway (400) and the agent (exit 64, before connecting) check ids with it. The rule is
    /// `SaMDEnvelope.RecordAddress`'s (`RecordAddress.isValidIdentifier(_:)`), which a device checks without
    /// linking the store.
    /// - SeeAlso: RFC 3986 §5.2.4 (remove_dot_segments)
    public static func isValidIdentifier(_ value: String) -> Bool {
        RecordAddress.isValidIdentifier(value)
    }

    /// What ``isValidIdentifier(_:)`` accepts, in words (error reasons; never the id itself).
    public static let identifierRule = RecordAddress.identifierRule

    /// Whether `value` is a record type the store accepts: a media type without parameters, `type/subtype`,
    /// each a restricted name of RFC 6838 §4.2 (a letter or digit, then letters, digits and
    /// `! # $ & - ^ _ . +`), 3 to 127 bytes in all. Compared exactly as given (no case folding). The rule is
    /// `SaMDEnvelope.RecordAddress.isValidRecordType(_:)`.
    public static func isValidRecordType(_ value: String) -> Bool {
        RecordAddress.isValidRecordType(value)
    }
}
