import CSaMDOpenSSL
import CSaMDShims
import SaMDCrypto
import SaMDOpenSSLSupport

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What SaMDTLS reads of an X.509 certificate (the owner is SaMDOpenSSLSupport's).
extension X509Certificate {
    /// Parses one DER certificate.
    convenience init(der: [UInt8]) throws {
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
        guard let parsed else {
            throw TLSError(.badCertificate, "not a DER X.509 certificate \(OpenSSLErrorQueue.drainSummary())")
        }
        self.init(takingOwnership: parsed)
    }

    /// Every certificate in PEM text, in order. Fails on text holding no certificate, or on a malformed one.
    static func parseChain(pem: [UInt8], what: String) throws -> [X509Certificate] {
        guard let bio = MemoryBIO(bytes: pem) else { throw TLSError(.io, "cannot make a memory BIO") }
        var certificates: [X509Certificate] = []
        OpenSSLErrorQueue.clear()
        while let certificate = PEM_read_bio_X509(bio.pointer, nil, nil, nil) {
            certificates.append(X509Certificate(takingOwnership: certificate))
            // A chain file is bounded by its size; this also bounds a pathological one.
            if certificates.count > 64 {
                throw TLSError(.invalidIdentity, "\(what): more than 64 certificates")
            }
        }
        // Reaching the end of the text leaves PEM_R_NO_START_LINE; anything else is a broken PEM block.
        let leftover = OpenSSLErrorQueue.drain()
        if let bad = leftover.first(where: { $0.reasonCode != PEM_R_NO_START_LINE }) {
            throw TLSError(.invalidIdentity, "\(what): malformed PEM certificate (\(bad.summary))")
        }
        return certificates
    }

    var der: [UInt8] { self.derBytes ?? [] }

    var subject: String { Self.rfc2253(X509_get_subject_name(self.pointer)) }
    var issuer: String { Self.rfc2253(X509_get_issuer_name(self.pointer)) }

    var serialNumberHex: String {
        guard let serial = X509_get0_serialNumber(self.pointer),
            let bignum = ASN1_INTEGER_to_BN(serial, nil)
        else { return "" }
        defer { BN_free(bignum) }
        guard let hex = BN_bn2hex(bignum) else { return "" }
        defer { CSaMDShims_OPENSSL_free(hex) }
        return String(cString: hex).lowercased()
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo.
    var spkiSHA256: [UInt8] {
        guard let spki = self.subjectPublicKeyInfoDER else { return [] }
        return (try? DigestAlgorithm.sha256.hash(spki)) ?? []
    }

    /// The SAN entries, by kind.
    var subjectAlternativeNames: (dns: [String], ip: [String], uri: [String], email: [String]) {
        var result: (dns: [String], ip: [String], uri: [String], email: [String]) = ([], [], [], [])
        guard let raw = X509_get_ext_d2i(self.pointer, NID_subject_alt_name, nil, nil) else {
            OpenSSLErrorQueue.clear()
            return result
        }
        let names = OpaquePointer(raw)
        defer { CSaMDShims_GENERAL_NAMES_free(names) }
        let count = min(Int(CSaMDShims_sk_GENERAL_NAME_num(names)), 1024)
        for index in 0..<count {
            guard let name = CSaMDShims_sk_GENERAL_NAME_value(names, Int32(index)),
                let string = CSaMDShims_GENERAL_NAME_string(name)
            else { continue }
            let bytes = Self.bytes(string)
            switch CSaMDShims_GENERAL_NAME_type(name) {
            case GEN_DNS: result.dns.append(String(decoding: bytes, as: UTF8.self))
            case GEN_URI: result.uri.append(String(decoding: bytes, as: UTF8.self))
            case GEN_EMAIL: result.email.append(String(decoding: bytes, as: UTF8.self))
            case GEN_IPADD: if let text = Self.ipText(bytes) { result.ip.append(text) }
            default: break
            }
        }
        return result
    }

    /// Whether the certificate carries an extended key usage extension that includes `nid`
    /// (`NID_server_auth`, `NID_client_auth`); `nil` when it has no EKU extension at all.
    func extendedKeyUsage(includes nid: Int32) -> Bool? {
        var critical: Int32 = 0
        guard let raw = X509_get_ext_d2i(self.pointer, NID_ext_key_usage, &critical, nil) else {
            OpenSSLErrorQueue.clear()
            return critical == -1 ? nil : false
        }
        let usages = OpaquePointer(raw)
        defer { CSaMDShims_EXTENDED_KEY_USAGE_free(usages) }
        for index in 0..<CSaMDShims_sk_ASN1_OBJECT_num(usages) {
            if let object = CSaMDShims_sk_ASN1_OBJECT_value(usages, index), OBJ_obj2nid(object) == nid {
                return true
            }
        }
        return false
    }

    /// Whether the certificate's key may make the signature that authenticates a TLS endpoint: `true` when
    /// the certificate has no keyUsage extension (RFC 5280 §4.2.1.3 lets an end entity leave it out) or its
    /// keyUsage includes digitalSignature; `false` when keyUsage is present without it (for example only
    /// keyAgreement, or only keyEncipherment on an RSA key) or does not decode. TLS 1.3 authenticates every
    /// key type (ECDSA, Ed25519, RSA-PSS) by a CertificateVerify signature (RFC 8446 §4.4.2.2–4.4.3), and the
    /// only TLS 1.2 suites SaMDTLS allows are ECDHE ones, signed the same way: no key type and no version may
    /// do without the bit. OpenSSL does not check it (openssl/openssl#12721).
    var keyUsageAllowsDigitalSignature: Bool {
        // UINT32_MAX: no keyUsage extension; 0 when it (or another extension) does not decode.
        let usage = X509_get_key_usage(self.pointer)
        OpenSSLErrorQueue.clear()
        return usage == UInt32.max || usage & UInt32(KU_DIGITAL_SIGNATURE) != 0
    }

    /// The identity handed to the application.
    func peerIdentity(chain: [X509Certificate]) -> TLSPeerIdentity {
        let names = self.subjectAlternativeNames
        return TLSPeerIdentity(
            subject: self.subject,
            issuer: self.issuer,
            serialNumber: self.serialNumberHex,
            uris: names.uri,
            dnsNames: names.dns,
            ipAddresses: names.ip,
            emailAddresses: names.email,
            spkiSHA256: self.spkiSHA256,
            notAfter: self.notAfter ?? Date(timeIntervalSince1970: 0),
            certificateChain: chain.map(\.der)
        )
    }

    static func bytes(_ string: UnsafePointer<ASN1_STRING>) -> [UInt8] {
        let length = Int(ASN1_STRING_length(string))
        guard length > 0, length <= 65_536, let data = ASN1_STRING_get0_data(string) else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: length))
    }

    static func ipText(_ bytes: [UInt8]) -> String? {
        switch bytes.count {
        case 4:
            return bytes.map(String.init).joined(separator: ".")
        case 16:
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { return nil }
            return String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        default:
            return nil
        }
    }

    static func rfc2253(_ name: OpaquePointer?) -> String {
        guard let name, let bio = MemoryBIO() else { return "" }
        guard X509_NAME_print_ex(bio.pointer, name, 0, CSaMDShims_XN_FLAG_RFC2253_UTF8()) >= 0 else {
            return ""
        }
        return bio.string()
    }
}
