import CSaMDOpenSSL
import CSaMDShims
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

/// RFC 5280 and CA/Browser Forum Baseline Requirements rules that OpenSSL 3.0 (even with
/// `X509_V_FLAG_X509_STRICT`) does not enforce, applied by `ChainCheck.complete` to a chain OpenSSL verified.
/// Each rule is small and named after the clause it enforces; each refusal carries a typed error and the
/// X.509 error the handshake turns into an alert. Measured by the x509-limbo harness (Docs/X509Limbo.md).
///
/// Rules that would refuse certificates legitimate in device PKIs are deliberately absent: a leaf without a
/// CN, URI SANs, a critical EKU (RFC 5280 §4.2.1.12 allows it), EKUs in CA certificates, Ed25519 keys.
enum StrictChainChecks {
    /// A refusal: the typed error and the `X509_V_ERR_*` code recorded in the store context.
    struct Violation: Error {
        let error: TLSError
        let verifyError: Int32
    }

    /// Runs every rule on `chain` (leaf first, trust anchor last). `expectedHost` is the DNS name a client
    /// asked for, when there is one.
    static func check(chain: [X509Certificate], expectedHost: String?) -> Violation? {
        guard let leaf = chain.first else { return nil }
        let issuers = Array(chain.dropFirst())
        let anchor = chain.count > 1 ? chain.last : nil
        let rules: [() -> Violation?] = [
            { Self.extensionsMustDecode(chain) },
            { Self.serialNumberMustBePositiveAndShort(chain.filter { $0 !== anchor }) },
            { Self.authorityKeyIdentifierMustHaveKeyIdentifier(chain) },
            { Self.nameConstraintsOnlyInCAs(leaf) },
            { Self.nameConstraintsMustNotBeEmpty(issuers) },
            { Self.nameConstraintDNSNamesMustBeWellFormed(issuers) },
            { Self.policyConstraintsMustBeCritical(chain) },
            { Self.authorityInfoAccessMustNotBeEmpty(chain) },
            { Self.subscriberMustNotBeCA(leaf) },
            { Self.subscriberMustNotAssertAnyExtendedKeyUsage(leaf) },
            { Self.subjectAlternativeNamesMustBeWellFormed(leaf) },
            { Self.commonNameMustBeACopyOfItsSubjectAlternativeName(leaf) },
            { Self.expectedHostWithinNameConstraints(expectedHost, issuers) },
            { Self.publicKeysMustBeAllowed(chain) },
        ]
        for rule in rules {
            if let violation = rule() { return violation }
        }
        return nil
    }

    // MARK: - Rules

    /// RFC 5280 §4.2 (and §4.2.2.1 for AIA): every extension must be well formed; a known extension whose
    /// value does not decode (e.g. a malformed authorityInfoAccess) is refused rather than ignored.
    static func extensionsMustDecode(_ chain: [X509Certificate]) -> Violation? {
        for certificate in chain {
            let nid = CSaMDShims_X509_first_malformed_extension(certificate.pointer)
            if nid != 0 {
                let name = nid > 0 ? OBJ_nid2sn(nid).map { String(cString: $0) } ?? "\(nid)" : "unknown"
                return rejected(certificate, "has a malformed \(name) extension (RFC 5280 §4.2)")
            }
        }
        return nil
    }

    /// RFC 5280 §4.1.2.2: the serial number MUST be a positive integer of at most 20 octets.
    static func serialNumberMustBePositiveAndShort(_ certificates: [X509Certificate]) -> Violation? {
        for certificate in certificates {
            guard let serial = X509_get0_serialNumber(certificate.pointer) else { continue }
            let bytes = X509Certificate.bytes(serial)
            if ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER {
                return rejected(certificate, "has a negative serial number (RFC 5280 §4.1.2.2)")
            }
            if bytes.allSatisfy({ $0 == 0 }) {
                return rejected(certificate, "has serial number zero (RFC 5280 §4.1.2.2)")
            }
            if bytes.drop(while: { $0 == 0 }).count > 20 {
                return rejected(certificate, "has a serial number longer than 20 octets (RFC 5280 §4.1.2.2)")
            }
        }
        return nil
    }

    /// RFC 5280 §4.2.1.1, BR §7.1.2.1.3: an authorityKeyIdentifier MUST carry the keyIdentifier field.
    static func authorityKeyIdentifierMustHaveKeyIdentifier(_ chain: [X509Certificate]) -> Violation? {
        for certificate in chain where X509_get_ext_by_NID(certificate.pointer, NID_authority_key_identifier, -1) >= 0 {
            if X509_get0_authority_key_id(certificate.pointer) == nil {
                return rejected(certificate, "has an authorityKeyIdentifier without keyIdentifier (RFC 5280 §4.2.1.1)")
            }
        }
        return nil
    }

    /// RFC 5280 §4.2.1.10: name constraints MUST be used only in a CA certificate.
    static func nameConstraintsOnlyInCAs(_ leaf: X509Certificate) -> Violation? {
        guard X509_get_ext_by_NID(leaf.pointer, NID_name_constraints, -1) >= 0 else { return nil }
        return rejected(leaf, "is an end-entity certificate with name constraints (RFC 5280 §4.2.1.10)")
    }

    /// RFC 5280 §4.2.1.10, BR §7.1.2.5.2: name constraints MUST NOT be an empty sequence, and a present
    /// permittedSubtrees or excludedSubtrees holds at least one subtree (GeneralSubtrees SIZE (1..MAX)).
    static func nameConstraintsMustNotBeEmpty(_ issuers: [X509Certificate]) -> Violation? {
        for certificate in issuers where X509_get_ext_by_NID(certificate.pointer, NID_name_constraints, -1) >= 0 {
            guard let constraints = CSaMDShims_X509_get_name_constraints(certificate.pointer) else {
                return rejected(certificate, "has malformed name constraints (RFC 5280 §4.2.1.10)")
            }
            defer { CSaMDShims_NAME_CONSTRAINTS_free(constraints) }
            let permitted = CSaMDShims_NAME_CONSTRAINTS_count(constraints, 0)
            let excluded = CSaMDShims_NAME_CONSTRAINTS_count(constraints, 1)
            if (permitted <= 0 && excluded <= 0) || permitted == 0 || excluded == 0 {
                return rejected(certificate, "has empty name constraints (RFC 5280 §4.2.1.10)")
            }
        }
        return nil
    }

    /// RFC 5280 §4.2.1.10: a dNSName constraint is a host name ("example.com", every subdomain included);
    /// unlike URI constraints it has no leading-period form.
    static func nameConstraintDNSNamesMustBeWellFormed(_ issuers: [X509Certificate]) -> Violation? {
        for certificate in issuers {
            let names = Self.dnsNameConstraints(certificate)
            if let bad = (names.permitted + names.excluded).first(where: { $0.hasPrefix(".") || $0.contains("..") }) {
                return rejected(certificate, "has a malformed dNSName name constraint \"\(bad)\" (RFC 5280 §4.2.1.10)")
            }
        }
        return nil
    }

    /// RFC 5280 §4.2.1.11: conforming CAs MUST mark policy constraints critical.
    static func policyConstraintsMustBeCritical(_ chain: [X509Certificate]) -> Violation? {
        for certificate in chain where !Self.isCritical(certificate, NID_policy_constraints, ifAbsent: true) {
            return rejected(certificate, "has non-critical policy constraints (RFC 5280 §4.2.1.11)")
        }
        return nil
    }

    /// RFC 5280 §4.2.2.1: AuthorityInfoAccessSyntax is SEQUENCE SIZE (1..MAX) of AccessDescription.
    static func authorityInfoAccessMustNotBeEmpty(_ chain: [X509Certificate]) -> Violation? {
        for certificate in chain where CSaMDShims_X509_authority_info_access_count(certificate.pointer) == 0 {
            return rejected(certificate, "has an empty authorityInfoAccess (RFC 5280 §4.2.2.1)")
        }
        return nil
    }

    /// BR §7.1.2.7.8 (with RFC 5280 §4.2.1.9): a peer (subscriber) certificate MUST NOT be a CA (cA TRUE);
    /// a CA key authenticating a TLS endpoint is refused as the wrong purpose.
    static func subscriberMustNotBeCA(_ leaf: X509Certificate) -> Violation? {
        guard let raw = X509_get_ext_d2i(leaf.pointer, NID_basic_constraints, nil, nil) else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        let constraints = raw.assumingMemoryBound(to: BASIC_CONSTRAINTS.self)
        defer { BASIC_CONSTRAINTS_free(constraints) }
        guard constraints.pointee.ca != 0 else { return nil }
        return Violation(
            error: TLSError(
                .unsupportedCertificate, "the peer certificate \(leaf.subject) is a CA certificate (BR §7.1.2.7.8)"),
            verifyError: X509_V_ERR_INVALID_PURPOSE
        )
    }

    /// BR §7.1.2.7.10: a subscriber certificate MUST NOT assert anyExtendedKeyUsage.
    static func subscriberMustNotAssertAnyExtendedKeyUsage(_ leaf: X509Certificate) -> Violation? {
        guard leaf.extendedKeyUsage(includes: NID_anyExtendedKeyUsage) == true else { return nil }
        return Violation(
            error: TLSError(
                .unsupportedCertificate,
                "the peer certificate \(leaf.subject) asserts anyExtendedKeyUsage (BR §7.1.2.7.10)"
            ),
            verifyError: X509_V_ERR_INVALID_PURPOSE
        )
    }

    /// RFC 5280 §4.2.1.6: a dNSName is in the preferred name syntax (letters, digits, hyphens; a leftmost
    /// "*" label for a wildcard), and an rfc822Name is a mailbox (one "@", non-empty local part and domain).
    static func subjectAlternativeNamesMustBeWellFormed(_ leaf: X509Certificate) -> Violation? {
        let names = leaf.subjectAlternativeNames
        if let bad = names.dns.first(where: { !Self.isPreferredNameSyntax($0) }) {
            return rejected(leaf, "has a malformed dNSName \"\(bad)\" (RFC 5280 §4.2.1.6)")
        }
        if let bad = names.email.first(where: { !Self.isMailbox($0) }) {
            return rejected(leaf, "has a malformed rfc822Name \"\(bad)\" (RFC 5280 §4.2.1.6)")
        }
        return nil
    }

    /// BR §7.1.4.3: a subject CN that names one of the SAN entries MUST be a character-for-character copy
    /// of it (an IP address in its canonical text: dotted decimal, RFC 5952). Refused: a CN that is a
    /// different spelling of a SAN entry (letter case, leading zeros, hexadecimal, uncompressed or upper-case
    /// IPv6). A CN that names something else (a device serial, a product name) is left alone: device PKIs
    /// use such CNs, and names are matched against the SAN only.
    static func commonNameMustBeACopyOfItsSubjectAlternativeName(_ leaf: X509Certificate) -> Violation? {
        let names = leaf.subjectAlternativeNames
        guard !names.dns.isEmpty || !names.ip.isEmpty else { return nil }
        for commonName in Self.commonNames(leaf) {
            let sameName = names.dns.contains { $0 != commonName && $0.lowercased() == commonName.lowercased() }
            let sameAddress =
                Self.canonicalIPAddress(commonName).map { $0 != commonName && names.ip.contains($0) } ?? false
            if sameName || sameAddress {
                return Violation(
                    error: TLSError(
                        .badCertificate,
                        "the peer certificate's common name \"\(commonName)\" is not a character-for-character copy of its subject alternative name (BR §7.1.4.3)"
                    ),
                    verifyError: X509_V_ERR_CERT_REJECTED
                )
            }
        }
        return nil
    }

    /// RFC 5280 §4.2.1.10 applied to the name the client asked for (RFC 9525 §6.3): when a wildcard SAN matched
    /// it, the name itself must lie within every CA's dNSName constraints, not only the wildcard pattern.
    static func expectedHostWithinNameConstraints(_ host: String?, _ issuers: [X509Certificate]) -> Violation? {
        guard let host, !host.isEmpty else { return nil }
        let name = host.lowercased()
        for certificate in issuers {
            let constraints = Self.dnsNameConstraints(certificate)
            if let excluded = constraints.excluded.first(where: { Self.dnsName(name, isWithin: $0) }) {
                return rejected(
                    certificate, "excludes \"\(excluded)\", which the peer name \(host) is in (RFC 5280 §4.2.1.10)")
            }
            if !constraints.permitted.isEmpty,
                !constraints.permitted.contains(where: { Self.dnsName(name, isWithin: $0) })
            {
                return rejected(certificate, "does not permit the peer name \(host) (RFC 5280 §4.2.1.10)")
            }
        }
        return nil
    }

    /// BR §6.1.5 and §6.1.1.3: RSA keys of at least 2048 bits with a modulus a multiple of 8 bits; ECDSA on
    /// P-256, P-384 or P-521; no DSA. EdDSA keys (used in device PKIs) are allowed.
    static func publicKeysMustBeAllowed(_ chain: [X509Certificate]) -> Violation? {
        for certificate in chain {
            guard let key = X509_get0_pubkey(certificate.pointer) else { continue }
            let bits = EVP_PKEY_get_bits(key)
            switch EVP_PKEY_get_base_id(key) {
            case NID_rsaEncryption, NID_rsassaPss:
                if bits < 2048 || bits % 8 != 0 {
                    return rejected(
                        certificate, "has a \(bits)-bit RSA key (BR §6.1.5: at least 2048 bits, a multiple of 8)")
                }
            case NID_X9_62_id_ecPublicKey:
                let curve = Self.groupName(key)
                if !["prime256v1", "P-256", "secp384r1", "P-384", "secp521r1", "P-521"].contains(curve) {
                    return rejected(
                        certificate, "has an ECDSA key on curve \(curve) (BR §6.1.5: P-256, P-384 or P-521)")
                }
            case NID_dsa:
                return rejected(certificate, "has a DSA key (BR §6.1.5)")
            default:
                break
            }
        }
        return nil
    }

    // MARK: - Helpers

    static func rejected(_ certificate: X509Certificate, _ what: String) -> Violation {
        Violation(
            error: TLSError(.badCertificate, "the certificate \(certificate.subject) \(what)"),
            verifyError: X509_V_ERR_CERT_REJECTED
        )
    }

    /// Whether the extension `nid` of `certificate` is critical (`ifAbsent` when it has none).
    static func isCritical(_ certificate: X509Certificate, _ nid: Int32, ifAbsent: Bool) -> Bool {
        let index = X509_get_ext_by_NID(certificate.pointer, nid, -1)
        guard index >= 0, let extensionPointer = X509_get_ext(certificate.pointer, index) else { return ifAbsent }
        return X509_EXTENSION_get_critical(extensionPointer) == 1
    }

    /// The dNSName bases of the permitted and excluded subtrees of `certificate`'s name constraints.
    static func dnsNameConstraints(_ certificate: X509Certificate) -> (permitted: [String], excluded: [String]) {
        guard let constraints = CSaMDShims_X509_get_name_constraints(certificate.pointer) else { return ([], []) }
        defer { CSaMDShims_NAME_CONSTRAINTS_free(constraints) }
        func names(_ excluded: Int32) -> [String] {
            let count = min(Int(CSaMDShims_NAME_CONSTRAINTS_count(constraints, excluded)), 1024)
            guard count > 0 else { return [] }
            return (0..<count).compactMap { index in
                guard let name = CSaMDShims_NAME_CONSTRAINTS_base(constraints, excluded, Int32(index)),
                    CSaMDShims_GENERAL_NAME_type(name) == GEN_DNS,
                    let string = CSaMDShims_GENERAL_NAME_string(name)
                else { return nil }
                return String(decoding: X509Certificate.bytes(string), as: UTF8.self)
            }
        }
        return (names(0), names(1))
    }

    /// RFC 5280 §4.2.1.10 dNSName matching: `name` is `constraint` or one of its subdomains; "" matches all.
    static func dnsName(_ name: String, isWithin constraint: String) -> Bool {
        let base = constraint.lowercased()
        guard !base.isEmpty else { return true }
        return name == base || name.hasSuffix("." + base)
    }

    /// RFC 1034 §3.5 preferred name syntax as relaxed by RFC 1123 §2.1, with a leftmost "*" label allowed.
    static func isPreferredNameSyntax(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for (index, label) in labels.enumerated() {
            if index == 0, label == "*", labels.count > 1 { continue }
            guard !label.isEmpty, label.utf8.count <= 63, !label.hasPrefix("-"), !label.hasSuffix("-"),
                label.utf8.allSatisfy({
                    $0 == UInt8(ascii: "-") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0)
                        || (0x61...0x7A).contains($0)
                })
            else { return false }
        }
        return true
    }

    /// A mailbox (RFC 5321 §4.1.2 shape): exactly one "@", a non-empty local part and a non-empty domain.
    static func isMailbox(_ address: String) -> Bool {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
    }

    /// The canonical text of an IP address written in any notation `inet_aton` (IPv4: decimal, octal,
    /// hexadecimal) or `inet_pton` (IPv6) accepts, or nil when `text` is not an address.
    static func canonicalIPAddress(_ text: String) -> String? {
        guard !text.isEmpty, text.count <= 64, !text.contains(where: \.isWhitespace) else { return nil }
        var v4 = in_addr()
        if text.contains("."), !text.contains(":"), inet_aton(text, &v4) == 1 {
            return X509Certificate.ipText(withUnsafeBytes(of: &v4) { Array($0) })
        }
        var v6 = in6_addr()
        if text.contains(":"), inet_pton(AF_INET6, text, &v6) == 1 {
            return X509Certificate.ipText(withUnsafeBytes(of: &v6) { Array($0) })
        }
        if text.lowercased().hasPrefix("0x"), inet_aton(text, &v4) == 1 {
            return X509Certificate.ipText(withUnsafeBytes(of: &v4) { Array($0) })
        }
        return nil
    }

    /// The subject's commonName values, as UTF-8.
    static func commonNames(_ certificate: X509Certificate) -> [String] {
        guard let subject = X509_get_subject_name(certificate.pointer) else { return [] }
        var result: [String] = []
        var index: Int32 = -1
        while result.count < 16 {
            index = X509_NAME_get_index_by_NID(subject, NID_commonName, index)
            guard index >= 0, let entry = X509_NAME_get_entry(subject, index),
                let data = X509_NAME_ENTRY_get_data(entry)
            else { break }
            var utf8: UnsafeMutablePointer<UInt8>? = nil
            let length = ASN1_STRING_to_UTF8(&utf8, data)
            if length >= 0, let utf8 {
                result.append(String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self))
                CSaMDShims_OPENSSL_free(utf8)
            }
        }
        return result
    }

    /// The curve name of an EC key ("prime256v1"…), or "unknown".
    static func groupName(_ key: OpaquePointer) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_group_name(key, &buffer, buffer.count, &length) == 1 else {
            OpenSSLErrorQueue.clear()
            return "unknown"
        }
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
