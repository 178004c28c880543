import Foundation

/// The package graph captured at build time by SaMDBuildGraphPlugin (the JSON embedded in the
/// generated `CapturedBuildGraph.swift`).
struct BuildGraphRecord: Decodable, Sendable {
    struct PackageRecord: Decodable, Sendable {
        var identity: String
        var displayName: String
        var url: String?
        var version: String?
        var revision: String?
        var license: String?
        var scope: String
        var dependencies: [String]
        var vendored: [VendoredRecord]
    }
    struct VendoredRecord: Decodable, Sendable {
        var name: String
        var url: String
        var revision: String?
        var license: String?
    }
    var rootIdentity: String
    var rootDisplayName: String
    var rootDependencies: [String]
    var rootLicense: String?
    var packages: [PackageRecord]

    /// The graph this binary was built with.
    static let captured: BuildGraphRecord = {
        do {
            return try JSONDecoder().decode(BuildGraphRecord.self, from: Data(capturedBuildGraphJSON.utf8))
        } catch {
            // The plugin and this decoder are built together; a mismatch is a build defect.
            fatalError("SaMDSBOM: the captured build graph does not decode: \(error)")
        }
    }()
}
