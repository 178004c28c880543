// X.509 v2 certificate revocation lists (RFC 5280 §5).

import CSaMDOpenSSL
import Foundation
import SaMDOpenSSLSupport

enum OpenSSLCRL {
    /// A v2 CRL issued by the CA (`issuerDER`, `issuerKeyPEM`), listing `revokingSerials` revoked at
    /// `thisUpdate`, with a CRL number (`crlNumber`, by default the milliseconds since 1970 of `thisUpdate`, so
    /// a later CRL of one CA numbers higher) and an authority key identifier; PEM. Without `nextUpdate` the
    /// field is left out.
    static func make(
        issuerDER: [UInt8],
        issuerKeyPEM: String,
        keyType: DevelopmentKeyType,
        revokingSerials: [UInt64],
        thisUpdate: Date,
        nextUpdate: Date?,
        crlNumber: UInt64? = nil
    ) throws -> String {
        let issuer = try OpenSSLEncoding.parseCertificate(der: issuerDER)
        let key = try OpenSSLEncoding.parseOwnPrivateKey(pem: issuerKeyPEM)
        guard let crl = X509_CRL_new() else { throw DevelopmentPKIError.openSSL("X509_CRL_new") }
        defer { X509_CRL_free(crl) }
        guard X509_CRL_set_version(crl, 1) == 1 else { throw DevelopmentPKIError.openSSL("X509_CRL_set_version(v2)") }
        guard X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer.pointer)) == 1 else {
            throw DevelopmentPKIError.openSSL("X509_CRL_set_issuer_name")
        }
        guard let lastUpdate = ASN1_TIME_set(nil, OpenSSLEncoding.timeT(thisUpdate)) else {
            throw DevelopmentPKIError.openSSL("ASN1_TIME_set(thisUpdate)")
        }
        defer { ASN1_TIME_free(lastUpdate) }
        guard X509_CRL_set1_lastUpdate(crl, lastUpdate) == 1 else {
            throw DevelopmentPKIError.openSSL("X509_CRL_set1_lastUpdate")
        }
        if let nextUpdate {
            guard let next = ASN1_TIME_set(nil, OpenSSLEncoding.timeT(nextUpdate)) else {
                throw DevelopmentPKIError.openSSL("ASN1_TIME_set(nextUpdate)")
            }
            defer { ASN1_TIME_free(next) }
            guard X509_CRL_set1_nextUpdate(crl, next) == 1 else {
                throw DevelopmentPKIError.openSSL("X509_CRL_set1_nextUpdate")
            }
        }

        for serial in revokingSerials {
            guard let revoked = X509_REVOKED_new() else { throw DevelopmentPKIError.openSSL("X509_REVOKED_new") }
            var handedOver = false
            defer { if !handedOver { X509_REVOKED_free(revoked) } }
            guard let number = ASN1_INTEGER_new() else { throw DevelopmentPKIError.openSSL("ASN1_INTEGER_new") }
            defer { ASN1_INTEGER_free(number) }
            guard ASN1_INTEGER_set_uint64(number, serial) == 1, X509_REVOKED_set_serialNumber(revoked, number) == 1
            else {
                throw DevelopmentPKIError.openSSL("X509_REVOKED_set_serialNumber")
            }
            guard X509_REVOKED_set_revocationDate(revoked, lastUpdate) == 1 else {
                throw DevelopmentPKIError.openSSL("X509_REVOKED_set_revocationDate")
            }
            guard X509_CRL_add0_revoked(crl, revoked) == 1 else {
                throw DevelopmentPKIError.openSSL("X509_CRL_add0_revoked")
            }
            handedOver = true
        }
        guard X509_CRL_sort(crl) == 1 else { throw DevelopmentPKIError.openSSL("X509_CRL_sort") }

        guard let numberValue = ASN1_INTEGER_new() else { throw DevelopmentPKIError.openSSL("ASN1_INTEGER_new") }
        defer { ASN1_INTEGER_free(numberValue) }
        let number = crlNumber ?? UInt64(max(1, (thisUpdate.timeIntervalSince1970 * 1000).rounded(.down)))
        guard ASN1_INTEGER_set_uint64(numberValue, number) == 1,
            X509_CRL_add1_ext_i2d(crl, NID_crl_number, UnsafeMutableRawPointer(numberValue), 0, 0) == 1
        else { throw DevelopmentPKIError.openSSL("X509_CRL_add1_ext_i2d(crlNumber)") }

        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer.pointer, nil, nil, crl, 0)
        guard let aki = X509V3_EXT_conf_nid(nil, &context, NID_authority_key_identifier, "keyid:always") else {
            throw DevelopmentPKIError.openSSL("X509V3_EXT_conf_nid(authorityKeyIdentifier)")
        }
        defer { X509_EXTENSION_free(aki) }
        guard X509_CRL_add_ext(crl, aki, -1) == 1 else { throw DevelopmentPKIError.openSSL("X509_CRL_add_ext") }

        guard X509_CRL_sign(crl, key.pointer, OpenSSLKeys.signingDigest(keyType)) > 0 else {
            throw DevelopmentPKIError.openSSL("X509_CRL_sign")
        }
        let bio = try MemoryBIO.empty()
        guard PEM_write_bio_X509_CRL(bio.pointer, crl) == 1 else {
            throw DevelopmentPKIError.openSSL("PEM_write_bio_X509_CRL")
        }
        return bio.string()
    }
}
