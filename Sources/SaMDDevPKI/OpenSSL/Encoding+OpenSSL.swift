// PEM/DER conversion and the few certificate fields the development PKI reads back.

import CSaMDOpenSSL
import CSaMDShims
import Foundation
import SaMDOpenSSLSupport

enum OpenSSLEncoding {
    static func parseCertificate(der: [UInt8]) throws -> X509Certificate {
        let certificate: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
        guard let certificate else { throw DevelopmentPKIError.openSSL("d2i_X509") }
        return X509Certificate(takingOwnership: certificate)
    }

    /// The first certificate of a PEM text, or `nil` when there is none.
    static func parseCertificate(pem: String) throws -> X509Certificate? {
        let bio = try MemoryBIO.reading(pem)
        guard let certificate = PEM_read_bio_X509(bio.pointer, nil, nil, nil) else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        return X509Certificate(takingOwnership: certificate)
    }

    /// An unencrypted private key (PKCS#8 or traditional). An encrypted key fails: an empty passphrase is
    /// passed, so OpenSSL never prompts on a terminal. `nil` when the text holds no readable key.
    static func parsePrivateKey(pem: String) throws -> PrivateKey? {
        let bio = try MemoryBIO.reading(pem)
        var empty: CChar = 0
        guard let key = PEM_read_bio_PrivateKey(bio.pointer, nil, nil, &empty) else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        return PrivateKey(takingOwnership: key)
    }

    /// A private key this module wrote itself; failing to read it back is an OpenSSL failure.
    static func parseOwnPrivateKey(pem: String) throws -> PrivateKey {
        guard let key = try self.parsePrivateKey(pem: pem) else {
            throw DevelopmentPKIError.openSSL("PEM_read_bio_PrivateKey")
        }
        return key
    }

    /// The public key of a DER SubjectPublicKeyInfo (`d2i_PUBKEY`), in SaMDOpenSSLSupport's `EVP_PKEY` owner; the
    /// whole of `der` must be the one structure.
    /// - Throws: ``DevelopmentPKIError/Code/invalidPublicKey`` when it is not.
    static func parsePublicKey(der: [UInt8]) throws -> PrivateKey {
        let parsed: (OpaquePointer?, Int) = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            let key = d2i_PUBKEY(nil, &cursor, buffer.count)
            return (key, cursor.map { $0 - buffer.baseAddress! } ?? 0)
        }
        guard let key = parsed.0 else {
            throw DevelopmentPKIError.openSSL(.invalidPublicKey, "not a DER SubjectPublicKeyInfo (d2i_PUBKEY)")
        }
        let owner = PrivateKey(takingOwnership: key)
        guard parsed.1 == der.count else {
            throw DevelopmentPKIError(
                .invalidPublicKey, "\(der.count - parsed.1) bytes follow the SubjectPublicKeyInfo")
        }
        return owner
    }

    static func der(of certificate: X509Certificate) throws -> [UInt8] {
        guard let der = certificate.derBytes else { throw DevelopmentPKIError.openSSL("i2d_X509") }
        return der
    }

    static func pem(of certificate: X509Certificate) throws -> String {
        let bio = try MemoryBIO.empty()
        guard PEM_write_bio_X509(bio.pointer, certificate.pointer) == 1 else {
            throw DevelopmentPKIError.openSSL("PEM_write_bio_X509")
        }
        return bio.string()
    }

    /// Unencrypted PKCS#8 PEM (RFC 5958).
    static func pem(of key: PrivateKey) throws -> String {
        let bio = try MemoryBIO.empty()
        guard PEM_write_bio_PKCS8PrivateKey(bio.pointer, key.pointer, nil, nil, 0, nil, nil) == 1 else {
            throw DevelopmentPKIError.openSSL("PEM_write_bio_PKCS8PrivateKey")
        }
        return bio.string()
    }

    /// Encrypted PKCS#8 PEM (RFC 5958), PBES2 with AES-256-CBC (RFC 8018), under the UTF-8 bytes of
    /// `passphrase`.
    static func encryptedPEM(of key: PrivateKey, passphrase: String) throws -> String {
        let bio = try MemoryBIO.empty()
        var pass = Array(passphrase.utf8CString)
        defer { for index in pass.indices { pass[index] = 0 } }
        let ok = pass.withUnsafeMutableBufferPointer { buffer in
            PEM_write_bio_PKCS8PrivateKey(
                bio.pointer, key.pointer, EVP_aes_256_cbc(), buffer.baseAddress, Int32(buffer.count - 1), nil, nil)
        }
        guard ok == 1 else { throw DevelopmentPKIError.openSSL("PEM_write_bio_PKCS8PrivateKey(aes-256-cbc)") }
        return bio.string()
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo of `certificate` (32 bytes; RFC 7469 §2.4).
    static func spkiSHA256(of certificate: X509Certificate) throws -> [UInt8] {
        guard let der = certificate.subjectPublicKeyInfoDER else {
            throw DevelopmentPKIError.openSSL("i2d_X509_PUBKEY")
        }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var digestLength: UInt32 = 0
        guard EVP_Digest(der, der.count, &digest, &digestLength, EVP_sha256(), nil) == 1 else {
            throw DevelopmentPKIError.openSSL("EVP_Digest(SHA-256)")
        }
        return Array(digest.prefix(Int(digestLength)))
    }

    /// The subject of `certificate` in RFC 2253 form, e.g. `CN=gateway.test,O=SaMDKit Test`.
    static func subject(of certificate: X509Certificate) throws -> String {
        let bio = try MemoryBIO.empty()
        guard let name = X509_get_subject_name(certificate.pointer),
            X509_NAME_print_ex(bio.pointer, name, 0, rfc2253Flags) >= 0
        else { throw DevelopmentPKIError.openSSL("X509_NAME_print_ex") }
        return bio.string()
    }

    /// The first subject attribute `nid` (e.g. `NID_organizationName`) as UTF-8, or `nil` when absent.
    static func subjectAttribute(_ nid: Int32, of certificate: X509Certificate) -> String? {
        guard let name = X509_get_subject_name(certificate.pointer) else { return nil }
        let index = X509_NAME_get_index_by_NID(name, nid, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index), let data = X509_NAME_ENTRY_get_data(entry)
        else {
            return nil
        }
        var utf8: UnsafeMutablePointer<UInt8>? = nil
        let length = ASN1_STRING_to_UTF8(&utf8, data)
        guard length >= 0, let utf8 else { return nil }
        defer { CSaMDShims_OPENSSL_free(utf8) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }

    /// The serial number, or 0 when it does not fit 64 bits.
    static func serial(of certificate: X509Certificate) -> UInt64 {
        var value: UInt64 = 0
        guard let serial = X509_get0_serialNumber(certificate.pointer), ASN1_INTEGER_get_uint64(&value, serial) == 1
        else {
            OpenSSLErrorQueue.clear()
            return 0
        }
        return value
    }

    /// notBefore and notAfter, to the second.
    static func validity(of certificate: X509Certificate) throws -> (notBefore: Date, notAfter: Date) {
        guard let notBefore = certificate.notBefore else {
            throw DevelopmentPKIError.openSSL("ASN1_TIME_to_tm(notBefore)")
        }
        guard let notAfter = certificate.notAfter else {
            throw DevelopmentPKIError.openSSL("ASN1_TIME_to_tm(notAfter)")
        }
        return (notBefore, notAfter)
    }

    static func timeT(_ date: Date) -> time_t {
        time_t(date.timeIntervalSince1970.rounded(.down))
    }

    /// XN_FLAG_RFC2253, which Swift does not import (a macro of macros); spelled out from its parts.
    static let rfc2253Flags: UInt =
        UInt(ASN1_STRFLGS_ESC_2253) | UInt(ASN1_STRFLGS_ESC_CTRL) | UInt(ASN1_STRFLGS_ESC_MSB)
        | UInt(ASN1_STRFLGS_UTF8_CONVERT) | UInt(ASN1_STRFLGS_DUMP_UNKNOWN) | UInt(ASN1_STRFLGS_DUMP_DER)
        | UInt(XN_FLAG_SEP_COMMA_PLUS) | UInt(XN_FLAG_DN_REV) | UInt(XN_FLAG_FN_SN) | UInt(XN_FLAG_DUMP_UNKNOWN_FIELDS)
}
