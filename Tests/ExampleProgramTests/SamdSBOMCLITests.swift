import Foundation
import SaMDCrypto
import SaMDSBOM
import SaMDTestSupport
import Testing

/// Runs the samd-sbom binary and the external validators.
enum SBOMHarness {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let python = packageRoot.appendingPathComponent(".build/tools/venv/bin/python")

    static func executable() throws -> URL {
        try ProgramLocations.binary("samd-sbom")
    }

    static func run(_ executable: URL, _ arguments: [String]) async throws -> ChildProcess.Run {
        try await ChildProcess.run(executable, arguments, timeout: .seconds(120))
    }

    static func sbom(_ arguments: [String]) async throws -> ChildProcess.Run {
        try await self.run(try self.executable(), arguments)
    }

    static func resource(_ name: String) throws -> String {
        try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "advisories")).path
    }

    /// Fails (does not skip) when Scripts/setup has not installed the validators.
    static func requireTool(_ path: URL) throws {
        guard FileManager.default.isExecutableFile(atPath: path.path) else {
            Issue.record("\(path.path) is missing: run Scripts/setup to install the SBOM validators")
            throw CocoaError(.fileNoSuchFile)
        }
    }

    /// Validates a CycloneDX 1.6 JSON file with cyclonedx-python-lib's strict schema validator; records an issue
    /// (with the validator's message) when it is not valid.
    static func expectValidCycloneDX(_ file: URL, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try self.requireTool(self.python)
        let script = """
            import sys
            from cyclonedx.validation.json import JsonStrictValidator
            from cyclonedx.schema import SchemaVersion
            error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())
            print(error if error else "valid")
            sys.exit(1 if error else 0)
            """
        let check = try await self.run(self.python, ["-c", script, file.path])
        #expect(
            check.status == 0, "CycloneDX 1.6 validation: \(check.output) \(check.standardError)",
            sourceLocation: sourceLocation)
    }

    /// Validates an SPDX 2.3 JSON file with pyspdxtools and checks the NTIA minimum elements with ntia-checker.
    static func expectValidSPDX(_ file: URL, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let bin = self.packageRoot.appendingPathComponent(".build/tools/venv/bin")
        try self.requireTool(bin.appendingPathComponent("pyspdxtools"))
        try self.requireTool(bin.appendingPathComponent("ntia-checker"))
        let spdx = try await self.run(bin.appendingPathComponent("pyspdxtools"), ["-i", file.path])
        #expect(spdx.status == 0, "pyspdxtools: \(spdx.output) \(spdx.standardError)", sourceLocation: sourceLocation)
        let ntia = try await self.run(bin.appendingPathComponent("ntia-checker"), ["--file", file.path])
        #expect(
            ntia.output.contains("Conformant: True"), "ntia-checker: \(ntia.output) \(ntia.standardError)",
            sourceLocation: sourceLocation)
    }

    static func temporaryFile(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("samd-sbom-\(UUID().uuidString)-\(name)")
    }
}

@Suite("samd-sbom documents")
struct SBOMDocumentTests {
    @Test func cycloneDXPassesTheStrictValidator() async throws {
        let file = SBOMHarness.temporaryFile("bom.cdx.json")
        defer { try? FileManager.default.removeItem(at: file) }
        let run = try await SBOMHarness.sbom(["--format", "cyclonedx", "--output", file.path])
        #expect(run.status == 0, "\(run.standardError)")
        try await SBOMHarness.expectValidCycloneDX(file)
    }

    @Test func spdxPassesPySPDXToolsAndNTIA() async throws {
        let file = SBOMHarness.temporaryFile("bom.spdx.json")
        defer { try? FileManager.default.removeItem(at: file) }
        let run = try await SBOMHarness.sbom(["--format", "spdx", "--output", file.path])
        #expect(run.status == 0, "\(run.standardError)")
        try await SBOMHarness.expectValidSPDX(file)
        // Every package with a file carries SHA-256 and SHA-512 checksums (BSI TR-03183-2), and validates so.
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        let withFiles = ((document["packages"] as? [[String: Any]]) ?? []).filter { $0["packageFileName"] != nil }
        #expect(!withFiles.isEmpty)
        for package in withFiles {
            let algorithms = ((package["checksums"] as? [[String: String]]) ?? []).compactMap { $0["algorithm"] }
            #expect(algorithms == ["SHA256", "SHA512"], "\(package["name"] ?? "?"): \(algorithms)")
        }
    }

    /// This test bundle applies no plugin, so its SBOM is SaMDKit's graph: SaMDPostgres among the library
    /// products, with swift-crypto's and swift-nio-ssl's BoringSSL and the SCRAM-SHA-256 login in the CBOM (a
    /// protocol asset of type `other`). Both documents still validate.
    @Test func theFallbackWithThePostgreSQLLoginPassesTheValidators() async throws {
        let inventory = try SBOMInventory.current()
        #expect(inventory.buildGraphSource == .samdKit)
        #expect(inventory.cryptographicAssets.contains { $0.reference == "crypto/scram-sha-256" })
        let cycloneDX = SBOMHarness.temporaryFile("fallback.cdx.json")
        let spdx = SBOMHarness.temporaryFile("fallback.spdx.json")
        defer {
            try? FileManager.default.removeItem(at: cycloneDX)
            try? FileManager.default.removeItem(at: spdx)
        }
        try inventory.document(.cycloneDX).write(to: cycloneDX)
        try inventory.document(.spdx).write(to: spdx)
        try await SBOMHarness.expectValidCycloneDX(cycloneDX)
        try await SBOMHarness.expectValidSPDX(spdx)
    }

    @Test func librariesMatchTheRunningProcess() async throws {
        let run = try await SBOMHarness.sbom(["--format", "cyclonedx"])
        #expect(run.status == 0, "\(run.standardError)")
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        let components = try #require(document["components"] as? [[String: Any]])
        func component(_ reference: String, in list: [[String: Any]]) -> [String: Any]? {
            for item in list {
                if item["bom-ref"] as? String == reference { return item }
                if let found = component(reference, in: (item["components"] as? [[String: Any]]) ?? []) { return found }
            }
            return nil
        }
        func property(_ item: [String: Any]?, _ name: String) -> String? {
            ((item?["properties"] as? [[String: String]]) ?? []).first { $0["name"] == name }?["value"]
        }
        func digest(_ item: [String: Any]?, _ algorithm: String) -> String? {
            ((item?["hashes"] as? [[String: String]]) ?? []).first { $0["alg"] == algorithm }?["content"]
        }
        func sha256(_ item: [String: Any]?) -> String? { digest(item, "SHA-256") }
        func hash(_ path: String, _ algorithm: DigestAlgorithm = .sha256) throws -> String {
            try algorithm.hash(Array(try Data(contentsOf: URL(fileURLWithPath: path)))).map {
                String(format: "%02x", $0)
            }.joined()
        }

        let report = try RuntimeReport.current()
        let openssl = component("openssl", in: components)
        #expect(property(openssl, "samd:runtimeVersion") == report.openSSL.version)
        #expect(report.openSSL.version.contains(try #require(openssl?["version"] as? String)))
        for (reference, path) in [
            ("openssl:libssl", report.openSSL.libsslPath), ("openssl:libcrypto", report.openSSL.libcryptoPath),
        ] {
            let path = try #require(path)
            let file = component(reference, in: components)
            #expect(property(file, "samd:path") == path)
            #expect(sha256(file) == (try hash(path)))
            // BSI TR-03183-2: SHA-512 of each file as well.
            #expect(digest(file, "SHA-512") == (try hash(path, .sha512)))
        }
        let sodium = component("libsodium", in: components)
        #expect(sodium?["version"] as? String == report.sodium.version)
        let sodiumPath = try #require(report.sodium.path)
        #expect(property(sodium, "samd:path") == sodiumPath)
        #expect(sha256(sodium) == (try hash(sodiumPath)))
        #expect(digest(sodium, "SHA-512") == (try hash(sodiumPath, .sha512)))
        #expect(property(openssl, "cdx:lifecycle:milestone:endOfSupport") != nil)
    }

    /// samd-sbom applies SaMDBuildGraphPlugin like an integrator's product: it is the subject, and the Swift
    /// packages are exactly those it links — not GRDB (SaMDStore), nor postgres-nio and what it brings
    /// (SaMDPostgres): no swift-nio-ssl, no swift-crypto, and no PostgreSQL login in its CBOM.
    @Test func samdSBOMDescribesItselfAndWhatItLinks() async throws {
        let run = try await SBOMHarness.sbom(["--format", "cyclonedx"])
        #expect(run.status == 0, "\(run.standardError)")
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        let metadata = try #require(document["metadata"] as? [String: Any])
        let subject = try #require(metadata["component"] as? [String: Any])
        #expect(subject["name"] as? String == "samd-sbom")
        #expect(subject["type"] as? String == "application")
        #expect(subject["version"] as? String == SaMDKit.version)
        let references = Set(
            ((document["components"] as? [[String: Any]]) ?? []).compactMap { $0["bom-ref"] as? String })
        for linked in ["swift:swift-argument-parser", "swift:swift-nio", "swift:swift-log", "openssl", "libsodium"] {
            #expect(references.contains(linked), "missing \(linked)")
        }
        for unlinked in [
            "swift:grdb.swift", "swift:swift-nio-ssl", "swift:swift-docc-plugin", "swift:postgres-nio",
            "swift:swift-crypto", "crypto/scram-sha-256",
        ] {
            #expect(!references.contains(unlinked), "\(unlinked) is not linked into samd-sbom")
        }
        #expect(!references.contains { $0.hasPrefix("crypto/scram-sha-256/") })
    }

    /// What samd-sbom itself loaded besides OpenSSL and libsodium: glibc (Debian's libc6) and the Swift runtime of
    /// the toolchain, each file with SHA-256 and SHA-512 equal to sha256sum's and sha512sum's, in `dependsOn`.
    @Test func loadedSharedObjectsCarryBothHashesAndTheirPackage() async throws {
        let run = try await SBOMHarness.sbom(["--format", "cyclonedx"])
        #expect(run.status == 0, "\(run.standardError)")
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        let components = try #require(document["components"] as? [[String: Any]])
        func top(_ reference: String) throws -> [String: Any] {
            try #require(components.first { $0["bom-ref"] as? String == reference }, "no component \(reference)")
        }
        func file(_ name: String, in parent: [String: Any]) throws -> [String: Any] {
            try #require(((parent["components"] as? [[String: Any]]) ?? []).first { $0["name"] as? String == name })
        }
        func property(_ item: [String: Any], _ name: String) -> String? {
            ((item["properties"] as? [[String: String]]) ?? []).first { $0["name"] == name }?["value"]
        }
        func expectHashes(_ item: [String: Any]) async throws {
            let path = try #require(property(item, "samd:path"))
            let hashes = (item["hashes"] as? [[String: String]]) ?? []
            for (algorithm, tool) in [("SHA-256", "sha256sum"), ("SHA-512", "sha512sum")] {
                let check = try await SBOMHarness.run(URL(fileURLWithPath: "/usr/bin/\(tool)"), [path])
                let expected = check.output.split(separator: " ").first.map(String.init)
                #expect(check.status == 0 && expected != nil)
                #expect(hashes.first { $0["alg"] == algorithm }?["content"] == expected, "\(algorithm) of \(path)")
            }
        }

        let libc6 = try top("deb:libc6")
        #expect((libc6["purl"] as? String)?.hasPrefix("pkg:deb/debian/libc6@") ?? false)
        #expect(property(libc6, "samd:debianSource") == "glibc")
        try await expectHashes(try file("libc.so.6", in: libc6))

        let runtime = try top("swift-runtime")
        #expect(runtime["version"] as? String != nil)
        #expect(property(runtime, "samd:linkage") == "dynamic")
        let core = try file("libswiftCore.so", in: runtime)
        #expect(core["version"] as? String == runtime["version"] as? String)
        try await expectHashes(core)

        let dependencies = try #require(document["dependencies"] as? [[String: Any]])
        // samd-sbom is its own subject (it applies SaMDBuildGraphPlugin): bom-ref "product".
        let subject = try #require(dependencies.first { $0["ref"] as? String == "product" })
        let dependsOn = (subject["dependsOn"] as? [String]) ?? []
        #expect(dependsOn.contains("deb:libc6") && dependsOn.contains("swift-runtime"))
        // Every file once: libssl, libcrypto and libsodium stay under their own components, not listed again.
        func paths(_ list: [[String: Any]]) -> [String] {
            list.flatMap { item in
                [property(item, "samd:path")].compactMap { $0 } + paths((item["components"] as? [[String: Any]]) ?? [])
            }
        }
        let all = paths(components)
        #expect(Set(all).count == all.count, "\(all)")
        #expect(all.contains { $0.hasSuffix("/libcrypto.so.3") } && all.contains { $0.contains("/libsodium.so") })
    }

}

@Suite("samd-sbom --check")
struct SBOMCheckTests {
    @Test func matchingAdvisoryExitsWith78AndPrintsTheFinding() async throws {
        let run = try await SBOMHarness.sbom(["--check", try SBOMHarness.resource("matching")])
        #expect(run.status == 78, "\(run.output) \(run.standardError)")
        #expect(run.output.contains("TEST-2026-0001"))
        #expect(run.output.contains("fixed in 99.0.0"))
    }

    /// An advisories file is third-party text: a summary or id with a newline, a carriage return, an escape
    /// sequence or a bidirectional override is printed escaped, each finding on its one line.
    @Test func aFindingQuotingControlCharactersIsPrintedEscapedOnOneLine() async throws {
        let record: [String: Any] = [
            "id": "TEST-2026-0002\u{1B}[2J", "summary": "line one\nok: no advisory affects\r\u{202E}",
            "affected": [
                [
                    "package": ["ecosystem": "OSS-Fuzz", "name": "openssl"],
                    "ranges": [["type": "ECOSYSTEM", "events": [["introduced": "0"], ["fixed": "99.0.0"]]]],
                ]
            ],
        ]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("advisory-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: [record]).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let run = try await SBOMHarness.sbom(["--check", file.path])
        #expect(run.status == 78, "\(run.output) \(run.standardError)")
        let lines = run.output.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines[1].isEmpty, "\(run.output.debugDescription)")
        #expect(
            run.output.contains("TEST-2026-0002\\u{1B}[2J")
                && run.output.contains("line one\\nok: no advisory affects\\r\\u{202E}"))
        #expect(!run.output.unicodeScalars.contains { $0 == "\r" || $0 == "\u{1B}" || $0 == "\u{202E}" })
    }

    @Test func nonMatchingAdvisoryExitsZero() async throws {
        let run = try await SBOMHarness.sbom(["--check", try SBOMHarness.resource("nonmatching")])
        #expect(run.status == 0, "\(run.output) \(run.standardError)")
    }

    @Test func vexStatementSuppressesTheMatch() async throws {
        let run = try await SBOMHarness.sbom([
            "--check", try SBOMHarness.resource("matching"), "--vex", try SBOMHarness.resource("vex"),
        ])
        #expect(run.status == 0, "\(run.output) \(run.standardError)")
        #expect(!run.output.contains("TEST-2026-0001"))
    }

    @Test func expiredEndOfSupportExitsWith78() async throws {
        let run = try await SBOMHarness.sbom([
            "--check", try SBOMHarness.resource("nonmatching"), "--as-of", "2099-01-01",
        ])
        #expect(run.status == 78)
        #expect(
            run.output.contains("END OF SUPPORT") || run.output.contains("UNSUPPORTED"),
            "\(run.output)")
        #expect(run.output.contains("openssl"))
    }

    @Test func malformedAndMissingInputs() async throws {
        let bad = SBOMHarness.temporaryFile("bad.json")
        try Data("{not json".utf8).write(to: bad)
        defer { try? FileManager.default.removeItem(at: bad) }
        #expect(try await SBOMHarness.sbom(["--check", bad.path]).status == 65)
        #expect(try await SBOMHarness.sbom(["--check", "/nonexistent/advisories.json"]).status == 66)
    }

    @Test(arguments: ["2028-13-45", "2027-02-29", "2028-00-10", "2028-1-01", "２０２８-01-01"])
    func impossibleAsOfDatesExit64(day: String) async throws {
        let run = try await SBOMHarness.sbom(["--check", try SBOMHarness.resource("nonmatching"), "--as-of", day])
        #expect(run.status == 64, "\(day): \(run.output) \(run.standardError)")
    }

    @Test func leapDayIsAccepted() async throws {
        let run = try await SBOMHarness.sbom([
            "--check", try SBOMHarness.resource("nonmatching"), "--as-of", "2028-02-29",
        ])
        #expect(run.status == 0 || run.status == 78, "\(run.output) \(run.standardError)")
    }
}
