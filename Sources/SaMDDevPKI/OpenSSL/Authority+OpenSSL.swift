// Reading a stored CA back (certificate and key PEM), and re-encrypting a private key.

import CSaMDOpenSSL
import Foundation
import SaMDOpenSSLSupport

enum OpenSSLAuthority {
    /// Reads and checks a CA: the first certificate of `certificatePEM` must be a CA (basicConstraints
    /// CA:TRUE, RFC 5280 §4.2.1.9) whose public key matches the unencrypted `privateKeyPEM`, of a
    /// ``DevelopmentKeyType``.
    /// - Throws: ``DevelopmentPKIError/Code/invalidAuthority`` when any of that does not hold.
    static func load(certificatePEM: String, privateKeyPEM: String) throws -> LoadedAuthority {
        guard let certificate = try OpenSSLEncoding.parseCertificate(pem: certificatePEM) else {
            throw DevelopmentPKIError(.invalidAuthority, "no PEM certificate in the CA certificate file")
        }
        guard let key = try OpenSSLEncoding.parsePrivateKey(pem: privateKeyPEM) else {
            throw DevelopmentPKIError(.invalidAuthority, "no unencrypted PEM private key in the CA key file")
        }
        guard X509_check_ca(certificate.pointer) >= 1 else {
            throw DevelopmentPKIError(.invalidAuthority, "the certificate is not a CA (basicConstraints CA:TRUE)")
        }
        guard X509_check_private_key(certificate.pointer, key.pointer) == 1 else {
            throw DevelopmentPKIError.openSSL(.invalidAuthority, "the private key does not match the CA certificate")
        }
        guard let keyType = OpenSSLKeys.type(of: key) else {
            throw DevelopmentPKIError(.invalidAuthority, "the CA key is not P-256, P-384, RSA-2048 or Ed25519")
        }
        let validity = try OpenSSLEncoding.validity(of: certificate)
        let isSelfSigned = X509_check_issued(certificate.pointer, certificate.pointer) == X509_V_OK
        return LoadedAuthority(
            certificatePEM: try OpenSSLEncoding.pem(of: certificate),
            privateKeyPEM: try OpenSSLEncoding.pem(of: key),
            der: try OpenSSLEncoding.der(of: certificate),
            subject: try OpenSSLEncoding.subject(of: certificate),
            organization: OpenSSLEncoding.subjectAttribute(NID_organizationName, of: certificate) ?? "",
            serial: OpenSSLEncoding.serial(of: certificate),
            keyType: keyType,
            notBefore: validity.notBefore,
            notAfter: validity.notAfter,
            spkiSHA256: try OpenSSLEncoding.spkiSHA256(of: certificate),
            isSelfSigned: isSelfSigned
        )
    }

    /// The unencrypted PEM key `privateKeyPEM` as encrypted PKCS#8 PEM under `passphrase`.
    static func encrypt(privateKeyPEM: String, passphrase: String) throws -> String {
        try OpenSSLEncoding.encryptedPEM(
            of: OpenSSLEncoding.parseOwnPrivateKey(pem: privateKeyPEM), passphrase: passphrase)
    }
}
