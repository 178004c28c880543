// A certificate authority of the development PKI: issues intermediates, leaves and CRLs.

public import Foundation

/// A certificate authority of the development PKI — for demos and tests, not a production CA: its private
/// key is plain PEM in memory (and on disk once written), it keeps no issuance record and runs no
/// revocation service.
///
/// The certificate and key are kept as PEM/DER values and parsed again for every signature, so the
/// authority is immutable and `Sendable`. Every certificate it issues is X.509 v3 with a random positive
/// 63-bit serial, subject `O=<organization>, CN=<common name>`, subject and authority key identifiers.
///
/// - SeeAlso: RFC 5280 §4.1 (certificate), §4.2.1.9 (basicConstraints), §4.2.1.3 (keyUsage), §5 (CRL).
public final class DevelopmentCertificateAuthority: Sendable {
    /// The CA's own certificate and key; `chainPEM` is itself, then its non-root issuers.
    public let certificate: DevelopmentCertificate
    /// Whether this CA is self-signed (a trust anchor, left out of the chains it issues).
    public let isRoot: Bool
    /// The organization (O) of this CA's subject, given to every certificate it issues.
    public let organization: String

    init(certificate: DevelopmentCertificate, isRoot: Bool, organization: String) {
        self.certificate = certificate
        self.isRoot = isRoot
        self.organization = organization
    }

    /// A new self-signed root CA `O=<organization>, CN=<commonName>`: basicConstraints critical CA:TRUE
    /// (no path length limit), keyUsage critical keyCertSign+cRLSign, SKI, AKI.
    /// - Parameters:
    ///   - commonName: the subject's CN, at most 64 characters (RFC 5280 ub-common-name).
    ///   - organization: the subject's O.
    ///   - keyType: the root's key: P-256 by default.
    ///   - notBefore: start of validity; by default one hour ago, to allow for clock skew.
    ///   - notAfter: end of validity; by default 30 days from now.
    /// - Throws: ``DevelopmentPKIError/Code/invalidValidity`` when `notAfter` is not after `notBefore`;
    ///   ``DevelopmentPKIError/Code/openSSL`` when key generation or signing fails.
    public static func makeRoot(
        commonName: String,
        organization: String = DevelopmentPKI.organization,
        keyType: DevelopmentKeyType = .p256,
        notBefore: Date = Date() - 3600,
        notAfter: Date = Date() + 86400 * 30
    ) throws -> DevelopmentCertificateAuthority {
        try Self.checkValidity(notBefore, notAfter)
        let template = CertificateTemplate(
            organization: organization, commonName: commonName, serial: try OpenSSLKeys.randomSerial(),
            notBefore: notBefore, notAfter: notAfter, keyType: keyType, profile: .authority(pathLength: nil))
        let issued = try OpenSSLCertificateBuilder.issue(template, signer: .selfSigned)
        let certificate = Self.certificate(issued, template: template, chainPEM: issued.certificatePEM)
        return DevelopmentCertificateAuthority(certificate: certificate, isRoot: true, organization: organization)
    }

    /// A stored CA read back from PEM, to issue more certificates (e.g. `intermediate.pem` and
    /// `intermediate.key` of a ``DevelopmentPKIDirectory``).
    /// - Parameters:
    ///   - certificatePEM: the CA certificate; when the text holds several, the first.
    ///   - privateKeyPEM: its unencrypted private key (PKCS#8 or traditional PEM).
    /// - Throws: ``DevelopmentPKIError/Code/invalidAuthority`` when either cannot be read, the certificate is
    ///   not a CA (basicConstraints CA:TRUE), the key does not match it, or the key is not a
    ///   ``DevelopmentKeyType``.
    public static func load(certificatePEM: String, privateKeyPEM: String) throws -> DevelopmentCertificateAuthority {
        let loaded = try OpenSSLAuthority.load(certificatePEM: certificatePEM, privateKeyPEM: privateKeyPEM)
        let certificate = DevelopmentCertificate(
            certificatePEM: loaded.certificatePEM, privateKeyPEM: loaded.privateKeyPEM, der: loaded.der,
            chainPEM: loaded.certificatePEM, subject: loaded.subject, serial: loaded.serial, keyType: loaded.keyType,
            notBefore: loaded.notBefore, notAfter: loaded.notAfter, subjectAlternativeNames: [], extendedKeyUsages: [],
            spkiDigest: loaded.spkiSHA256)
        return DevelopmentCertificateAuthority(
            certificate: certificate, isRoot: loaded.isSelfSigned, organization: loaded.organization)
    }

    /// An intermediate CA signed by this CA: basicConstraints critical CA:TRUE with
    /// `pathlen:<pathLength>` (no limit when `nil`), keyUsage critical keyCertSign+cRLSign, SKI, AKI.
    /// - Throws: ``DevelopmentPKIError/Code/invalidValidity`` when `notAfter` is not after `notBefore`;
    ///   ``DevelopmentPKIError/Code/openSSL`` when key generation or signing fails.
    public func issueIntermediate(
        commonName: String,
        pathLength: Int? = 0,
        keyType: DevelopmentKeyType = .p256,
        notBefore: Date = Date() - 3600,
        notAfter: Date = Date() + 86400 * 30
    ) throws -> DevelopmentCertificateAuthority {
        let issued = try self.issue(
            commonName: commonName, keyType: keyType, serial: nil, notBefore: notBefore, notAfter: notAfter,
            profile: .authority(pathLength: pathLength))
        return DevelopmentCertificateAuthority(certificate: issued, isRoot: false, organization: self.organization)
    }

    /// An end-entity certificate signed by this CA: basicConstraints critical CA:FALSE, keyUsage as
    /// `keyUsage` says (by default critical digitalSignature, +keyEncipherment for RSA), SKI, AKI,
    /// extendedKeyUsage `ekus` and subjectAltName `sans` (each left out when empty).
    /// - Parameters:
    ///   - commonName: the subject's CN, at most 64 characters (RFC 5280 ub-common-name).
    ///   - sans: the subjectAltName entries (RFC 5280 §4.2.1.6); none leaves the extension out.
    ///   - ekus: the extendedKeyUsage purposes (RFC 5280 §4.2.1.12); none leaves the extension out.
    ///   - keyType: the leaf's key: P-256 by default.
    ///   - notBefore: start of validity; by default one hour ago, to allow for clock skew.
    ///   - notAfter: end of validity; by default 30 days from now.
    ///   - serial: by default a random positive 63-bit number.
    ///   - keyUsage: the keyUsage extension (RFC 5280 §4.2.1.3); other than `.standard` only for tests of
    ///     certificates a TLS peer must refuse or may accept.
    /// - Throws: ``DevelopmentPKIError/Code/invalidSubjectAlternativeName`` when a SAN value is malformed
    ///   (see ``DevelopmentSAN``); ``DevelopmentPKIError/Code/invalidValidity`` when `notAfter` is not after
    ///   `notBefore` or `serial` is 0; ``DevelopmentPKIError/Code/openSSL`` when key generation or signing fails.
    public func issueLeaf(
        commonName: String,
        sans: [DevelopmentSAN],
        ekus: [DevelopmentEKU],
        keyType: DevelopmentKeyType = .p256,
        notBefore: Date = Date() - 3600,
        notAfter: Date = Date() + 86400 * 30,
        serial: UInt64? = nil,
        keyUsage: DevelopmentKeyUsage = .standard
    ) throws -> DevelopmentCertificate {
        if let bad = sans.first(where: { !$0.isWellFormed }) {
            throw DevelopmentPKIError(
                .invalidSubjectAlternativeName, "malformed subjectAltName \(NameSyntax.printable(bad.description))")
        }
        if serial == 0 {
            throw DevelopmentPKIError(.invalidValidity, "a serial number must be positive (RFC 5280 §4.1.2.2)")
        }
        return try self.issue(
            commonName: commonName, keyType: keyType, serial: serial, notBefore: notBefore, notAfter: notAfter,
            profile: .leaf(sans: sans, ekus: ekus, keyUsage: keyUsage))
    }

    /// The longest SubjectPublicKeyInfo ``issueLeaf(forPublicKey:commonName:sans:ekus:notBefore:notAfter:serial:)``
    /// takes, in bytes (an RSA 2048 one is 294).
    public static let maximumSubjectPublicKeyInfoBytes = 4096

    /// An end-entity certificate signed by this CA for a public key whose private key is held elsewhere — generated
    /// in a PKCS #11 token, which makes the signatures — with the same profile as
    /// ``issueLeaf(commonName:sans:ekus:keyType:notBefore:notAfter:serial:keyUsage:)``'s `.standard` key usage:
    /// basicConstraints critical CA:FALSE, keyUsage critical digitalSignature (+keyEncipherment for RSA), SKI (of
    /// this key), AKI, extendedKeyUsage `ekus` and subjectAltName `sans` (each left out when empty). The
    /// certificate's ``DevelopmentCertificate/privateKeyPEM`` is empty.
    /// - Parameters:
    ///   - subjectPublicKeyInfo: the key, a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7; RFC 5480 for EC), at
    ///     most ``maximumSubjectPublicKeyInfoBytes`` bytes, of a ``DevelopmentKeyType`` (P-256, P-384, RSA 2048,
    ///     Ed25519).
    ///   - commonName: the subject's CN, at most 64 characters (RFC 5280 ub-common-name).
    ///   - sans: the subjectAltName entries (RFC 5280 §4.2.1.6).
    ///   - ekus: the extendedKeyUsage purposes (RFC 5280 §4.2.1.12).
    ///   - notBefore: start of validity; by default one hour ago, to allow for clock skew.
    ///   - notAfter: end of validity; by default 30 days from now.
    ///   - serial: by default a random positive 63-bit number.
    /// - Throws: ``DevelopmentPKIError/Code/invalidPublicKey`` when `subjectPublicKeyInfo` is too long, is not
    ///   one DER SubjectPublicKeyInfo, or holds a key of another type;
    ///   ``DevelopmentPKIError/Code/invalidSubjectAlternativeName``, ``DevelopmentPKIError/Code/invalidValidity``
    ///   and ``DevelopmentPKIError/Code/openSSL`` as
    ///   ``issueLeaf(commonName:sans:ekus:keyType:notBefore:notAfter:serial:keyUsage:)``.
    /// - SeeAlso: RFC 5280 §4.1, §4.2.1.2 (subject key identifier).
    public func issueLeaf(
        forPublicKey subjectPublicKeyInfo: [UInt8],
        commonName: String,
        sans: [DevelopmentSAN],
        ekus: [DevelopmentEKU],
        notBefore: Date = Date() - 3600,
        notAfter: Date = Date() + 86400 * 30,
        serial: UInt64? = nil
    ) throws -> DevelopmentCertificate {
        guard subjectPublicKeyInfo.count <= Self.maximumSubjectPublicKeyInfoBytes else {
            throw DevelopmentPKIError(
                .invalidPublicKey,
                "a SubjectPublicKeyInfo of \(subjectPublicKeyInfo.count) bytes exceeds \(Self.maximumSubjectPublicKeyInfoBytes)"
            )
        }
        if let bad = sans.first(where: { !$0.isWellFormed }) {
            throw DevelopmentPKIError(
                .invalidSubjectAlternativeName, "malformed subjectAltName \(NameSyntax.printable(bad.description))")
        }
        if serial == 0 {
            throw DevelopmentPKIError(.invalidValidity, "a serial number must be positive (RFC 5280 §4.1.2.2)")
        }
        try Self.checkValidity(notBefore, notAfter)
        let publicKey = try OpenSSLEncoding.parsePublicKey(der: subjectPublicKeyInfo)
        guard let keyType = OpenSSLKeys.type(of: publicKey) else {
            throw DevelopmentPKIError(
                .invalidPublicKey, "the public key is not P-256, P-384, RSA 2048 or Ed25519 (DevelopmentKeyType)")
        }
        let template = CertificateTemplate(
            organization: self.organization, commonName: commonName, serial: try serial ?? OpenSSLKeys.randomSerial(),
            notBefore: notBefore, notAfter: notAfter, keyType: keyType,
            profile: .leaf(sans: sans, ekus: ekus, keyUsage: .standard))
        let issued = try OpenSSLCertificateBuilder.issue(
            template, publicKey: publicKey,
            authority: .authority(
                certificateDER: self.certificate.der, privateKeyPEM: self.certificate.privateKeyPEM,
                keyType: self.certificate.keyType))
        let chainPEM = self.isRoot ? issued.certificatePEM : issued.certificatePEM + self.certificate.chainPEM
        return Self.certificate(issued, template: template, chainPEM: chainPEM)
    }

    /// A device certificate: CN `device-<id>` (`<id>` alone when that would pass the 64 characters of
    /// RFC 5280's ub-common-name), SAN URI `urn:samd:device:<id>`, EKU clientAuth.
    /// - Parameters:
    ///   - id: 1–64 characters of `A–Z a–z 0–9 . _ -`.
    ///   - keyType: the certificate's key: P-256 by default.
    ///   - notBefore: start of validity; by default one hour ago, to allow for clock skew.
    ///   - notAfter: end of validity; by default 30 days from now.
    /// - Throws: ``DevelopmentPKIError/Code/invalidIdentifier`` for any other `id`; otherwise as
    ///   ``issueLeaf(commonName:sans:ekus:keyType:notBefore:notAfter:serial:keyUsage:)``.
    public func issueDevice(
        id: String,
        keyType: DevelopmentKeyType = .p256,
        notBefore: Date = Date() - 3600,
        notAfter: Date = Date() + 86400 * 30
    ) throws -> DevelopmentCertificate {
        try self.issueClient(.device, id: id, keyType: keyType, notBefore: notBefore, notAfter: notAfter)
    }

    /// A reader certificate: CN `reader-<id>` (`<id>` alone when that would pass the 64 characters of
    /// RFC 5280's ub-common-name), SAN URI `urn:samd:reader:<id>`, EKU clientAuth.
    /// - Parameters:
    ///   - id: 1–64 characters of `A–Z a–z 0–9 . _ -`.
    ///   - keyType: the certificate's key: P-256 by default.
    ///   - notBefore: start of validity; by default one hour ago, to allow for clock skew.
    ///   - notAfter: end of validity; by default 30 days from now.
    /// - Throws: ``DevelopmentPKIError/Code/invalidIdentifier`` for any other `id`; otherwise as
    ///   ``issueLeaf(commonName:sans:ekus:keyType:notBefore:notAfter:serial:keyUsage:)``.
    public func issueReader(
        id: String,
        keyType: DevelopmentKeyType = .p256,
        notBefore: Date = Date() - 3600,
        notAfter: Date = Date() + 86400 * 30
    ) throws -> DevelopmentCertificate {
        try self.issueClient(.reader, id: id, keyType: keyType, notBefore: notBefore, notAfter: notAfter)
    }

    /// A PEM X.509 v2 CRL signed by this CA listing `revokingSerials` (revoked at `thisUpdate`), with a CRL
    /// number and an authority key identifier.
    /// - Parameters:
    ///   - revokingSerials: the serial numbers of the revoked certificates; none makes an empty CRL.
    ///   - thisUpdate: by default one minute ago.
    ///   - nextUpdate: by default one day from now; `nil` leaves the field out (RFC 5280 §5.1.2.5 requires it
    ///     of conforming issuers: only for tests of CRLs a verifier must refuse).
    ///   - crlNumber: by default the milliseconds since 1970 of `thisUpdate`, so a later CRL of one CA numbers
    ///     higher; must be positive.
    /// - Throws: ``DevelopmentPKIError/Code/invalidValidity`` for a `crlNumber` of 0;
    ///   ``DevelopmentPKIError/Code/openSSL`` when assembling or signing fails.
    /// - SeeAlso: RFC 5280 §5 (§5.2.3 CRL number).
    public func makeCRL(
        revokingSerials: [UInt64],
        thisUpdate: Date = Date() - 60,
        nextUpdate: Date? = Date() + 86400,
        crlNumber: UInt64? = nil
    ) throws -> String {
        if crlNumber == 0 {
            throw DevelopmentPKIError(.invalidValidity, "a CRL number must be positive (RFC 5280 §5.2.3)")
        }
        return try OpenSSLCRL.make(
            issuerDER: self.certificate.der, issuerKeyPEM: self.certificate.privateKeyPEM,
            keyType: self.certificate.keyType, revokingSerials: revokingSerials, thisUpdate: thisUpdate,
            nextUpdate: nextUpdate, crlNumber: crlNumber)
    }

    // MARK: - Private

    /// A clientAuth leaf named by the SaMDKit convention for `role`.
    func issueClient(
        _ role: ClientRole, id: String, keyType: DevelopmentKeyType, notBefore: Date, notAfter: Date
    ) throws -> DevelopmentCertificate {
        try self.issueLeaf(
            commonName: role.commonName(id: id), sans: [role.san(id: id)], ekus: [.clientAuth], keyType: keyType,
            notBefore: notBefore, notAfter: notAfter)
    }

    private func issue(
        commonName: String,
        keyType: DevelopmentKeyType,
        serial: UInt64?,
        notBefore: Date,
        notAfter: Date,
        profile: CertificateTemplate.Profile
    ) throws -> DevelopmentCertificate {
        try Self.checkValidity(notBefore, notAfter)
        let template = CertificateTemplate(
            organization: self.organization, commonName: commonName, serial: try serial ?? OpenSSLKeys.randomSerial(),
            notBefore: notBefore, notAfter: notAfter, keyType: keyType, profile: profile)
        let issued = try OpenSSLCertificateBuilder.issue(
            template,
            signer: .authority(
                certificateDER: self.certificate.der, privateKeyPEM: self.certificate.privateKeyPEM,
                keyType: self.certificate.keyType))
        let chainPEM = self.isRoot ? issued.certificatePEM : issued.certificatePEM + self.certificate.chainPEM
        return Self.certificate(issued, template: template, chainPEM: chainPEM)
    }

    private static func certificate(
        _ issued: IssuedMaterial, template: CertificateTemplate, chainPEM: String
    ) -> DevelopmentCertificate {
        var sans: [DevelopmentSAN] = []
        var ekus: [DevelopmentEKU] = []
        if case .leaf(let leafSANs, let leafEKUs, _) = template.profile {
            sans = leafSANs
            ekus = leafEKUs
        }
        // Certificates hold whole seconds.
        let second = { (date: Date) in Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)) }
        return DevelopmentCertificate(
            certificatePEM: issued.certificatePEM, privateKeyPEM: issued.privateKeyPEM, der: issued.der,
            chainPEM: chainPEM, subject: issued.subject, serial: template.serial, keyType: template.keyType,
            notBefore: second(template.notBefore), notAfter: second(template.notAfter), subjectAlternativeNames: sans,
            extendedKeyUsages: ekus, spkiDigest: issued.spkiSHA256)
    }

    private static func checkValidity(_ notBefore: Date, _ notAfter: Date) throws {
        guard notAfter.timeIntervalSince1970.rounded(.down) > notBefore.timeIntervalSince1970.rounded(.down) else {
            throw DevelopmentPKIError(.invalidValidity, "notAfter \(notAfter) is not after notBefore \(notBefore)")
        }
    }
}
