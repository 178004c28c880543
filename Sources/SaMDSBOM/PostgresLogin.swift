/// The PostgreSQL login of SaMDPostgres, and the provider that computes it.
///
/// SaMDPostgres connects over SaMDTLS (system OpenSSL) and hands the channel to postgres-nio, which answers the
/// server's SASL challenge with SCRAM-SHA-256 (RFC 5802, RFC 7677; postgres-nio 1.33
/// `SASLAuthentication+SCRAM-SHA256.swift`) through swift-crypto: `KDF.Insecure.PBKDF2.deriveKey(…, using: .sha256,
/// outputByteCount: 32, unsafeUncheckedRounds:)` for `Hi()` (the server's salt and iteration count),
/// `HMAC<SHA256>` for ClientKey, ClientSignature, ServerKey and ServerSignature, `SHA256.hash` for StoredKey. On
/// Linux swift-crypto computes these in its vendored BoringSSL (`CCryptoBoringSSL`: `PKCS5_PBKDF2_HMAC` and the
/// SHA-256 that swift-crypto's HMAC is built on). The client nonce is 18 bytes of Swift's
/// `SystemRandomNumberGenerator`, not BoringSSL's; no channel binding (postgres-nio sends `n`: it does not see
/// SaMDTLS's channel).
///
/// The build graph decides where this runs, as loaded objects decide for ``PKCS11Modules``: swift-crypto's
/// BoringSSL component carries ``providerProperty`` when the binary links SaMDPostgres, and the CBOM lists the
/// login as assets that component provides. A binary that does not link SaMDPostgres lists none.
enum PostgresLogin {
    /// The SaMDKit target whose connections make the login.
    static let module = "SaMDPostgres"
    /// The C target of swift-crypto's BoringSSL, which computes it.
    static let providerModule = "CCryptoBoringSSL"
    /// The property that marks the component computing the login; its value names the provider with its revision
    /// and the version of the package that vendors it.
    static let providerProperty = "samd:postgresLoginProvider"
    /// The protocol asset's reference; the algorithms' references start with it.
    static let reference = "crypto/scram-sha-256"

    /// The login's assets, implemented by `component` (a component carrying ``providerProperty``). The provider
    /// is not a validated module: certification `none`.
    static func assets(provider component: SBOMComponent) -> [CryptographicAsset] {
        let provider = ["samd:provider": component.properties[Self.providerProperty] ?? component.name]
        let sha256 = "\(Self.reference)/sha-256"
        let hmac = "\(Self.reference)/hmac-sha-256"
        let pbkdf2 = "\(Self.reference)/pbkdf2-hmac-sha-256"
        var login = CryptographicAsset(
            Self.reference, "SCRAM-SHA-256 (PostgreSQL login)", primitive: nil, functions: [], security: nil,
            by: component.reference,
            usage:
                "SaMDPostgres: postgres-nio's answer to the server's SASL SCRAM-SHA-256 challenge (RFC 5802, RFC 7677), inside SaMDTLS's TLS channel",
            certification: "none",
            properties: provider.merging(
                [
                    "samd:scram:channelBinding": "none (gs2 header n): postgres-nio does not see SaMDTLS's channel",
                    "samd:scram:clientNonce":
                        "18 bytes of Swift's SystemRandomNumberGenerator (getrandom(2)), base64: not from BoringSSL",
                ], uniquingKeysWith: { first, _ in first }))
        login.assetType = .protocol
        login.protocolType = "other"
        login.cryptoReferences = [pbkdf2, hmac, sha256]
        return [
            login,
            .init(
                pbkdf2, "PBKDF2-HMAC-SHA-256 (SCRAM-SHA-256 Hi)", primitive: "kdf", parameterSet: "256",
                functions: ["keyderive"], security: nil, oid: "1.2.840.113549.1.5.12", by: component.reference,
                usage:
                    "SCRAM-SHA-256 SaltedPassword = Hi(password, salt, i): the role's password with the server's salt and iteration count (RFC 5802 §3)",
                certification: "none", uses: [hmac],
                properties: provider.merging(
                    [
                        "samd:iterations":
                            "the server's (SCRAM i=; PostgreSQL's scram_iterations, 4096 by default), taken as sent",
                        "samd:outputBits": "256",
                        "samd:securityLevel":
                            "not stated: the input is the PostgreSQL role's password, whose strength SaMDKit does not know",
                    ], uniquingKeysWith: { first, _ in first })),
            .init(
                hmac, "HMAC-SHA-256 (SCRAM-SHA-256)", primitive: "mac", parameterSet: "256", functions: ["tag"],
                security: 256, oid: "1.2.840.113549.2.9", by: component.reference,
                usage:
                    "SCRAM-SHA-256 ClientKey, ClientSignature (the proof sent), ServerKey and ServerSignature (the server's proof, checked) (RFC 5802 §3)",
                certification: "none", uses: [sha256],
                properties: provider.merging(
                    ["samd:implementation": "swift-crypto's HMAC (Swift) over BoringSSL's SHA-256"],
                    uniquingKeysWith: { first, _ in first })),
            .init(
                sha256, "SHA-256 (SCRAM-SHA-256)", primitive: "hash", parameterSet: "256", functions: ["digest"],
                security: 128, oid: "2.16.840.1.101.3.4.2.1", by: component.reference,
                usage: "SCRAM-SHA-256 StoredKey = H(ClientKey), and the hash of its HMAC and PBKDF2 (RFC 5802 §3)",
                certification: "none", properties: provider),
        ]
    }
}
