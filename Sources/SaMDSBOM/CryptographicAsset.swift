public import SaMDCrypto
import SaMDOpenSSLSupport

/// One entry of the cryptographic bill of materials (CycloneDX 1.6 `cryptographic-asset`).
///
/// Security levels follow one rule (NIST SP 800-57 Part 1 Rev. 5 §5.6.1, tables 2 and 3; NIST PQC call for
/// proposals §4.A.5 for the quantum categories):
/// - `classicalSecurityLevel`: symmetric keyed primitives (AEADs, block ciphers, key wrap, MACs, KDFs, DRBGs) —
///   the key-search strength of the key they use (for HMAC and HKDF: the key length, capped by the hash's
///   HMAC/KDF strength, so HMAC-SHA-256 and HKDF-SHA-256 with 256-bit keys are both 256); hash functions — their
///   collision resistance (half the output: SHA-256 → 128); asymmetric primitives — the strength of the key or
///   curve (X25519, P-256, Ed25519 → 128; P-384 → 192; Ed448 → 224; P-521 → 256; RSA ≥ 2048 → 112, the minimum
///   accepted). Argon2id is 128, the strength its derived key is targeted at (bounded in practice by the passphrase).
///   The PBKDF2 of the PostgreSQL login (`PostgresLogin`) has none: its input is a password SaMDKit does not know.
/// - `nistQuantumSecurityLevel`: asymmetric classical algorithms → 0 (Shor); hash functions by collision
///   resistance (128 → 2 like SHA-256, 192 → 4 like SHA-384, 256 → 5); symmetric keyed primitives by key search
///   (128 → 1 like AES-128, 192 → 3 like AES-192, 256 → 5 like AES-256).
public struct CryptographicAsset: Sendable, Hashable {
    /// CycloneDX `cryptoProperties.assetType`.
    public enum AssetType: String, Sendable, Hashable {
        case algorithm, `protocol`
    }
    /// A TLS cipher suite of a protocol asset.
    public struct CipherSuite: Sendable, Hashable {
        public var name: String
        /// IANA code point as its two bytes, e.g. ["0x13", "0x02"] (CycloneDX `identifiers`).
        public var identifiers: [String]
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
    /// Key or parameter size (bits) or parameter-set name, as CycloneDX `parameterSetIdentifier`.
    public var parameterSet: String?
    public var curve: String?
    public var functions: [String]
    public var classicalSecurityLevel: Int?
    /// NIST post-quantum security category (0 for classical asymmetric algorithms); see the type's comment.
    public var nistQuantumSecurityLevel: Int?
    public var oid: String?
    /// Reference of the component implementing it ("openssl", "libsodium").
    public var implementedBy: String?
    /// Where SaMDKit uses it.
    public var usage: String
    /// Protocol assets: CycloneDX `protocolProperties.type` — "tls", or "other" (the SCRAM-SHA-256 login of
    /// SaMDPostgres).
    public var protocolType: String
    /// Protocol assets: version and suites.
    public var protocolVersion: String?
    public var cipherSuites: [CipherSuite]
    /// Protocol assets: key-exchange groups (OpenSSL names) in preference order.
    public var groups: [String]
    /// Protocol assets: the key-agreement and signature assets (CycloneDX `cryptoRefArray`).
    public var cryptoReferences: [String]
    /// Algorithm assets this one is built on (e.g. a signature scheme's hash), for `dependencies`.
    public var uses: [String]
    /// Further `samd:` properties (nonce and tag sizes, TLS code points, accepted peer keys, opt-in).
    public var properties: [String: String]
    public var certificationLevel: String
    /// NIST transition dates by the bundled table's rule; nil until classified (``SBOMInventory`` does) and for protocols.
    public var transition: AlgorithmTransition?

    init(
        _ reference: String, _ name: String, primitive: String?, mode: String? = nil, parameterSet: String? = nil,
        curve: String? = nil,
        functions: [String], security: Int?, oid: String? = nil, by implementer: String, usage: String,
        certification: String,
        uses: [String] = [], properties: [String: String] = [:]
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
        self.nistQuantumSecurityLevel = security.map { Self.quantumLevel(primitive: primitive, classical: $0) }
        self.oid = oid
        self.implementedBy = implementer
        self.usage = usage
        self.protocolType = "tls"
        self.cipherSuites = []
        self.groups = []
        self.cryptoReferences = []
        self.uses = uses
        self.properties = properties
        self.certificationLevel = certification
    }

    /// The rule of the type's comment.
    package static func quantumLevel(primitive: String?, classical: Int) -> Int {
        switch primitive {
        case "key-agree", "signature", "pke", "kem": 0
        case "hash": classical >= 256 ? 5 : classical >= 192 ? 4 : classical >= 128 ? 2 : 0
        default: classical >= 256 ? 5 : classical >= 192 ? 3 : classical >= 128 ? 1 : 0
        }
    }

    /// IANA TLS 1.3 cipher suite code points (RFC 8446 §B.4) and the algorithm assets each uses.
    static let tls13Suites: [String: (identifiers: [String], algorithms: [String])] = [
        "TLS_AES_256_GCM_SHA384": (["0x13", "0x02"], ["crypto/aes-256-gcm", "crypto/sha-384"]),
        "TLS_CHACHA20_POLY1305_SHA256": (["0x13", "0x03"], ["crypto/chacha20-poly1305", "crypto/sha-256"]),
        "TLS_AES_128_GCM_SHA256": (["0x13", "0x01"], ["crypto/aes-128-gcm", "crypto/sha-256"]),
    ]

    /// TLS 1.2 suites: OpenSSL name → IANA name, code point (RFC 5289, RFC 7905) and algorithm assets.
    static let tls12Suites: [String: (name: String, identifiers: [String], algorithms: [String])] = [
        "ECDHE-ECDSA-AES256-GCM-SHA384": (
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", ["0xC0", "0x2C"], ["crypto/aes-256-gcm", "crypto/sha-384"]
        ),
        "ECDHE-RSA-AES256-GCM-SHA384": (
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", ["0xC0", "0x30"], ["crypto/aes-256-gcm", "crypto/sha-384"]
        ),
        "ECDHE-ECDSA-CHACHA20-POLY1305": (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", ["0xCC", "0xA9"],
            ["crypto/chacha20-poly1305", "crypto/sha-256"]
        ),
        "ECDHE-RSA-CHACHA20-POLY1305": (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", ["0xCC", "0xA8"],
            ["crypto/chacha20-poly1305", "crypto/sha-256"]
        ),
        "ECDHE-ECDSA-AES128-GCM-SHA256": (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", ["0xC0", "0x2B"], ["crypto/aes-128-gcm", "crypto/sha-256"]
        ),
        "ECDHE-RSA-AES128-GCM-SHA256": (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", ["0xC0", "0x2F"], ["crypto/aes-128-gcm", "crypto/sha-256"]
        ),
    ]

    /// TLS key-exchange groups (OpenSSL names) → asset (all implemented by OpenSSL).
    static let tlsGroups:
        [String: (
            reference: String, name: String, parameterSet: String?, curve: String, security: Int, oid: String,
            codePoint: String
        )] = [
            "X25519": ("crypto/tls-x25519", "X25519 (TLS)", "255", "Curve25519", 128, "1.3.101.110", "0x001D"),
            "P-256": ("crypto/ecdh-p-256", "ECDH-P-256", "256", "secp256r1", 128, "1.2.840.10045.3.1.7", "0x0017"),
            "P-384": ("crypto/ecdh-p-384", "ECDH-P-384", "384", "secp384r1", 192, "1.3.132.0.34", "0x0018"),
        ]

    /// TLS signature algorithms (OpenSSL `sigalgs` names) → asset (all implemented by OpenSSL), with the IANA
    /// SignatureScheme (RFC 8446 §4.2.3). rsa_pss_rsae_* and rsa_pss_pss_* share the RSASSA-PSS asset of their hash.
    static let tlsSignatures:
        [String: (
            reference: String, name: String, parameterSet: String?, curve: String?, security: Int, oid: String,
            hash: String, scheme: String
        )] = [
            "ECDSA+SHA256": (
                "crypto/tls-ecdsa-p256-sha256", "ECDSA-P-256-SHA-256", "256", "secp256r1", 128, "1.2.840.10045.4.3.2",
                "crypto/sha-256", "ecdsa_secp256r1_sha256 (0x0403)"
            ),
            "ECDSA+SHA384": (
                "crypto/tls-ecdsa-p384-sha384", "ECDSA-P-384-SHA-384", "384", "secp384r1", 192, "1.2.840.10045.4.3.3",
                "crypto/sha-384", "ecdsa_secp384r1_sha384 (0x0503)"
            ),
            "ECDSA+SHA512": (
                "crypto/tls-ecdsa-p521-sha512", "ECDSA-P-521-SHA-512", "521", "secp521r1", 256, "1.2.840.10045.4.3.4",
                "crypto/sha-512", "ecdsa_secp521r1_sha512 (0x0603)"
            ),
            "ed25519": (
                "crypto/tls-ed25519", "Ed25519 (TLS)", "Ed25519", "edwards25519", 128, "1.3.101.112", "crypto/sha-512",
                "ed25519 (0x0807)"
            ),
            "ed448": (
                "crypto/tls-ed448", "Ed448 (TLS)", "Ed448", "edwards448", 224, "1.3.101.113", "", "ed448 (0x0808)"
            ),
            "rsa_pss_rsae_sha256": (
                "crypto/tls-rsa-pss-sha256", "RSASSA-PSS-SHA-256", nil, nil, 112, "1.2.840.113549.1.1.10",
                "crypto/sha-256", "rsa_pss_rsae_sha256 (0x0804)"
            ),
            "rsa_pss_rsae_sha384": (
                "crypto/tls-rsa-pss-sha384", "RSASSA-PSS-SHA-384", nil, nil, 112, "1.2.840.113549.1.1.10",
                "crypto/sha-384", "rsa_pss_rsae_sha384 (0x0805)"
            ),
            "rsa_pss_rsae_sha512": (
                "crypto/tls-rsa-pss-sha512", "RSASSA-PSS-SHA-512", nil, nil, 112, "1.2.840.113549.1.1.10",
                "crypto/sha-512", "rsa_pss_rsae_sha512 (0x0806)"
            ),
            "rsa_pss_pss_sha256": (
                "crypto/tls-rsa-pss-sha256", "RSASSA-PSS-SHA-256", nil, nil, 112, "1.2.840.113549.1.1.10",
                "crypto/sha-256", "rsa_pss_pss_sha256 (0x0809)"
            ),
            "rsa_pss_pss_sha384": (
                "crypto/tls-rsa-pss-sha384", "RSASSA-PSS-SHA-384", nil, nil, 112, "1.2.840.113549.1.1.10",
                "crypto/sha-384", "rsa_pss_pss_sha384 (0x080A)"
            ),
            "rsa_pss_pss_sha512": (
                "crypto/tls-rsa-pss-sha512", "RSASSA-PSS-SHA-512", nil, nil, 112, "1.2.840.113549.1.1.10",
                "crypto/sha-512", "rsa_pss_pss_sha512 (0x080B)"
            ),
            "RSA+SHA256": (
                "crypto/tls-rsa-pkcs1-sha256", "RSASSA-PKCS1-v1_5-SHA-256", nil, nil, 112, "1.2.840.113549.1.1.11",
                "crypto/sha-256", "rsa_pkcs1_sha256 (0x0401)"
            ),
            "RSA+SHA384": (
                "crypto/tls-rsa-pkcs1-sha384", "RSASSA-PKCS1-v1_5-SHA-384", nil, nil, 112, "1.2.840.113549.1.1.12",
                "crypto/sha-384", "rsa_pkcs1_sha384 (0x0501)"
            ),
            "RSA+SHA512": (
                "crypto/tls-rsa-pkcs1-sha512", "RSASSA-PKCS1-v1_5-SHA-512", nil, nil, 112, "1.2.840.113549.1.1.13",
                "crypto/sha-512", "rsa_pkcs1_sha512 (0x0601)"
            ),
        ]

    /// Peer keys SaMDTLS accepts (SSL_CTX_set_security_level 2 and the CA/B Forum BR §6.1.5 checks).
    static let acceptedRSAKeys = "RSA ≥ 2048 bits (modulus a multiple of 8)"
    static let acceptedECDSAKeys = "ECDSA on P-256, P-384 or P-521"

    /// The assets of the active profile of `runtime`.
    static func assets(for runtime: RuntimeReport) -> [CryptographicAsset] {
        self.assets(profile: runtime.profile, fipsProviderActive: runtime.openSSL.fipsProviderActive)
    }

    /// The assets of `profile`. Under `nist`, libsodium's algorithms (which SaMDCrypto then refuses) and
    /// ChaCha20-Poly1305 / X25519 / EdDSA in TLS are left out (they are not in its `TLSParameters`).
    public static func assets(profile: CryptoProfile, fipsProviderActive fips: Bool) -> [CryptographicAsset] {
        let nist = profile == .nist
        // OpenSSL's FIPS provider is validated only as a module; SaMDKit does not claim a level.
        let openSSLCertification = fips ? "other" : "none"
        let tls = TLSParameters.forProfile(profile)
        let gcm = ["samd:nonceBits": "96", "samd:tagBits": "128"]

        var assets: [CryptographicAsset] = [
            .init(
                "crypto/aes-256-gcm", "AES-256-GCM", primitive: "ae", mode: "gcm", parameterSet: "256",
                functions: ["encrypt", "decrypt", "tag"], security: 256,
                oid: "2.16.840.1.101.3.4.1.46", by: "openssl",
                usage:
                    "Cobblestone-256 payload chunks; DEK wrap (AES-256-GCM under the KEK, bound to the envelope header); subject-key wrap; TLS",
                certification: openSSLCertification, properties: gcm),
            .init(
                "crypto/cobblestone-256", "Cobblestone-256", primitive: "ae", mode: "other", parameterSet: "256",
                functions: ["encrypt", "decrypt", "keyderive"], security: 256,
                by: "openssl",
                usage:
                    "C2SP chunked encryption of envelope payloads: HKDF-SHA-512 key derivation with key commitment, AES-256-GCM over 16 KiB chunks",
                certification: openSSLCertification, uses: ["crypto/aes-256-gcm", "crypto/hkdf-sha-512"],
                properties: gcm),
            .init(
                "crypto/hkdf-sha-512", "HKDF-SHA-512", primitive: "kdf", parameterSet: "512", functions: ["keyderive"],
                security: 256,
                by: "openssl", usage: "Cobblestone-256 per-record key and commitment derivation (RFC 5869)",
                certification: openSSLCertification, uses: ["crypto/sha-512"]),
            .init(
                "crypto/hkdf-sha-256", "HKDF-SHA-256", primitive: "kdf", parameterSet: "256", functions: ["keyderive"],
                security: 256,
                by: "openssl", usage: "key store: wrap and MAC keys from the Argon2id root key (RFC 5869)",
                certification: openSSLCertification, uses: ["crypto/sha-256"]),
            .init(
                "crypto/aes-256-kwp", "AES-256-KWP", primitive: "block-cipher", mode: "other", parameterSet: "256",
                functions: ["encrypt", "decrypt"], security: 256,
                oid: "2.16.840.1.101.3.4.1.48", by: "openssl",
                usage: "key store: KEK versions wrapped with AES key wrap with padding (RFC 5649, NIST SP 800-38F)",
                certification: openSSLCertification),
            .init(
                "crypto/hmac-sha-256", "HMAC-SHA-256", primitive: "mac", parameterSet: "256", functions: ["tag"],
                security: 256,
                oid: "1.2.840.113549.2.9", by: "openssl", usage: "key store integrity MAC; subject index (RFC 2104)",
                certification: openSSLCertification, uses: ["crypto/sha-256"]),
            .init(
                "crypto/sha-256", "SHA-256", primitive: "hash", parameterSet: "256", functions: ["digest"],
                security: 128,
                oid: "2.16.840.1.101.3.4.2.1", by: "openssl",
                usage: "envelope header binding of the DEK wrap; SPKI pins; SBOM file hashes; HMAC/HKDF-SHA-256; TLS",
                certification: openSSLCertification),
            .init(
                "crypto/sha-384", "SHA-384", primitive: "hash", parameterSet: "384", functions: ["digest"],
                security: 192,
                oid: "2.16.840.1.101.3.4.2.2", by: "openssl",
                usage: "TLS_AES_256_GCM_SHA384 transcript hash and HKDF; TLS signatures",
                certification: openSSLCertification),
            .init(
                "crypto/sha-512", "SHA-512", primitive: "hash", parameterSet: "512", functions: ["digest"],
                security: 256,
                oid: "2.16.840.1.101.3.4.2.3", by: "openssl",
                usage: "HKDF-SHA-512 (Cobblestone-256); DigestAlgorithm.sha512; TLS signatures",
                certification: openSSLCertification),
            .init(
                "crypto/aes-128-gcm", "AES-128-GCM", primitive: "ae", mode: "gcm", parameterSet: "128",
                functions: ["encrypt", "decrypt", "tag"], security: 128,
                oid: "2.16.840.1.101.3.4.1.6", by: "openssl",
                usage: "TLS (TLS_AES_128_GCM_SHA256; TLS 1.2 AES128-GCM suites)", certification: openSSLCertification,
                properties: gcm),
            .init(
                "crypto/ctr-drbg", "CTR_DRBG-AES-256", primitive: "drbg", parameterSet: "256", functions: ["generate"],
                security: 256,
                by: "openssl",
                usage: nist
                    ? "OpenSSL DRBG (RAND_bytes; NIST SP 800-90A): DEKs, KEKs, nonces, salts, TLS"
                    : "OpenSSL DRBG (RAND_bytes; NIST SP 800-90A): DEKs, KEKs, nonces, salts, TLS; libsodium randombytes: X25519/Ed25519 key pairs and sealed-box ephemerals",
                certification: openSSLCertification),
        ]
        if !nist {
            assets += [
                .init(
                    "crypto/xchacha20-poly1305", "XChaCha20-Poly1305", primitive: "ae", mode: "other",
                    parameterSet: "256", functions: ["encrypt", "decrypt", "tag"], security: 256,
                    by: "libsodium",
                    usage: "the XChaCha20-Poly1305 envelope payload suite (devices without AES instructions)",
                    certification: "none",
                    properties: ["samd:nonceBits": "192", "samd:tagBits": "128"]),
                .init(
                    "crypto/x25519", "X25519", primitive: "key-agree", parameterSet: "255", curve: "Curve25519",
                    functions: ["keygen"], security: 128,
                    oid: "1.3.101.110", by: "libsodium",
                    usage:
                        "sealed-box DEK wrap to a recipient's public key (RFC 7748); not TLS (see crypto/tls-x25519)",
                    certification: "none",
                    properties: ["samd:keyBits": "255"]),
                .init(
                    "crypto/sealed-box", "X25519-XSalsa20-Poly1305 sealed box", primitive: "pke", mode: "other",
                    parameterSet: "256", curve: "Curve25519", functions: ["encrypt", "decrypt"], security: 128,
                    by: "libsodium", usage: "crypto_box_seal: DEK wrap to an X25519 public key", certification: "none",
                    uses: ["crypto/x25519"], properties: ["samd:nonceBits": "192", "samd:tagBits": "128"]),
                .init(
                    "crypto/ed25519", "Ed25519", primitive: "signature", parameterSet: "Ed25519", curve: "edwards25519",
                    functions: ["sign", "verify"], security: 128,
                    oid: "1.3.101.112", by: "libsodium",
                    usage: "signatures (RFC 8032); not TLS (see crypto/tls-ed25519)", certification: "none"),
                .init(
                    "crypto/argon2id", "Argon2id", primitive: "kdf", parameterSet: "256",
                    functions: ["keyderive"], security: 128, by: "libsodium",
                    usage: "key store passphrase → root key (RFC 9106); moderate: 3 passes over 256 MiB",
                    certification: "none"),
            ]
        }
        if tls.tls13Suites.contains("TLS_CHACHA20_POLY1305_SHA256")
            || tls.tls12Suites.contains(where: { $0.contains("CHACHA20") })
        {
            assets.append(
                .init(
                    "crypto/chacha20-poly1305", "ChaCha20-Poly1305", primitive: "ae", mode: "other",
                    parameterSet: "256", functions: ["encrypt", "decrypt", "tag"], security: 256,
                    by: "openssl", usage: "TLS (TLS_CHACHA20_POLY1305_SHA256; TLS 1.2 CHACHA20-POLY1305 suites)",
                    certification: openSSLCertification,
                    properties: ["samd:nonceBits": "96", "samd:tagBits": "128"])
            )
        }

        // TLS key exchange (OpenSSL, SSL_CTX_set1_groups_list).
        var tlsReferences: [String] = []
        for group in tls.groups {
            guard let entry = Self.tlsGroups[group] else { continue }
            var properties = ["samd:tls:group": group, "samd:tls:namedGroup": entry.codePoint]
            if group == "X25519" { properties["samd:keyBits"] = "255" }
            assets.append(
                .init(
                    entry.reference, entry.name, primitive: "key-agree", parameterSet: entry.parameterSet,
                    curve: entry.curve, functions: ["keygen"], security: entry.security,
                    oid: entry.oid, by: "openssl",
                    usage: "TLS ECDHE key exchange group \(group) (SSL_CTX_set1_groups_list)",
                    certification: openSSLCertification, properties: properties)
            )
            tlsReferences.append(entry.reference)
        }
        // TLS authentication (OpenSSL, SSL_CTX_set1_sigalgs_list): one asset per algorithm, in preference order.
        var signatureIndex: [String: Int] = [:]
        for sigalg in tls.signatureAlgorithms {
            guard let entry = Self.tlsSignatures[sigalg] else { continue }
            if let index = signatureIndex[entry.reference] {
                assets[index].properties["samd:tls:sigalgs"]! += ":" + sigalg
                assets[index].properties["samd:tls:signatureSchemes"]! += ", " + entry.scheme
                continue
            }
            var properties = ["samd:tls:sigalgs": sigalg, "samd:tls:signatureSchemes": entry.scheme]
            if sigalg.hasPrefix("RSA") || sigalg.hasPrefix("rsa") {
                properties["samd:tls:acceptedPeerKeys"] = Self.acceptedRSAKeys
                properties["samd:tls:minimumPeerKeyBits"] = "2048"
            } else if sigalg.hasPrefix("ECDSA") {
                properties["samd:tls:acceptedPeerKeys"] = Self.acceptedECDSAKeys
            }
            let pss = sigalg.hasPrefix("rsa_pss")
            let pkcs1 = sigalg.hasPrefix("RSA+")
            signatureIndex[entry.reference] = assets.count
            assets.append(
                .init(
                    entry.reference, entry.name, primitive: "signature", mode: nil, parameterSet: entry.parameterSet,
                    curve: entry.curve, functions: ["sign", "verify"],
                    security: entry.security, oid: entry.oid, by: "openssl",
                    usage: pkcs1
                        ? "TLS authentication: certificate signatures (TLS 1.3) and handshake signatures (TLS 1.2) (SSL_CTX_set1_sigalgs_list)"
                        : pss
                            ? "TLS authentication: handshake and certificate signatures, RSASSA-PSS (SSL_CTX_set1_sigalgs_list)"
                            : "TLS authentication: handshake and certificate signatures (SSL_CTX_set1_sigalgs_list)",
                    certification: openSSLCertification, uses: entry.hash.isEmpty ? [] : [entry.hash],
                    properties: properties)
            )
            tlsReferences.append(entry.reference)
        }

        let available = Set(assets.map(\.reference))
        var peerKeys = [Self.acceptedRSAKeys, Self.acceptedECDSAKeys]
        if tls.signatureAlgorithms.contains("ed25519") { peerKeys.append("Ed25519") }
        if tls.signatureAlgorithms.contains("ed448") { peerKeys.append("Ed448") }

        var tls13 = CryptographicAsset(
            "crypto/tls-1.3", "TLS 1.3", primitive: nil, functions: [], security: nil, by: "openssl",
            usage: "SaMDTLS channels and mutual TLS (\(profile.rawValue) profile)",
            certification: openSSLCertification,
            properties: ["samd:tls:acceptedPeerKeys": peerKeys.joined(separator: "; ")]
        )
        tls13.assetType = .protocol
        tls13.protocolVersion = "1.3"
        tls13.groups = tls.groups
        tls13.cryptoReferences = tlsReferences
        tls13.cipherSuites = tls.tls13Suites.compactMap { name in
            Self.tls13Suites[name].map {
                CipherSuite(
                    name: name, identifiers: $0.identifiers, algorithms: $0.algorithms.filter(available.contains))
            }
        }
        assets.append(tls13)

        var tls12 = CryptographicAsset(
            "crypto/tls-1.2", "TLS 1.2", primitive: nil, functions: [], security: nil, by: "openssl",
            usage:
                "SaMDTLS, only when TLSConfiguration.allowsTLS12 is set: ECDHE + AEAD suites (\(profile.rawValue) profile)",
            certification: openSSLCertification,
            properties: [
                "samd:optIn": "true", "samd:optIn:setting": "TLSConfiguration.allowsTLS12",
                "samd:tls:acceptedPeerKeys": peerKeys.joined(separator: "; "),
                "samd:tls:openSSLSuites": tls.tls12Suites.joined(separator: ":"),
            ]
        )
        tls12.assetType = .protocol
        tls12.protocolVersion = "1.2"
        tls12.groups = tls.groups
        tls12.cryptoReferences = tlsReferences
        tls12.cipherSuites = tls.tls12Suites.compactMap { name in
            Self.tls12Suites[name].map {
                CipherSuite(
                    name: $0.name, identifiers: $0.identifiers, algorithms: $0.algorithms.filter(available.contains))
            }
        }
        assets.append(tls12)
        return assets
    }
}
