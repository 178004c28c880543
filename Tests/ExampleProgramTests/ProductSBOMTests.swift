import Foundation
import SaMDCrypto
import SaMDTestSupport
import Testing

/// An integrator's product (Tests/Fixtures/deviceapp: SaMDSBOM by path, Yams, SaMDBuildGraphPlugin applied), built
/// here with `swift build` into `.build/fixtures/deviceapp`, as the integrator would build it: its SBOM names it,
/// lists what it links and nothing else, and passes the validators. `deviceapp-unplugged`, the same program
/// without the plugin, says that it describes SaMDKit's package graph.
@Suite("SBOM of an integrator's product")
struct ProductSBOMTests {
    static let fixture = SBOMHarness.packageRoot.appendingPathComponent("Tests/Fixtures/deviceapp")
    static let scratch = SBOMHarness.packageRoot.appendingPathComponent(".build/fixtures/deviceapp")

    /// One build for every test of the suite (the first takes a minute or two: SaMDSBOM and Yams are compiled in
    /// the fixture's own build directory; later ones are incremental).
    static let build = Task<String?, Never> {
        do {
            let run = try await ChildProcess.run(
                URL(fileURLWithPath: "/usr/bin/env"),
                // Without build-manifest caching, SwiftPM scans SaMDKit's sources again: a file added to SaMDKit
                // since the last build of the fixture is compiled, not reported missing.
                [
                    "swift", "build", "--package-path", fixture.path, "--scratch-path", scratch.path,
                    "--disable-build-manifest-caching",
                ],
                timeout: .seconds(900))
            return run.status == 0
                ? nil
                : "swift build of the fixture: \(run.status.map(String.init) ?? "timed out")\n\(run.output)\n\(run.standardError)"
        } catch {
            return "swift build of the fixture could not start: \(error)"
        }
    }

    static func document(_ program: String, _ format: String) async throws -> (data: Data, object: [String: Any]) {
        if let failure = await self.build.value {
            Issue.record(Comment(rawValue: failure))
            throw CocoaError(.executableLoad)
        }
        let binary = self.scratch.appendingPathComponent("debug/\(program)")
        let run = try await ChildProcess.run(binary, [format], timeout: .seconds(120))
        #expect(run.status == 0, "\(program): \(run.standardError)")
        let data = Data(run.output.utf8)
        return (data, try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]))
    }

    static func components(_ document: [String: Any]) -> [[String: Any]] {
        func flatten(_ list: [[String: Any]]) -> [[String: Any]] {
            list.flatMap { [$0] + flatten(($0["components"] as? [[String: Any]]) ?? []) }
        }
        return flatten((document["components"] as? [[String: Any]]) ?? [])
    }

    static func property(_ item: [String: Any]?, _ name: String) -> String? {
        ((item?["properties"] as? [[String: String]]) ?? []).first { $0["name"] == name }?["value"]
    }

    @Test func theProductIsTheSubjectAndExactlyWhatItLinksIsListed() async throws {
        let (_, document) = try await Self.document("deviceapp", "cyclonedx")
        let metadata = try #require(document["metadata"] as? [String: Any])
        #expect(Self.property(metadata, "samd:buildGraph") == "product")
        let subject = try #require(metadata["component"] as? [String: Any])
        // From the fixture's samd-sbom.json.
        #expect(subject["name"] as? String == "DeviceApp")
        #expect(subject["version"] as? String == "2.4.1")
        #expect(subject["type"] as? String == "application")
        #expect((subject["supplier"] as? [String: Any])?["name"] as? String == "Example Medical Devices Inc.")
        #expect(Self.property(subject, "samd:target") == "deviceapp")
        #expect(Self.property(subject, "samd:swiftToolchain")?.hasPrefix("Swift version ") == true)

        let components = Self.components(document).filter { $0["type"] as? String != "cryptographic-asset" }
        let swiftPackages = components.filter { ($0["bom-ref"] as? String)?.hasPrefix("swift:") == true }
        // Exactly two Swift packages: SaMDKit (SaMDSBOM) and Yams — not GRDB, SwiftNIO, swift-argument-parser or
        // anything else SaMDKit resolves but deviceapp does not link.
        #expect(swiftPackages.count == 2, "\(swiftPackages.compactMap { $0["bom-ref"] })")
        let yams = try #require(swiftPackages.first { $0["name"] as? String == "yams" })
        #expect((yams["version"] as? String)?.first == "5" || (yams["version"] as? String)?.first == "6")
        #expect(Self.property(yams, "samd:productsLinked") == "Yams")
        #expect((yams["purl"] as? String)?.hasPrefix("pkg:swift/github.com/jpsim/yams@") == true)
        let samdKit = try #require(swiftPackages.first { $0["name"] as? String == "SaMDKit" })
        #expect(samdKit["version"] as? String == SaMDKit.version)
        #expect(Self.property(samdKit, "samd:productsLinked") == "SaMDSBOM")
        for name in ["grdb.swift", "swift-nio", "swift-argument-parser", "swift-log", "swift-nio-ssl"] {
            #expect(!components.contains { $0["name"] as? String == name }, "\(name) is not linked into deviceapp")
        }
        // The product depends on what it links directly.
        let dependencies = (document["dependencies"] as? [[String: Any]]) ?? []
        let direct = Set((dependencies.first { $0["ref"] as? String == "product" }?["dependsOn"] as? [String]) ?? [])
        #expect(direct.isSuperset(of: ["openssl", "libsodium", "swift:yams"]))
        // Loaded libraries carry SHA-256 and SHA-512 (BSI TR-03183-2).
        for reference in ["openssl:libssl", "openssl:libcrypto", "libsodium"] {
            let item = try #require(components.first { $0["bom-ref"] as? String == reference })
            let algorithms = ((item["hashes"] as? [[String: String]]) ?? []).compactMap { $0["alg"] }
            #expect(algorithms == ["SHA-256", "SHA-512"], "\(reference): \(algorithms)")
        }
    }

    @Test func theProductsDocumentsPassTheValidators() async throws {
        let cycloneDX = SBOMHarness.temporaryFile("deviceapp.cdx.json")
        let spdx = SBOMHarness.temporaryFile("deviceapp.spdx.json")
        defer {
            try? FileManager.default.removeItem(at: cycloneDX)
            try? FileManager.default.removeItem(at: spdx)
        }
        try await Self.document("deviceapp", "cyclonedx").data.write(to: cycloneDX)
        let (spdxData, spdxDocument) = try await Self.document("deviceapp", "spdx")
        try spdxData.write(to: spdx)
        try await SBOMHarness.expectValidCycloneDX(cycloneDX)
        try await SBOMHarness.expectValidSPDX(spdx)
        #expect(spdxDocument["name"] as? String == "DeviceApp-2.4.1-runtime")
        let packages = (spdxDocument["packages"] as? [[String: Any]]) ?? []
        let subject = packages.first { $0["name"] as? String == "DeviceApp" }
        #expect(subject?["primaryPackagePurpose"] as? String == "APPLICATION")
    }

    @Test func withoutThePluginTheSBOMSaysItDescribesSaMDKitsGraph() async throws {
        let (_, document) = try await Self.document("deviceapp-unplugged", "cyclonedx")
        let metadata = try #require(document["metadata"] as? [String: Any])
        #expect(Self.property(metadata, "samd:buildGraph") == "samdKit")
        #expect(Self.property(metadata, "samd:generationContext")?.contains("not the product's") == true)
        let subject = try #require(metadata["component"] as? [String: Any])
        #expect(subject["name"] as? String == "SaMDKit")
        #expect((subject["description"] as? String)?.contains("did not apply SaMDBuildGraphPlugin") == true)
    }
}

/// A `samd-sbom.json` the plugin cannot use stops the build with a message naming the file and the field, before
/// anything is compiled: an SBOM is never made from a configuration read halfway.
@Suite("samd-sbom.json of an integrator's product")
struct ProductConfigurationTests {
    @Test(arguments: [
        (#"{"verison": "2.4.1"}"#, #"unknown field "verison""#),
        (#"{"version": 2}"#, "version must be a non-empty string"),
        (#"{"supplier": "Example\u001b[2J Inc."}"#, "without control characters"),
        (#"["2.4.1"]"#, "not a JSON object"),
    ])
    func aBrokenConfigurationStopsTheBuild(configuration: String, message: String) async throws {
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("deviceapp-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: copy) }
        try FileManager.default.copyItem(at: ProductSBOMTests.fixture, to: copy)
        try Data(configuration.utf8).write(to: copy.appendingPathComponent("samd-sbom.json"))
        let run = try await ChildProcess.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "swift", "build", "--package-path", copy.path, "--scratch-path",
                copy.appendingPathComponent(".build").path, "--product", "deviceapp",
            ],
            environment: ["SAMDKIT_PACKAGE_PATH": SBOMHarness.packageRoot.path], timeout: .seconds(900))
        #expect(run.status != 0 && run.status != nil)
        let output = run.output + run.standardError
        #expect(output.contains("samd-sbom.json") && output.contains(message), "\(output)")
    }
}
