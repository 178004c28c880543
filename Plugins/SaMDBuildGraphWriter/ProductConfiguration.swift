import Foundation

/// `samd-sbom.json` at the root of the package that applies the plugin: what the manifest cannot say about the
/// product. Read by the build command at every build, so an edit is never missed. Every field is optional; an
/// unknown field, a field of the wrong type, an empty or overlong value, a control or invisible formatting
/// character (bidirectional overrides, zero-width characters, line separators), or a licence that is not an SPDX
/// licence expression stops the build with a message naming the file and the field.
///
/// ```json
/// {"version": "2.4.1", "supplier": "Example Medical Devices Inc.", "author": "Example Medical Devices Inc.",
///  "description": "Infusion pump gateway", "license": "LicenseRef-Proprietary", "name": "InfusionGateway"}
/// ```
struct ProductConfiguration: Equatable {
    static let fileName = "samd-sbom.json"
    /// Field of the file → field of the record's subject.
    static let fields = [
        "name": "name", "version": "version", "supplier": "supplier", "author": "author", "description": "summary",
        "license": "license",
    ]
    static let maximumFileBytes = 64 << 10
    static let maximumValueBytes = 512

    /// Subject field → value.
    var values: [String: String] = [:]

    /// The configuration in `directory`, empty when there is no file.
    /// - Throws: ``WriterFailure`` naming the file and the field.
    static func load(from directory: URL) throws -> ProductConfiguration {
        let file = directory.appendingPathComponent(self.fileName)
        var status = stat()
        guard lstat(file.path, &status) == 0 else { return ProductConfiguration() }
        guard status.st_mode & S_IFMT == S_IFREG else { throw WriterFailure("\(file.path): not a regular file") }
        guard let data = BoundedRead.file(file, limit: self.maximumFileBytes) else {
            throw WriterFailure("\(file.path): unreadable or larger than \(self.maximumFileBytes) bytes")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw WriterFailure("\(file.path): not a JSON object in UTF-8")
        }
        var configuration = ProductConfiguration()
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            guard let field = self.fields[key] else {
                throw WriterFailure(
                    "\(file.path): unknown field \"\(escaped(String(key.prefix(64))))\" (known: "
                        + "\(self.fields.keys.sorted().joined(separator: ", ")))")
            }
            guard let text = value as? String, !text.trimmingCharacters(in: .whitespaces).isEmpty,
                text.utf8.count <= self.maximumValueBytes, !text.unicodeScalars.contains(where: Self.isInvisible)
            else {
                throw WriterFailure(
                    "\(file.path): \(key) must be a non-empty string of at most \(self.maximumValueBytes) bytes "
                        + "without control or invisible formatting characters")
            }
            if key == "license" {
                do {
                    try SPDXLicenseExpression.validate(text)
                } catch let failure as WriterFailure {
                    throw WriterFailure("\(file.path): license: \(failure.description)")
                }
            }
            configuration.values[field] = text
        }
        return configuration
    }

    /// Control characters, format characters (bidirectional overrides, zero-width joiners) and line or paragraph
    /// separators: they would change how a reviewer sees the SBOM without showing themselves.
    static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: true
        default: false
        }
    }
}
