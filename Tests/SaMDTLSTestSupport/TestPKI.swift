// A throw-away PKI for the TLS tests, generated at test time through the OpenSSL 3
// C API: no certificate (and so no expiry date) is committed to the repository.

import CSaMDOpenSSL
public import Foundation

/// The key algorithm of a test certificate.
public enum TestKeyType: Sendable {
    /// ECDSA on NIST P-256, signing with SHA-256.
    case p256
    /// ECDSA on NIST P-384, signing with SHA-256.
    case p384
    /// RSA 2048 bits (PKCS#1 v1.5 signatures with SHA-256); noticeably slower to generate.
    case rsa2048
    /// Ed25519 (signs without a separate digest).
    case ed25519
}

/// One subjectAltName entry. Values must not contain a comma.
public enum TestSAN: Sendable, Hashable {
    /// A dNSName, e.g. `"gateway.test"`.
    case dns(String)
    /// An iPAddress in textual form, `"127.0.0.1"` or `"::1"`.
    case ip(String)
    /// A uniformResourceIdentifier, e.g. `"spiffe://samd.test/reader"`.
    case uri(String)
    /// An rfc822Name.
    case email(String)

    /// The OpenSSL X509V3 configuration form, e.g. `"DNS:gateway.test"`.
    var configuration: String {
        switch self {
        case .dns(let value): "DNS:\(value)"
        case .ip(let value): "IP:\(value)"
        case .uri(let value): "URI:\(value)"
        case .email(let value): "email:\(value)"
        }
    }

    var value: String {
        switch self {
        case .dns(let value), .ip(let value), .uri(let value), .email(let value): value
        }
    }
}

/// One extendedKeyUsage purpose.
public enum TestEKU: Sendable, Hashable {
    /// id-kp-serverAuth (TLS server).
    case serverAuth
    /// id-kp-clientAuth (TLS client).
    case clientAuth
    /// id-kp-codeSigning (neither TLS purpose).
    case codeSigning

    var configuration: String {
        switch self {
        case .serverAuth: "serverAuth"
        case .clientAuth: "clientAuth"
        case .codeSigning: "codeSigning"
        }
    }
}

/// A generated certificate with its private key, as immutable PEM/DER values.
public struct TestCertificate: Sendable {
    /// This certificate only, PEM.
    public let certificatePEM: String
    /// The private key as unencrypted PKCS#8 PEM, generated at test time.
    public let privateKeyPEM: String
    /// This certificate, DER.
    public let der: [UInt8]
    /// This certificate followed by its issuers up to, but not including, the root (PEM).
    /// For a root itself: just the root.
    public let chainPEM: String
    /// The subject in RFC 2253 form, e.g. `"CN=gateway.test,O=SaMDKit Test"`.
    public let subject: String
    /// The serial number (positive, at most 63 bits), e.g. to pass to `makeCRL(revokingSerials:)`.
    public let serial: UInt64
    /// The algorithm of the key.
    public let keyType: TestKeyType

    /// The private key as encrypted PKCS#8 PEM (encrypted PKCS#8,
    /// PBES2 with AES-256-CBC) under `passphrase`. Traps if OpenSSL fails.
    public func encryptedPrivateKeyPEM(passphrase: String) -> String {
        do {
            return try PKI.encryptedPEM(of: PKI.parsePrivateKey(pem: privateKeyPEM), passphrase: passphrase)
        } catch {
            fatalError("TestCertificate.encryptedPrivateKeyPEM: \(error)")
        }
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo (the value of an SPKI pin). Traps if OpenSSL fails.
    public func spkiSHA256() -> [UInt8] {
        do {
            return try PKI.spkiSHA256(of: PKI.parseCertificate(der: der))
        } catch {
            fatalError("TestCertificate.spkiSHA256: \(error)")
        }
    }
}

/// A certificate authority of the test PKI: its certificate and private key, kept as
/// PEM/DER values and re-parsed on every signing, so it is safely `Sendable`.
public final class TestCertificateAuthority: Sendable {
    /// The CA's own certificate (`chainPEM`: itself, then its non-root issuers).
    public let certificate: TestCertificate
    /// Whether this CA is self-signed (its certificate is not part of issued chains).
    public let isRoot: Bool

    init(certificate: TestCertificate, isRoot: Bool) {
        self.certificate = certificate
        self.isRoot = isRoot
    }

    /// A self-signed root CA `CN=<commonName>,O=SaMDKit Test`: basicConstraints critical CA:TRUE
    /// (no path length limit), keyUsage critical keyCertSign+cRLSign, SKI, AKI.
    public static func makeRoot(
        commonName: String,
        keyType: TestKeyType = .p256,
        notBefore: Date = Date() - 3600,
        notAfter: Date = Date() + 86400 * 30
    ) throws -> TestCertificateAuthority {
        let key = try PKI.generateKey(keyType)
        let serial = try PKI.randomSerial()
        let x509 = try PKI.makeCertificate(
            commonName: commonName, key: key, keyType: keyType, signer: .selfSigned, serial: serial,
            notBefore: notBefore, notAfter: notAfter, extensions: caExtensions(pathLength: nil))
        let pem = try PKI.pem(of: x509)
        let certificate = TestCertificate(
            certificatePEM: pem, privateKeyPEM: try PKI.pem(of: key), der: try PKI.der(of: x509), chainPEM: pem,
            subject: try PKI.subject(of: x509), serial: serial, keyType: keyType)
        return TestCertificateAuthority(certificate: certificate, isRoot: true)
    }

    /// An intermediate CA signed by this CA: basicConstraints critical CA:TRUE with
    /// `pathlen:<pathLength>` (none if `nil`), keyUsage critical keyCertSign+cRLSign, SKI, AKI.
    public func issueIntermediate(
        commonName: String,
        pathLength: Int? = 0,
        keyType: TestKeyType = .p256,
        notBefore: Date = Date() - 3600,
        notAfter: Date = Date() + 86400 * 30
    ) throws -> TestCertificateAuthority {
        let issued = try issue(
            commonName: commonName, keyType: keyType, serial: nil, notBefore: notBefore, notAfter: notAfter,
            extensions: Self.caExtensions(pathLength: pathLength))
        return TestCertificateAuthority(certificate: issued, isRoot: false)
    }

    /// An end-entity certificate signed by this CA: basicConstraints critical CA:FALSE,
    /// keyUsage critical digitalSignature (+keyEncipherment for RSA), SKI, AKI,
    /// extendedKeyUsage `ekus` and subjectAltName `sans` (each omitted when empty).
    /// `serial` defaults to a random positive 63-bit number.
    public func issueLeaf(
        commonName: String,
        sans: [TestSAN],
        ekus: [TestEKU],
        keyType: TestKeyType = .p256,
        notBefore: Date = Date() - 3600,
        notAfter: Date = Date() + 86400 * 30,
        serial: UInt64? = nil
    ) throws -> TestCertificate {
        var extensions: [(nid: Int32, value: String)] = [
            (NID_basic_constraints, "critical,CA:FALSE"),
            (NID_key_usage, keyType == .rsa2048 ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"),
            (NID_subject_key_identifier, "hash"),
            (NID_authority_key_identifier, "keyid:always"),
        ]
        if !ekus.isEmpty {
            extensions.append((NID_ext_key_usage, ekus.map(\.configuration).joined(separator: ",")))
        }
        if !sans.isEmpty {
            if let bad = sans.first(where: { $0.value.contains(",") || $0.value.isEmpty }) {
                throw TestPKIError(call: "subjectAltName", detail: "empty value or comma in \(bad)")
            }
            extensions.append((NID_subject_alt_name, sans.map(\.configuration).joined(separator: ",")))
        }
        return try issue(
            commonName: commonName, keyType: keyType, serial: serial, notBefore: notBefore, notAfter: notAfter,
            extensions: extensions)
    }

    /// A PEM X.509 v2 CRL signed by this CA listing `revokingSerials` (revoked at `thisUpdate`),
    /// with a CRL number extension (milliseconds since 1970 of `thisUpdate`) and an
    /// authority key identifier.
    public func makeCRL(
        revokingSerials: [UInt64],
        thisUpdate: Date = Date() - 60,
        nextUpdate: Date = Date() + 86400
    ) throws -> String {
        try PKI.makeCRL(
            issuer: PKI.parseCertificate(der: certificate.der), key: PKI.parsePrivateKey(pem: certificate.privateKeyPEM),
            keyType: certificate.keyType, revokingSerials: revokingSerials, thisUpdate: thisUpdate,
            nextUpdate: nextUpdate)
    }

    // MARK: - Private

    static func caExtensions(pathLength: Int?) -> [(nid: Int32, value: String)] {
        [
            (NID_basic_constraints, pathLength.map { "critical,CA:TRUE,pathlen:\($0)" } ?? "critical,CA:TRUE"),
            (NID_key_usage, "critical,keyCertSign,cRLSign"),
            (NID_subject_key_identifier, "hash"),
            (NID_authority_key_identifier, "keyid:always"),
        ]
    }

    private func issue(
        commonName: String,
        keyType: TestKeyType,
        serial: UInt64?,
        notBefore: Date,
        notAfter: Date,
        extensions: [(nid: Int32, value: String)]
    ) throws -> TestCertificate {
        let issuerCertificate = try PKI.parseCertificate(der: certificate.der)
        let issuerKey = try PKI.parsePrivateKey(pem: certificate.privateKeyPEM)
        let key = try PKI.generateKey(keyType)
        let serial = try serial ?? PKI.randomSerial()
        let x509 = try PKI.makeCertificate(
            commonName: commonName, key: key, keyType: keyType,
            signer: .issuer(certificate: issuerCertificate, key: issuerKey, keyType: certificate.keyType),
            serial: serial, notBefore: notBefore, notAfter: notAfter, extensions: extensions)
        let pem = try PKI.pem(of: x509)
        return TestCertificate(
            certificatePEM: pem, privateKeyPEM: try PKI.pem(of: key), der: try PKI.der(of: x509),
            chainPEM: isRoot ? pem : pem + certificate.chainPEM,
            subject: try PKI.subject(of: x509), serial: serial, keyType: keyType)
    }
}

/// The standard set of certificates the TLS tests use, created fresh (P-256 throughout).
public struct TestPKI: Sendable {
    /// Root CA "SaMDKit Test Root".
    public let root: TestCertificateAuthority
    /// "SaMDKit Test Intermediate", issued by `root`, pathlen 0; issues every leaf below unless noted.
    public let intermediate: TestCertificateAuthority
    /// An unrelated root ("SaMDKit Other Root") for "unknown CA" cases.
    public let otherRoot: TestCertificateAuthority
    /// CN gateway.test; SAN DNS gateway.test, DNS localhost, IP 127.0.0.1, IP ::1; EKU serverAuth.
    public let server: TestCertificate
    /// CN device-0001; SAN URI urn:uuid:6f1c2a52-3b4e-4c1d-9a8e-2f6b7c8d9e01; EKU clientAuth.
    public let device: TestCertificate
    /// CN reader; SAN URI spiffe://samd.test/reader; EKU clientAuth.
    public let reader: TestCertificate
    /// CN device-0002; URI urn:uuid:…9e02; clientAuth; valid from now−30 days to now−1 day.
    public let expiredDevice: TestCertificate
    /// CN gateway.test; SANs and EKU as `server`; valid from now−30 days to now−1 day.
    public let expiredServer: TestCertificate
    /// CN device-0003; URI urn:uuid:…9e03; EKU serverAuth only.
    public let wrongPurposeDevice: TestCertificate
    /// CN gateway.test; SANs as `server`; EKU clientAuth only.
    public let wrongPurposeServer: TestCertificate
    /// CN device-0004; URI urn:uuid:…9e04; clientAuth; its serial is listed in `crlPEM`.
    public let revokedDevice: TestCertificate
    /// CN 127.0.0.1; serverAuth; SAN DNS "127.0.0.1" only (an IP written as a DNS name).
    public let ipAsDNSServer: TestCertificate
    /// CN other.test; serverAuth; SAN DNS other.test only (hostname mismatch cases).
    public let otherServer: TestCertificate
    /// CN device-0001, SAN as `device`; clientAuth; issued directly by `otherRoot`.
    public let unknownCADevice: TestCertificate
    /// CN gateway.test, SANs as `server`; serverAuth; issued directly by `otherRoot`.
    public let unknownCAServer: TestCertificate
    /// CRL by `intermediate` revoking `revokedDevice`.
    public let crlPEM: String
    /// Empty CRL by `root` (X509_V_FLAG_CRL_CHECK_ALL needs one CRL per CA).
    public let rootCRLPEM: String

    /// The subjectAltNames of `server` (and its variants).
    public static let serverSANs: [TestSAN] = [.dns("gateway.test"), .dns("localhost"), .ip("127.0.0.1"), .ip("::1")]
    /// The URI SAN of `device` (and `unknownCADevice`).
    public static let deviceURI = "urn:uuid:6f1c2a52-3b4e-4c1d-9a8e-2f6b7c8d9e01"
    /// The URI SAN of `reader`.
    public static let readerURI = "spiffe://samd.test/reader"

    /// Generates every key, certificate and CRL (well under a second).
    public init() throws {
        let now = Date()
        let expiredFrom = now - 86400 * 30
        let expiredUntil = now - 86400
        root = try .makeRoot(commonName: "SaMDKit Test Root")
        intermediate = try root.issueIntermediate(commonName: "SaMDKit Test Intermediate", pathLength: 0)
        otherRoot = try .makeRoot(commonName: "SaMDKit Other Root")

        let ca = intermediate
        server = try ca.issueLeaf(commonName: "gateway.test", sans: Self.serverSANs, ekus: [.serverAuth])
        device = try ca.issueLeaf(commonName: "device-0001", sans: [.uri(Self.deviceURI)], ekus: [.clientAuth])
        reader = try ca.issueLeaf(commonName: "reader", sans: [.uri(Self.readerURI)], ekus: [.clientAuth])
        expiredDevice = try ca.issueLeaf(
            commonName: "device-0002", sans: [.uri("urn:uuid:6f1c2a52-3b4e-4c1d-9a8e-2f6b7c8d9e02")],
            ekus: [.clientAuth], notBefore: expiredFrom, notAfter: expiredUntil)
        expiredServer = try ca.issueLeaf(
            commonName: "gateway.test", sans: Self.serverSANs, ekus: [.serverAuth],
            notBefore: expiredFrom, notAfter: expiredUntil)
        wrongPurposeDevice = try ca.issueLeaf(
            commonName: "device-0003", sans: [.uri("urn:uuid:6f1c2a52-3b4e-4c1d-9a8e-2f6b7c8d9e03")],
            ekus: [.serverAuth])
        wrongPurposeServer = try ca.issueLeaf(commonName: "gateway.test", sans: Self.serverSANs, ekus: [.clientAuth])
        revokedDevice = try ca.issueLeaf(
            commonName: "device-0004", sans: [.uri("urn:uuid:6f1c2a52-3b4e-4c1d-9a8e-2f6b7c8d9e04")],
            ekus: [.clientAuth])
        ipAsDNSServer = try ca.issueLeaf(commonName: "127.0.0.1", sans: [.dns("127.0.0.1")], ekus: [.serverAuth])
        otherServer = try ca.issueLeaf(commonName: "other.test", sans: [.dns("other.test")], ekus: [.serverAuth])
        unknownCADevice = try otherRoot.issueLeaf(
            commonName: "device-0001", sans: [.uri(Self.deviceURI)], ekus: [.clientAuth])
        unknownCAServer = try otherRoot.issueLeaf(
            commonName: "gateway.test", sans: Self.serverSANs, ekus: [.serverAuth])

        crlPEM = try intermediate.makeCRL(revokingSerials: [revokedDevice.serial])
        rootCRLPEM = try root.makeCRL(revokingSerials: [])
    }

    /// Every certificate by its file name (the property name).
    var namedCertificates: [(name: String, certificate: TestCertificate)] {
        [
            ("root", root.certificate), ("intermediate", intermediate.certificate),
            ("otherRoot", otherRoot.certificate), ("server", server), ("device", device), ("reader", reader),
            ("expiredDevice", expiredDevice), ("expiredServer", expiredServer),
            ("wrongPurposeDevice", wrongPurposeDevice), ("wrongPurposeServer", wrongPurposeServer),
            ("revokedDevice", revokedDevice), ("ipAsDNSServer", ipAsDNSServer), ("otherServer", otherServer),
            ("unknownCADevice", unknownCADevice), ("unknownCAServer", unknownCAServer),
        ]
    }

    /// Writes every item as PEM into `directory` (created if needed, mode 0700; files 0600,
    /// overwritten if present): `<name>.pem` (the certificate's `chainPEM`) and `<name>.key`
    /// (unencrypted PKCS#8) for each property name above (`root`, `intermediate`,
    /// `otherRoot`, `server`, `device`, …), and `crl.pem` (`crlPEM` then `rootCRLPEM`).
    public func write(to directory: URL) throws -> TestPKIFiles {
        let manager = FileManager.default
        do {
            try manager.createDirectory(
                at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw TestPKIError(call: "FileManager.createDirectory", detail: "\(directory.path): \(error)")
        }
        let files = TestPKIFiles(directory: directory)
        var contents: [(path: String, text: String)] = []
        for (name, certificate) in namedCertificates {
            contents.append((files.certificate(name), certificate.chainPEM))
            contents.append((files.key(name), certificate.privateKeyPEM))
        }
        contents.append((files.crl, crlPEM + rootCRLPEM))
        for (path, text) in contents {
            // Remove first, so a file created earlier with wider permissions is not reused.
            try? manager.removeItem(atPath: path)
            guard manager.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
            else { throw TestPKIError(call: "FileManager.createFile", detail: path) }
            do {
                try manager.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
            } catch {
                throw TestPKIError(call: "FileManager.setAttributes", detail: "\(path): \(error)")
            }
        }
        return files
    }
}

/// Paths of a `TestPKI` written by `TestPKI.write(to:)`.
public struct TestPKIFiles: Sendable {
    /// The directory holding every file.
    public let directory: URL
    /// `root.pem`: the root CA certificate (a trust anchor file).
    public let rootCA: String
    /// `otherRoot.pem`: the unrelated root CA certificate.
    public let otherRootCA: String
    /// `crl.pem`: the intermediate's CRL followed by the root's CRL.
    public let crl: String

    init(directory: URL) {
        self.directory = directory
        rootCA = Self.path(directory, "root.pem")
        otherRootCA = Self.path(directory, "otherRoot.pem")
        crl = Self.path(directory, "crl.pem")
    }

    /// Path of `<name>.pem`: the certificate's `chainPEM` (a leaf of `intermediate`: leaf + intermediate).
    public func certificate(_ name: String) -> String {
        Self.path(directory, "\(name).pem")
    }

    /// Path of `<name>.key`: the unencrypted PKCS#8 private key.
    public func key(_ name: String) -> String {
        Self.path(directory, "\(name).key")
    }

    private static func path(_ directory: URL, _ file: String) -> String {
        directory.appendingPathComponent(file, isDirectory: false).path
    }
}
