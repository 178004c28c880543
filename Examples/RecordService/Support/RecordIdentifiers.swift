import SaMDEnvelope

/// Subject and record ids as the store accepts them, for the programs that send them (`samd-agent`).
public enum RecordIdentifiers {
    /// Whether `value` is a subject or record id the store accepts (`RecordAddress.isValidIdentifier(_:)`, the store's rule):
    /// 1 to 512 bytes of UTF-8 after NFC, no control character, and not `.` or `..` (a dot segment, which
    /// HTTP clients normalise away).
    public static func isValid(_ value: String) -> Bool {
        RecordAddress.isValidIdentifier(value)
    }

    /// The rule in words, for usage errors.
    public static let rule = RecordAddress.identifierRule
}
