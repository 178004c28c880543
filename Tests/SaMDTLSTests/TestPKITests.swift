// Checks the generated test PKI against the `openssl` command-line tool, so the TLS
// tests can trust that a failure is SaMDTLS's and not the fixture's.

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("TestPKI")
struct TestPKITests {
    struct Run {
        let status: Int32
        let output: String
    }

    /// Runs /usr/bin/openssl with `arguments` (ChildProcess): its standard output, then its standard error,
    /// as one text; status -1 when it did not finish within a minute.
    static func openssl(_ arguments: [String]) async throws -> Run {
        let run = try await ChildProcess.run(URL(fileURLWithPath: "/usr/bin/openssl"), arguments)
        return Run(status: run.status ?? -1, output: run.output + run.standardError)
    }

    static func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("samd-testpki-\(UUID().uuidString)")
    }

    static let opensslAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")

    @Test("generated certificates have the expected shapes")
    func generation() throws {
        let pki = try TestPKI()
        #expect(pki.server.subject == "CN=gateway.test,O=SaMDKit Test")
        #expect(pki.root.certificate.subject == "CN=SaMDKit Test Root,O=SaMDKit Test")
        #expect(pki.server.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
        // PEM markers are split so that no secret scanner takes them for a committed key.
        #expect(pki.server.privateKeyPEM.hasPrefix("-----BEGIN " + "PRIVATE KEY-----"))
        #expect(pki.server.chainPEM == pki.server.certificatePEM + pki.intermediate.certificate.certificatePEM)
        #expect(pki.intermediate.certificate.chainPEM == pki.intermediate.certificate.certificatePEM)
        #expect(pki.root.certificate.chainPEM == pki.root.certificate.certificatePEM)
        #expect(pki.unknownCADevice.chainPEM == pki.unknownCADevice.certificatePEM)
        #expect(pki.server.der.first == 0x30)
        #expect(pki.server.spkiSHA256().count == 32)
        #expect(pki.server.spkiSHA256() != pki.device.spkiSHA256())
        #expect(pki.server.serial != pki.device.serial)
        #expect(pki.server.serial > 0 && pki.server.serial <= UInt64(Int64.max))
        #expect(pki.crlPEM.hasPrefix("-----BEGIN X509 CRL-----"))
        #expect(pki.rootCRLPEM.hasPrefix("-----BEGIN X509 CRL-----"))
        #expect(
            pki.server.encryptedPrivateKeyPEM(passphrase: "pw").hasPrefix("-----BEGIN " + "ENCRYPTED PRIVATE KEY-----"))
    }

    @Test("other key types")
    func otherKeyTypes() async throws {
        for keyType in [TestKeyType.p384, .rsa2048, .ed25519] {
            let root = try TestCertificateAuthority.makeRoot(commonName: "Root \(keyType)", keyType: keyType)
            let leaf = try root.issueLeaf(
                commonName: "leaf", sans: [.dns("leaf.test"), .email("a@b.test")], ekus: [.serverAuth, .codeSigning],
                keyType: keyType, serial: 42)
            #expect(leaf.serial == 42)
            #expect(leaf.chainPEM == leaf.certificatePEM)
            _ = try root.makeCRL(revokingSerials: [42, 7])
            guard Self.opensslAvailable else { continue }
            let directory = Self.temporaryDirectory()
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let rootPath = directory.appendingPathComponent("root.pem").path
            let leafPath = directory.appendingPathComponent("leaf.pem").path
            try root.certificate.certificatePEM.write(toFile: rootPath, atomically: true, encoding: .utf8)
            try leaf.certificatePEM.write(toFile: leafPath, atomically: true, encoding: .utf8)
            let run = try await Self.openssl(["verify", "-CAfile", rootPath, "-purpose", "sslserver", leafPath])
            #expect(run.status == 0, "\(keyType): \(run.output)")
        }
    }

    @Test("openssl verify, CRL, SAN and encrypted key checks", .enabled(if: opensslAvailable))
    func opensslAgrees() async throws {
        let pki = try TestPKI()
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let files = try pki.write(to: directory)

        // Files exist with mode 0600.
        for path in [files.rootCA, files.otherRootCA, files.crl, files.certificate("server"), files.key("device")] {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "\(path)")
        }

        func verify(_ name: String, purpose: String, root: String? = nil, crl: Bool = false) async throws -> Run {
            var arguments = [
                "verify", "-CAfile", root ?? files.rootCA, "-untrusted", files.certificate("intermediate"),
            ]
            if crl { arguments += ["-crl_check", "-CRLfile", files.crl] }
            arguments += ["-purpose", purpose, files.certificate(name)]
            return try await Self.openssl(arguments)
        }

        let server = try await verify("server", purpose: "sslserver")
        #expect(server.status == 0, "\(server.output)")
        let device = try await verify("device", purpose: "sslclient")
        #expect(device.status == 0, "\(device.output)")
        let reader = try await verify("reader", purpose: "sslclient")
        #expect(reader.status == 0, "\(reader.output)")

        let wrongPurpose = try await verify("wrongPurposeDevice", purpose: "sslclient")
        #expect(wrongPurpose.status != 0)
        #expect(wrongPurpose.output.contains("unsuitable certificate purpose"), "\(wrongPurpose.output)")
        let wrongPurposeServer = try await verify("wrongPurposeServer", purpose: "sslserver")
        #expect(wrongPurposeServer.status != 0, "\(wrongPurposeServer.output)")

        let expired = try await verify("expiredDevice", purpose: "sslclient")
        #expect(expired.status != 0)
        #expect(expired.output.contains("certificate has expired"), "\(expired.output)")
        let expiredServer = try await verify("expiredServer", purpose: "sslserver")
        #expect(expiredServer.status != 0, "\(expiredServer.output)")

        let unknownCA = try await verify("unknownCADevice", purpose: "sslclient")
        #expect(unknownCA.status != 0, "\(unknownCA.output)")
        let unknownCAServer = try await verify("unknownCAServer", purpose: "sslserver")
        #expect(unknownCAServer.status != 0, "\(unknownCAServer.output)")
        // …but both do chain to otherRoot.
        let underOtherRoot = try await Self.openssl([
            "verify", "-CAfile", files.otherRootCA, "-purpose", "sslclient", files.certificate("unknownCADevice"),
        ])
        #expect(underOtherRoot.status == 0, "\(underOtherRoot.output)")

        let revoked = try await verify("revokedDevice", purpose: "sslclient", crl: true)
        #expect(revoked.status != 0)
        #expect(revoked.output.contains("certificate revoked"), "\(revoked.output)")
        let deviceWithCRL = try await verify("device", purpose: "sslclient", crl: true)
        #expect(deviceWithCRL.status == 0, "\(deviceWithCRL.output)")
        // Every CA has a CRL, so checking the whole chain works too.
        let deviceWithCRLAll = try await Self.openssl([
            "verify", "-CAfile", files.rootCA, "-untrusted", files.certificate("intermediate"),
            "-crl_check_all", "-CRLfile", files.crl, "-purpose", "sslclient", files.certificate("device"),
        ])
        #expect(deviceWithCRLAll.status == 0, "\(deviceWithCRLAll.output)")

        // Hostname / IP checks as openssl sees them.
        let serverHost = try await Self.openssl([
            "verify", "-CAfile", files.rootCA, "-untrusted", files.certificate("intermediate"),
            "-verify_hostname", "gateway.test", "-verify_ip", "::1", files.certificate("server"),
        ])
        #expect(serverHost.status == 0, "\(serverHost.output)")
        let ipAsDNS = try await Self.openssl([
            "verify", "-CAfile", files.rootCA, "-untrusted", files.certificate("intermediate"),
            "-verify_ip", "127.0.0.1", files.certificate("ipAsDNSServer"),
        ])
        #expect(ipAsDNS.status != 0, "\(ipAsDNS.output)")

        let serverSAN = try await Self.openssl([
            "x509", "-noout", "-ext", "subjectAltName", "-in", files.certificate("server"),
        ])
        #expect(serverSAN.status == 0)
        #expect(serverSAN.output.contains("DNS:gateway.test"), "\(serverSAN.output)")
        #expect(serverSAN.output.contains("DNS:localhost"), "\(serverSAN.output)")
        #expect(serverSAN.output.contains("IP Address:127.0.0.1"), "\(serverSAN.output)")
        #expect(
            serverSAN.output.contains("IP Address:0:0:0:0:0:0:0:1") || serverSAN.output.contains("IP Address:::1"),
            "\(serverSAN.output)")
        let deviceSAN = try await Self.openssl([
            "x509", "-noout", "-ext", "subjectAltName", "-in", files.certificate("device"),
        ])
        #expect(deviceSAN.status == 0)
        #expect(deviceSAN.output.contains("URI:\(TestPKI.deviceURI)"), "\(deviceSAN.output)")

        let text = try await Self.openssl(["x509", "-noout", "-text", "-in", files.certificate("intermediate")])
        #expect(text.output.contains("Version: 3 (0x2)"))
        #expect(text.output.contains("CA:TRUE, pathlen:0"), "\(text.output)")
        let leafText = try await Self.openssl(["x509", "-noout", "-text", "-in", files.certificate("server")])
        #expect(leafText.output.contains("CA:FALSE"))
        #expect(leafText.output.contains("Digital Signature"))
        #expect(leafText.output.contains("X509v3 Authority Key Identifier"))
        #expect(leafText.output.contains("X509v3 Subject Key Identifier"))
        let crlText = try await Self.openssl(["crl", "-noout", "-text", "-in", files.crl])
        #expect(crlText.output.contains("X509v3 CRL Number"), "\(crlText.output)")
        #expect(crlText.output.contains("X509v3 Authority Key Identifier"), "\(crlText.output)")

        // The encrypted key reads back with its passphrase, and is the same key.
        let encryptedPath = directory.appendingPathComponent("server.enc.key").path
        try pki.server.encryptedPrivateKeyPEM(passphrase: "s3cret pass").write(
            toFile: encryptedPath, atomically: true, encoding: .utf8)
        let decrypted = try await Self.openssl(["pkey", "-in", encryptedPath, "-passin", "pass:s3cret pass"])
        #expect(decrypted.status == 0, "\(decrypted.output)")
        #expect(decrypted.output == pki.server.privateKeyPEM)
        let wrongPass = try await Self.openssl(["pkey", "-in", encryptedPath, "-passin", "pass:wrong"])
        #expect(wrongPass.status != 0)

        // spkiSHA256 matches openssl's digest of the DER SubjectPublicKeyInfo.
        let spkiPath = directory.appendingPathComponent("server.spki.der").path
        let pub = try await Self.openssl(["x509", "-in", files.certificate("server"), "-noout", "-pubkey"])
        let pubPath = directory.appendingPathComponent("server.pub.pem").path
        try pub.output.write(toFile: pubPath, atomically: true, encoding: .utf8)
        _ = try await Self.openssl(["pkey", "-pubin", "-in", pubPath, "-outform", "DER", "-out", spkiPath])
        let spki = try [UInt8](Data(contentsOf: URL(fileURLWithPath: spkiPath)))
        let digest = try await Self.openssl(["dgst", "-sha256", "-r", spkiPath])
        let hex = pki.server.spkiSHA256().map { String(format: "%02x", $0) }.joined()
        #expect(!spki.isEmpty)
        #expect(digest.output.hasPrefix(hex), "\(digest.output) vs \(hex)")
    }
}
