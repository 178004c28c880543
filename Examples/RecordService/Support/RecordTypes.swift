import SaMDEnvelope

/// The record type (a media type) a file is uploaded as, from its name's extension, for `samd-agent`.
public enum RecordTypes {
    /// The type used when nothing better is known.
    public static let fallback = "application/octet-stream"

    /// Extensions (lowercase, without the dot) and their record types.
    public static let byExtension: [String: String] = [
        "json": "application/fhir+json",
        "ndjson": "application/fhir+ndjson",
        "hl7": "x-application/hl7-v2+er7",
        "dcm": "application/dicom",
    ]

    /// Whether `value` is a record type the store accepts (`RecordAddress.isValidRecordType(_:)`, the store's rule):
    /// `type/subtype`, RFC 6838 restricted names, without parameters.
    public static func isValid(_ value: String) -> Bool {
        RecordAddress.isValidRecordType(value)
    }

    /// The record type for a file named `fileName`: by its last extension, compared case-insensitively
    /// (`.json` → `application/fhir+json`, `.ndjson` → `application/fhir+ndjson`, `.hl7` →
    /// `x-application/hl7-v2+er7`, `.dcm` → `application/dicom`), else ``fallback``.
    public static func recordType(forFileName fileName: String) -> String {
        guard let dot = fileName.lastIndex(of: "."), dot != fileName.startIndex else { return self.fallback }
        let suffix = fileName[fileName.index(after: dot)...].lowercased()
        return self.byExtension[suffix] ?? self.fallback
    }
}
