// What the OpenSSL layer is asked to build: a description in Swift terms, without C types.

import Foundation

/// The contents of one X.509 v3 certificate to assemble and sign (RFC 5280 §4.1).
struct CertificateTemplate {
    /// The extensions that distinguish a CA from an end entity.
    enum Profile {
        /// basicConstraints critical CA:TRUE (with pathLenConstraint when set), keyUsage critical
        /// keyCertSign+cRLSign, SKI, AKI.
        case authority(pathLength: Int?)
        /// basicConstraints critical CA:FALSE, keyUsage as `keyUsage` says (by default critical
        /// digitalSignature, +keyEncipherment for RSA), SKI, AKI, extendedKeyUsage and subjectAltName (each
        /// left out when empty).
        case leaf(sans: [DevelopmentSAN], ekus: [DevelopmentEKU], keyUsage: DevelopmentKeyUsage)
    }

    /// Subject `O=<organization>, CN=<commonName>`.
    var organization: String
    var commonName: String
    var serial: UInt64
    var notBefore: Date
    var notAfter: Date
    var keyType: DevelopmentKeyType
    var profile: Profile
}

/// Who signs a new certificate: the new key itself, or a CA.
enum CertificateSigner {
    case selfSigned
    /// The CA's certificate (DER), private key (PEM) and key algorithm.
    case authority(certificateDER: [UInt8], privateKeyPEM: String, keyType: DevelopmentKeyType)
}

/// A newly generated key and certificate, in encoded forms.
struct IssuedMaterial {
    let certificatePEM: String
    let privateKeyPEM: String
    let der: [UInt8]
    /// RFC 2253 form.
    let subject: String
    let spkiSHA256: [UInt8]
}

/// What is read back from a stored CA certificate and key.
struct LoadedAuthority {
    let certificatePEM: String
    let privateKeyPEM: String
    let der: [UInt8]
    let subject: String
    let organization: String
    let serial: UInt64
    let keyType: DevelopmentKeyType
    let notBefore: Date
    let notAfter: Date
    let spkiSHA256: [UInt8]
    let isSelfSigned: Bool
}
