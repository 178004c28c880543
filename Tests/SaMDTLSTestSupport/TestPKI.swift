// The TLS tests' throw-away PKI is SaMDDevPKI's development PKI, generated at test time (no certificate, and
// so no expiry date, is committed). These names keep the tests as they were written.

@_exported public import SaMDDevPKI

/// The standard set of certificates the TLS tests use, created fresh (P-256 throughout).
public typealias TestPKI = DevelopmentPKI
/// Paths of a ``TestPKI`` written by `write(to:)`.
public typealias TestPKIFiles = DevelopmentPKIFiles
/// A generated certificate with its private key.
public typealias TestCertificate = DevelopmentCertificate
/// A certificate authority of the test PKI.
public typealias TestCertificateAuthority = DevelopmentCertificateAuthority
/// The key algorithm of a test certificate.
public typealias TestKeyType = DevelopmentKeyType
/// One subjectAltName entry.
public typealias TestSAN = DevelopmentSAN
/// One extendedKeyUsage purpose.
public typealias TestEKU = DevelopmentEKU

extension DevelopmentCertificate {
    /// The private key as encrypted PKCS#8 PEM (PBES2 with AES-256-CBC) under `passphrase`, for tests:
    /// traps where ``DevelopmentCertificate/makeEncryptedPrivateKeyPEM(passphrase:)`` would throw.
    public func encryptedPrivateKeyPEM(passphrase: String) -> String {
        do {
            return try self.makeEncryptedPrivateKeyPEM(passphrase: passphrase)
        } catch {
            fatalError("TestCertificate.encryptedPrivateKeyPEM: \(error)")
        }
    }
}
