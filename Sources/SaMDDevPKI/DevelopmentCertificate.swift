// One generated certificate with its private key.

public import Foundation

/// A certificate of the development PKI with its private key, as immutable PEM/DER values.
///
/// The private key is held as unencrypted PKCS#8 PEM text: fine for demos and tests, never for production
/// keys (it is neither zeroed nor protected in memory).
///
/// - SeeAlso: RFC 5280 (certificate), RFC 5958 (PKCS#8 private key), RFC 7468 (PEM).
public struct DevelopmentCertificate: Sendable {
    /// This certificate only, PEM.
    public let certificatePEM: String
    /// The private key as unencrypted PKCS#8 PEM; empty for a certificate issued for a key held elsewhere
    /// (``DevelopmentCertificateAuthority/issueLeaf(forPublicKey:commonName:sans:ekus:notBefore:notAfter:serial:)``,
    /// a key in a PKCS #11 token).
    public let privateKeyPEM: String
    /// This certificate, DER.
    public let der: [UInt8]
    /// This certificate followed by its issuers up to, but not including, the root (PEM): what a TLS
    /// endpoint sends. For a root itself, and for a leaf issued directly by a root: this certificate only.
    public let chainPEM: String
    /// The subject in RFC 2253 form, e.g. `"CN=gateway.test,O=SaMDKit Test"`.
    public let subject: String
    /// The serial number: positive, at most 63 bits (RFC 5280 §4.1.2.2).
    public let serial: UInt64
    /// The algorithm of the key.
    public let keyType: DevelopmentKeyType
    /// The start of the validity period, to the second.
    public let notBefore: Date
    /// The end of the validity period, to the second.
    public let notAfter: Date
    /// The subjectAltName entries, in certificate order (empty for a CA).
    public let subjectAlternativeNames: [DevelopmentSAN]
    /// The extendedKeyUsage purposes (empty for a CA).
    public let extendedKeyUsages: [DevelopmentEKU]
    /// SHA-256 of the DER SubjectPublicKeyInfo, computed when the certificate was made.
    let spkiDigest: [UInt8]

    /// SHA-256 of the DER SubjectPublicKeyInfo, 32 bytes: the value of an SPKI pin.
    /// - SeeAlso: RFC 7469 §2.4.
    public func spkiSHA256() -> [UInt8] {
        self.spkiDigest
    }

    /// The private key as encrypted PKCS#8 PEM (PEM label `ENCRYPTED PRIVATE KEY`), PBES2 with
    /// AES-256-CBC under the UTF-8 bytes of `passphrase`.
    /// - Throws: ``DevelopmentPKIError/Code/openSSL`` when OpenSSL cannot read or encrypt the key.
    /// - SeeAlso: RFC 5958 §3, RFC 8018 §6.2.
    public func makeEncryptedPrivateKeyPEM(passphrase: String) throws -> String {
        try OpenSSLAuthority.encrypt(privateKeyPEM: self.privateKeyPEM, passphrase: passphrase)
    }
}
