package import SaMDCrypto
package import SaMDOpenSSLSupport

extension TLSParameters {
    /// The parameters SaMDTLS configures under the TLS profile of the same name as `profile` (`default`, `nist`):
    /// what the CBOM lists for TLS.
    package static func forProfile(_ profile: CryptoProfile) -> TLSParameters {
        switch profile {
        case .default: .default
        case .nist: .nist
        }
    }
}
