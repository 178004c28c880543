import Foundation
import SaMDSBOM
import Testing

/// Advisories judged against the package that installed the loaded library, and build-time revisions.
@Suite("SBOM advisories per distribution, revisions")
struct DistributionAdvisoryTests {
    /// One OSV record for OpenSSL: affected upstream below 99.0.0, and — when `debianFixed` is given — an
    /// entry for Debian 12's source package fixed in that Debian version.
    static func record(debianFixed: String?) -> Data {
        var affected: [[String: Any]] = [
            [
                "package": ["ecosystem": "OSS-Fuzz", "name": "openssl"],
                "ranges": [["type": "ECOSYSTEM", "events": [["introduced": "3.0.0"], ["fixed": "99.0.0"]]]],
            ]
        ]
        if let debianFixed {
            affected.append(
                [
                    "package": ["ecosystem": "Debian:12", "name": "openssl"],
                    "ranges": [["type": "ECOSYSTEM", "events": [["introduced": "0"], ["fixed": debianFixed]]]],
                ]
            )
        }
        let document: [String: Any] = [
            "vulns": [["id": "SAMD-TEST-1", "modified": "2026-11-30T00:00:00Z", "affected": affected]]
        ]
        return try! JSONSerialization.data(withJSONObject: document)
    }

    @Test func aDistributionEntryDecidesForTheLibraryThatDistributionInstalled() throws {
        let inventory = try SBOMInventory.current()
        let openssl = try #require(inventory.allComponents.first { $0.name == "openssl" })
        try #require(openssl.debianPackage != nil, "this test needs OpenSSL installed by dpkg (Debian 12)")
        let installed = try #require(openssl.debianPackage?.version)

        // Upstream only: the upstream version (3.0.x < 99) is affected.
        let upstreamOnly = try VulnerabilityCheck.findings(for: inventory, advisories: Self.record(debianFixed: nil))
        #expect(upstreamOnly.contains { $0.kind == .vulnerable && $0.component == openssl.reference })
        // Debian fixed it in the installed package (or earlier): no finding, whatever the upstream range says.
        let fixedByDebian = try VulnerabilityCheck.findings(
            for: inventory, advisories: Self.record(debianFixed: installed))
        #expect(!fixedByDebian.contains { $0.kind == .vulnerable && $0.component == openssl.reference })
        // Debian's fix comes in a later package: still affected.
        let fixedLater = try VulnerabilityCheck.findings(
            for: inventory, advisories: Self.record(debianFixed: installed + "+1"))
        #expect(fixedLater.contains { $0.kind == .vulnerable && $0.component == openssl.reference })
    }

    @Test func everySwiftPackageCarriesItsFullCommitId() throws {
        let packages = try SBOMInventory.current().allComponents.filter { $0.purl?.hasPrefix("pkg:swift/") == true }
        #expect(!packages.isEmpty)
        for package in packages {
            let revision = package.revision ?? ""
            #expect(revision.count == 40 && revision.allSatisfy(\.isHexDigit), "\(package.name): \(revision)")
        }
    }
}

extension DistributionAdvisoryTests {
    @Test func theManufacturerIsNamedAsTheSBOMsAuthor() throws {
        var inventory = try SBOMInventory.current()
        inventory.author = "Example Medical Devices Inc."
        let cycloneDX = try JSONSerialization.jsonObject(with: inventory.document(.cycloneDX)) as? [String: Any]
        let authors = (cycloneDX?["metadata"] as? [String: Any])?["authors"] as? [[String: Any]]
        #expect(authors?.first?["name"] as? String == "Example Medical Devices Inc.")
        let spdx = try JSONSerialization.jsonObject(with: inventory.document(.spdx)) as? [String: Any]
        let creators = (spdx?["creationInfo"] as? [String: Any])?["creators"] as? [String]
        #expect(creators?.contains("Organization: Example Medical Devices Inc.") == true)
    }
}
