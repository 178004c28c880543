// Internal OpenSSL plumbing for the test PKI: owners of C pointers, errors,
// PEM/DER conversion, key generation, certificate assembly.

import CSaMDOpenSSL
import Foundation

/// A failure in the test PKI, naming the OpenSSL (or file-system) call that failed.
public struct TestPKIError: Error, CustomStringConvertible {
    /// The failing call, e.g. `"X509_sign"`.
    public let call: String
    /// The drained OpenSSL error queue (or another explanation), possibly empty.
    public let detail: String

    public init(call: String, detail: String) {
        self.call = call
        self.detail = detail
    }

    /// Captures and clears the OpenSSL error queue of this thread.
    static func openSSL(_ call: String) -> TestPKIError {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return TestPKIError(call: call, detail: messages.joined(separator: "; "))
    }

    public var description: String {
        detail.isEmpty ? "\(call) failed" : "\(call) failed: \(detail)"
    }
}

// MARK: - Owners

/// Owns one `EVP_PKEY`.
final class OwnedKey {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }
}

/// Owns one `X509`.
final class OwnedCertificate {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_free(pointer) }
}

/// Owns one memory `BIO`.
final class MemoryBIO {
    let pointer: OpaquePointer

    /// An empty, writable memory BIO.
    init() throws {
        guard let method = BIO_s_mem(), let bio = BIO_new(method) else { throw TestPKIError.openSSL("BIO_new") }
        pointer = bio
    }

    deinit { BIO_free(pointer) }

    /// A memory BIO holding a copy of `bytes` (BIO_new_mem_buf would borrow them).
    convenience init(bytes: [UInt8]) throws {
        try self.init()
        let written = bytes.withUnsafeBytes { BIO_write(pointer, $0.baseAddress, Int32($0.count)) }
        guard written == Int32(bytes.count) else { throw TestPKIError.openSSL("BIO_write") }
    }

    /// Everything written so far.
    func contents() throws -> [UInt8] {
        // BIO_get_mem_data(bio, &data) is a macro for this BIO_ctrl call.
        var data: UnsafeMutablePointer<CChar>? = nil
        let count = BIO_ctrl(pointer, BIO_CTRL_INFO, 0, &data)
        guard count >= 0 else { throw TestPKIError.openSSL("BIO_get_mem_data") }
        guard count > 0, let data else { return [] }
        return data.withMemoryRebound(to: UInt8.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
    }

    func string() throws -> String {
        String(decoding: try contents(), as: UTF8.self)
    }
}

// MARK: - Conversions

enum PKI {
    static func parseCertificate(der: [UInt8]) throws -> OwnedCertificate {
        let certificate: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
        guard let certificate else { throw TestPKIError.openSSL("d2i_X509") }
        return OwnedCertificate(certificate)
    }

    static func parsePrivateKey(pem: String) throws -> OwnedKey {
        let bio = try MemoryBIO(bytes: Array(pem.utf8))
        guard let key = PEM_read_bio_PrivateKey(bio.pointer, nil, nil, nil) else {
            throw TestPKIError.openSSL("PEM_read_bio_PrivateKey")
        }
        return OwnedKey(key)
    }

    static func der(of certificate: OwnedCertificate) throws -> [UInt8] {
        let length = i2d_X509(certificate.pointer, nil)
        guard length > 0 else { throw TestPKIError.openSSL("i2d_X509") }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        let written = bytes.withUnsafeMutableBufferPointer { buffer in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return i2d_X509(certificate.pointer, &cursor)
        }
        guard written == length else { throw TestPKIError.openSSL("i2d_X509") }
        return bytes
    }

    static func pem(of certificate: OwnedCertificate) throws -> String {
        let bio = try MemoryBIO()
        guard PEM_write_bio_X509(bio.pointer, certificate.pointer) == 1 else {
            throw TestPKIError.openSSL("PEM_write_bio_X509")
        }
        return try bio.string()
    }

    /// Unencrypted PKCS#8 PEM.
    static func pem(of key: OwnedKey) throws -> String {
        let bio = try MemoryBIO()
        guard PEM_write_bio_PKCS8PrivateKey(bio.pointer, key.pointer, nil, nil, 0, nil, nil) == 1 else {
            throw TestPKIError.openSSL("PEM_write_bio_PKCS8PrivateKey")
        }
        return try bio.string()
    }

    /// Encrypted PKCS#8 PEM, PBES2 with AES-256-CBC.
    static func encryptedPEM(of key: OwnedKey, passphrase: String) throws -> String {
        let bio = try MemoryBIO()
        let pass = Array(passphrase.utf8CString)
        let ok = pass.withUnsafeBufferPointer { buffer in
            PEM_write_bio_PKCS8PrivateKey(
                bio.pointer, key.pointer, EVP_aes_256_cbc(), buffer.baseAddress, Int32(buffer.count - 1), nil, nil)
        }
        guard ok == 1 else { throw TestPKIError.openSSL("PEM_write_bio_PKCS8PrivateKey(aes-256-cbc)") }
        return try bio.string()
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo of `certificate`.
    static func spkiSHA256(of certificate: OwnedCertificate) throws -> [UInt8] {
        guard let spki = X509_get_X509_PUBKEY(certificate.pointer) else {
            throw TestPKIError.openSSL("X509_get_X509_PUBKEY")
        }
        let length = i2d_X509_PUBKEY(spki, nil)
        guard length > 0 else { throw TestPKIError.openSSL("i2d_X509_PUBKEY") }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return i2d_X509_PUBKEY(spki, &cursor)
        }
        guard written == length else { throw TestPKIError.openSSL("i2d_X509_PUBKEY") }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var digestLength: UInt32 = 0
        guard EVP_Digest(der, der.count, &digest, &digestLength, EVP_sha256(), nil) == 1 else {
            throw TestPKIError.openSSL("EVP_Digest(SHA-256)")
        }
        return Array(digest.prefix(Int(digestLength)))
    }

    /// The subject of `certificate` as an RFC 2253 string, e.g. `CN=gateway.test,O=SaMDKit Test`.
    static func subject(of certificate: OwnedCertificate) throws -> String {
        let bio = try MemoryBIO()
        guard let name = X509_get_subject_name(certificate.pointer),
            X509_NAME_print_ex(bio.pointer, name, 0, rfc2253Flags) >= 0
        else { throw TestPKIError.openSSL("X509_NAME_print_ex") }
        return try bio.string()
    }

    // MARK: - Keys, serials, times

    static func generateKey(_ type: TestKeyType) throws -> OwnedKey {
        let algorithm: String
        switch type {
        case .p256, .p384: algorithm = "EC"
        case .rsa2048: algorithm = "RSA"
        case .ed25519: algorithm = "ED25519"
        }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else {
            throw TestPKIError.openSSL("EVP_PKEY_CTX_new_from_name(\(algorithm))")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1 else { throw TestPKIError.openSSL("EVP_PKEY_keygen_init") }
        switch type {
        case .p256:
            guard EVP_PKEY_CTX_set_group_name(context, "P-256") == 1 else {
                throw TestPKIError.openSSL("EVP_PKEY_CTX_set_group_name(P-256)")
            }
        case .p384:
            guard EVP_PKEY_CTX_set_group_name(context, "P-384") == 1 else {
                throw TestPKIError.openSSL("EVP_PKEY_CTX_set_group_name(P-384)")
            }
        case .rsa2048:
            guard EVP_PKEY_CTX_set_rsa_keygen_bits(context, 2048) == 1 else {
                throw TestPKIError.openSSL("EVP_PKEY_CTX_set_rsa_keygen_bits(2048)")
            }
        case .ed25519:
            break
        }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_generate(context, &key) == 1, let key else { throw TestPKIError.openSSL("EVP_PKEY_generate") }
        return OwnedKey(key)
    }

    /// A random positive 63-bit serial number (never 0).
    static func randomSerial() throws -> UInt64 {
        while true {
            var bytes = [UInt8](repeating: 0, count: 8)
            guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else { throw TestPKIError.openSSL("RAND_bytes") }
            let value = bytes.reduce(UInt64(0)) { ($0 << 8) | UInt64($1) } & 0x7FFF_FFFF_FFFF_FFFF
            if value != 0 { return value }
        }
    }

    static func timeT(_ date: Date) -> time_t {
        time_t(date.timeIntervalSince1970.rounded(.down))
    }

    /// The digest to sign with: SHA-256, or none for Ed25519 (a pure signature scheme).
    static func signingDigest(_ type: TestKeyType) -> OpaquePointer? {
        type == .ed25519 ? nil : EVP_sha256()
    }

    // MARK: - Certificates

    /// Who signs a new certificate: its own key (self-signed) or an issuer's certificate and key.
    enum Signer {
        case selfSigned
        case issuer(certificate: OwnedCertificate, key: OwnedKey, keyType: TestKeyType)
    }

    /// Assembles and signs an X.509 v3 certificate with subject `O=SaMDKit Test, CN=<commonName>`.
    /// `extensions` are (NID, X509V3 configuration value) pairs, added in order; put the
    /// subject key identifier before the authority key identifier.
    static func makeCertificate(
        commonName: String,
        key: OwnedKey,
        keyType: TestKeyType,
        signer: Signer,
        serial: UInt64,
        notBefore: Date,
        notAfter: Date,
        extensions: [(nid: Int32, value: String)]
    ) throws -> OwnedCertificate {
        guard let raw = X509_new() else { throw TestPKIError.openSSL("X509_new") }
        let certificate = OwnedCertificate(raw)
        let x = certificate.pointer
        guard X509_set_version(x, 2) == 1 else { throw TestPKIError.openSSL("X509_set_version(v3)") }
        guard ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) == 1 else {
            throw TestPKIError.openSSL("ASN1_INTEGER_set_uint64(serial)")
        }
        guard ASN1_TIME_set(X509_getm_notBefore(x), timeT(notBefore)) != nil else {
            throw TestPKIError.openSSL("ASN1_TIME_set(notBefore)")
        }
        guard ASN1_TIME_set(X509_getm_notAfter(x), timeT(notAfter)) != nil else {
            throw TestPKIError.openSSL("ASN1_TIME_set(notAfter)")
        }

        guard let name = X509_NAME_new() else { throw TestPKIError.openSSL("X509_NAME_new") }
        defer { X509_NAME_free(name) }
        for (field, value) in [("O", testOrganization), ("CN", commonName)] {
            let bytes = Array(value.utf8)
            guard X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, bytes, Int32(bytes.count), -1, 0) == 1 else {
                throw TestPKIError.openSSL("X509_NAME_add_entry_by_txt(\(field))")
            }
        }
        guard X509_set_subject_name(x, name) == 1 else { throw TestPKIError.openSSL("X509_set_subject_name") }

        let issuerCertificate: OpaquePointer
        let signingKey: OwnedKey
        let signingKeyType: TestKeyType
        switch signer {
        case .selfSigned:
            issuerCertificate = x
            signingKey = key
            signingKeyType = keyType
        case .issuer(let certificate, let key, let keyType):
            issuerCertificate = certificate.pointer
            signingKey = key
            signingKeyType = keyType
        }
        guard X509_set_issuer_name(x, X509_get_subject_name(issuerCertificate)) == 1 else {
            throw TestPKIError.openSSL("X509_set_issuer_name")
        }
        guard X509_set_pubkey(x, key.pointer) == 1 else { throw TestPKIError.openSSL("X509_set_pubkey") }

        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuerCertificate, x, nil, nil, 0)
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
                throw TestPKIError.openSSL("X509V3_EXT_conf_nid(\(String(cString: OBJ_nid2sn(nid))), \"\(value)\")")
            }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(x, ext, -1) == 1 else { throw TestPKIError.openSSL("X509_add_ext") }
        }

        guard X509_sign(x, signingKey.pointer, signingDigest(signingKeyType)) > 0 else {
            throw TestPKIError.openSSL("X509_sign")
        }
        return certificate
    }

    // MARK: - CRLs

    /// A v2 CRL issued by `issuer`, with CRL number and authority key identifier, in PEM.
    static func makeCRL(
        issuer: OwnedCertificate,
        key: OwnedKey,
        keyType: TestKeyType,
        revokingSerials: [UInt64],
        thisUpdate: Date,
        nextUpdate: Date
    ) throws -> String {
        guard let crl = X509_CRL_new() else { throw TestPKIError.openSSL("X509_CRL_new") }
        defer { X509_CRL_free(crl) }
        guard X509_CRL_set_version(crl, 1) == 1 else { throw TestPKIError.openSSL("X509_CRL_set_version(v2)") }
        guard X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer.pointer)) == 1 else {
            throw TestPKIError.openSSL("X509_CRL_set_issuer_name")
        }
        guard let lastUpdate = ASN1_TIME_set(nil, timeT(thisUpdate)) else {
            throw TestPKIError.openSSL("ASN1_TIME_set(thisUpdate)")
        }
        defer { ASN1_TIME_free(lastUpdate) }
        guard let next = ASN1_TIME_set(nil, timeT(nextUpdate)) else {
            throw TestPKIError.openSSL("ASN1_TIME_set(nextUpdate)")
        }
        defer { ASN1_TIME_free(next) }
        guard X509_CRL_set1_lastUpdate(crl, lastUpdate) == 1 else { throw TestPKIError.openSSL("X509_CRL_set1_lastUpdate") }
        guard X509_CRL_set1_nextUpdate(crl, next) == 1 else { throw TestPKIError.openSSL("X509_CRL_set1_nextUpdate") }

        for serial in revokingSerials {
            guard let revoked = X509_REVOKED_new() else { throw TestPKIError.openSSL("X509_REVOKED_new") }
            var handedOver = false
            defer { if !handedOver { X509_REVOKED_free(revoked) } }
            guard let number = ASN1_INTEGER_new() else { throw TestPKIError.openSSL("ASN1_INTEGER_new") }
            defer { ASN1_INTEGER_free(number) }
            guard ASN1_INTEGER_set_uint64(number, serial) == 1,
                X509_REVOKED_set_serialNumber(revoked, number) == 1
            else { throw TestPKIError.openSSL("X509_REVOKED_set_serialNumber") }
            guard X509_REVOKED_set_revocationDate(revoked, lastUpdate) == 1 else {
                throw TestPKIError.openSSL("X509_REVOKED_set_revocationDate")
            }
            guard X509_CRL_add0_revoked(crl, revoked) == 1 else { throw TestPKIError.openSSL("X509_CRL_add0_revoked") }
            handedOver = true
        }
        guard X509_CRL_sort(crl) == 1 else { throw TestPKIError.openSSL("X509_CRL_sort") }

        // CRL number: milliseconds since 1970 of thisUpdate, so later CRLs of one CA number higher.
        guard let crlNumber = ASN1_INTEGER_new() else { throw TestPKIError.openSSL("ASN1_INTEGER_new") }
        defer { ASN1_INTEGER_free(crlNumber) }
        let milliseconds = UInt64(max(1, (thisUpdate.timeIntervalSince1970 * 1000).rounded(.down)))
        guard ASN1_INTEGER_set_uint64(crlNumber, milliseconds) == 1,
            X509_CRL_add1_ext_i2d(crl, NID_crl_number, UnsafeMutableRawPointer(crlNumber), 0, 0) == 1
        else { throw TestPKIError.openSSL("X509_CRL_add1_ext_i2d(crlNumber)") }

        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer.pointer, nil, nil, crl, 0)
        guard let aki = X509V3_EXT_conf_nid(nil, &context, NID_authority_key_identifier, "keyid:always") else {
            throw TestPKIError.openSSL("X509V3_EXT_conf_nid(authorityKeyIdentifier)")
        }
        defer { X509_EXTENSION_free(aki) }
        guard X509_CRL_add_ext(crl, aki, -1) == 1 else { throw TestPKIError.openSSL("X509_CRL_add_ext") }

        guard X509_CRL_sign(crl, key.pointer, signingDigest(keyType)) > 0 else {
            throw TestPKIError.openSSL("X509_CRL_sign")
        }
        let bio = try MemoryBIO()
        guard PEM_write_bio_X509_CRL(bio.pointer, crl) == 1 else { throw TestPKIError.openSSL("PEM_write_bio_X509_CRL") }
        return try bio.string()
    }
}

/// The organization in every test subject.
let testOrganization = "SaMDKit Test"

/// XN_FLAG_RFC2253, which Swift does not import (a macro of macros); spelled out from its parts.
let rfc2253Flags: UInt = UInt(ASN1_STRFLGS_ESC_2253) | UInt(ASN1_STRFLGS_ESC_CTRL) | UInt(ASN1_STRFLGS_ESC_MSB)
    | UInt(ASN1_STRFLGS_UTF8_CONVERT) | UInt(ASN1_STRFLGS_DUMP_UNKNOWN) | UInt(ASN1_STRFLGS_DUMP_DER)
    | UInt(XN_FLAG_SEP_COMMA_PLUS) | UInt(XN_FLAG_DN_REV) | UInt(XN_FLAG_FN_SN) | UInt(XN_FLAG_DUMP_UNKNOWN_FIELDS)
