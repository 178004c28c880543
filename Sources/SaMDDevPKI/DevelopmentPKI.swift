// The standard development PKI: every certificate the TLS tests and demos need, generated at run time.

public import Foundation

/// A complete development PKI for demos and tests — **not a production CA** — generated fresh through
/// OpenSSL (P-256 throughout, validity 30 days unless noted), so no certificate or key is ever committed.
///
/// Two CAs and an unrelated root, one good leaf per role and the bad ones a verifier must refuse:
/// expired, wrong extended key usage, revoked (with the CRL), unknown CA, an IP address written as a
/// DNS name, and a host-name mismatch.
///
/// - SeeAlso: RFC 5280 (certificates and CRLs), RFC 6125 (server identity), RFC 5246/8446 (TLS).
public struct DevelopmentPKI: Sendable {
    /// The organization (O) in every subject of the standard set: `SaMDKit Test`.
    public static let organization = "SaMDKit Test"

    /// Root CA "SaMDKit Test Root".
    public let root: DevelopmentCertificateAuthority
    /// "SaMDKit Test Intermediate", issued by `root`, pathlen 0; issues every leaf below unless noted.
    public let intermediate: DevelopmentCertificateAuthority
    /// An unrelated root ("SaMDKit Other Root") for "unknown CA" cases.
    public let otherRoot: DevelopmentCertificateAuthority
    /// CN gateway.test; SAN DNS gateway.test, DNS localhost, IP 127.0.0.1, IP ::1; EKU serverAuth.
    public let server: DevelopmentCertificate
    /// CN device-0001; SAN URI urn:uuid:6f1c2a52-3b4e-4c1d-9a8e-2f6b7c8d9e01; EKU clientAuth.
    public let device: DevelopmentCertificate
    /// CN reader; SAN URI spiffe://samd.test/reader; EKU clientAuth.
    public let reader: DevelopmentCertificate
    /// CN device-0002; URI urn:uuid:…9e02; clientAuth; valid from now−30 days to now−1 day.
    public let expiredDevice: DevelopmentCertificate
    /// CN gateway.test; SANs and EKU as `server`; valid from now−30 days to now−1 day.
    public let expiredServer: DevelopmentCertificate
    /// CN device-0003; URI urn:uuid:…9e03; EKU serverAuth only.
    public let wrongPurposeDevice: DevelopmentCertificate
    /// CN gateway.test; SANs as `server`; EKU clientAuth only.
    public let wrongPurposeServer: DevelopmentCertificate
    /// CN device-0004; URI urn:uuid:…9e04; clientAuth; its serial is listed in `crlPEM`.
    public let revokedDevice: DevelopmentCertificate
    /// CN 127.0.0.1; serverAuth; SAN DNS "127.0.0.1" only (an IP address written as a DNS name).
    public let ipAsDNSServer: DevelopmentCertificate
    /// CN other.test; serverAuth; SAN DNS other.test only (host-name mismatch cases).
    public let otherServer: DevelopmentCertificate
    /// CN device-0001, SAN as `device`; clientAuth; issued directly by `otherRoot`.
    public let unknownCADevice: DevelopmentCertificate
    /// CN gateway.test, SANs as `server`; serverAuth; issued directly by `otherRoot`.
    public let unknownCAServer: DevelopmentCertificate
    /// PEM CRL by `intermediate` revoking `revokedDevice`; next update in one day.
    public let crlPEM: String
    /// Empty PEM CRL by `root` (OpenSSL's X509_V_FLAG_CRL_CHECK_ALL needs one CRL per CA).
    public let rootCRLPEM: String

    /// The subjectAltNames of `server` (and its variants).
    public static let serverSANs: [DevelopmentSAN] = [
        .dns("gateway.test"), .dns("localhost"), .ip("127.0.0.1"), .ip("::1"),
    ]
    /// The URI SAN of `device` (and `unknownCADevice`).
    public static let deviceURI = "urn:uuid:6f1c2a52-3b4e-4c1d-9a8e-2f6b7c8d9e01"
    /// The URI SAN of `reader`.
    public static let readerURI = "spiffe://samd.test/reader"

    /// Generates every key, certificate and CRL (well under a second on P-256).
    /// - Parameter now: the reference time of every validity period.
    /// - Throws: ``DevelopmentPKIError/Code/openSSL`` when OpenSSL fails to generate or sign.
    public init(now: Date = Date()) throws {
        let validFrom = now - 3600
        let validUntil = now + 86400 * 30
        let expiredFrom = now - 86400 * 30
        let expiredUntil = now - 86400
        root = try .makeRoot(commonName: "SaMDKit Test Root", notBefore: validFrom, notAfter: validUntil)
        intermediate = try root.issueIntermediate(
            commonName: "SaMDKit Test Intermediate", pathLength: 0, notBefore: validFrom, notAfter: validUntil)
        otherRoot = try .makeRoot(commonName: "SaMDKit Other Root", notBefore: validFrom, notAfter: validUntil)

        func leaf(
            _ ca: DevelopmentCertificateAuthority, _ commonName: String, _ sans: [DevelopmentSAN],
            _ ekus: [DevelopmentEKU],
            expired: Bool = false
        ) throws -> DevelopmentCertificate {
            try ca.issueLeaf(
                commonName: commonName, sans: sans, ekus: ekus, notBefore: expired ? expiredFrom : validFrom,
                notAfter: expired ? expiredUntil : validUntil)
        }
        let ca = intermediate
        let uuid = "urn:uuid:6f1c2a52-3b4e-4c1d-9a8e-2f6b7c8d9e0"
        server = try leaf(ca, "gateway.test", Self.serverSANs, [.serverAuth])
        device = try leaf(ca, "device-0001", [.uri(Self.deviceURI)], [.clientAuth])
        reader = try leaf(ca, "reader", [.uri(Self.readerURI)], [.clientAuth])
        expiredDevice = try leaf(ca, "device-0002", [.uri(uuid + "2")], [.clientAuth], expired: true)
        expiredServer = try leaf(ca, "gateway.test", Self.serverSANs, [.serverAuth], expired: true)
        wrongPurposeDevice = try leaf(ca, "device-0003", [.uri(uuid + "3")], [.serverAuth])
        wrongPurposeServer = try leaf(ca, "gateway.test", Self.serverSANs, [.clientAuth])
        revokedDevice = try leaf(ca, "device-0004", [.uri(uuid + "4")], [.clientAuth])
        ipAsDNSServer = try leaf(ca, "127.0.0.1", [.dns("127.0.0.1")], [.serverAuth])
        otherServer = try leaf(ca, "other.test", [.dns("other.test")], [.serverAuth])
        unknownCADevice = try leaf(otherRoot, "device-0001", [.uri(Self.deviceURI)], [.clientAuth])
        unknownCAServer = try leaf(otherRoot, "gateway.test", Self.serverSANs, [.serverAuth])

        crlPEM = try intermediate.makeCRL(
            revokingSerials: [revokedDevice.serial], thisUpdate: now - 60, nextUpdate: now + 86400)
        rootCRLPEM = try root.makeCRL(revokingSerials: [], thisUpdate: now - 60, nextUpdate: now + 86400)
    }

    /// Every certificate by its file name (the property name).
    var namedCertificates: [(name: String, certificate: DevelopmentCertificate)] {
        [
            ("root", root.certificate), ("intermediate", intermediate.certificate),
            ("otherRoot", otherRoot.certificate), ("server", server), ("device", device), ("reader", reader),
            ("expiredDevice", expiredDevice), ("expiredServer", expiredServer),
            ("wrongPurposeDevice", wrongPurposeDevice), ("wrongPurposeServer", wrongPurposeServer),
            ("revokedDevice", revokedDevice), ("ipAsDNSServer", ipAsDNSServer), ("otherServer", otherServer),
            ("unknownCADevice", unknownCADevice), ("unknownCAServer", unknownCAServer),
        ]
    }

    /// Writes every item as PEM into `directory`: `<name>.pem` (the certificate's `chainPEM`) and
    /// `<name>.key` (unencrypted PKCS#8) for each property name above (`root`, `intermediate`,
    /// `otherRoot`, `server`, `device`, …), and `crl.pem` (`crlPEM` then `rootCRLPEM`).
    ///
    /// The directory is created if needed and set to mode 0700; every file is mode 0600 and replaced if
    /// present, each atomically (a temporary file, fsync, rename).
    /// - Throws: ``DevelopmentPKIError/Code/cannotWrite`` when the directory or a file cannot be written.
    @discardableResult
    public func write(to directory: URL) throws -> DevelopmentPKIFiles {
        let files = DevelopmentPKIFiles(directory: directory)
        var contents: [PrivateFileWriter.Item] = []
        for (name, certificate) in self.namedCertificates {
            contents.append(.init(name: "\(name).pem", text: certificate.chainPEM, mode: 0o600))
            contents.append(.init(name: "\(name).key", text: certificate.privateKeyPEM, mode: 0o600))
        }
        contents.append(.init(name: "crl.pem", text: self.crlPEM + self.rootCRLPEM, mode: 0o600))
        try PrivateFileWriter.write(contents, to: directory, replacing: true)
        return files
    }
}

/// Paths of a ``DevelopmentPKI`` written by ``DevelopmentPKI/write(to:)``.
public struct DevelopmentPKIFiles: Sendable {
    /// The directory holding every file.
    public let directory: URL
    /// `root.pem`: the root CA certificate (a trust-anchor file).
    public let rootCA: String
    /// `otherRoot.pem`: the unrelated root CA certificate.
    public let otherRootCA: String
    /// `crl.pem`: the intermediate's CRL followed by the root's CRL.
    public let crl: String

    /// The paths of the files ``DevelopmentPKI/write(to:)`` writes into `directory`.
    public init(directory: URL) {
        self.directory = directory
        self.rootCA = Self.path(directory, "root.pem")
        self.otherRootCA = Self.path(directory, "otherRoot.pem")
        self.crl = Self.path(directory, "crl.pem")
    }

    /// Path of `<name>.pem`: the certificate's `chainPEM` (for a leaf of `intermediate`: leaf + intermediate).
    public func certificate(_ name: String) -> String {
        Self.path(self.directory, "\(name).pem")
    }

    /// Path of `<name>.key`: the unencrypted PKCS#8 private key.
    public func key(_ name: String) -> String {
        Self.path(self.directory, "\(name).key")
    }

    private static func path(_ directory: URL, _ file: String) -> String {
        directory.appendingPathComponent(file, isDirectory: false).path
    }
}
