// The key algorithms of the development PKI.

/// The key algorithm of a development certificate, and the signature it makes when it signs.
///
/// - SeeAlso: RFC 5480 (ECDSA keys in X.509), RFC 4055 (RSA), RFC 8410 (Ed25519).
public enum DevelopmentKeyType: Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// ECDSA on NIST P-256 (32-byte field), signing with SHA-256. The default: fast and what every TLS
    /// stack accepts.
    case p256
    /// ECDSA on NIST P-384 (48-byte field), signing with SHA-256.
    case p384
    /// RSA with a 2048-bit modulus, PKCS#1 v1.5 signatures with SHA-256; noticeably slower to generate.
    case rsa2048
    /// Ed25519 (32-byte keys), a pure signature scheme: it signs without a separate digest.
    case ed25519

    public var description: String {
        switch self {
        case .p256: "P-256"
        case .p384: "P-384"
        case .rsa2048: "RSA-2048"
        case .ed25519: "Ed25519"
        }
    }
}
