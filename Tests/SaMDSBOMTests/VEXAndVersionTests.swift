import Foundation
import Testing

@testable import SaMDSBOM

/// The vulnerability check judges versions as Debian does and VEX statements as OpenVEX says.
@Suite("SBOM check: Debian versions and OpenVEX")
struct VEXAndVersionTests {
    /// What `dpkg --compare-versions` says of `lhs` against `rhs`: -1, 0 or 1.
    static func dpkg(_ lhs: String, _ rhs: String) throws -> Int {
        func holds(_ relation: String) throws -> Bool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/dpkg")
            process.arguments = ["--compare-versions", lhs, relation, rhs]
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus == 0
        }
        return try holds("lt") ? -1 : try holds("eq") ? 0 : 1
    }

    @Test func debianVersionsCompareAsDpkgDoes() throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/dpkg"), "dpkg is the reference (Debian 12)")
        let pairs: [(String, String)] = [
            ("0:3.0.19-1~deb12u2", "3.0.19-1~deb12u2"), ("3.0.19-1~deb12u2", "3.0.19-1"),
            ("3.0.11-1~deb12u2", "3.0.13-1~deb12u1"),
            ("1.0~rc1", "1.0"), ("1.0~~", "1.0~"), ("1.0~", "1.0"), ("1.0", "1.0-0"), ("1.0", "1.0-1"),
            ("1:1.0", "2.0"),
            ("2:1.0", "1:9.9"), ("0.9", "1:0.1"), ("1.0a", "1.0+"), ("1.0.1", "1.0a"), ("2.30.0", "2.4.0"),
            ("1.0-1", "1.0-1.1"),
            ("1.0-1+deb12u1", "1.0-1"), ("1.0-1~bpo12+1", "1.0-1"), ("1.18.0-6+b1", "1.18.0-6"),
            ("1.0.18-1+deb12u1", "1.0.18-1"),
            ("1.000", "1.0"), ("01", "1"), ("10", "9"), ("a", "b"), ("1.2.3", "1.2.3"), ("1.0-a", "1.0-1"),
            ("1.0+dfsg-1", "1.0-1"),
            ("3.0.19-1~deb12u2", "3.0.19-1~deb12u10"), ("1:3.0.19", "3.0.19"), ("0:1.0-1", "1.0-1"), ("1.0.0", "1.0"),
        ]
        for (lhs, rhs) in pairs {
            let expected = try Self.dpkg(lhs, rhs)
            #expect(VersionComparison.compareDebian(lhs, rhs) == expected, "\(lhs) vs \(rhs): dpkg says \(expected)")
            #expect(VersionComparison.compareDebian(rhs, lhs) == -expected, "\(rhs) vs \(lhs)")
        }
    }

    /// This process's inventory, taken once: it reads dpkg's whole status file, seconds in a debug build, and the
    /// tests run synchronously on the two threads every other test shares.
    static let inventory = Result { try SBOMInventory.current() }

    /// The running OpenSSL as dpkg installed it (the check needs a Debian package to judge).
    static func openSSL() throws -> (SBOMInventory, SBOMComponent, DebianPackage) {
        let inventory = try Self.inventory.get()
        let openssl = try #require(inventory.allComponents.first { $0.name == "openssl" })
        let package = try #require(openssl.debianPackage, "this test needs OpenSSL installed by dpkg (Debian 12)")
        return (inventory, openssl, package)
    }

    static func json(_ object: Any) -> Data {
        try! JSONSerialization.data(withJSONObject: object)
    }

    @Test func anOSVVersionsEntryMatchesByDebianEquality() throws {
        let (inventory, openssl, package) = try Self.openSSL()
        func findings(versions: [String]) throws -> Bool {
            let record: [String: Any] = [
                "id": "SAMD-TEST-VERSIONS",
                "affected": [["package": ["ecosystem": "Debian:12", "name": package.source], "versions": versions]],
            ]
            return try VulnerabilityCheck.findings(for: inventory, advisories: Self.json([record]), on: "2026-11-30")
                .contains { $0.kind == .vulnerable && $0.component == openssl.reference }
        }
        #expect(try findings(versions: [package.version]))
        #expect(try findings(versions: ["0:" + package.version]), "an explicit epoch 0 is the same version")
        #expect(try findings(versions: ["1.0-1", "0:" + package.version]))
        #expect(try !findings(versions: ["1:" + package.version]), "another epoch is another version")
        #expect(try !findings(versions: [package.version + "+1", package.version + "~1"]))
    }

    /// One advisory on upstream OpenSSL (3.0.0 ≤ v < 99), also known as CVE-0000-0002.
    static let advisory = json([
        "vulns": [
            [
                "id": "SAMD-TEST-VEX", "aliases": ["CVE-0000-0002"],
                "affected": [
                    [
                        "package": ["ecosystem": "OSS-Fuzz", "name": "openssl"],
                        "ranges": [["type": "ECOSYSTEM", "events": [["introduced": "3.0.0"], ["fixed": "99.0.0"]]]],
                    ]
                ],
            ]
        ]
    ])

    /// An OpenVEX document of `statements` (status, product purl, statement timestamp or nil), dated `timestamp`.
    static func vex(_ timestamp: String, _ statements: [(status: String, product: String, timestamp: String?)]) -> Data
    {
        json([
            "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://samdkit.invalid/vex/\(UUID())",
            "author": "test",
            "timestamp": timestamp, "version": 1,
            "statements": statements.map { statement -> [String: Any] in
                var object: [String: Any] = [
                    "vulnerability": ["name": "CVE-0000-0002"], "products": [["@id": statement.product]],
                    "status": statement.status,
                ]
                if statement.status == "not_affected" {
                    object["justification"] = "vulnerable_code_not_in_execute_path"
                }
                if let time = statement.timestamp { object["timestamp"] = time }
                return object
            },
        ])
    }

    static func reported(_ vex: [Data]) throws -> Bool {
        let (inventory, openssl, _) = try Self.openSSL()
        return try VulnerabilityCheck.findings(for: inventory, advisories: Self.advisory, vex: vex, on: "2026-11-30")
            .contains { $0.kind == .vulnerable && $0.component == openssl.reference && $0.advisory == "SAMD-TEST-VEX" }
    }

    @Test func theLatestStatementDecidesByTimestampThenOrder() throws {
        let (_, openssl, _) = try Self.openSSL()
        let purl = try #require(openssl.purl)
        let product = String(purl.prefix { $0 != "@" && $0 != "?" })
        #expect(try Self.reported([]), "the advisory matches without VEX")
        #expect(try !Self.reported([Self.vex("2026-01-01T00:00:00Z", [("not_affected", product, nil)])]))

        // An `affected` issued after a `not_affected` reports again, whatever order the files come in.
        let notAffected = Self.vex("2026-01-01T00:00:00Z", [("not_affected", product, nil)])
        let affectedLater = Self.vex("2026-02-01T00:00:00Z", [("affected", product, nil)])
        #expect(try Self.reported([notAffected, affectedLater]))
        #expect(try Self.reported([affectedLater, notAffected]))
        let underInvestigationLater = Self.vex("2026-02-01T00:00:00Z", [("under_investigation", product, nil)])
        #expect(try Self.reported([notAffected, underInvestigationLater]))
        // And the other way round: `fixed` or `not_affected` after `affected` takes it back.
        let affectedEarlier = Self.vex("2025-12-01T00:00:00Z", [("affected", product, nil)])
        #expect(try !Self.reported([notAffected, affectedEarlier]))
        #expect(try !Self.reported([affectedEarlier, Self.vex("2026-03-01T00:00:00Z", [("fixed", product, nil)])]))
        // Same time: document order, then statement order, decides.
        #expect(
            try Self.reported([
                Self.vex("2026-01-01T00:00:00Z", [("not_affected", product, nil), ("affected", product, nil)])
            ]))
        #expect(
            try !Self.reported([
                Self.vex("2026-01-01T00:00:00Z", [("affected", product, nil), ("not_affected", product, nil)])
            ]))
        #expect(try Self.reported([notAffected, Self.vex("2026-01-01T00:00:00Z", [("affected", product, nil)])]))
        // A statement's own timestamp beats its document's, fractional seconds and offsets included.
        let backdated = Self.vex("2026-06-01T00:00:00Z", [("not_affected", product, "2025-06-01T00:00:00.5+02:00")])
        #expect(try Self.reported([backdated, affectedLater]))
        #expect(
            try !Self.reported([
                affectedLater,
                Self.vex("2025-01-01T00:00:00Z", [("not_affected", product, "2026-03-01T12:00:00+01:00")]),
            ]))
        // A statement that cannot be placed in time is refused, not guessed.
        let undated = Self.json([
            "statements": [["vulnerability": "CVE-0000-0002", "products": [product], "status": "fixed"]]
        ])
        #expect(throws: SBOMError.self) { try Self.reported([undated]) }
        #expect(throws: SBOMError.self) { try Self.reported([Self.vex("yesterday", [("fixed", product, nil)])]) }
    }

    @Test func purlQualifiersAndVersionsMustMatchWhenTheStatementNamesThem() throws {
        let (_, openssl, package) = try Self.openSSL()
        let purl = try #require(openssl.purl)
        let base = String(purl.prefix { $0 != "@" && $0 != "?" })
        let arch = try #require(package.architecture)
        func suppressed(_ product: String) throws -> Bool {
            try !Self.reported([Self.vex("2026-01-01T00:00:00Z", [("not_affected", product, nil)])])
        }
        #expect(try suppressed(purl), "the component's own purl")
        #expect(try suppressed("\(base)?arch=\(arch)"))
        #expect(try suppressed("\(base)@\(PackageURL.encode(package.version))?arch=\(arch)"))
        #expect(
            try suppressed("\(base)@\(PackageURL.encode("0:" + package.version))"),
            "Debian equality: epoch 0 is the same version")
        #expect(try suppressed("\(base)?ARCH=\(arch)"), "qualifier keys are case-insensitive")
        #expect(try !suppressed("\(base)?arch=s390x"), "another architecture's statement")
        #expect(try !suppressed("\(base)?arch=\(arch)&distro=debian-99"))
        #expect(try !suppressed("\(base)@\(PackageURL.encode(package.version + "+1"))"))
        #expect(try !suppressed("\(base)#usr/lib/other.so"), "a statement about a subpath is narrower than the package")
    }
}
