import Foundation
import SaMDCrypto
import SaMDOpenSSLSupport
import SaMDSBOM
import Testing

/// The CBOM: TLS assets and their implementers, algorithm parameters, security levels, suite code points.
@Suite("samd-sbom CBOM")
struct CBOMTests {
    /// The CycloneDX document of this process, as samd-sbom prints it: `SBOMInventory.current()`'s
    /// `document(.cycloneDX)`, the library call the program makes.
    static func document() throws -> [String: Any] {
        let data = try SBOMInventory.current().document(.cycloneDX)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func property(_ item: [String: Any]?, _ name: String) -> String? {
        ((item?["properties"] as? [[String: String]]) ?? []).first { $0["name"] == name }?["value"]
    }

    @Test(arguments: CryptoProfile.allCases)
    func tlsAssetsReferenceOnlyOpenSSLImplementedAssets(profile: CryptoProfile) throws {
        let assets = CryptographicAsset.assets(profile: profile, fipsProviderActive: false)
        let byReference = Dictionary(assets.map { ($0.reference, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byReference.count == assets.count, "duplicate asset references")
        for version in ["1.3", "1.2"] {
            let tls = try #require(assets.first { $0.assetType == .protocol && $0.protocolVersion == version })
            #expect(tls.implementedBy == "openssl")
            let referenced = tls.cryptoReferences + tls.cipherSuites.flatMap(\.algorithms)
            #expect(!referenced.isEmpty)
            for reference in referenced {
                let asset = try #require(byReference[reference], "\(reference) is not an asset")
                #expect(
                    asset.implementedBy == "openssl",
                    "TLS \(version) references \(reference) implemented by \(asset.implementedBy ?? "nothing")")
            }
            // Every group is a key-agreement asset referenced by the protocol.
            #expect(tls.groups.count == tls.cryptoReferences.filter { byReference[$0]?.primitive == "key-agree" }.count)
        }
        if profile == .default {
            #expect(byReference["crypto/x25519"]?.implementedBy == "libsodium")
            #expect(byReference["crypto/ed25519"]?.implementedBy == "libsodium")
            #expect(byReference["crypto/tls-x25519"]?.implementedBy == "openssl")
            #expect(byReference["crypto/tls-ed25519"]?.implementedBy == "openssl")
            #expect(byReference["crypto/tls-ed448"]?.implementedBy == "openssl")
        } else {
            #expect(!assets.contains { $0.implementedBy == "libsodium" })
            #expect(byReference["crypto/tls-x25519"] == nil)
        }
    }

    @Test func librariesProvideTheTLSAssets() throws {
        let document = try Self.document()
        let dependencies = try #require(document["dependencies"] as? [[String: Any]])
        func provides(_ reference: String) -> [String] {
            (dependencies.first { $0["ref"] as? String == reference }?["provides"] as? [String]) ?? []
        }
        let openssl = provides("openssl")
        let sodium = provides("libsodium")
        #expect(openssl.contains("crypto/tls-x25519"))
        #expect(openssl.contains("crypto/tls-ed25519"))
        #expect(openssl.contains("crypto/tls-ecdsa-p256-sha256"))
        #expect(!openssl.contains("crypto/x25519"))
        #expect(sodium.contains("crypto/x25519"))
        #expect(!sodium.contains("crypto/tls-x25519"))
        let components = try #require(document["components"] as? [[String: Any]])
        let tls = try #require(components.first { $0["bom-ref"] as? String == "crypto/tls-1.3" })
        let protocolProperties = try #require(
            (tls["cryptoProperties"] as? [String: Any])?["protocolProperties"] as? [String: Any])
        let references = try #require(protocolProperties["cryptoRefArray"] as? [String])
        #expect(references.allSatisfy(openssl.contains), "\(references)")
        #expect(references.contains("crypto/tls-x25519") && !references.contains("crypto/x25519"))
    }

    @Test(arguments: CryptoProfile.allCases)
    func signatureAssetsExistForEachTLSSignatureAlgorithm(profile: CryptoProfile) throws {
        let assets = CryptographicAsset.assets(profile: profile, fipsProviderActive: false)
        let tls13 = try #require(assets.first { $0.reference == "crypto/tls-1.3" })
        let signatures = assets.filter { $0.primitive == "signature" && tls13.cryptoReferences.contains($0.reference) }
        let sigalgs = Set(
            signatures.flatMap { ($0.properties["samd:tls:sigalgs"] ?? "").split(separator: ":").map(String.init) })
        #expect(sigalgs == Set(TLSParameters.forProfile(profile).signatureAlgorithms))
        #expect(signatures.allSatisfy { $0.implementedBy == "openssl" })
        let names = Set(signatures.map(\.name))
        #expect(
            names.isSuperset(of: [
                "ECDSA-P-256-SHA-256", "ECDSA-P-384-SHA-384", "RSASSA-PSS-SHA-256", "RSASSA-PKCS1-v1_5-SHA-256",
            ]))
        if profile == .default {
            #expect(
                names.isSuperset(of: ["ECDSA-P-521-SHA-512", "Ed25519 (TLS)", "Ed448 (TLS)", "RSASSA-PSS-SHA-512"]))
        } else {
            #expect(names.isDisjoint(with: ["Ed25519 (TLS)", "Ed448 (TLS)", "ECDSA-P-521-SHA-512"]))
        }
        for rsa in signatures where rsa.name.hasPrefix("RSASSA") {
            #expect(rsa.properties["samd:tls:minimumPeerKeyBits"] == "2048")
        }
        for ecdsa in signatures where ecdsa.name.hasPrefix("ECDSA") {
            #expect(ecdsa.properties["samd:tls:acceptedPeerKeys"]?.contains("P-521") == true)
        }
        let tls12 = try #require(assets.first { $0.reference == "crypto/tls-1.2" })
        #expect(tls12.properties["samd:optIn"] == "true")
        #expect(tls12.cipherSuites.count == TLSParameters.forProfile(profile).tls12Suites.count)
        #expect(tls12.cryptoReferences == tls13.cryptoReferences)
    }

    @Test func aeadNonceAndTagSizes() throws {
        let assets = CryptographicAsset.assets(profile: .default, fipsProviderActive: false)
        func properties(_ name: String) -> [String: String]? { assets.first { $0.name == name }?.properties }
        for name in ["AES-256-GCM", "AES-128-GCM", "ChaCha20-Poly1305"] {
            #expect(properties(name)?["samd:nonceBits"] == "96", "\(name)")
            #expect(properties(name)?["samd:tagBits"] == "128", "\(name)")
        }
        #expect(properties("XChaCha20-Poly1305")?["samd:nonceBits"] == "192")
        #expect(properties("XChaCha20-Poly1305")?["samd:tagBits"] == "128")
        let x25519 = try #require(assets.first { $0.reference == "crypto/x25519" })
        #expect(x25519.parameterSet == "255" && x25519.curve == "Curve25519")
        #expect(assets.first { $0.reference == "crypto/ed25519" }?.parameterSet == "Ed25519")
        #expect(assets.contains { $0.name == "SHA-512" && $0.implementedBy == "openssl" })
        let drbg = try #require(assets.first { $0.reference == "crypto/ctr-drbg" })
        #expect(!drbg.usage.contains("every key"))
        #expect(drbg.usage.contains("libsodium randombytes"))
    }

    @Test func securityLevels() throws {
        let assets = CryptographicAsset.assets(profile: .default, fipsProviderActive: false)
        func levels(_ name: String) -> (classical: Int?, quantum: Int?) {
            let asset = assets.first { $0.name == name }
            return (asset?.classicalSecurityLevel, asset?.nistQuantumSecurityLevel)
        }
        let expected: [String: (Int, Int)] = [
            "AES-128-GCM": (128, 1), "AES-256-GCM": (256, 5), "SHA-256": (128, 2), "SHA-384": (192, 4),
            "SHA-512": (256, 5),
            "HMAC-SHA-256": (256, 5), "HKDF-SHA-256": (256, 5), "HKDF-SHA-512": (256, 5), "AES-256-KWP": (256, 5),
            "X25519": (128, 0), "X25519 (TLS)": (128, 0), "ECDH-P-256": (128, 0), "ECDH-P-384": (192, 0),
            "Ed25519": (128, 0), "Ed25519 (TLS)": (128, 0), "ECDSA-P-256-SHA-256": (128, 0),
            "ECDSA-P-384-SHA-384": (192, 0),
            "RSASSA-PSS-SHA-256": (112, 0),
        ]
        for (name, (classical, quantum)) in expected {
            let actual = levels(name)
            #expect(actual.classical == classical, "\(name) classical")
            #expect(actual.quantum == quantum, "\(name) quantum")
        }
        #expect(CryptographicAsset.quantumLevel(primitive: "block-cipher", classical: 192) == 3)
        // In the document too.
        let components = try #require(try Self.document()["components"] as? [[String: Any]])
        for (name, (_, quantum)) in expected {
            let component = try #require(components.first { $0["name"] as? String == name }, "\(name)")
            let algorithm = (component["cryptoProperties"] as? [String: Any])?["algorithmProperties"] as? [String: Any]
            #expect(algorithm?["nistQuantumSecurityLevel"] as? Int == quantum, "\(name)")
        }
    }

    @Test func suiteIdentifiersAreTwoBytes() throws {
        let components = try #require(try Self.document()["components"] as? [[String: Any]])
        let allProtocols = components.filter {
            ($0["cryptoProperties"] as? [String: Any])?["assetType"] as? String == "protocol"
        }
        let protocols = allProtocols.filter {
            (($0["cryptoProperties"] as? [String: Any])?["protocolProperties"] as? [String: Any])?["type"] as? String
                == "tls"
        }
        #expect(Set(protocols.compactMap { $0["bom-ref"] as? String }) == ["crypto/tls-1.3", "crypto/tls-1.2"])
        // The one other protocol: the PostgreSQL login, which has no suites (this bundle's SBOM is SaMDKit's graph,
        // SaMDPostgres included; VendoredBoringSSLTests).
        #expect(
            Set(allProtocols.compactMap { $0["bom-ref"] as? String }).subtracting(
                protocols.compactMap { $0["bom-ref"] as? String }) == ["crypto/scram-sha-256"])
        var seen: [String: [String]] = [:]
        for item in protocols {
            let properties = try #require(
                (item["cryptoProperties"] as? [String: Any])?["protocolProperties"] as? [String: Any])
            for suite in try #require(properties["cipherSuites"] as? [[String: Any]]) {
                let identifiers = try #require(suite["identifiers"] as? [String])
                #expect(identifiers.count == 2, "\(suite)")
                #expect(
                    identifiers.allSatisfy { $0.range(of: #"^0x[0-9A-F]{2}$"#, options: .regularExpression) != nil },
                    "\(identifiers)")
                seen[try #require(suite["name"] as? String)] = identifiers
            }
            if item["bom-ref"] as? String == "crypto/tls-1.2" {
                #expect(Self.property(item, "samd:optIn") == "true")
            }
        }
        #expect(seen["TLS_AES_256_GCM_SHA384"] == ["0x13", "0x02"])
        #expect(seen["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"] == ["0xC0", "0x2C"])
    }
}
