// The keyUsage extension of development end-entity certificates.

/// The keyUsage extension of a development leaf certificate.
///
/// - SeeAlso: RFC 5280 §4.2.1.3; RFC 8446 §4.4.2.2 (a TLS 1.3 certificate must allow `digitalSignature`).
public enum DevelopmentKeyUsage: Sendable, Hashable {
    /// critical digitalSignature (+ keyEncipherment for RSA): what a TLS leaf carries. The default.
    case standard
    /// No keyUsage extension at all (RFC 5280 allows it in end-entity certificates).
    case absent
    /// A critical keyUsage with exactly these bits: for tests of leaves whose key may not sign.
    case critical([Bit])

    /// One keyUsage bit, named as RFC 5280 §4.2.1.3 and OpenSSL's configuration name it.
    public enum Bit: String, Sendable, Hashable, CaseIterable {
        case digitalSignature
        case nonRepudiation
        case keyEncipherment
        case dataEncipherment
        case keyAgreement
    }
}
