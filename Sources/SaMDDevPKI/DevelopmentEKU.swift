// Extended key usage purposes of development certificates.

/// One extendedKeyUsage purpose of an end-entity certificate.
///
/// - SeeAlso: RFC 5280 §4.2.1.12.
public enum DevelopmentEKU: Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// id-kp-serverAuth (1.3.6.1.5.5.7.3.1): a TLS server.
    case serverAuth
    /// id-kp-clientAuth (1.3.6.1.5.5.7.3.2): a TLS client (a device or a reader in mutual TLS).
    case clientAuth
    /// id-kp-codeSigning (1.3.6.1.5.5.7.3.3): neither TLS purpose, for wrong-purpose tests.
    case codeSigning

    /// The short name, as OpenSSL prints and configures it (`serverAuth`, `clientAuth`, `codeSigning`).
    public var description: String {
        switch self {
        case .serverAuth: "serverAuth"
        case .clientAuth: "clientAuth"
        case .codeSigning: "codeSigning"
        }
    }
}
