// `--key pkcs11:…`: samd-tls with private keys generated in a SoftHSM2 token (its own SOFTHSM2_CONF directory,
// removed after each test), the PIN from --pin-file or SAMD_PKCS11_PIN; openssl s_client as the independent peer.

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("samd-tls with private keys in a PKCS #11 token")
struct SamdTLSTokenKeyTests {
    /// A token holding key pairs `server` and `client`, certificates for both from the PKI's intermediate CA, and a
    /// 0600 PIN file.
    struct TokenPKI {
        let pki: PKIDirectory
        let token: SoftHSMToken
        let serverChain: String
        let clientChain: String
        let pinFile: String

        init() async throws {
            self.pki = try PKIDirectory()
            self.token = try await SoftHSMToken.create(label: "samd-tls")
            do {
                try await self.token.generateKeyPair(label: "server", id: "01")
                try await self.token.generateKeyPair(label: "client", id: "02")
                self.serverChain = try await self.token.issueCertificate(
                    forKey: "server", by: self.pki.pki.intermediate, commonName: "gateway.test",
                    subjectAltNames: "DNS:gateway.test,DNS:localhost,IP:127.0.0.1", in: self.pki.directory)
                self.clientChain = try await self.token.issueCertificate(
                    forKey: "client", by: self.pki.pki.intermediate, commonName: "device-token",
                    subjectAltNames: "URI:\(TestPKI.deviceURI)", serverAuth: false, clientAuth: true,
                    in: self.pki.directory)
                self.pinFile = try SamdTLSTokenKeyTests.pinFile(self.pki, SoftHSMToken.testPIN)
            } catch {
                self.token.remove()
                throw error
            }
        }

        func uri(_ object: String, extra: String = "") -> String {
            self.token.uri(object: object, type: "private") + extra
        }

        var environment: [String: String] { self.token.environment }
    }

    static func pinFile(_ pki: PKIDirectory, _ pin: String) throws -> String {
        let file = try pki.write("pin-\(UUID().uuidString)", pin + "\n")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        return file
    }

    @Test("serve and connect with both keys in the token: mutual TLS, data echoed")
    func mutualTLSBothKeysInToken() async throws {
        let setup = try await TokenPKI()
        defer { setup.token.remove() }
        let server = try await ServeProcess(
            [
                "--cert", setup.serverChain, "--key", setup.uri("server"), "--pin-file", setup.pinFile,
                "--client-ca", setup.pki.root,
            ],
            environment: setup.environment)
        defer { server.stop() }
        let result = try await samdTLS(
            [
                "connect", server.endpoint, "--ca", setup.pki.root, "--server-name", "gateway.test", "--cert",
                setup.clientChain, "--key", setup.uri("client"),
            ],
            stdin: Data("vital signs from a token-held key\n".utf8),
            environment: setup.environment.merging(["SAMD_PKCS11_PIN": SoftHSMToken.testPIN]) { $1 })
        #expect(result.status == 0, "\(result)")
        #expect(result.output == "vital signs from a token-held key\n", "\(result)")
        #expect(await server.waitForLog(TestPKI.deviceURI), "\(server.log)")
        #expect(!server.log.contains(SoftHSMToken.testPIN) && !result.standardError.contains(SoftHSMToken.testPIN))
    }

    @Test("openssl s_client completes a handshake with the token-held server key and sees its certificate")
    func opensslClientAgainstTokenServerKey() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let setup = try await TokenPKI()
        defer { setup.token.remove() }
        let server = try await ServeProcess(
            ["--cert", setup.serverChain, "--key", setup.uri("server"), "--pin-file", setup.pinFile],
            environment: setup.environment)
        defer { server.stop() }
        let client = try await ChildProcess.run(
            openssl,
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", setup.pki.root, "-verify_return_error",
                "-servername", "gateway.test", "-verify_hostname", "gateway.test", "-tls1_3",
            ],
            stdin: Data("hello\n".utf8), timeout: .seconds(15))
        #expect(client.status == 0, "\(client)")
        #expect(client.output.contains("Verify return code: 0 (ok)"), "\(client.output)")
        #expect(client.output.contains("New, TLSv1.3, Cipher is"), "\(client.output)")
        // The served leaf is the certificate issued for the token's public key.
        let chain = try String(contentsOfFile: setup.serverChain, encoding: .utf8)
        let leaf = chain.components(separatedBy: "-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----"
        #expect(client.output.contains(leaf.trimmingCharacters(in: .whitespacesAndNewlines)), "\(client.output)")
    }

    @Test("SIGHUP reloads: a renewed certificate is served with the key loaded again from the token")
    func sighupReloadsWithTheTokenKey() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let setup = try await TokenPKI()
        defer { setup.token.remove() }
        let served = setup.pki.directory.appendingPathComponent("served-chain.pem").path
        try FileManager.default.copyItem(atPath: setup.serverChain, toPath: served)
        let server = try await ServeProcess(
            [
                "--cert", served, "--key", setup.uri("server"), "--pin-file", setup.pinFile,
                "--identity-reload-interval", "0",
            ],
            environment: setup.environment)
        defer { server.stop() }
        let renewed = try await setup.token.issueCertificate(
            forKey: "server", by: setup.pki.pki.intermediate, commonName: "gateway.test",
            subjectAltNames: "DNS:gateway.test,DNS:localhost,IP:127.0.0.1", in: setup.pki.directory)
        #expect(rename(renewed, served) == 0) // atomic, as a deployment replaces a certificate
        server.child.signal(SIGHUP)
        #expect(await server.waitForLog("SIGHUP: identity reloaded"), "\(server.log)")
        let client = try await ChildProcess.run(
            openssl,
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", setup.pki.root, "-verify_return_error",
                "-servername", "gateway.test",
            ],
            stdin: Data("hello\n".utf8), timeout: .seconds(15))
        #expect(client.status == 0, "\(client)")
        let leaf =
            try String(contentsOfFile: served, encoding: .utf8)
            .components(separatedBy: "-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----"
        #expect(client.output.contains(leaf.trimmingCharacters(in: .whitespacesAndNewlines)), "\(client.output)")
    }

    @Test("a PIN in the URI (pin-value) or on the command line (--pin) is refused with 64, the PIN unprinted")
    func pinOnTheCommandLineIs64() async throws {
        let setup = try await TokenPKI()
        defer { setup.token.remove() }
        let secret = "4711-on-the-command-line"
        let cases: [[String]] = [
            [
                "serve", "--listen", "127.0.0.1:0", "--cert", setup.serverChain, "--key",
                setup.uri("server", extra: "&pin-value=\(secret)"),
            ],
            [
                "serve", "--listen", "127.0.0.1:0", "--cert", setup.serverChain, "--key", setup.uri("server"), "--pin",
                secret,
            ],
            [
                "connect", "127.0.0.1:1", "--ca", setup.pki.root, "--cert", setup.clientChain, "--key",
                setup.uri("client", extra: "&pin-value=\(secret)"),
            ],
            [
                "connect", "127.0.0.1:1", "--ca", setup.pki.root, "--cert", setup.clientChain, "--key",
                setup.uri("client"), "--pin", secret,
            ],
        ]
        for arguments in cases {
            let run = try await samdTLS(arguments, environment: setup.environment)
            #expect(run.status == 64, "\(arguments[0]): \(run)")
            #expect(!run.standardError.contains(secret) && !run.output.contains(secret), "\(run)")
        }
    }

    @Test("a wrong PIN or an absent token is 69 with a clear message, before listening")
    func wrongPINOrAbsentTokenIs69() async throws {
        let setup = try await TokenPKI()
        defer { setup.token.remove() }
        let wrong = "9999-wrong-pin"
        let wrongFile = try Self.pinFile(setup.pki, wrong)
        let refused = try await samdTLS(
            [
                "serve", "--listen", "127.0.0.1:0", "--cert", setup.serverChain, "--key", setup.uri("server"),
                "--pin-file", wrongFile,
            ],
            environment: setup.environment)
        #expect(refused.status == 69, "\(refused)")
        #expect(refused.standardError.contains("pkcs11PINIncorrect"), "\(refused)")
        #expect(!refused.standardError.contains(wrong) && refused.output.isEmpty, "\(refused)")

        let absent = try await samdTLS(
            [
                "serve", "--listen", "127.0.0.1:0", "--cert", setup.serverChain, "--key",
                "pkcs11:token=no-such-token;object=server?module-path=\(SoftHSMToken.modulePath)", "--pin-file",
                setup.pinFile,
            ],
            environment: setup.environment)
        #expect(absent.status == 69, "\(absent)")
        #expect(absent.standardError.contains("pkcs11TokenAbsent"), "\(absent)")
        #expect(absent.output.isEmpty)

        let connect = try await samdTLS(
            [
                "connect", "127.0.0.1:1", "--ca", setup.pki.root, "--cert", setup.clientChain, "--key",
                setup.uri("client"),
            ],
            environment: setup.environment.merging(["SAMD_PKCS11_PIN": wrong]) { $1 })
        #expect(connect.status == 69, "\(connect)")
        #expect(!connect.standardError.contains(wrong))
    }

    @Test("a file that is not a PKCS #11 module, or no pkcs11 engine, is 69 with the cause named")
    func notAModuleOrNoEngineIs69() async throws {
        let setup = try await TokenPKI()
        defer { setup.token.remove() }
        let notAModule = try setup.pki.write("not-a-module.so", "not an ELF shared object\n")
        let module = try await samdTLS(
            [
                "serve", "--listen", "127.0.0.1:0", "--cert", setup.serverChain, "--key",
                "pkcs11:token=\(setup.token.label);object=server?module-path=\(notAModule)", "--pin-file",
                setup.pinFile,
            ],
            environment: setup.environment)
        #expect(module.status == 69, "\(module)")
        #expect(module.standardError.contains("pkcs11ModuleUnavailable"), "\(module)")

        // OPENSSL_ENGINES is where OpenSSL looks for engines: an empty directory has no pkcs11 engine.
        let empty = setup.pki.directory.appendingPathComponent("no-engines").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
        let engine = try await samdTLS(
            [
                "serve", "--listen", "127.0.0.1:0", "--cert", setup.serverChain, "--key", setup.uri("server"),
                "--pin-file", setup.pinFile,
            ],
            environment: setup.environment.merging(["OPENSSL_ENGINES": empty]) { $1 })
        #expect(engine.status == 69, "\(engine)")
        #expect(engine.standardError.contains("pkcs11EngineUnavailable"), "\(engine)")
        #expect(engine.standardError.contains("libengine-pkcs11-openssl"), "\(engine)")
    }

    @Test("--help says how a token key and its PIN are given (samd-tls, samd-gateway, samd-agent)")
    func helpExplainsTokenKeys() async throws {
        let programs: [(String, [String])] = [
            ("samd-tls", ["serve", "--help"]), ("samd-tls", ["connect", "--help"]),
            ("samd-gateway", ["serve", "--help"]), ("samd-agent", ["--help"]),
        ]
        for (program, arguments) in programs {
            let help = try await ChildProcess.run(try ProgramLocations.binary(program), arguments).output
            for needle in ["pkcs11:", "--pin-file", "SAMD_PKCS11_PIN", "pin-value", "69"] {
                #expect(help.contains(needle), "\(program) \(arguments) lacks \(needle): \(help)")
            }
        }
    }
}
