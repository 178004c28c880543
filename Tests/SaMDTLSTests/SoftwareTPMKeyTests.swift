// A device's TLS private key held in a software TPM (swtpm) and used through the same `pkcs11:` path as an HSM's:
// tpm2-pkcs11 as the PKCS#11 module, OpenSSL 3.0's `pkcs11` engine (libp11) in `openssl s_client`, against
// `openssl s_server` requiring a client certificate. Real tools only; the device is first `openssl s_client`, then
// SaMDKit itself (`samd-tls connect --key pkcs11:…?module-path=<tpm2-pkcs11>`, SaMDTLS's engine route).
//
// The key is loaded with `-key org.openssl.engine:pkcs11:<URI>` and no `-engine` option or engine section in an
// OpenSSL configuration: both register the engine for RSA and EC (`-engine` through ENGINE_set_default,
// a configuration through ENGINE_register_all_complete), and then tpm2-tss's own `EVP_PKEY_fromdata` in the
// same process fails ("operation not supported for this keytype"), so tpm2-pkcs11 cannot start the salted
// session that unseals the token's wrapping key and login fails (tpm2-software/tpm2-tss#3151).

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("Device key in a software TPM through pkcs11:")
struct SoftwareTPMKeyTests {
    /// The device certificate's SAN.
    static let deviceURI = "urn:samd:device:tpm-0001"

    /// TLS 1.3 mutual authentication where the client's (device's) private key never leaves the TPM: the
    /// server requires and verifies the client certificate, and the certificate it saw is the one issued for
    /// the TPM's public key.
    @Test func deviceKeyInTPMAuthenticatesTheClient() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let tpm = try await SoftwareTPMToken.create()
        defer { tpm.remove() }
        let pki = try PKIDirectory()

        // Generated in the TPM: never extractable, local (PKCS#11 v2.40 §4.9 CKA_NEVER_EXTRACTABLE, §4.7 CKA_LOCAL).
        let objects = try await tpm.pkcs11Tool(["--list-objects", "--type", "privkey"])
        #expect(objects.status == 0, "\(objects)")
        #expect(objects.output.contains("never extractable"), "\(objects.output)")
        #expect(objects.output.contains("local"), "\(objects.output)")

        let device = try await Self.issueDeviceCertificate(for: tpm, pki: pki, openssl: openssl)
        let server = try await OpenSSLServer.start(
            openssl,
            [
                "-naccept", "1", "-tls1_3", "-cert", pki.cert("server"), "-cert_chain", pki.cert("server"), "-key",
                pki.key("server"), "-CAfile", pki.root, "-Verify", "4", "-verify_return_error", "-www",
            ])
        defer { server.child.kill() }

        let client = try await Self.connect(
            to: server.port, certificate: device, pki: pki, tpm: tpm, pinFile: try tpm.writePINFile(),
            openssl: openssl)
        #expect(client.status == 0, "\(client)\n\(tpm.diagnostics)")
        let output = client.output
        #expect(output.contains("Verify return code: 0 (ok)"), "\(output)")
        #expect(output.contains("Protocol  : TLSv1.3") || output.contains("New, TLSv1.3"), "\(output)")
        // s_server -www answers with what it saw: the client's certificate and the signature it verified.
        #expect(output.contains("Client certificate"), "\(output)")
        let leaf = try String(contentsOfFile: device, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(output.contains(leaf), "the server did not see the TPM key's certificate: \(output)")
        #expect(output.contains("Peer signature type: ECDSA"), "\(output)")

        #expect(await server.child.waitForExit(timeout: .seconds(15)) == 0, "\(server.child.standardError.text)")
        let verified = server.child.standardOutput.text + server.child.standardError.text
        #expect(verified.contains("depth=0 CN = device-tpm-0001"), "\(verified)")
    }

    /// The device is SaMDKit: `samd-tls connect` with `--key pkcs11:…;object=device-key;type=private?module-path=`
    /// the tpm2-pkcs11 module and the PIN from a 0600 `--pin-file`, against `openssl s_server` requiring a client
    /// certificate. SaMDTLS binds libp11's engine to the module with its `MODULE_PATH` control command and hands it
    /// the URI without its query (libp11 0.4.12 refuses `module-path`), and never registers the engine as a default
    /// for RSA or EC, so tpm2-tss's own OpenSSL calls in the same process keep working (tpm2-software/tpm2-tss#3151).
    @Test func samdTLSConnectWithTheDeviceKeyInTPM() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let samdTLS = try ProgramLocations.binary("samd-tls")
        let tpm = try await SoftwareTPMToken.create()
        defer { tpm.remove() }
        let pki = try PKIDirectory()
        let device = try await Self.issueDeviceCertificate(for: tpm, pki: pki, openssl: openssl)
        let leaf = try String(contentsOfFile: device, encoding: .utf8)
        let chain = try pki.write(
            "device-tpm-chain.pem", leaf + (try String(contentsOfFile: pki.cert("intermediate"), encoding: .utf8)))
        let server = try await OpenSSLServer.start(
            openssl,
            [
                "-naccept", "1", "-tls1_3", "-cert", pki.cert("server"), "-cert_chain", pki.cert("server"), "-key",
                pki.key("server"), "-CAfile", pki.root, "-Verify", "4", "-verify_return_error", "-www",
            ])
        defer { server.child.kill() }

        let client = try await ChildProcess.run(
            samdTLS,
            [
                "connect", "127.0.0.1:\(server.port)", "--ca", pki.root, "--cert", chain, "--key", tpm.privateKeyURI,
                "--pin-file", try tpm.writePINFile(),
            ], environment: tpm.environment, stdin: Data("GET / HTTP/1.0\r\n\r\n".utf8), timeout: .seconds(60))
        #expect(client.status == 0, "\(client)\n\(server.child.standardError.text)\n\(tpm.diagnostics)")
        #expect(client.standardError.contains("(TLSv1.3"), "\(client)")
        // s_server -www answers with the client certificate it received and verified: the TPM key's.
        #expect(client.output.contains("Client certificate"), "\(client.output)")
        #expect(
            client.output.contains(leaf.trimmingCharacters(in: .whitespacesAndNewlines)),
            "the server did not see the TPM key's certificate: \(client.output)")
        #expect(
            !client.output.contains(SoftwareTPMToken.testPIN)
                && !client.standardError.contains(SoftwareTPMToken.testPIN))

        #expect(await server.child.waitForExit(timeout: .seconds(15)) == 0, "\(server.child.standardError.text)")
        let verified = server.child.standardOutput.text + server.child.standardError.text
        #expect(verified.contains("depth=0 CN = device-tpm-0001"), "\(verified)")
    }

    /// `samd-tls connect` with a wrong PIN for the TPM token: tpm2-pkcs11 answers `C_Login` with CKR_PIN_INCORRECT,
    /// the program exits 69 naming `pkcs11PINIncorrect` before connecting, and prints no PIN.
    @Test func samdTLSConnectWithAWrongTPMPINIs69() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let samdTLS = try ProgramLocations.binary("samd-tls")
        let tpm = try await SoftwareTPMToken.create()
        defer { tpm.remove() }
        let pki = try PKIDirectory()
        let device = try await Self.issueDeviceCertificate(for: tpm, pki: pki, openssl: openssl)
        let wrong = "not-\(SoftwareTPMToken.testPIN)"
        let wrongPIN = try pki.write("wrong.pin", wrong)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: wrongPIN)
        let client = try await ChildProcess.run(
            samdTLS,
            [
                "connect", "127.0.0.1:1", "--ca", pki.root, "--cert", device, "--key", tpm.privateKeyURI, "--pin-file",
                wrongPIN,
            ], environment: tpm.environment, timeout: .seconds(60))
        #expect(client.status == 69, "\(client)\n\(tpm.diagnostics)")
        #expect(client.standardError.contains("pkcs11PINIncorrect"), "\(client)")
        #expect(!client.standardError.contains(wrong) && client.output.isEmpty, "\(client)")
    }

    /// Several device connections in a row, each a new process that logs in to the token: without a TPM resource
    /// manager the second fails (tpm2-pkcs11 leaves transient objects loaded; `TPM_RC_OBJECT_MEMORY`, checked by
    /// running this test on a token without tpm2-abrmd).
    @Test func successiveDeviceConnections() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let tpm = try await SoftwareTPMToken.create()
        defer { tpm.remove() }
        let pki = try PKIDirectory()
        let device = try await Self.issueDeviceCertificate(for: tpm, pki: pki, openssl: openssl)
        let pinFile = try tpm.writePINFile()
        let connections = 4
        let server = try await OpenSSLServer.start(
            openssl,
            [
                "-naccept", "\(connections)", "-tls1_3", "-cert", pki.cert("server"), "-cert_chain", pki.cert("server"),
                "-key", pki.key("server"), "-CAfile", pki.root, "-Verify", "4", "-verify_return_error", "-www",
            ])
        defer { server.child.kill() }
        for index in 1...connections {
            let client = try await Self.connect(
                to: server.port, certificate: device, pki: pki, tpm: tpm, pinFile: pinFile, openssl: openssl)
            #expect(client.status == 0, "connection \(index): \(client)\n\(tpm.diagnostics)")
            #expect(client.output.contains("Client certificate"), "connection \(index): \(client.output)")
        }
        #expect(await server.child.waitForExit(timeout: .seconds(15)) == 0, "\(server.child.standardError.text)")
    }

    /// The reverse: the server's private key in the TPM (a gateway's key in an HSM is the same path), the client
    /// verifying the server's certificate and its ECDSA CertificateVerify.
    @Test func serverKeyInTPM() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let tpm = try await SoftwareTPMToken.create()
        defer { tpm.remove() }
        let pki = try PKIDirectory()
        let certificate = try await Self.issueCertificate(
            for: tpm, pki: pki, openssl: openssl, name: "gateway-tpm", commonName: "gateway-tpm",
            extendedKeyUsage: "serverAuth", subjectAltName: "IP:127.0.0.1")
        let server = try await OpenSSLServer.start(
            openssl,
            [
                "-naccept", "1", "-tls1_3", "-cert", certificate, "-cert_chain", pki.cert("intermediate"), "-key",
                "org.openssl.engine:pkcs11:\(tpm.engineKeyURI)", "-pass", "file:\(try tpm.writePINFile())", "-CAfile",
                pki.root, "-Verify", "4", "-verify_return_error", "-www",
            ], environment: tpm.engineEnvironment)
        defer { server.child.kill() }

        let client = try await ChildProcess.run(
            openssl,
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_3", "-CAfile", pki.root,
                "-verify_return_error", "-verify_ip", "127.0.0.1", "-cert", pki.cert("device"), "-cert_chain",
                pki.cert("device"), "-key", pki.key("device"), "-ign_eof",
            ], stdin: Data("GET / HTTP/1.0\r\n\r\n".utf8), timeout: .seconds(60))
        #expect(client.status == 0, "\(client)\n\(server.child.standardError.text)\n\(tpm.diagnostics)")
        #expect(client.output.contains("Verify return code: 0 (ok)"), "\(client.output)")
        #expect(client.output.contains("subject=CN = gateway-tpm"), "\(client.output)")
        #expect(client.output.contains("Peer signature type: ECDSA"), "\(client.output)")
        #expect(client.output.contains("Client certificate"), "\(client.output)")
        #expect(await server.child.waitForExit(timeout: .seconds(15)) == 0, "\(server.child.standardError.text)")
    }

    /// A wrong user PIN loads no key: `C_Login` returns CKR_PIN_INCORRECT, the client stops before connecting.
    @Test func wrongPINLoadsNoKey() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let tpm = try await SoftwareTPMToken.create()
        defer { tpm.remove() }
        let pki = try PKIDirectory()
        let device = try await Self.issueDeviceCertificate(for: tpm, pki: pki, openssl: openssl)
        let wrongPIN = try pki.write("wrong.pin", "not-\(SoftwareTPMToken.testPIN)")
        let server = try await OpenSSLServer.start(
            openssl,
            [
                "-naccept", "1", "-tls1_3", "-cert", pki.cert("server"), "-cert_chain", pki.cert("server"), "-key",
                pki.key("server"), "-CAfile", pki.root, "-Verify", "4", "-verify_return_error", "-www",
            ])
        defer { server.child.kill() }

        let client = try await Self.connect(
            to: server.port, certificate: device, pki: pki, tpm: tpm, pinFile: wrongPIN, openssl: openssl)
        #expect(client.status != nil && client.status != 0, "\(client)")
        #expect(client.standardError.contains("PIN incorrect"), "\(client.standardError)")
        #expect(!client.output.contains("Client certificate"), "\(client.output)")
    }

    /// Issues a device certificate (SAN URI, EKU clientAuth, keyUsage digitalSignature) for the TPM's public
    /// key with the test PKI's intermediate CA; returns its path.
    static func issueDeviceCertificate(for tpm: SoftwareTPMToken, pki: PKIDirectory, openssl: URL) async throws
        -> String
    {
        try await self.issueCertificate(
            for: tpm, pki: pki, openssl: openssl, name: "device-tpm", commonName: "device-tpm-0001",
            extendedKeyUsage: "clientAuth", subjectAltName: "URI:\(Self.deviceURI)")
    }

    /// Issues a certificate for the TPM's public key with the test PKI's intermediate CA, `openssl x509 -new
    /// -force_pubkey` (the CA never sees a private key); returns the path of `<name>.pem`.
    static func issueCertificate(
        for tpm: SoftwareTPMToken, pki: PKIDirectory, openssl: URL, name: String, commonName: String,
        extendedKeyUsage: String, subjectAltName: String
    ) async throws -> String {
        let publicKey = try await tpm.writePublicKeyPEM()
        let extensions = try pki.write(
            "\(name).ext",
            """
            basicConstraints = critical, CA:FALSE
            keyUsage = critical, digitalSignature
            extendedKeyUsage = \(extendedKeyUsage)
            subjectAltName = \(subjectAltName)

            """)
        let path = pki.directory.appendingPathComponent("\(name).pem").path
        let issue = try await ChildProcess.run(
            openssl,
            [
                "x509", "-new", "-subj", "/CN=\(commonName)", "-force_pubkey", publicKey, "-CA",
                pki.cert("intermediate"), "-CAkey", pki.key("intermediate"), "-days", "1", "-extfile", extensions,
                "-out", path,
            ], timeout: .seconds(30))
        guard issue.status == 0 else { throw SetupFailure("openssl x509 -new -force_pubkey failed: \(issue)") }
        return path
    }

    /// `openssl s_client` with the device certificate and the TPM's private key through the `pkcs11` engine
    /// (the PIN from `pinFile`), sending one HTTP request to s_server's `-www` page.
    static func connect(
        to port: Int, certificate: String, pki: PKIDirectory, tpm: SoftwareTPMToken, pinFile: String, openssl: URL
    ) async throws -> ChildProcess.Run {
        try await ChildProcess.run(
            openssl,
            [
                "s_client", "-connect", "127.0.0.1:\(port)", "-tls1_3", "-CAfile", pki.root, "-verify_return_error",
                "-verify_ip", "127.0.0.1", "-cert", certificate, "-cert_chain", pki.cert("intermediate"), "-key",
                "org.openssl.engine:pkcs11:\(tpm.engineKeyURI)", "-pass", "file:\(pinFile)", "-ign_eof",
            ], environment: tpm.engineEnvironment, stdin: Data("GET / HTTP/1.0\r\n\r\n".utf8), timeout: .seconds(60))
    }
}
