import CSaMDOpenSSL
import CSaMDShims
import SaMDOpenSSLSupport

extension TLSIssuingAuthority {
    static func loadCertificates(_ source: TLSPEMSource) throws -> [TLSIssuingAuthority] {
        let what = source.path.map { "issuing CA file \($0)" } ?? "issuing CA certificates"
        let pem = try source.read(what: what)
        let certificates: [X509Certificate]
        do {
            certificates = try X509Certificate.parseChain(pem: pem, what: what)
        } catch let error as TLSError {
            throw TLSError(.invalidConfiguration, error.reason)
        }
        guard !certificates.isEmpty else {
            throw TLSError(.invalidConfiguration, "\(what): no PEM certificate")
        }
        return try certificates.map { certificate in
            // 1: a CA by basic constraints; 3: a self-signed version 1 root; 4 and 5: CA by other markings.
            guard X509_check_ca(certificate.pointer) != 0 else {
                throw TLSError(
                    .invalidConfiguration,
                    "\(what): \(certificate.subject) is not a CA certificate (basic constraints cA)")
            }
            return TLSIssuingAuthority(subject: certificate.subject, spkiSHA256: certificate.spkiSHA256)
        }
    }

    /// The SPKI hash of a DER certificate; empty (matching no authority) when it does not parse.
    static func spkiSHA256(ofDER der: [UInt8]) -> [UInt8] {
        (try? X509Certificate(der: der))?.spkiSHA256 ?? []
    }
}
