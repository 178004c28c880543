// The two copies of BoringSSL that come with SaMDPostgres (through postgres-nio): swift-nio-ssl's, linked and never
// run, and swift-crypto's, which computes the PostgreSQL login — in the SBOM with what SaMDKit runs of each, and in
// the CBOM (the SCRAM-SHA-256 login) only where SaMDPostgres is linked.

import Foundation
import SaMDCrypto
import Testing

@testable import SaMDSBOM

@Suite("Vendored BoringSSL and the PostgreSQL login")
struct VendoredBoringSSLTests {
    static func property(_ item: [String: Any]?, _ name: String) -> String? {
        ((item?["properties"] as? [[String: String]]) ?? []).first { $0["name"] == name }?["value"]
    }

    /// This test bundle applies no plugin: its SBOM is SaMDKit's graph, whose library products include SaMDPostgres.
    @Test func theFallbackNamesBothCopiesAndWhatSaMDKitRunsOfEach() throws {
        let inventory = try SBOMInventory.current()
        let all = inventory.allComponents
        let crypto = try #require(all.first { $0.reference == "swift:swift-crypto:boringssl" })
        let nioSSL = try #require(all.first { $0.reference == "swift:swift-nio-ssl:boringssl" })

        #expect(crypto.scope == .required)
        #expect(crypto.properties["samd:module"] == "CCryptoBoringSSL")
        #expect(crypto.properties["samd:vendoredBy"] == "swift-crypto")
        #expect(crypto.summary?.contains("(CCryptoBoringSSL)") == true, "\(crypto.summary ?? "nil")")
        #expect(crypto.properties["samd:runtimeUse"]?.hasPrefix("runs: the PostgreSQL login of SaMDPostgres") == true)
        let revision = try #require(crypto.revision)
        #expect(revision.count == 40 && revision.allSatisfy(\.isHexDigit))
        #expect(crypto.version == revision)
        #expect(crypto.purl?.hasPrefix("pkg:generic/boringssl@\(revision)?vcs_url=") == true)
        let provider = try #require(crypto.properties[PostgresLogin.providerProperty])
        #expect(provider.hasPrefix("BoringSSL \(revision) vendored by swift-crypto "), "\(provider)")
        #expect(provider.hasSuffix(" (CCryptoBoringSSL)"), "\(provider)")

        #expect(nioSSL.scope == .required)
        #expect(nioSSL.properties["samd:module"] == "CNIOBoringSSL")
        #expect(nioSSL.summary?.contains("(CNIOBoringSSL)") == true, "\(nioSSL.summary ?? "nil")")
        #expect(nioSSL.properties["samd:runtimeUse"]?.hasPrefix("linked, not run") == true)
        #expect(nioSSL.properties[PostgresLogin.providerProperty] == nil)
        // Two copies, two upstream revisions.
        #expect(nioSSL.revision != revision)

        let postgres = try #require(all.first { $0.reference == "swift:postgres-nio" })
        #expect(postgres.support?.sources == ["https://github.com/vapor/postgres-nio/releases"])
        #expect(postgres.support?.level == "actively maintained" && postgres.support?.endOfSupport == nil)
    }

    /// The revision is the one swift-crypto's checkout names, when the checkout is where SwiftPM puts it by default.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: Self.swiftCryptoHashFile.path)))
    func theRevisionIsTheOneTheCheckoutsHashTxtNames() throws {
        let text = try String(contentsOf: Self.swiftCryptoHashFile, encoding: .utf8)
        let crypto = try #require(
            try SBOMInventory.current().allComponents.first { $0.reference == "swift:swift-crypto:boringssl" })
        let revision = try #require(crypto.revision)
        #expect(text.contains("at revision \(revision)"), "\(text)")
    }

    static let swiftCryptoHashFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/checkouts/swift-crypto/Sources/CCryptoBoringSSL/hash.txt")

    @Test func theCBOMNamesTheLoginWithItsAlgorithmsAndItsProvider() throws {
        let inventory = try SBOMInventory.current()
        let assets = Dictionary(
            inventory.cryptographicAssets.map { ($0.reference, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(assets.count == inventory.cryptographicAssets.count, "duplicate asset references")
        let login = try #require(assets[PostgresLogin.reference])
        #expect(login.assetType == .protocol && login.protocolType == "other")
        #expect(login.implementedBy == "swift:swift-crypto:boringssl")
        #expect(
            login.cryptoReferences == [
                "crypto/scram-sha-256/pbkdf2-hmac-sha-256", "crypto/scram-sha-256/hmac-sha-256",
                "crypto/scram-sha-256/sha-256",
            ])
        for reference in login.cryptoReferences {
            let asset = try #require(assets[reference])
            #expect(asset.implementedBy == "swift:swift-crypto:boringssl")
            #expect(asset.certificationLevel == "none")
            #expect(asset.properties["samd:provider"]?.contains("vendored by swift-crypto") == true)
            #expect(
                asset.transition?.rule == nil, "\(reference): no NIST transition is scheduled for SHA-2, HMAC, PBKDF2")
        }
        #expect(assets["crypto/scram-sha-256/pbkdf2-hmac-sha-256"]?.oid == "1.2.840.113549.1.5.12")
        #expect(assets["crypto/scram-sha-256/pbkdf2-hmac-sha-256"]?.classicalSecurityLevel == nil)
        #expect(assets["crypto/scram-sha-256/hmac-sha-256"]?.uses == ["crypto/scram-sha-256/sha-256"])
        // The profile's own SHA-256 is still OpenSSL's, and TLS is still the first protocol.
        #expect(assets["crypto/sha-256"]?.implementedBy == "openssl")
        #expect(inventory.cryptographicAssets.first { $0.assetType == .protocol }?.reference == "crypto/tls-1.3")

        // In the document: the protocol type, and the BoringSSL component providing the four assets.
        let document = try #require(
            try JSONSerialization.jsonObject(with: inventory.document(.cycloneDX)) as? [String: Any])
        let components = (document["components"] as? [[String: Any]]) ?? []
        let scram = try #require(components.first { $0["bom-ref"] as? String == PostgresLogin.reference })
        let protocolProperties =
            (scram["cryptoProperties"] as? [String: Any])?["protocolProperties"] as? [String: Any]
        #expect(protocolProperties?["type"] as? String == "other")
        #expect(protocolProperties?["version"] == nil)
        let dependencies = (document["dependencies"] as? [[String: Any]]) ?? []
        let provides = dependencies.first { $0["ref"] as? String == "swift:swift-crypto:boringssl" }?["provides"]
        #expect(Set((provides as? [String]) ?? []) == Set([PostgresLogin.reference] + login.cryptoReferences))
    }

    // MARK: - Product graphs

    /// A product graph: the subject's package and modules, and the packages it links with their modules.
    static func productGraph(
        subjectPackage: String, subjectModules: [String], packages: [(name: String, modules: [String])]
    ) throws -> BuildGraphRecord {
        func vendored(_ module: String, _ revision: String) -> [String: Any] {
            [
                "name": "boringssl", "module": module, "url": "https://boringssl.googlesource.com/boringssl",
                "revision": revision,
            ]
        }
        let vendoredBy: [String: [[String: Any]]] = [
            "swift-crypto": [vendored("CCryptoBoringSSL", String(repeating: "a", count: 40))],
            "swift-nio-ssl": [vendored("CNIOBoringSSL", String(repeating: "b", count: 40))],
        ]
        let record: [String: Any] = [
            "kind": "product",
            "subject": [
                "name": "app", "packageIdentity": subjectPackage.lowercased(), "packageDisplayName": subjectPackage,
                "target": "app", "modules": subjectModules,
            ],
            "rootDependencies": packages.map(\.name),
            "packages": packages.map { package -> [String: Any] in
                [
                    "identity": package.name == "SaMDKit" ? "samdkit" : package.name, "displayName": package.name,
                    "url": "https://github.com/example/\(package.name).git", "version": "4.5.2",
                    "revision": String(repeating: "c", count: 40), "scope": "required", "products": [String](),
                    "modules": package.modules, "dependencies": [String](),
                    "vendored": vendoredBy[package.name] ?? [],
                ]
            },
        ]
        return try BuildGraphRecord.decode(
            try JSONSerialization.data(withJSONObject: record), what: "the test's graph"
        ).get()
    }

    static func inventoryParts(_ graph: BuildGraphRecord) throws -> (
        components: [SBOMComponent], assets: [CryptographicAsset]
    ) {
        let components = SBOMInventory.swiftPackages(graph, try SupportTable.bundled())
        return (components, try SBOMInventory.cryptographicAssets(try RuntimeReport.current(), components: components))
    }

    static let postgresPackages: [(name: String, modules: [String])] = [
        ("postgres-nio", ["PostgresNIO", "_ConnectionPoolModule"]), ("swift-crypto", ["CCryptoBoringSSL", "Crypto"]),
        ("swift-nio-ssl", ["CNIOBoringSSL", "NIOSSL"]),
    ]

    @Test func anIntegratorsProductLinkingSaMDPostgresListsTheLogin() throws {
        let graph = try Self.productGraph(
            subjectPackage: "deviceapp", subjectModules: ["app"],
            packages: [("SaMDKit", ["SaMDPostgres", "SaMDTLS", "SaMDCrypto"])] + Self.postgresPackages)
        #expect(graph.links(samdKitModule: "SaMDPostgres"))
        let (components, assets) = try Self.inventoryParts(graph)
        let crypto = try #require(
            components.flatMap(\.flattened).first { $0.reference == "swift:swift-crypto:boringssl" })
        #expect(
            crypto.properties[PostgresLogin.providerProperty]
                == "BoringSSL \(String(repeating: "a", count: 40)) vendored by swift-crypto 4.5.2 (CCryptoBoringSSL)")
        // The product's own code may call swift-crypto: SaMDKit says only what SaMDKit runs.
        #expect(crypto.properties["samd:runtimeUse"]?.hasSuffix("the manufacturer's to state") == true)
        let login = try #require(assets.first { $0.reference == PostgresLogin.reference })
        #expect(login.implementedBy == crypto.reference)
        #expect(assets.filter { $0.reference.hasPrefix(PostgresLogin.reference) }.count == 4)
    }

    @Test func samdKitsOwnProgramLinkingSaMDPostgresListsTheLogin() throws {
        let graph = try Self.productGraph(
            subjectPackage: "SaMDKit", subjectModules: ["app", "SaMDPostgres", "SaMDTLS"],
            packages: Self.postgresPackages)
        let (components, assets) = try Self.inventoryParts(graph)
        let crypto = try #require(
            components.flatMap(\.flattened).first { $0.reference == "swift:swift-crypto:boringssl" })
        #expect(crypto.properties["samd:runtimeUse"]?.hasSuffix("SaMDKit runs nothing else of it") == true)
        #expect(assets.contains { $0.reference == PostgresLogin.reference })
    }

    /// swift-crypto and swift-nio-ssl linked for another reason (the product's own use): their BoringSSL is listed,
    /// not run by SaMDKit, and the CBOM has no login.
    @Test func aProductThatDoesNotLinkSaMDPostgresListsNoLogin() throws {
        let graph = try Self.productGraph(
            subjectPackage: "deviceapp", subjectModules: ["app"],
            packages: [("SaMDKit", ["SaMDSBOM", "SaMDCrypto"])] + Self.postgresPackages)
        #expect(!graph.links(samdKitModule: "SaMDPostgres"))
        let (components, assets) = try Self.inventoryParts(graph)
        let vendored = components.flatMap(\.subcomponents)
        #expect(vendored.count == 2)
        for copy in vendored {
            #expect(copy.properties["samd:runtimeUse"]?.hasPrefix("not run by SaMDKit") == true, "\(copy.reference)")
            #expect(copy.summary?.contains("not run by SaMDKit") == true)
            #expect(copy.properties[PostgresLogin.providerProperty] == nil)
        }
        #expect(!assets.contains { $0.reference.hasPrefix(PostgresLogin.reference) })
        #expect(!assets.contains { $0.implementedBy?.hasPrefix("swift:") == true })
    }
}
