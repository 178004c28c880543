// Assembles and signs X.509 v3 certificates (RFC 5280 §4.1) from a CertificateTemplate.

import CSaMDOpenSSL
import Foundation
import SaMDOpenSSLSupport

enum OpenSSLCertificateBuilder {
    /// Generates a key of `template.keyType`, then a certificate for it signed by `signer`.
    static func issue(_ template: CertificateTemplate, signer: CertificateSigner) throws -> IssuedMaterial {
        let key = try OpenSSLKeys.generate(template.keyType)
        let certificate = try self.build(template, key: key, signer: signer)
        return IssuedMaterial(
            certificatePEM: try OpenSSLEncoding.pem(of: certificate),
            privateKeyPEM: try OpenSSLEncoding.pem(of: key),
            der: try OpenSSLEncoding.der(of: certificate),
            subject: try OpenSSLEncoding.subject(of: certificate),
            spkiSHA256: try OpenSSLEncoding.spkiSHA256(of: certificate)
        )
    }

    /// A certificate for `publicKey` (a key held elsewhere, such as in a PKCS #11 token) signed by `signer`, a
    /// CA; the material's `privateKeyPEM` is empty.
    static func issue(_ template: CertificateTemplate, publicKey: PrivateKey, authority signer: CertificateSigner)
        throws -> IssuedMaterial
    {
        let certificate = try self.build(template, key: publicKey, signer: signer)
        return IssuedMaterial(
            certificatePEM: try OpenSSLEncoding.pem(of: certificate),
            privateKeyPEM: "",
            der: try OpenSSLEncoding.der(of: certificate),
            subject: try OpenSSLEncoding.subject(of: certificate),
            spkiSHA256: try OpenSSLEncoding.spkiSHA256(of: certificate)
        )
    }

    /// The (NID, X509V3 configuration value) pairs of `template`, in order: the subject key identifier
    /// comes before the authority key identifier, which may need it (self-signed).
    static func extensions(_ template: CertificateTemplate) -> [(nid: Int32, value: String)] {
        switch template.profile {
        case .authority(let pathLength):
            return [
                (NID_basic_constraints, pathLength.map { "critical,CA:TRUE,pathlen:\($0)" } ?? "critical,CA:TRUE"),
                (NID_key_usage, "critical,keyCertSign,cRLSign"),
                (NID_subject_key_identifier, "hash"),
                (NID_authority_key_identifier, "keyid:always"),
            ]
        case .leaf(let sans, let ekus, let keyUsage):
            var extensions: [(nid: Int32, value: String)] = [(NID_basic_constraints, "critical,CA:FALSE")]
            switch keyUsage {
            case .standard:
                extensions.append(
                    (
                        NID_key_usage,
                        template.keyType == .rsa2048
                            ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"
                    ))
            case .absent:
                break
            case .critical(let bits):
                extensions.append((NID_key_usage, (["critical"] + bits.map(\.rawValue)).joined(separator: ",")))
            }
            extensions += [
                (NID_subject_key_identifier, "hash"),
                (NID_authority_key_identifier, "keyid:always"),
            ]
            if !ekus.isEmpty {
                extensions.append((NID_ext_key_usage, ekus.map(\.description).joined(separator: ",")))
            }
            if !sans.isEmpty {
                // Values were checked by DevelopmentSAN.isWellFormed: no commas reach this list.
                extensions.append((NID_subject_alt_name, sans.map(self.configuration).joined(separator: ",")))
            }
            return extensions
        }
    }

    /// The OpenSSL X509V3 configuration form of one SAN, e.g. `DNS:gateway.test`, `IP:::1`.
    static func configuration(_ san: DevelopmentSAN) -> String {
        switch san {
        case .dns(let value): "DNS:\(value)"
        case .ip(let value): "IP:\(value)"
        case .uri(let value): "URI:\(value)"
        case .email(let value): "email:\(value)"
        }
    }

    /// `key` is the subject's key: a private key (its public half is certified) or a public key only, for an
    /// authority signer.
    private static func build(_ template: CertificateTemplate, key: PrivateKey, signer: CertificateSigner) throws
        -> X509Certificate
    {
        guard let raw = X509_new() else { throw DevelopmentPKIError.openSSL("X509_new") }
        let certificate = X509Certificate(takingOwnership: raw)
        let x = certificate.pointer
        guard X509_set_version(x, 2) == 1 else { throw DevelopmentPKIError.openSSL("X509_set_version(v3)") }
        guard ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), template.serial) == 1 else {
            throw DevelopmentPKIError.openSSL("ASN1_INTEGER_set_uint64(serial)")
        }
        guard ASN1_TIME_set(X509_getm_notBefore(x), OpenSSLEncoding.timeT(template.notBefore)) != nil else {
            throw DevelopmentPKIError.openSSL("ASN1_TIME_set(notBefore)")
        }
        guard ASN1_TIME_set(X509_getm_notAfter(x), OpenSSLEncoding.timeT(template.notAfter)) != nil else {
            throw DevelopmentPKIError.openSSL("ASN1_TIME_set(notAfter)")
        }

        guard let name = X509_NAME_new() else { throw DevelopmentPKIError.openSSL("X509_NAME_new") }
        defer { X509_NAME_free(name) }
        for (field, value) in [("O", template.organization), ("CN", template.commonName)] {
            let bytes = Array(value.utf8)
            guard X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, bytes, Int32(bytes.count), -1, 0) == 1 else {
                throw DevelopmentPKIError.openSSL("X509_NAME_add_entry_by_txt(\(field))")
            }
        }
        guard X509_set_subject_name(x, name) == 1 else { throw DevelopmentPKIError.openSSL("X509_set_subject_name") }

        // The issuer's certificate and key; for a self-signed certificate, its own.
        let issuer: X509Certificate
        let signingKey: PrivateKey
        let signingKeyType: DevelopmentKeyType
        switch signer {
        case .selfSigned:
            issuer = certificate
            signingKey = key
            signingKeyType = template.keyType
        case .authority(let certificateDER, let privateKeyPEM, let keyType):
            issuer = try OpenSSLEncoding.parseCertificate(der: certificateDER)
            signingKey = try OpenSSLEncoding.parseOwnPrivateKey(pem: privateKeyPEM)
            signingKeyType = keyType
        }
        guard X509_set_issuer_name(x, X509_get_subject_name(issuer.pointer)) == 1 else {
            throw DevelopmentPKIError.openSSL("X509_set_issuer_name")
        }
        guard X509_set_pubkey(x, key.pointer) == 1 else { throw DevelopmentPKIError.openSSL("X509_set_pubkey") }

        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer.pointer, x, nil, nil, 0)
        for (nid, value) in self.extensions(template) {
            guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
                throw DevelopmentPKIError.openSSL(
                    "X509V3_EXT_conf_nid(\(String(cString: OBJ_nid2sn(nid))), \"\(value)\")")
            }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(x, ext, -1) == 1 else { throw DevelopmentPKIError.openSSL("X509_add_ext") }
        }

        guard X509_sign(x, signingKey.pointer, OpenSSLKeys.signingDigest(signingKeyType)) > 0 else {
            throw DevelopmentPKIError.openSSL("X509_sign")
        }
        return certificate
    }
}
