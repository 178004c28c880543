public import Foundation

/// The shared medical records the tests carry (FHIR, Synthea, HL7 v2, DICOM) under
/// `Tests/SaMDEnvelopeTests/Resources/records`. A file stored zlib-compressed (`.zz`, RFC 1950) to keep the
/// repository small is inflated here and named without the suffix: every record is read exactly as published.
public enum MedicalRecords {
    /// The folder inside the package, for test targets that do not carry the records as resources.
    public static var packageFolder: URL {
        URL(fileURLWithPath: #filePath) // Tests/SaMDTestSupport/MedicalRecords.swift
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("SaMDEnvelopeTests/Resources/records")
    }

    /// Every record below `root`, as (relative path, bytes), sorted by path; licences and READMEs left out.
    public static func load(from root: URL) throws -> [(String, [UInt8])] {
        guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: root.path])
        }
        var files: [(String, [UInt8])] = []
        for case let url as URL in enumerator
        where (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true {
            guard !url.lastPathComponent.hasPrefix("LICENSE"), url.lastPathComponent != "README.md" else { continue }
            var name = String(url.path.dropFirst(root.path.count + 1))
            var bytes = Array(try Data(contentsOf: url))
            if name.hasSuffix(".zz") {
                guard let inflated = inflate(bytes) else {
                    throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: url.path])
                }
                name.removeLast(3)
                bytes = inflated
            }
            files.append((name, bytes))
        }
        return files.sorted { $0.0 < $1.0 }
    }
}
