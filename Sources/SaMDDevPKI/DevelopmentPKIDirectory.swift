// The on-disk development PKI that `samd-pki` writes: file names, creation, and issuing more leaves.

public import Foundation

/// A development PKI in a directory — for demos and tests, **not a production CA** — as `samd-pki init`
/// writes it and `samd-pki issue` extends it.
///
/// Files (PEM, RFC 7468; certificates mode 0644, private keys unencrypted PKCS#8 mode 0600, the directory
/// 0700; each written atomically: temporary file, fsync, rename):
///
/// | file | contents |
/// |---|---|
/// | `root.pem` | the root CA certificate: the trust anchor to configure on both sides |
/// | `intermediate.pem`, `intermediate.key` | the issuing CA, kept so that more leaves can be issued |
/// | `server.pem`, `server.key` | server leaf + intermediate; SAN DNS and IP names, EKU serverAuth |
/// | `device-<id>.pem`, `.key` | device leaf + intermediate; SAN URI `urn:samd:device:<id>`, EKU clientAuth |
/// | `reader-<id>.pem`, `.key` | reader leaf + intermediate; SAN URI `urn:samd:reader:<id>`, EKU clientAuth |
/// | `expired-device.pem`, `.key` | a device whose validity ended one day ago (negative tests) |
/// | `wrong-purpose-device.pem`, `.key` | a device with EKU serverAuth only (negative tests) |
/// | `README.txt` | what this is, and that it is not a production CA |
///
/// The root's and intermediate's private keys are not both needed later: the root key is discarded after
/// signing the intermediate and never written.
///
/// - SeeAlso: RFC 5280 (profile), RFC 5958 (PKCS#8).
public struct DevelopmentPKIDirectory: Sendable {
    /// What ``create(_:now:)`` makes.
    public struct Options: Sendable {
        /// The server's dNSName SANs, at least one; the first is also its CN. Default `["localhost"]`.
        public var serverDNSNames: [String]
        /// The server's iPAddress SANs (IPv4 or IPv6 text). Default `["127.0.0.1", "::1"]`.
        public var serverIPAddresses: [String]
        /// One device certificate per id (1–64 of `A–Z a–z 0–9 . _ -`, no repeats). Default `["0001"]`.
        public var deviceIDs: [String]
        /// One reader certificate per id (same syntax). Default `["01"]`.
        public var readerIDs: [String]
        /// Validity of the leaves in days, 1…397; the two CAs get `max(validityDays, 90)`. Default 30.
        public var validityDays: Int
        /// The key algorithm of every key. Default P-256.
        public var keyType: DevelopmentKeyType
        /// Whether files of an existing PKI in the directory are replaced. Default `false`: refused.
        public var replacesExisting: Bool

        /// Options with the defaults above, changed where given.
        public init(
            serverDNSNames: [String] = ["localhost"],
            serverIPAddresses: [String] = ["127.0.0.1", "::1"],
            deviceIDs: [String] = ["0001"],
            readerIDs: [String] = ["01"],
            validityDays: Int = 30,
            keyType: DevelopmentKeyType = .p256,
            replacesExisting: Bool = false
        ) {
            self.serverDNSNames = serverDNSNames
            self.serverIPAddresses = serverIPAddresses
            self.deviceIDs = deviceIDs
            self.readerIDs = readerIDs
            self.validityDays = validityDays
            self.keyType = keyType
            self.replacesExisting = replacesExisting
        }
    }

    /// One file written, and what a summary may show of it (never key material).
    public struct WrittenFile: Sendable, Hashable {
        /// What the file holds.
        public enum Kind: String, Sendable, Hashable {
            /// A certificate or certificate chain (PEM).
            case certificate
            /// An unencrypted PKCS#8 private key (PEM).
            case privateKey
            /// The README.
            case readme
        }

        /// The full path.
        public let path: String
        /// What it holds.
        public let kind: Kind
        /// The permission bits it was written with, e.g. `0o600`.
        public let mode: UInt16
        /// For certificates: the subject, RFC 2253 form; otherwise `nil`.
        public let subject: String?
        /// For certificates: the subjectAltNames of the (first) certificate.
        public let subjectAlternativeNames: [DevelopmentSAN]
        /// For certificates: the extendedKeyUsages of the (first) certificate.
        public let extendedKeyUsages: [DevelopmentEKU]
        /// For certificates: the end of validity of the (first) certificate.
        public let notAfter: Date?
    }

    /// The shortest and longest leaf validity, in days (397: the CA/Browser Forum's limit for TLS servers).
    public static let validityDaysRange = 1...397
    /// The shortest CA validity, in days.
    public static let minimumAuthorityValidityDays = 90

    /// `root.pem`
    public static let rootCertificateFile = "root.pem"
    /// `intermediate.pem`
    public static let intermediateCertificateFile = "intermediate.pem"
    /// `intermediate.key`
    public static let intermediateKeyFile = "intermediate.key"
    /// `server.pem`
    public static let serverCertificateFile = "server.pem"
    /// `server.key`
    public static let serverKeyFile = "server.key"
    /// `expired-device` (`.pem`, `.key`)
    public static let expiredDeviceName = "expired-device"
    /// `wrong-purpose-device` (`.pem`, `.key`)
    public static let wrongPurposeDeviceName = "wrong-purpose-device"
    /// `README.txt`
    public static let readmeFile = "README.txt"

    /// `device-<id>`: the base name of device `id`'s `.pem` and `.key`.
    public static func deviceName(id: String) -> String { ClientRole.device.baseName(id: id) }
    /// `reader-<id>`: the base name of reader `id`'s `.pem` and `.key`.
    public static func readerName(id: String) -> String { ClientRole.reader.baseName(id: id) }

    /// The organization (O) of every subject `create` makes: `SaMDKit Development`.
    public static let organization = "SaMDKit Development"

    /// The directory.
    public let directory: URL

    /// The PKI in `directory` (nothing is read or written yet).
    public init(directory: URL) {
        self.directory = directory
    }

    /// Generates a new PKI and writes it into ``directory`` (see the type's table), returning the files in
    /// the order written.
    /// - Throws: ``DevelopmentPKIError/Code/invalidIdentifier`` for a malformed or repeated device or reader
    ///   id; ``DevelopmentPKIError/Code/invalidSubjectAlternativeName`` for a malformed DNS name or IP
    ///   address, or no DNS name; ``DevelopmentPKIError/Code/invalidValidity`` when `validityDays` is
    ///   outside 1…397 (all checked before anything is generated); ``DevelopmentPKIError/Code/outputExists``
    ///   when a file to be written exists and `replacesExisting` is false (nothing is written then);
    ///   ``DevelopmentPKIError/Code/cannotWrite`` when the directory or a file cannot be written;
    ///   ``DevelopmentPKIError/Code/openSSL`` when OpenSSL fails.
    @discardableResult
    public func create(_ options: Options, now: Date = Date()) throws -> [WrittenFile] {
        let sans = try Self.serverSANs(options)
        try Self.checkIdentifiers(options.deviceIDs, .device)
        try Self.checkIdentifiers(options.readerIDs, .reader)
        let leafDays = try Self.checkDays(options.validityDays)
        let caDays = max(leafDays, Self.minimumAuthorityValidityDays)
        if !options.replacesExisting {
            try self.refuseExisting(Self.fileNames(options))
        }

        let validFrom = now - 3600
        let leafUntil = now + TimeInterval(leafDays) * 86400
        let caUntil = now + TimeInterval(caDays) * 86400
        let keyType = options.keyType
        let root = try DevelopmentCertificateAuthority.makeRoot(
            commonName: "SaMDKit Development Root", organization: Self.organization, keyType: keyType,
            notBefore: validFrom, notAfter: caUntil)
        let intermediate = try root.issueIntermediate(
            commonName: "SaMDKit Development Intermediate", pathLength: 0, keyType: keyType, notBefore: validFrom,
            notAfter: caUntil)

        var items: [(name: String, certificate: DevelopmentCertificate)] = []
        items.append(
            (
                "server",
                try intermediate.issueLeaf(
                    commonName: options.serverDNSNames[0], sans: sans, ekus: [.serverAuth], keyType: keyType,
                    notBefore: validFrom, notAfter: leafUntil)
            ))
        for id in options.deviceIDs {
            items.append(
                (
                    Self.deviceName(id: id),
                    try intermediate.issueDevice(
                        id: id, keyType: keyType, notBefore: validFrom, notAfter: leafUntil)
                ))
        }
        for id in options.readerIDs {
            items.append(
                (
                    Self.readerName(id: id),
                    try intermediate.issueReader(
                        id: id, keyType: keyType, notBefore: validFrom, notAfter: leafUntil)
                ))
        }
        items.append(
            (
                Self.expiredDeviceName,
                try intermediate.issueLeaf(
                    commonName: Self.expiredDeviceName, sans: [DevelopmentSAN.device(id: Self.expiredDeviceName)],
                    ekus: [.clientAuth], keyType: keyType, notBefore: now - 86400 * 30, notAfter: now - 86400)
            ))
        items.append(
            (
                Self.wrongPurposeDeviceName,
                try intermediate.issueLeaf(
                    commonName: Self.wrongPurposeDeviceName,
                    sans: [DevelopmentSAN.device(id: Self.wrongPurposeDeviceName)],
                    ekus: [.serverAuth], keyType: keyType, notBefore: validFrom, notAfter: leafUntil)
            ))

        var files: [(PrivateFileWriter.Item, WrittenFile.Kind, DevelopmentCertificate?)] = [
            (
                .init(name: Self.rootCertificateFile, text: root.certificate.certificatePEM, mode: 0o644), .certificate,
                root.certificate
            ),
            (
                .init(
                    name: Self.intermediateCertificateFile, text: intermediate.certificate.certificatePEM, mode: 0o644),
                .certificate, intermediate.certificate
            ),
            (
                .init(name: Self.intermediateKeyFile, text: intermediate.certificate.privateKeyPEM, mode: 0o600),
                .privateKey, nil
            ),
        ]
        for (name, certificate) in items {
            files += Self.leafFiles(name: name, certificate)
        }
        files.append(
            (
                .init(
                    name: Self.readmeFile, text: Self.readme(options, leafDays: leafDays, caDays: caDays), mode: 0o644),
                .readme, nil
            ))
        try PrivateFileWriter.write(files.map(\.0), to: self.directory, replacing: options.replacesExisting)
        return files.map { self.written($0.0, kind: $0.1, certificate: $0.2) }
    }

    /// The issuing CA stored in ``directory``: `intermediate.pem` and `intermediate.key`.
    /// - Throws: ``DevelopmentPKIError/Code/cannotRead`` when a file cannot be read;
    ///   ``DevelopmentPKIError/Code/invalidAuthority`` when they are not a CA and its key.
    public func loadIntermediate() throws -> DevelopmentCertificateAuthority {
        try DevelopmentCertificateAuthority.load(
            certificatePEM: try self.read(Self.intermediateCertificateFile),
            privateKeyPEM: try self.read(Self.intermediateKeyFile))
    }

    /// Issues one more device certificate with the stored intermediate and writes `device-<id>.pem` (leaf +
    /// intermediate) and `device-<id>.key`: CN `device-<id>`, SAN URI `urn:samd:device:<id>`, EKU
    /// clientAuth, valid `validityDays` days but never past the intermediate's notAfter.
    /// - Throws: ``DevelopmentPKIError/Code/invalidIdentifier``, ``DevelopmentPKIError/Code/invalidValidity``
    ///   (days outside 1…397, or the intermediate has expired), ``DevelopmentPKIError/Code/outputExists``
    ///   (the files exist and `replacingExisting` is false), and as ``loadIntermediate()`` and
    ///   ``create(_:now:)``.
    @discardableResult
    public func issueDevice(
        id: String, validityDays: Int = 30, replacingExisting: Bool = false, now: Date = Date()
    ) throws -> [WrittenFile] {
        try self.issue(.device, id: id, validityDays: validityDays, replacing: replacingExisting, now: now)
    }

    /// Issues one more reader certificate, as ``issueDevice(id:validityDays:replacingExisting:now:)`` does
    /// for devices: `reader-<id>.pem`/`.key`, SAN URI `urn:samd:reader:<id>`, EKU clientAuth.
    @discardableResult
    public func issueReader(
        id: String, validityDays: Int = 30, replacingExisting: Bool = false, now: Date = Date()
    ) throws -> [WrittenFile] {
        try self.issue(.reader, id: id, validityDays: validityDays, replacing: replacingExisting, now: now)
    }

    // MARK: - Private

    private func issue(_ role: ClientRole, id: String, validityDays: Int, replacing: Bool, now: Date) throws
        -> [WrittenFile]
    {
        _ = try role.san(id: id)
        let days = try Self.checkDays(validityDays)
        let name = role.baseName(id: id)
        if !replacing {
            try self.refuseExisting(["\(name).pem", "\(name).key"])
        }
        let intermediate = try self.loadIntermediate()
        let notAfter = min(now + TimeInterval(days) * 86400, intermediate.certificate.notAfter)
        let notBefore = max(now - 3600, intermediate.certificate.notBefore)
        guard notAfter > now else {
            throw DevelopmentPKIError(
                .invalidValidity, "the intermediate expired at \(intermediate.certificate.notAfter)")
        }
        let certificate = try intermediate.issueClient(
            role, id: id, keyType: intermediate.certificate.keyType, notBefore: notBefore, notAfter: notAfter)
        let files = Self.leafFiles(name: name, certificate)
        try PrivateFileWriter.write(files.map(\.0), to: self.directory, replacing: replacing)
        return files.map { self.written($0.0, kind: $0.1, certificate: $0.2) }
    }

    private static func leafFiles(
        name: String, _ certificate: DevelopmentCertificate
    ) -> [(PrivateFileWriter.Item, WrittenFile.Kind, DevelopmentCertificate?)] {
        [
            (.init(name: "\(name).pem", text: certificate.chainPEM, mode: 0o644), .certificate, certificate),
            (.init(name: "\(name).key", text: certificate.privateKeyPEM, mode: 0o600), .privateKey, nil),
        ]
    }

    private func written(_ item: PrivateFileWriter.Item, kind: WrittenFile.Kind, certificate: DevelopmentCertificate?)
        -> WrittenFile
    {
        WrittenFile(
            path: self.directory.appendingPathComponent(item.name).path, kind: kind, mode: UInt16(item.mode),
            subject: certificate?.subject, subjectAlternativeNames: certificate?.subjectAlternativeNames ?? [],
            extendedKeyUsages: certificate?.extendedKeyUsages ?? [], notAfter: certificate?.notAfter)
    }

    private func refuseExisting(_ names: [String]) throws {
        let present = PrivateFileWriter.existing(names, in: self.directory)
        guard present.isEmpty else {
            let shown =
                present.count > 3
                ? present.prefix(3).joined(separator: ", ") + " and \(present.count - 3) more"
                : present.joined(separator: ", ")
            throw DevelopmentPKIError(.outputExists, "\(self.directory.path) already holds \(shown)")
        }
    }

    private func read(_ name: String) throws -> String {
        let path = self.directory.appendingPathComponent(name).path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DevelopmentPKIError(.cannotRead, "cannot read \(path)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    private static func fileNames(_ options: Options) -> [String] {
        let leaves =
            ["server"] + options.deviceIDs.map(deviceName) + options.readerIDs.map(readerName)
            + [expiredDeviceName, wrongPurposeDeviceName]
        return [rootCertificateFile, intermediateCertificateFile, intermediateKeyFile, readmeFile]
            + leaves.flatMap { ["\($0).pem", "\($0).key"] }
    }

    private static func serverSANs(_ options: Options) throws -> [DevelopmentSAN] {
        guard !options.serverDNSNames.isEmpty else {
            throw DevelopmentPKIError(.invalidSubjectAlternativeName, "the server needs at least one DNS name")
        }
        let sans = options.serverDNSNames.map(DevelopmentSAN.dns) + options.serverIPAddresses.map(DevelopmentSAN.ip)
        if let bad = sans.first(where: { !$0.isWellFormed }) {
            let kind = if case .dns = bad { "DNS name" } else { "IP address" }
            throw DevelopmentPKIError(
                .invalidSubjectAlternativeName, "malformed server \(kind) \"\(NameSyntax.printable(bad.value))\"")
        }
        return sans
    }

    private static func checkIdentifiers(_ ids: [String], _ role: ClientRole) throws {
        var seen = Set<String>()
        for id in ids {
            _ = try role.san(id: id)
            guard seen.insert(id).inserted else {
                throw DevelopmentPKIError(.invalidIdentifier, "\(role.rawValue) id \"\(id)\" is given twice")
            }
        }
    }

    private static func checkDays(_ days: Int) throws -> Int {
        guard validityDaysRange.contains(days) else {
            throw DevelopmentPKIError(
                .invalidValidity,
                "validity of \(days) days is outside \(validityDaysRange.lowerBound)…\(validityDaysRange.upperBound)")
        }
        return days
    }

    private static func readme(_ options: Options, leafDays: Int, caDays: Int) -> String {
        """
        SaMDKit DEVELOPMENT PKI — FOR DEMOS AND TESTS ONLY. THIS IS NOT A PRODUCTION CA.

        Made by samd-pki (SaMDDevPKI). Do not use these certificates or keys for real devices, real
        patients or real data:
        - every private key here is stored UNENCRYPTED on disk (mode 0600), including the issuing CA's;
        - there is no HSM, no key ceremony, no audit log and no record of what was issued;
        - there is no revocation service (no CRL distribution point, no OCSP);
        - validity is short: leaves \(leafDays) days, CAs \(caDays) days.

        Files:
          root.pem                      trust anchor (root CA certificate) for both sides
          intermediate.pem/.key         issuing CA; `samd-pki issue --pki DIR --device ID` uses it
          server.pem/.key               server chain (leaf + intermediate); SAN DNS \(options.serverDNSNames.joined(separator: ", "))\
        \(options.serverIPAddresses.isEmpty ? "" : "; IP " + options.serverIPAddresses.joined(separator: ", "))
          device-<id>.pem/.key          device chain; SAN URI urn:samd:device:<id>; EKU clientAuth
          reader-<id>.pem/.key          reader chain; SAN URI urn:samd:reader:<id>; EKU clientAuth
          expired-device.pem/.key       negative test: validity ended one day ago
          wrong-purpose-device.pem/.key negative test: EKU serverAuth only (no clientAuth)

        Check a device certificate:
          openssl verify -CAfile root.pem -untrusted intermediate.pem device-\(options.deviceIDs.first ?? "<id>").pem

        See Sources/SaMDDevPKI/SaMDDevPKI.docc/DevelopmentPKIGuide.md in SaMDKit.

        """
    }
}
