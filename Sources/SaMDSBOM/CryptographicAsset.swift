public import SaMDCrypto

/// One entry of the cryptographic bill of materials (CycloneDX 1.6 `cryptographic-asset`).
public struct CryptographicAsset: Sendable, Hashable {
    /// CycloneDX `cryptoProperties.assetType`.
    public enum AssetType: String, Sendable, Hashable {
        case algorithm, `protocol`
    }
    /// A TLS cipher suite of a protocol asset.
    public struct CipherSuite: Sendable, Hashable {
        public var name: String
        /// IANA code point, e.g. "0x1302".
        public var identifier: String
        /// References of the algorithm assets the suite uses.
        public var algorithms: [String]
    }

    public var reference: String
    public var name: String
    public var assetType: AssetType
    /// CycloneDX primitive: ae, block-cipher, kdf, mac, hash, signature, key-agree, pke, drbg.
    public var primitive: String?
    /// CycloneDX mode: gcm, other…
    public var mode: String?
    /// Key or parameter size (bits), as CycloneDX `parameterSetIdentifier`.
    public var parameterSet: String?
    public var curve: String?
    public var functions: [String]
    public var classicalSecurityLevel: Int?
    public var oid: String?
    /// Reference of the component implementing it ("openssl", "libsodium").
    public var implementedBy: String?
    /// Where SaMDKit uses it.
    public var usage: String
    /// Protocol assets: version and suites.
    public var protocolVersion: String?
    public var cipherSuites: [CipherSuite]
    /// Protocol assets: key-exchange groups (OpenSSL names) in preference order.
    public var groups: [String]
    public var certificationLevel: String

    init(
        _ reference: String, _ name: String, primitive: String?, mode: String? = nil, parameterSet: String? = nil, curve: String? = nil,
        functions: [String], security: Int?, oid: String? = nil, by implementer: String, usage: String, certification: String
    ) {
        self.reference = reference
        self.name = name
        self.assetType = .algorithm
        self.primitive = primitive
        self.mode = mode
        self.parameterSet = parameterSet
        self.curve = curve
        self.functions = functions
        self.classicalSecurityLevel = security
        self.oid = oid
        self.implementedBy = implementer
        self.usage = usage
        self.cipherSuites = []
        self.groups = []
        self.certificationLevel = certification
    }

    /// IANA TLS 1.3 cipher suite code points (RFC 8446 §B.4) and the algorithm assets each uses.
    static let tls13Suites: [String: (identifier: String, algorithms: [String])] = [
        "TLS_AES_256_GCM_SHA384": ("0x1302", ["crypto/aes-256-gcm", "crypto/sha-384"]),
        "TLS_CHACHA20_POLY1305_SHA256": ("0x1303", ["crypto/chacha20-poly1305", "crypto/sha-256"]),
        "TLS_AES_128_GCM_SHA256": ("0x1301", ["crypto/aes-128-gcm", "crypto/sha-256"]),
    ]

    /// The assets of the active profile of `runtime`. Under `nist`, libsodium's algorithms (which SaMDCrypto
    /// then refuses) and ChaCha20-Poly1305 / X25519 in TLS are left out.
    static func assets(for runtime: RuntimeReport) -> [CryptographicAsset] {
        let nist = runtime.profile == .nist
        let fips = runtime.openSSL.fipsProviderActive
        // OpenSSL's FIPS provider is validated only as a module; SaMDKit does not claim a level.
        let openSSLCertification = fips ? "other" : "none"
        let tls = TLSParameters.forProfile(runtime.profile)

        var assets: [CryptographicAsset] = [
            .init("crypto/aes-256-gcm", "AES-256-GCM", primitive: "ae", mode: "gcm", parameterSet: "256", functions: ["encrypt", "decrypt", "tag"], security: 256,
                  oid: "2.16.840.1.101.3.4.1.46", by: "openssl", usage: "Cobblestone-256 payload chunks; DEK wrap (AES-256-GCM under the KEK, bound to the envelope header); subject-key wrap; TLS", certification: openSSLCertification),
            .init("crypto/cobblestone-256", "Cobblestone-256", primitive: "ae", mode: "other", parameterSet: "256", functions: ["encrypt", "decrypt", "keyderive"], security: 256,
                  by: "openssl", usage: "C2SP chunked encryption of envelope payloads: HKDF-SHA-512 key derivation with key commitment, AES-256-GCM over 16 KiB chunks", certification: openSSLCertification),
            .init("crypto/hkdf-sha-512", "HKDF-SHA-512", primitive: "kdf", parameterSet: "512", functions: ["keyderive"], security: 256,
                  by: "openssl", usage: "Cobblestone-256 per-record key and commitment derivation (RFC 5869)", certification: openSSLCertification),
            .init("crypto/hkdf-sha-256", "HKDF-SHA-256", primitive: "kdf", parameterSet: "256", functions: ["keyderive"], security: 128,
                  by: "openssl", usage: "key store: wrap and MAC keys from the Argon2id root key (RFC 5869)", certification: openSSLCertification),
            .init("crypto/aes-256-kwp", "AES-256-KWP", primitive: "block-cipher", mode: "other", parameterSet: "256", functions: ["encrypt", "decrypt"], security: 256,
                  oid: "2.16.840.1.101.3.4.1.48", by: "openssl", usage: "key store: KEK versions wrapped with AES key wrap with padding (RFC 5649, NIST SP 800-38F)", certification: openSSLCertification),
            .init("crypto/hmac-sha-256", "HMAC-SHA-256", primitive: "mac", parameterSet: "256", functions: ["tag"], security: 256,
                  oid: "1.2.840.113549.2.9", by: "openssl", usage: "key store integrity MAC; subject index (RFC 2104)", certification: openSSLCertification),
            .init("crypto/sha-256", "SHA-256", primitive: "hash", parameterSet: "256", functions: ["digest"], security: 128,
                  oid: "2.16.840.1.101.3.4.2.1", by: "openssl", usage: "envelope header binding of the DEK wrap; SPKI pins; SBOM file hashes; TLS", certification: openSSLCertification),
            .init("crypto/sha-384", "SHA-384", primitive: "hash", parameterSet: "384", functions: ["digest"], security: 192,
                  oid: "2.16.840.1.101.3.4.2.2", by: "openssl", usage: "TLS_AES_256_GCM_SHA384 transcript hash and HKDF", certification: openSSLCertification),
            .init("crypto/aes-128-gcm", "AES-128-GCM", primitive: "ae", mode: "gcm", parameterSet: "128", functions: ["encrypt", "decrypt", "tag"], security: 128,
                  oid: "2.16.840.1.101.3.4.1.6", by: "openssl", usage: "TLS 1.3 (TLS_AES_128_GCM_SHA256)", certification: openSSLCertification),
            .init("crypto/ctr-drbg", "CTR_DRBG-AES-256", primitive: "drbg", parameterSet: "256", functions: ["generate"], security: 256,
                  by: "openssl", usage: "every key, DEK, nonce and salt (RAND_bytes; NIST SP 800-90A)", certification: openSSLCertification),
            .init("crypto/ecdh-p-256", "ECDH-P-256", primitive: "key-agree", curve: "secp256r1", functions: ["keygen"], security: 128,
                  oid: "1.2.840.10045.3.1.7", by: "openssl", usage: "TLS key exchange group P-256", certification: openSSLCertification),
            .init("crypto/ecdh-p-384", "ECDH-P-384", primitive: "key-agree", curve: "secp384r1", functions: ["keygen"], security: 192,
                  oid: "1.3.132.0.34", by: "openssl", usage: "TLS key exchange group P-384", certification: openSSLCertification),
        ]
        if !nist {
            assets += [
                .init("crypto/xchacha20-poly1305", "XChaCha20-Poly1305", primitive: "ae", mode: "other", parameterSet: "256", functions: ["encrypt", "decrypt", "tag"], security: 256,
                      by: "libsodium", usage: "the XChaCha20-Poly1305 envelope payload suite (devices without AES instructions)", certification: "none"),
                .init("crypto/x25519", "X25519", primitive: "key-agree", curve: "curve25519", functions: ["keygen"], security: 128,
                      oid: "1.3.101.110", by: "libsodium", usage: "sealed-box DEK wrap to a recipient's public key (RFC 7748); TLS group X25519 (OpenSSL)", certification: "none"),
                .init("crypto/sealed-box", "X25519-XSalsa20-Poly1305 sealed box", primitive: "pke", mode: "other", parameterSet: "256", functions: ["encrypt", "decrypt"], security: 128,
                      by: "libsodium", usage: "crypto_box_seal: DEK wrap to an X25519 public key", certification: "none"),
                .init("crypto/ed25519", "Ed25519", primitive: "signature", curve: "edwards25519", functions: ["sign", "verify"], security: 128,
                      oid: "1.3.101.112", by: "libsodium", usage: "signatures (RFC 8032)", certification: "none"),
                .init("crypto/argon2id", "Argon2id", primitive: "kdf", parameterSet: "256",
                      functions: ["keyderive"], security: 128, by: "libsodium",
                      usage: "key store passphrase → root key (RFC 9106); moderate: 3 passes over 256 MiB", certification: "none"),
                .init("crypto/chacha20-poly1305", "ChaCha20-Poly1305", primitive: "ae", mode: "other", parameterSet: "256", functions: ["encrypt", "decrypt", "tag"], security: 256,
                      by: "openssl", usage: "TLS 1.3 (TLS_CHACHA20_POLY1305_SHA256)", certification: openSSLCertification),
            ]
        }
        var tlsAsset = CryptographicAsset(
            "crypto/tls-1.3", "TLS 1.3", primitive: nil, functions: [], security: nil, by: "openssl",
            usage: "SaMDTLS channels and mutual TLS (\(runtime.profile.rawValue) profile); TLS 1.2 only when explicitly allowed",
            certification: openSSLCertification
        )
        tlsAsset.assetType = .protocol
        tlsAsset.protocolVersion = "1.3"
        tlsAsset.groups = tls.groups
        tlsAsset.cipherSuites = tls.tls13Suites.compactMap { name in
            Self.tls13Suites[name].map { CipherSuite(name: name, identifier: $0.identifier, algorithms: $0.algorithms) }
        }
        assets.append(tlsAsset)
        return assets
    }
}
