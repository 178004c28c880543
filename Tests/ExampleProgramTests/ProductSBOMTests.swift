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
        // The product's own file, hashed like the libraries it loads.
        let binary = Self.scratch.appendingPathComponent("debug/deviceapp").resolvingSymlinksInPath()
        let bytes = Array(try Data(contentsOf: binary))
        let hashes = (subject["hashes"] as? [[String: String]]) ?? []
        for (name, algorithm) in [("SHA-256", DigestAlgorithm.sha256), ("SHA-512", .sha512)] {
            let expected = try algorithm.hash(bytes).map { String(format: "%02x", $0) }.joined()
            #expect(hashes.first { $0["alg"] == name }?["content"] == expected, "\(name) of \(binary.path)")
        }
        #expect(Self.property(subject, "samd:path") == binary.path)

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
        for name in [
            "grdb.swift", "swift-nio", "swift-argument-parser", "swift-log", "swift-nio-ssl", "swift-crypto",
            "postgres-nio",
        ] {
            #expect(!components.contains { $0["name"] as? String == name }, "\(name) is not linked into deviceapp")
        }
        // Nor SaMDPostgres: its PostgreSQL login is not in deviceapp's CBOM.
        #expect(
            !Self.components(document).contains {
                ($0["bom-ref"] as? String)?.hasPrefix("crypto/scram-sha-256") == true
            })
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

/// What changes without the package graph changing — `samd-sbom.json` and the commit checked out — is read by the
/// plugin's build command (SaMDBuildGraphWriter) at every build. Most tests run that command as the build does,
/// on a small record; one builds a copy of the fixture and edits, commits and breaks it between builds.
@Suite("samd-sbom.json and the checked-out commit, read at every build")
struct ProductConfigurationTests {
    static let record =
        #"{"kind": "product", "packages": [], "rootDependencies": [], "subject": {"name": "deviceapp", "packageDisplayName": "deviceapp", "packageIdentity": "deviceapp", "target": "deviceapp"}}"#

    /// Runs the build command on `record` for a package at `package`; the graph it embeds, or its failure.
    static func write(package: URL) async throws -> (status: Int32?, message: String, graph: [String: Any]?) {
        let input = package.appendingPathComponent("record.json")
        let output = package.appendingPathComponent("CapturedBuildGraph.swift")
        try Data(self.record.utf8).write(to: input)
        let run = try await ChildProcess.run(
            try ProgramLocations.binary("SaMDBuildGraphWriter"), ["product", input.path, output.path, package.path])
        guard run.status == 0, let source = try? String(contentsOf: output, encoding: .utf8),
            let start = source.range(of: "\n{"), let end = source.range(of: "}\\", options: .backwards)
        else { return (run.status, run.standardError, nil) }
        let json = Data(source[source.index(after: start.lowerBound)...end.lowerBound].utf8)
        return (run.status, run.standardError, try JSONSerialization.jsonObject(with: json) as? [String: Any])
    }

    static func temporaryPackage() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-product-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    static func git(_ arguments: [String], in directory: URL) async throws -> String {
        let run = try await ChildProcess.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "git", "-c", "user.name=SaMDKit tests", "-c", "user.email=tests@example.invalid", "-c",
                "init.defaultBranch=main", "-C", directory.path,
            ] + arguments)
        #expect(run.status == 0, "git \(arguments): \(run.standardError)")
        return run.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test(arguments: [
        (#"{"verison": "2.4.1"}"#, #"unknown field "verison""#),
        (#"{"version": 2}"#, "version must be a non-empty string"),
        (#"{"version": "   "}"#, "version must be a non-empty string"),
        (#"{"supplier": "Example\u001b[2J Inc."}"#, "without control or invisible formatting characters"),
        (#"{"author": "Example \u202E.cni"}"#, "without control or invisible formatting characters"),
        (#"{"description": "one\u2028two"}"#, "without control or invisible formatting characters"),
        (#"{"name": "\#(String(repeating: "n", count: 513))"}"#, "at most 512 bytes"),
        (#"["2.4.1"]"#, "not a JSON object"),
        ("{\"version\": \"2.4.1\"", "not a JSON object"),
        (#"{"license": "Proprietary"}"#, #""Proprietary" is not on the SPDX License List"#),
        (#"{"license": "mit"}"#, "did you mean MIT?"),
        (#"{"license": "MIT OR ("}"#, "ends too early"),
        (#"{"license": "MIT WITH MIT"}"#, "WITH must be followed by an exception"),
        (#"{"license": "LicenseRef-"}"#, "is not on the SPDX License List"),
        (#"{"na\u001bme": "x"}"#, #"unknown field "na\u{1B}me""#),
    ])
    func aBrokenConfigurationIsRefusedNamingTheFileAndTheField(configuration: String, message: String) async throws {
        let package = try Self.temporaryPackage()
        defer { try? FileManager.default.removeItem(at: package) }
        try Data(configuration.utf8).write(to: package.appendingPathComponent("samd-sbom.json"))
        let result = try await Self.write(package: package)
        #expect(result.status == 65)
        #expect(result.message.contains("samd-sbom.json") && result.message.contains(message), "\(result.message)")
        #expect(!result.message.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{202E}" })
    }

    @Test func aGoodConfigurationFillsTheSubject() async throws {
        let package = try Self.temporaryPackage()
        defer { try? FileManager.default.removeItem(at: package) }
        let license = "(Apache-2.0 WITH Swift-exception OR MIT) AND LicenseRef-Example.Proprietary-1"
        let configuration: [String: String] = [
            "name": "DeviceApp", "version": "2.4.1", "supplier": "Example Medical Devices Inc.",
            "author": "Example product security", "description": "Infusion pump companion", "license": license,
        ]
        try JSONSerialization.data(withJSONObject: configuration).write(
            to: package.appendingPathComponent("samd-sbom.json"))
        let subject = try #require(try await Self.write(package: package).graph?["subject"] as? [String: Any])
        #expect(subject["name"] as? String == "DeviceApp" && subject["version"] as? String == "2.4.1")
        #expect(subject["supplier"] as? String == "Example Medical Devices Inc.")
        #expect(subject["author"] as? String == "Example product security")
        #expect(subject["summary"] as? String == "Infusion pump companion")
        #expect(subject["license"] as? String == license)
        #expect(subject["revision"] == nil)
    }

    /// The commit of a work tree, of a linked work tree (`.git` is a `gitdir:` file, refs in the common
    /// directory) and after `git pack-refs` (the ref only in `packed-refs`).
    @Test func theCheckedOutCommitIsReadFromEveryKindOfWorkTree() async throws {
        let root = try Self.temporaryPackage()
        defer { try? FileManager.default.removeItem(at: root) }
        let repository = root.appendingPathComponent("repository")
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        _ = try await Self.git(["init", "-q"], in: repository)
        try Data("one".utf8).write(to: repository.appendingPathComponent("file"))
        _ = try await Self.git(["add", "file"], in: repository)
        _ = try await Self.git(["commit", "-q", "-m", "one"], in: repository)
        let first = try await Self.git(["rev-parse", "HEAD"], in: repository)
        #expect(
            (try await Self.write(package: repository).graph?["subject"] as? [String: Any])?["revision"] as? String
                == first)

        let linked = root.appendingPathComponent("linked")
        _ = try await Self.git(["worktree", "add", "-q", "-b", "feature/linked", linked.path], in: repository)
        try Data("two".utf8).write(to: linked.appendingPathComponent("file"))
        _ = try await Self.git(["commit", "-q", "-am", "two"], in: linked)
        let second = try await Self.git(["rev-parse", "HEAD"], in: linked)
        #expect(second != first)
        #expect(
            (try await Self.write(package: linked).graph?["subject"] as? [String: Any])?["revision"] as? String
                == second)

        _ = try await Self.git(["pack-refs", "--all"], in: repository)
        #expect(
            (try await Self.write(package: repository).graph?["subject"] as? [String: Any])?["revision"] as? String
                == first)
        #expect(
            (try await Self.write(package: linked).graph?["subject"] as? [String: Any])?["revision"] as? String
                == second)
    }

    /// The plugin runs only when SwiftPM plans the build again: an edit of samd-sbom.json, a new commit and a
    /// broken file must reach the next build all the same.
    @Test func anEditACommitAndABrokenFileReachTheNextBuild() async throws {
        let copy = try Self.temporaryPackage()
        defer { try? FileManager.default.removeItem(at: copy) }
        for item in ["Package.swift", "Sources", "samd-sbom.json"] {
            try FileManager.default.copyItem(
                at: ProductSBOMTests.fixture.appendingPathComponent(item), to: copy.appendingPathComponent(item))
        }
        _ = try await Self.git(["init", "-q"], in: copy)
        _ = try await Self.git(["add", "."], in: copy)
        _ = try await Self.git(["commit", "-q", "-m", "one"], in: copy)

        func build() async throws -> ChildProcess.Run {
            try await ChildProcess.run(
                URL(fileURLWithPath: "/usr/bin/env"),
                [
                    "swift", "build", "--package-path", copy.path, "--scratch-path",
                    copy.appendingPathComponent(".build").path, "--product", "deviceapp",
                ],
                environment: ["SAMDKIT_PACKAGE_PATH": SBOMHarness.packageRoot.path], timeout: .seconds(900))
        }
        func subject() async throws -> [String: Any] {
            let run = try await ChildProcess.run(copy.appendingPathComponent(".build/debug/deviceapp"), ["cyclonedx"])
            let document = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
            return try #require((document["metadata"] as? [String: Any])?["component"] as? [String: Any])
        }
        func revision(_ subject: [String: Any]) -> String? {
            ((subject["properties"] as? [[String: String]]) ?? []).first { $0["name"] == "samd:scmRevision" }?["value"]
        }

        var run = try await build()
        #expect(run.status == 0, "\(run.output) \(run.standardError)")
        var current = try await subject()
        #expect(current["version"] as? String == "2.4.1")
        #expect(revision(current) == (try await Self.git(["rev-parse", "HEAD"], in: copy)))

        // Edited in place, and committed: the next build says 2.4.2 and the new commit.
        let configuration = copy.appendingPathComponent("samd-sbom.json")
        let text = try String(contentsOf: configuration, encoding: .utf8).replacingOccurrences(
            of: "2.4.1", with: "2.4.2")
        try Data(text.utf8).write(to: configuration)
        _ = try await Self.git(["commit", "-q", "-am", "two"], in: copy)
        run = try await build()
        #expect(run.status == 0, "\(run.output) \(run.standardError)")
        current = try await subject()
        #expect(current["version"] as? String == "2.4.2")
        #expect(revision(current) == (try await Self.git(["rev-parse", "HEAD"], in: copy)))

        // Broken: the build stops and says why.
        try Data(#"{"verison": "2.4.3"}"#.utf8).write(to: configuration)
        run = try await build()
        #expect(run.status != 0 && run.status != nil)
        #expect((run.output + run.standardError).contains(#"unknown field "verison""#), "\(run.output)")
    }
}
