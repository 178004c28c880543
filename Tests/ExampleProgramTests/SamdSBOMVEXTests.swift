import Foundation
import SaMDSBOM
import SaMDTestSupport
import Testing

/// `samd-sbom --check … --vex-format cyclonedx|csaf`: the documents pass CycloneDX 1.6 strict validation, the
/// CSAF 2.0 JSON schema (with the CVSS schemas it refers to, from the `csaf` package, no network) and that
/// package's mandatory tests (CSAF 2.0 §6.1); they say what the check decided.
@Suite("samd-sbom --check VEX documents")
struct SBOMVEXDocumentTests {
    /// CSAF 2.0 JSON schema validation with the schema the `csaf` package bundles; its `$ref`s to the CVSS
    /// schemas are resolved from the package's copies, so nothing is fetched.
    static let csafSchemaScript = """
        import json, pathlib, sys
        import csaf
        from jsonschema import Draft202012Validator
        from referencing import Registry, Resource
        schemas = pathlib.Path(csaf.__file__).parent / "csaf" / "v20" / "schema"
        registry = Registry().with_resources(
            ("https://www.first.org/cvss/" + path.name, Resource.from_contents(json.loads(path.read_text())))
            for path in sorted((schemas / "referenced").glob("cvss-v*.json")))
        validator = Draft202012Validator(
            json.loads((schemas / "csaf.json").read_text()), registry=registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(json.load(open(sys.argv[1])))]
        print("\\n".join(errors) if errors else "valid")
        sys.exit(1 if errors else 0)
        """

    static let cycloneDXScript = """
        import sys
        from cyclonedx.validation.json import JsonStrictValidator
        from cyclonedx.schema import SchemaVersion
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())
        print(error if error else "valid")
        sys.exit(1 if error else 0)
        """

    /// Both CSAF validations: the JSON schema, and `csaf validate` with the mandatory tests (preset basic).
    static func expectValidCSAF(_ file: URL) async throws {
        try SBOMHarness.requireTool(SBOMHarness.python)
        let schema = try await SBOMHarness.run(SBOMHarness.python, ["-c", Self.csafSchemaScript, file.path])
        #expect(schema.status == 0, "CSAF 2.0 JSON schema: \(schema.output) \(schema.standardError)")
        let mandatory = try await SBOMHarness.run(
            SBOMHarness.python,
            ["-m", "csaf", "validate", "--spec-version", "v20", "--preset", "basic", "--no-network", "-q", file.path])
        #expect(mandatory.status == 0, "CSAF 2.0 mandatory tests: \(mandatory.output) \(mandatory.standardError)")
        #expect(mandatory.output.contains("Overall: PASS"), "\(mandatory.output)")
    }

    static func expectValidCycloneDX(_ file: URL) async throws {
        try SBOMHarness.requireTool(SBOMHarness.python)
        let check = try await SBOMHarness.run(SBOMHarness.python, ["-c", Self.cycloneDXScript, file.path])
        #expect(check.status == 0, "CycloneDX 1.6 validation: \(check.output) \(check.standardError)")
    }

    static func object(_ file: URL) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
    }

    static func vulnerability(_ document: [String: Any], _ id: String) throws -> [String: Any] {
        try #require((document["vulnerabilities"] as? [[String: Any]])?.first { $0["id"] as? String == id })
    }

    @Test func cycloneDXVEXValidatesAndSaysExploitableOrNotAffected() async throws {
        let matching = try SBOMHarness.resource("matching")
        let file = SBOMHarness.temporaryFile("vex.cdx.json")
        defer { try? FileManager.default.removeItem(at: file) }

        // Unsuppressed: the finding exits 78, and the document is written all the same.
        let run = try await SBOMHarness.sbom(["--check", matching, "--vex-format", "cyclonedx", "--output", file.path])
        #expect(run.status == 78, "\(run.output) \(run.standardError)")
        #expect(run.standardError.contains("VULNERABLE") && run.output.isEmpty, "the lines go to standard error")
        try await Self.expectValidCycloneDX(file)
        let affected = try Self.vulnerability(try Self.object(file), "TEST-2026-0001")
        let analysis = try #require(affected["analysis"] as? [String: Any])
        #expect(analysis["state"] as? String == "exploitable")
        #expect(analysis["response"] as? [String] == ["update"])
        #expect((affected["recommendation"] as? String)?.contains("99.0.0") == true)
        #expect((affected["affects"] as? [[String: Any]])?.first?["ref"] as? String == "openssl")
        #expect((affected["references"] as? [[String: Any]])?.first?["id"] as? String == "CVE-0000-0001")

        // Suppressed by the OpenVEX statement: exit 0, not_affected with the justification carried over.
        let suppressed = try await SBOMHarness.sbom([
            "--check", matching, "--vex", try SBOMHarness.resource("vex"), "--vex-format", "cyclonedx",
            "--output", file.path,
        ])
        #expect(suppressed.status == 0, "\(suppressed.output) \(suppressed.standardError)")
        try await Self.expectValidCycloneDX(file)
        let notAffected = try Self.vulnerability(try Self.object(file), "TEST-2026-0001")
        let words = try #require(notAffected["analysis"] as? [String: Any])
        #expect(words["state"] as? String == "not_affected")
        #expect(words["justification"] as? String == "code_not_reachable")
    }

    @Test func csafVEXValidatesAndSaysKnownAffectedOrKnownNotAffected() async throws {
        let matching = try SBOMHarness.resource("matching")
        let file = SBOMHarness.temporaryFile("vex.csaf.json")
        defer { try? FileManager.default.removeItem(at: file) }

        let run = try await SBOMHarness.sbom([
            "--check", matching, "--vex-format", "csaf", "--author", "Example Medical Devices Inc.",
            "--publisher-namespace", "https://devices.example.com", "--output", file.path,
        ])
        #expect(run.status == 78, "\(run.output) \(run.standardError)")
        try await Self.expectValidCSAF(file)
        let document = try Self.object(file)
        let meta = try #require(document["document"] as? [String: Any])
        #expect(meta["category"] as? String == "csaf_vex")
        #expect((meta["publisher"] as? [String: String])?["name"] == "Example Medical Devices Inc.")
        let affected = try #require((document["vulnerabilities"] as? [[String: Any]])?.first)
        #expect(affected["cve"] as? String == "CVE-0000-0001")
        #expect(affected["product_status"] as? [String: [String]] == ["known_affected": ["openssl"]])
        let remediation = try #require((affected["remediations"] as? [[String: Any]])?.first)
        #expect(remediation["category"] as? String == "vendor_fix")
        #expect((remediation["details"] as? String)?.contains("99.0.0") == true)

        let suppressed = try await SBOMHarness.sbom([
            "--check", matching, "--vex", try SBOMHarness.resource("vex"), "--vex-format", "csaf", "--output",
            file.path,
        ])
        #expect(suppressed.status == 0, "\(suppressed.output) \(suppressed.standardError)")
        try await Self.expectValidCSAF(file)
        let notAffected = try #require((try Self.object(file)["vulnerabilities"] as? [[String: Any]])?.first)
        #expect(notAffected["product_status"] as? [String: [String]] == ["known_not_affected": ["openssl"]])
        let flag = try #require((notAffected["flags"] as? [[String: Any]])?.first)
        #expect(flag["label"] as? String == "vulnerable_code_not_in_execute_path")
        #expect(flag["product_ids"] as? [String] == ["openssl"])
    }

    /// Four advisories on the running OpenSSL, one OpenVEX statement each: every status reaches both documents in
    /// their own terms, and both stay valid (CSAF: flags and impact threat, remediations, status notes).
    @Test(arguments: ["cyclonedx", "csaf"])
    func everyOpenVEXStatusIsHandedOn(format: String) async throws {
        let statuses = ["not_affected", "fixed", "under_investigation", "affected"]
        let records = statuses.indices.map { index -> [String: Any] in
            [
                "id": "TEST-2026-001\(index)", "aliases": ["CVE-0000-001\(index)"], "summary": statuses[index],
                "references": [["type": "ADVISORY", "url": "https://advisories.example/\(index)"]],
                "severity": [["type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"]],
                "affected": [
                    [
                        "package": ["ecosystem": "OSS-Fuzz", "name": "openssl"],
                        "ranges": [
                            ["type": "ECOSYSTEM", "events": [["introduced": "0"], ["fixed": "99.0.\(index)"]]]
                        ],
                    ]
                ],
            ]
        }
        let statements = statuses.indices.map { index -> [String: Any] in
            var statement: [String: Any] = [
                "vulnerability": ["name": "CVE-0000-001\(index)"], "products": [["@id": "pkg:generic/openssl"]],
                "status": statuses[index], "status_notes": "notes on \(statuses[index])",
            ]
            if statuses[index] == "not_affected" {
                statement["justification"] = "inline_mitigations_already_exist"
                statement["impact_statement"] = "the mitigation is in place"
            }
            if statuses[index] == "affected" { statement["action_statement"] = "disable the feature" }
            return statement
        }
        let vex: [String: Any] = [
            "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://samdkit.invalid/vex/statuses",
            "author": "test", "timestamp": "2026-11-30T00:00:00Z", "version": 1, "statements": statements,
        ]
        let advisoriesFile = SBOMHarness.temporaryFile("statuses.json")
        let vexFile = SBOMHarness.temporaryFile("statuses.vex.json")
        let file = SBOMHarness.temporaryFile("statuses.\(format).json")
        try JSONSerialization.data(withJSONObject: records).write(to: advisoriesFile)
        try JSONSerialization.data(withJSONObject: vex).write(to: vexFile)
        defer {
            for url in [advisoriesFile, vexFile, file] { try? FileManager.default.removeItem(at: url) }
        }
        let run = try await SBOMHarness.sbom([
            "--check", advisoriesFile.path, "--vex", vexFile.path, "--vex-format", format, "--output", file.path,
        ])
        #expect(run.status == 78, "affected and under_investigation are findings: \(run.standardError)")
        let document = try Self.object(file)
        if format == "csaf" {
            try await Self.expectValidCSAF(file)
            let vulnerabilities = try #require(document["vulnerabilities"] as? [[String: Any]])
            let byCVE = Dictionary(
                uniqueKeysWithValues: vulnerabilities.map { ($0["cve"] as? String ?? "", $0) })
            let expected = ["known_not_affected", "fixed", "under_investigation", "known_affected"]
            for index in statuses.indices {
                let entry = try #require(byCVE["CVE-0000-001\(index)"])
                #expect(entry["product_status"] as? [String: [String]] == [expected[index]: ["openssl"]])
                let notes = (entry["notes"] as? [[String: String]]) ?? []
                #expect(notes.contains { $0["text"] == "notes on \(statuses[index])" })
            }
            let notAffected = try #require(byCVE["CVE-0000-0010"])
            #expect(
                (notAffected["flags"] as? [[String: Any]])?.first?["label"] as? String
                    == "inline_mitigations_already_exist")
            #expect(
                (notAffected["threats"] as? [[String: Any]])?.first?["details"] as? String
                    == "the mitigation is in place")
            let remediation = try #require((byCVE["CVE-0000-0013"]?["remediations"] as? [[String: Any]])?.first)
            #expect(remediation["category"] as? String == "vendor_fix")
            #expect((remediation["details"] as? String)?.contains("99.0.3") == true)
            #expect((remediation["details"] as? String)?.contains("disable the feature") == true)
        } else {
            try await Self.expectValidCycloneDX(file)
            let expected = ["not_affected", "resolved", "in_triage", "exploitable"]
            for index in statuses.indices {
                let entry = try Self.vulnerability(document, "TEST-2026-001\(index)")
                let analysis = try #require(entry["analysis"] as? [String: Any])
                #expect(analysis["state"] as? String == expected[index])
                #expect((analysis["detail"] as? String)?.contains("notes on \(statuses[index])") == true)
                #expect((entry["ratings"] as? [[String: String]])?.first?["method"] == "CVSSv31")
                #expect(
                    (entry["advisories"] as? [[String: String]])?.first?["url"] == "https://advisories.example/\(index)"
                )
            }
            let notAffected = try #require(
                try Self.vulnerability(document, "TEST-2026-0010")["analysis"] as? [String: Any])
            #expect(notAffected["justification"] as? String == "protected_by_mitigating_control")
            let affected = try Self.vulnerability(document, "TEST-2026-0013")
            #expect((affected["analysis"] as? [String: Any])?["response"] as? [String] == ["update"])
            #expect((affected["recommendation"] as? String)?.contains("disable the feature") == true)
        }
    }

    /// Without --output the document is standard output, whole and alone: the finding lines go to standard error.
    @Test func withoutOutputTheDocumentIsStandardOutput() async throws {
        let run = try await SBOMHarness.sbom([
            "--check", try SBOMHarness.resource("matching"), "--vex-format", "csaf",
        ])
        #expect(run.status == 78, "\(run.standardError)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        #expect((document["document"] as? [String: Any])?["category"] as? String == "csaf_vex")
        #expect(run.standardError.contains("VULNERABLE") && run.standardError.contains("TEST-2026-0001"))
    }

    /// Advisories that name the running components but not their versions: handed on as fixed (the fix is in the
    /// running version) and known_not_affected, exit 0; a file that names nothing running makes no CSAF document.
    @Test func advisoriesThatLeaveTheRunningVersionsOutAreHandedOn() async throws {
        let file = SBOMHarness.temporaryFile("nonmatching.csaf.json")
        defer { try? FileManager.default.removeItem(at: file) }
        let run = try await SBOMHarness.sbom([
            "--check", try SBOMHarness.resource("nonmatching"), "--vex-format", "csaf", "--output", file.path,
        ])
        #expect(run.status == 0, "\(run.standardError)")
        try await Self.expectValidCSAF(file)
        let vulnerability = try #require((try Self.object(file)["vulnerabilities"] as? [[String: Any]])?.first)
        #expect((vulnerability["ids"] as? [[String: String]])?.first?["text"] == "TEST-2026-0002")
        #expect(
            vulnerability["product_status"] as? [String: [String]] == [
                "fixed": ["openssl"], "known_not_affected": ["swift:swift-nio"],
            ])
        #expect(
            (vulnerability["flags"] as? [[String: Any]])?.first?["label"] as? String == "vulnerable_code_not_present")

        let nothing = SBOMHarness.temporaryFile("nothing.json")
        try Data("[]".utf8).write(to: nothing)
        defer { try? FileManager.default.removeItem(at: nothing) }
        let empty = try await SBOMHarness.sbom(["--check", nothing.path, "--vex-format", "csaf", "--output", file.path])
        #expect(empty.status == 65, "\(empty.standardError)")
        #expect(empty.standardError.contains("6.1.27.11"))
        let cycloneDX = try await SBOMHarness.sbom([
            "--check", nothing.path, "--vex-format", "cyclonedx", "--output", file.path,
        ])
        #expect(cycloneDX.status == 0, "\(cycloneDX.standardError)")
        #expect((try Self.object(file)["vulnerabilities"] as? [Any])?.isEmpty == true)
    }

    /// The shipped advisories and VEX on this machine: every assessment in both documents, both valid.
    @Test func theShippedAdvisoriesGiveValidDocuments() async throws {
        let advisories = try #require(SBOMResources.advisories).path
        let vex = try #require(SBOMResources.vex).path
        for format in ["cyclonedx", "csaf"] {
            let file = SBOMHarness.temporaryFile("shipped.\(format).json")
            defer { try? FileManager.default.removeItem(at: file) }
            let run = try await SBOMHarness.sbom([
                "--check", advisories, "--vex", vex, "--vex-format", format, "--output", file.path,
            ])
            #expect(run.status == 0 || run.status == 78, "\(run.standardError)")
            let reported = run.standardError.split(separator: "\n").filter { $0.contains("VULNERABLE") }.count
            let vulnerabilities = (try Self.object(file)["vulnerabilities"] as? [[String: Any]]) ?? []
            if format == "csaf" {
                try await Self.expectValidCSAF(file)
                let affected = vulnerabilities.flatMap {
                    ($0["product_status"] as? [String: [String]])?["known_affected"] ?? []
                }
                #expect(affected.count == reported, "every reported finding is known_affected")
                // Debian 12's OpenSSL 3.0.19-1~deb12u2 carries the fix of CVE-2026-31790 (its changelog).
                let openssl = try SBOMInventory.current().allComponents.first { $0.reference == "openssl" }
                if openssl?.debianPackage?.version == "3.0.19-1~deb12u2" {
                    let entry = vulnerabilities.first { $0["cve"] as? String == "CVE-2026-31790" }
                    #expect(entry?["product_status"] as? [String: [String]] == ["fixed": ["openssl"]])
                }
            } else {
                try await Self.expectValidCycloneDX(file)
                let exploitable = vulnerabilities.filter {
                    ($0["analysis"] as? [String: Any])?["state"] as? String == "exploitable"
                }
                #expect(exploitable.count == reported, "every reported finding is exploitable")
            }
        }
    }

    /// Runs `--check` with `--vex-format format` on one OSV record: `fields` and an `affected` entry for every
    /// OpenSSL before 99.0.0. Expects exit 78 and a document the format's validator takes; returns the run and
    /// the document.
    static func checkOneAdvisory(_ fields: [String: Any], format: String) async throws -> (
        ChildProcess.Run, [String: Any]
    ) {
        var record = fields
        record["affected"] = [
            [
                "package": ["ecosystem": "OSS-Fuzz", "name": "openssl"],
                "ranges": [["type": "ECOSYSTEM", "events": [["introduced": "0"], ["fixed": "99.0.0"]]]],
            ]
        ]
        let advisories = SBOMHarness.temporaryFile("advisory.json")
        let file = SBOMHarness.temporaryFile("advisory.\(format).json")
        try JSONSerialization.data(withJSONObject: [record]).write(to: advisories)
        defer {
            try? FileManager.default.removeItem(at: advisories)
            try? FileManager.default.removeItem(at: file)
        }
        let run = try await SBOMHarness.sbom([
            "--check", advisories.path, "--vex-format", format, "--output", file.path,
        ])
        #expect(run.status == 78, "\(run.standardError.prefix(500))")
        if format == "csaf" {
            try await Self.expectValidCSAF(file)
        } else {
            try await Self.expectValidCycloneDX(file)
        }
        return (run, try Self.object(file))
    }

    /// An advisory's id and summary are third-party text: control characters, a bidirectional override and a
    /// 1 MiB summary go into both documents as JSON strings, which stay valid and say exactly what was given.
    @Test(arguments: ["cyclonedx", "csaf"])
    func aHostileAdvisoryCannotBreakTheDocument(format: String) async throws {
        let summary =
            "line one\n\"},{\"injected\": true\r\u{1B}[2J\u{202E}\u{0}" + String(repeating: "x", count: 1 << 20)
        let record: [String: Any] = [
            "id": "TEST-2026-0003\u{1B}]0;title\u{7}", "aliases": ["CVE-0000-0003"], "summary": summary,
            "references": [
                ["type": "WEB", "url": "javascript:alert(1)"], ["type": "WEB", "url": "https://a.example/\n"],
            ],
        ]
        let (run, document) = try await Self.checkOneAdvisory(record, format: format)
        #expect(!run.standardError.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\r" || $0 == "\u{202E}" })
        if format == "csaf" {
            let vulnerability = try #require((document["vulnerabilities"] as? [[String: Any]])?.first)
            #expect((vulnerability["notes"] as? [[String: String]])?.first?["text"] == summary)
            #expect(vulnerability["references"] == nil, "no reference that is not an http(s) URL is handed on")
        } else {
            let vulnerability = try Self.vulnerability(document, "TEST-2026-0003\u{1B}]0;title\u{7}")
            #expect(vulnerability["description"] as? String == summary)
            #expect(vulnerability["advisories"] == nil)
        }
    }

    /// What the validators refuse never reaches a document: a blank summary is no summary, a reference that is
    /// no strict RFC 3986 http(s) URI (a bad escape, two '#', userinfo, an IP literal) is left out, and so is a
    /// CVSS vector that is not of its type's form; the rest of the advisory is handed on.
    @Test(arguments: ["cyclonedx", "csaf"])
    func blankSummariesBadURIsAndMisratedVectorsLeaveValidDocuments(format: String) async throws {
        let kept = "https://h.example/advisory?id=1#top"
        let record: [String: Any] = [
            "id": "TEST-2026-0004", "aliases": ["CVE-0000-0004"], "summary": " \n",
            "references": [
                "https://h.example/%zz", "https://h.example/#a#b", "https://trusted.example@evil.example/",
                "https://u:p@h.example/", "https://[::1]/", kept,
            ].map { ["type": "WEB", "url": $0] },
            "severity": [
                ["type": "CVSS_V4", "score": "garbage\n"],
                ["type": "CVSS_V2", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"],
                ["type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"],
            ],
        ]
        let (run, document) = try await Self.checkOneAdvisory(record, format: format)
        #expect(run.standardError.contains("TEST-2026-0004 / CVE-0000-0004 (fixed in 99.0.0) — no summary"))
        if format == "csaf" {
            let vulnerability = try #require((document["vulnerabilities"] as? [[String: Any]])?.first)
            #expect((vulnerability["notes"] as? [[String: String]])?.first?["text"] == "The advisory gives no summary.")
            #expect((vulnerability["references"] as? [[String: String]])?.map { $0["url"] } == [kept])
        } else {
            let vulnerability = try Self.vulnerability(document, "TEST-2026-0004")
            #expect(vulnerability["description"] == nil)
            #expect((vulnerability["advisories"] as? [[String: String]])?.map { $0["url"] } == [kept])
            #expect(
                (vulnerability["ratings"] as? [[String: String]])?.map { $0["vector"] } == [
                    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
                ])
        }
    }

    /// A malformed advisories file is exit 65 before anything is written: no file where there was none, and an
    /// earlier document left as it was.
    @Test func malformedInputIsExit65AndWritesNothing() async throws {
        let bad = SBOMHarness.temporaryFile("bad.json")
        try Data(#"[{"id": "X-1", "affected": "nope"}]"#.utf8).write(to: bad)
        let absent = SBOMHarness.temporaryFile("absent.json")
        let earlier = SBOMHarness.temporaryFile("earlier.json")
        try Data("earlier document\n".utf8).write(to: earlier)
        defer {
            for file in [bad, absent, earlier] { try? FileManager.default.removeItem(at: file) }
        }
        for format in ["cyclonedx", "csaf"] {
            for output in [absent, earlier] {
                let run = try await SBOMHarness.sbom([
                    "--check", bad.path, "--vex-format", format, "--output", output.path,
                ])
                #expect(run.status == 65, "\(format): \(run.standardError)")
            }
            #expect(!FileManager.default.fileExists(atPath: absent.path))
            #expect(try String(contentsOf: earlier, encoding: .utf8) == "earlier document\n")
        }
        let directory = absent.deletingLastPathComponent().path
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter {
            $0.contains(absent.lastPathComponent) || $0.contains(earlier.lastPathComponent + ".")
        }
        #expect(leftovers.isEmpty, "no temporary file is left: \(leftovers)")
    }

    /// An advisories file over the 64 MiB limit is refused (65) without being read whole.
    @Test func anOversizedAdvisoriesFileIsRefused() async throws {
        let big = SBOMHarness.temporaryFile("big.json")
        #expect(FileManager.default.createFile(atPath: big.path, contents: nil))
        defer { try? FileManager.default.removeItem(at: big) }
        let handle = try FileHandle(forWritingTo: big)
        try handle.truncate(atOffset: UInt64(64 << 20) + 1)
        try handle.close()
        let run = try await SBOMHarness.sbom(["--check", big.path, "--vex-format", "csaf"])
        #expect(run.status == 65, "\(run.standardError)")
        #expect(run.standardError.contains("larger than 64 MiB"))
        #expect(run.output.isEmpty)
    }

    @Test(arguments: [
        ["--vex-format", "csaf"],
        ["--check", "ADVISORIES", "--publisher-namespace", "https://devices.example.com"],
        ["--check", "ADVISORIES", "--vex-format", "cyclonedx", "--publisher-namespace", "https://devices.example.com"],
        ["--check", "ADVISORIES", "--vex-format", "csaf", "--author", "Example Medical Devices Inc."],
        ["--check", "ADVISORIES", "--vex-format", "csaf", "--publisher-namespace", "devices.example.com"],
        ["--check", "ADVISORIES", "--vex-format", "spdx"],
    ])
    func optionCombinationsThatMakeNoDocumentAreUsageErrors(arguments: [String]) async throws {
        let advisories = try SBOMHarness.resource("matching")
        let run = try await SBOMHarness.sbom(arguments.map { $0 == "ADVISORIES" ? advisories : $0 })
        #expect(run.status == 64, "\(arguments): \(run.output) \(run.standardError)")
    }
}
