// The SBOM of a binary that did not apply SaMDBuildGraphPlugin (this test bundle): SaMDKit's own package graph,
// said to be so. The product case is ExampleProgramTests/ProductSBOMTests (an integrator's fixture package) and
// SBOMDocumentTests (samd-sbom, which applies the plugin).

import Foundation
import SaMDCrypto
import SaMDSBOM
import Testing

@Suite("SBOM of a binary without the build-graph plugin")
struct BuildGraphFallbackTests {
    @Test func theSubjectIsSaMDKitAndTheDocumentsSaySoInEveryFormat() throws {
        let inventory = try SBOMInventory.current()
        #expect(inventory.buildGraphSource == .samdKit)
        #expect(inventory.subject.name == "SaMDKit")
        #expect(inventory.subject.version == SaMDKit.version)
        #expect(inventory.subject.kind == .library)
        #expect(inventory.subject.summary?.contains("did not apply SaMDBuildGraphPlugin") == true)
        #expect(inventory.swiftToolchain?.hasPrefix("Swift version ") == true, "\(inventory.swiftToolchain ?? "nil")")

        let cycloneDX = try #require(
            try JSONSerialization.jsonObject(with: inventory.document(.cycloneDX)) as? [String: Any])
        let metadata = try #require(cycloneDX["metadata"] as? [String: Any])
        let properties = (metadata["properties"] as? [[String: String]]) ?? []
        #expect(properties.contains { $0["name"] == "samd:buildGraph" && $0["value"] == "samdKit" })
        #expect(
            properties.contains {
                $0["name"] == "samd:generationContext" && $0["value"]?.contains("not the product's") == true
            })
        let spdx = try #require(try JSONSerialization.jsonObject(with: inventory.document(.spdx)) as? [String: Any])
        let comment = (spdx["creationInfo"] as? [String: Any])?["comment"] as? String
        #expect(comment?.contains("not the product's") == true, "\(comment ?? "nil")")
    }

    /// The fallback keeps SaMDKit's scope rule: packages whose products a library product links (followed through
    /// the targets of those products) are required, those only the example programs use optional, test-only ones
    /// excluded; a package's own support row is used.
    @Test func theFallbackClassifiesSaMDKitsPackagesByHowSaMDKitUsesThem() throws {
        let inventory = try SBOMInventory.current()
        func component(_ reference: String) -> SBOMComponent? {
            inventory.allComponents.first { $0.reference == reference }
        }
        #expect(component("swift:swift-nio")?.scope == .required)
        #expect(component("swift:swift-argument-parser")?.scope == .optional)
        // SaMDHummingbird is a library product: Hummingbird and what its linked products are built from are
        // required; async-http-client, which Hummingbird's package declares for what SaMDHummingbird does not link,
        // is only the tests'.
        #expect(component("swift:hummingbird")?.scope == .required)
        #expect(component("swift:swift-service-lifecycle")?.scope == .required)
        #expect(component("swift:swift-http-types")?.scope == .required)
        #expect(component("swift:async-http-client")?.scope == .excluded)
        // SaMDPostgres is a library product too, and postgres-nio's PostgresNIO links NIOSSL whatever TLS a
        // connection uses: swift-nio-ssl and its BoringSSL are linked, hence required — though SaMDKit never runs
        // them (SaMDPostgres's TLS is SaMDTLS; the component says so, VendoredBoringSSLTests). Before SaMDPostgres
        // only HummingbirdTLS (not linked) and the tests used swift-nio-ssl, and it was excluded.
        #expect(component("swift:postgres-nio")?.scope == .required)
        #expect(component("swift:swift-nio-ssl")?.scope == .required)
        #expect(component("swift:swift-nio-ssl:boringssl")?.scope == .required)
        #expect(component("swift:swift-crypto")?.scope == .required)
        #expect(component("swift:swift-crypto:boringssl")?.scope == .required)
        let grdb = try #require(component("swift:grdb.swift"))
        #expect(grdb.scope == .required)
        #expect(grdb.support?.sources == ["https://github.com/groue/GRDB.swift/releases"])
        #expect(component("product") == nil)
    }
}
