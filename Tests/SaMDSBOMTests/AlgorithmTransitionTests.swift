import Foundation
import SaMDCrypto
import SaMDSBOM
import Testing

/// The dated NIST transitions of the CBOM (Resources/transitions.json): the table, the rule applied to each
/// asset of both profiles, IR 8547's two steps on the three days, and a malformed table refused.
@Suite("SBOM algorithm transitions")
struct AlgorithmTransitionTests {
    static let table = Result { try AlgorithmTransitionTable.bundled() }

    static func assets(_ profile: CryptoProfile) throws -> [CryptographicAsset] {
        try Self.table.get().classify(CryptographicAsset.assets(profile: profile, fipsProviderActive: false))
    }

    @Test func theTableLoadsIsDatedAndEveryEntryHasASource() throws {
        let url = try #require(SBOMResources.transitionTable)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        #expect(object["as_of"] as? String == "2026-12-07")
        #expect(try Self.table.get().asOf == "2026-12-07")
        let sources = try #require(object["sources"] as? [[String: String]])
        let documents = sources.compactMap { $0["document"] }
        #expect(documents.contains { $0.hasPrefix("NIST SP 800-131A Rev. 2") })
        #expect(documents.contains { $0.hasPrefix("NIST SP 800-131A Rev. 3 initial public draft") })
        #expect(documents.contains { $0.hasPrefix("NIST IR 8547 initial public draft") })
        let ids = Set(sources.compactMap { $0["id"] })
        let entries = try #require(object["entries"] as? [[String: Any]])
        #expect(entries.count >= 10)
        for entry in entries {
            #expect(ids.contains(entry["source"] as? String ?? ""), "\(entry["id"] ?? "?") has no listed source")
            #expect((entry["row"] as? String)?.isEmpty == false, "\(entry["id"] ?? "?") quotes no row")
        }
    }

    /// The rule, asset by asset: which family and dates each asset of each profile gets, and the assets no entry
    /// matches ("no transition scheduled") listed, so that a reviewer sees them.
    @Test(arguments: CryptoProfile.allCases)
    func theRuleClassifiesEveryAsset(profile: CryptoProfile) throws {
        let assets = try Self.assets(profile)
        var rules: [String: String] = [:]
        for asset in assets where asset.assetType == .algorithm {
            let transition = try #require(asset.transition, "\(asset.reference) not classified")
            rules[asset.reference] = transition.rule ?? "none"
        }
        for asset in assets where asset.assetType == .protocol { #expect(asset.transition == nil) }
        var expected: [String: String] = [
            "crypto/ecdh-p-256": "ecdh-128", "crypto/ecdh-p-384": "ecdh-128",
            "crypto/tls-ecdsa-p256-sha256": "ecdsa-128", "crypto/tls-ecdsa-p384-sha384": "ecdsa-128",
            "crypto/tls-rsa-pss-sha256": "rsa-signature-112", "crypto/tls-rsa-pss-sha384": "rsa-signature-112",
            "crypto/tls-rsa-pkcs1-sha256": "rsa-signature-112", "crypto/tls-rsa-pkcs1-sha384": "rsa-signature-112",
        ]
        var none = [
            "crypto/aes-256-gcm", "crypto/cobblestone-256", "crypto/hkdf-sha-512", "crypto/hkdf-sha-256",
            "crypto/aes-256-kwp", "crypto/hmac-sha-256", "crypto/sha-256", "crypto/sha-384", "crypto/sha-512",
            "crypto/aes-128-gcm", "crypto/ctr-drbg",
        ]
        if profile == .default {
            expected.merge([
                "crypto/x25519": "ecdh-128", "crypto/sealed-box": "ecdh-128", "crypto/tls-x25519": "ecdh-128",
                "crypto/ed25519": "eddsa-128", "crypto/tls-ed25519": "eddsa-128", "crypto/tls-ed448": "eddsa-128",
                "crypto/tls-ecdsa-p521-sha512": "ecdsa-128", "crypto/tls-rsa-pss-sha512": "rsa-signature-112",
                "crypto/tls-rsa-pkcs1-sha512": "rsa-signature-112",
            ]) { _, new in new }
            none += ["crypto/xchacha20-poly1305", "crypto/argon2id", "crypto/chacha20-poly1305"]
        }
        for (reference, rule) in expected { #expect(rules[reference] == rule, "\(reference)") }
        let unscheduled = rules.filter { $0.value == "none" }.map(\.key)
        #expect(Set(unscheduled) == Set(none), "no transition scheduled: \(unscheduled.sorted())")
        #expect(Set(rules.keys) == Set(expected.keys).union(none), "\(rules.keys.sorted())")
        // Quantum vulnerability: every asset with a transition here is public-key, and the others are not.
        for asset in assets where asset.assetType == .algorithm {
            #expect(asset.isQuantumVulnerable == (asset.transition?.rule != nil), "\(asset.reference)")
        }
    }

    static func statuses(_ profile: CryptoProfile, on day: String) throws -> [String: AlgorithmTransition.Status] {
        Dictionary(
            uniqueKeysWithValues: try Self.assets(profile).compactMap { asset in
                asset.transition.map { (asset.name, $0.status(on: day)) }
            })
    }

    /// IR 8547's two steps: none today; from 2031 the 112-bit algorithms (the RSA signatures, which accept RSA-2048
    /// peer keys) and not the 128-bit ECC; from 2036 every RSA/ECC/EdDSA/X25519 asset and no symmetric or hash one.
    @Test(arguments: CryptoProfile.allCases)
    func theThreeDays(profile: CryptoProfile) throws {
        let today = try Self.statuses(profile, on: "2026-12-07")
        #expect(today.values.allSatisfy { $0 == .acceptable }, "\(today.filter { $0.value != .acceptable })")
        // The last day of 2030 is still acceptable: "deprecated after 2030".
        #expect(try Self.statuses(profile, on: "2030-12-31").values.allSatisfy { $0 == .acceptable })

        let in2031 = try Self.statuses(profile, on: "2031-01-01")
        let deprecated = Set(in2031.filter { $0.value == .deprecated }.keys)
        let rsa: Set = [
            "RSASSA-PSS-SHA-256", "RSASSA-PSS-SHA-384", "RSASSA-PSS-SHA-512", "RSASSA-PKCS1-v1_5-SHA-256",
            "RSASSA-PKCS1-v1_5-SHA-384", "RSASSA-PKCS1-v1_5-SHA-512",
        ]
        #expect(deprecated == rsa.filter { in2031[$0] != nil }, "the 112-bit assets are the RSA signatures")
        #expect(deprecated.contains("RSASSA-PSS-SHA-256"))
        #expect(!in2031.values.contains(.disallowed))
        for name in ["ECDH-P-256", "ECDSA-P-256-SHA-256", "X25519 (TLS)", "X25519"] where in2031[name] != nil {
            #expect(in2031[name] == .acceptable, "\(name)")
        }

        let in2036 = try Self.statuses(profile, on: "2036-01-01")
        let assets = try Self.assets(profile).filter { $0.assetType == .algorithm }
        for asset in assets {
            let publicKey = ["key-agree", "signature", "pke", "kem"].contains(asset.primitive ?? "")
            #expect(in2036[asset.name] == (publicKey ? .disallowed : .acceptable), "\(asset.name)")
        }
        #expect(in2036["ECDH-P-256"] == .disallowed && in2036["AES-256-GCM"] == .acceptable)
        // Docs/SBOM.md's figures: 6 (default) / 4 (nist) deprecated in 2031; 17 / 8 disallowed in 2036.
        #expect(deprecated.count == (profile == .default ? 6 : 4))
        #expect(in2036.values.filter { $0 == .disallowed }.count == (profile == .default ? 17 : 8))
        if profile == .default {
            for name in ["X25519 (TLS)", "Ed25519", "Ed25519 (TLS)", "X25519-XSalsa20-Poly1305 sealed box"] {
                #expect(in2036[name] == .disallowed, "\(name)")
            }
        }
    }

    /// Through the library's check on the running process: one finding line per asset, the kinds apart.
    @Test func theCheckReportsTheDatedFindings() throws {
        let inventory = try SBOMInventory.current()
        let empty = Data("[]".utf8)
        func algorithmFindings(_ day: String) throws -> [SBOMFinding] {
            try VulnerabilityCheck.findings(for: inventory, advisories: empty, on: day).filter {
                $0.kind == .algorithmDeprecated || $0.kind == .algorithmDisallowed
            }
        }
        #expect(try algorithmFindings("2026-12-07").isEmpty)
        let in2031 = try algorithmFindings("2031-01-01")
        #expect(!in2031.isEmpty && in2031.allSatisfy { $0.kind == .algorithmDeprecated })
        #expect(in2031.allSatisfy { "\($0)".hasPrefix("DEPRECATED ALGORITHM RSASSA-") && "\($0)".contains("RSA-2048") })
        #expect(!in2031.contains { "\($0)".contains("P-256") || "\($0)".contains("X25519") })
        let in2036 = try algorithmFindings("2036-01-01")
        #expect(in2036.allSatisfy { $0.kind == .algorithmDisallowed })
        let named = Set(in2036.map(\.componentVersion))
        #expect(named.isSuperset(of: ["X25519 (TLS)", "ECDH-P-256", "Ed25519", "ECDSA-P-256-SHA-256"]))
        #expect(named.isDisjoint(with: ["AES-256-GCM", "SHA-256", "HMAC-SHA-256", "HKDF-SHA-512"]))
        #expect(throws: SBOMError.self) {
            _ = try VulnerabilityCheck.findings(for: inventory, advisories: empty, on: "2031-1-1")
        }
    }

    @Test func theCBOMCarriesTheDatesAndQuantumVulnerability() throws {
        let components = try #require(try CBOMTests.document()["components"] as? [[String: Any]])
        func asset(_ reference: String) throws -> [String: Any] {
            try #require(components.first { $0["bom-ref"] as? String == reference }, "\(reference)")
        }
        let rsa = try asset("crypto/tls-rsa-pss-sha256")
        #expect(CBOMTests.property(rsa, "samd:nist:deprecatedAfter") == "2030-12-31")
        #expect(CBOMTests.property(rsa, "samd:nist:disallowedAfter") == "2035-12-31")
        #expect(CBOMTests.property(rsa, "samd:nist:transitionSource")?.contains("IR 8547") == true)
        #expect(CBOMTests.property(rsa, "samd:nist:transitionSource")?.contains("Table 2") == true)
        #expect(CBOMTests.property(rsa, "samd:quantumVulnerable") == "true")
        let x25519 = try asset("crypto/tls-x25519")
        #expect(CBOMTests.property(x25519, "samd:nist:deprecatedAfter") == nil)
        #expect(CBOMTests.property(x25519, "samd:nist:disallowedAfter") == "2035-12-31")
        #expect(CBOMTests.property(x25519, "samd:nist:transitionSource")?.contains("Table 4") == true)
        let aes = try asset("crypto/aes-256-gcm")
        #expect(CBOMTests.property(aes, "samd:nist:transition") == "no transition scheduled")
        #expect(CBOMTests.property(aes, "samd:quantumVulnerable") == "false")
        #expect(CBOMTests.property(aes, "samd:nist:transitionTableDate") == "2026-12-07")
        #expect(CBOMTests.property(try asset("crypto/sha-256"), "samd:quantumVulnerable") == "false")
        #expect(CBOMTests.property(try asset("crypto/tls-1.3"), "samd:quantumVulnerable") == nil)
    }

    static let validEntry =
        #"{"id": "e", "family": "RSA", "primitives": ["signature"], "oid_prefixes": ["1.2.840.113549.1.1"], "disallowed_after": "2035-12-31", "source": "s", "row": "Table 2"}"#

    static func table(asOf: String = "2026-12-07", entry: String = validEntry) -> Data {
        Data(
            #"{"as_of": "\#(asOf)", "sources": [{"id": "s", "document": "d", "date": "2024-11", "sections": "Table 2", "url": "u"}], "entries": [\#(entry)]}"#
                .utf8)
    }

    @Test(arguments: [
        table(asOf: "2026-13-01"),
        table(entry: validEntry.replacingOccurrences(of: #""source": "s""#, with: #""source": "other""#)),
        table(entry: validEntry.replacingOccurrences(of: "2035-12-31", with: "2035")),
        table(entry: validEntry.replacingOccurrences(of: #""oid_prefixes": ["1.2.840.113549.1.1"], "#, with: "")),
        table(entry: validEntry.replacingOccurrences(of: #"["signature"]"#, with: #""signature""#)),
        table(
            entry: validEntry.replacingOccurrences(
                of: #""disallowed_after""#, with: #""deprecated_after": "2036-12-31", "disallowed_after""#)),
        table(entry: validEntry + ", " + validEntry),
        Data("{not json".utf8),
        Data(repeating: 0x20, count: (256 << 10) + 1),
    ])
    func aMalformedTableIsATypedError(data: Data) throws {
        #expect(try AlgorithmTransitionTable(json: Self.table()).asOf == "2026-12-07")
        #expect(throws: SBOMError(.malformedInput, "")) { _ = try AlgorithmTransitionTable(json: data) }
    }
}
