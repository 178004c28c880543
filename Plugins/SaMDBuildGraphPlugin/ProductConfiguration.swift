import Foundation

/// `samd-sbom.json` at the root of the package that applies the plugin: what the manifest cannot say about the
/// product. Every field is optional; an unknown field, a field of the wrong type, an empty or overlong value or a
/// control character stops the build with a message naming the file and the field.
///
/// ```json
/// {"version": "2.4.1", "supplier": "Example Medical Devices Inc.", "author": "Example Medical Devices Inc.",
///  "description": "Infusion pump gateway", "license": "LicenseRef-Proprietary", "name": "InfusionGateway"}
/// ```
struct ProductConfiguration: Equatable {
    static let fileName = "samd-sbom.json"
    static let fields = ["name", "version", "supplier", "author", "description", "license"]
    static let maximumFileBytes = 64 << 10
    static let maximumValueBytes = 512

    var values: [String: String] = [:]

    /// The configuration in `directory`, empty when there is no file.
    static func load(from directory: URL) throws -> ProductConfiguration {
        let file = directory.appendingPathComponent(self.fileName)
        guard FileManager.default.fileExists(atPath: file.path) else { return ProductConfiguration() }
        guard let data = PackageFacts.read(file, limit: self.maximumFileBytes) else {
            throw PluginFailure("\(file.path): unreadable or larger than \(self.maximumFileBytes) bytes")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw PluginFailure("\(file.path): not a JSON object")
        }
        var configuration = ProductConfiguration()
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            guard self.fields.contains(key) else {
                throw PluginFailure(
                    "\(file.path): unknown field \"\(key.prefix(64))\" (known: \(self.fields.joined(separator: ", ")))")
            }
            guard let text = value as? String, !text.isEmpty, text.utf8.count <= self.maximumValueBytes,
                !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else {
                throw PluginFailure(
                    "\(file.path): \(key) must be a non-empty string of at most \(self.maximumValueBytes) bytes without control characters"
                )
            }
            configuration.values[key] = text
        }
        return configuration
    }
}

/// A failure that stops the build, with a message for the person building.
struct PluginFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
