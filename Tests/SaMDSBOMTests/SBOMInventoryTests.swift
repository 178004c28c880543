// The SBOM inventory of the running process and the advisories bundled with SaMDSBOM, through the library
// (samd-sbom, which prints them, is tested in ExampleProgramTests).

import Foundation
import SaMDSBOM
import Testing

@Suite("SBOM inventory and bundled advisories")
struct SBOMInventoryTests {
    @Test func cbomUsesTheTLSSuitesOfTheActiveProfile() throws {
        let inventory = try SBOMInventory.current()
        let tls = try #require(inventory.cryptographicAssets.first { $0.assetType == .protocol })
        #expect(
            tls.cipherSuites.map(\.name) == [
                "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256",
            ])
        #expect(tls.groups == ["X25519", "P-256", "P-384"])
        for name in [
            "AES-256-GCM", "Cobblestone-256", "HKDF-SHA-512", "XChaCha20-Poly1305", "AES-256-KWP", "X25519", "Ed25519",
            "HMAC-SHA-256", "Argon2id",
        ] {
            #expect(inventory.cryptographicAssets.contains { $0.name == name }, "missing \(name)")
        }
    }

    @Test func bundledAdvisoriesParseAndAreDated() throws {
        let inventory = try SBOMInventory.current()
        let url = try #require(SBOMResources.advisories)
        let vex = try #require(SBOMResources.vex)
        _ = try VulnerabilityCheck.findings(
            for: inventory, advisories: try Data(contentsOf: url), vex: [try Data(contentsOf: vex)], on: "2026-11-30")
        let object = try #require(try JSONSerialization.jsonObject(with: try Data(contentsOf: url)) as? [String: Any])
        #expect(object["as_of"] as? String == "2026-11-30")
    }
}
