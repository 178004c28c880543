import Foundation
import NIOCore
import NIOEmbedded
import SaMDCrypto
import SaMDOpenSSLSupport
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Synchronization
import Testing

/// Key pairs generated in SoftHSM2 tokens, shared by this process's token-key tests.
///
/// OpenSSL's `pkcs11` engine binds to one module per process and SoftHSM2 sees only the tokens that exist when the
/// module is initialised: so every token these tests use is made first, and the module is a private copy of
/// `libsofthsm2.so` (its own instance, initialised at the first key load here, whatever other suites of the process
/// did with the installed one). The copy, the certificates and the process's token directory are removed at exit.
final class TokenKeyFixture: Sendable {
    static let shared = Task { try await TokenKeyFixture() }

    /// Keys `server`, `client`, `other` (P-256) and `rsa-server` (RSA 2048).
    let token: SoftHSMToken
    /// Key `probe` (P-256): only the wrong-PIN test logs in to it.
    let pinToken: SoftHSMToken
    let directory: URL
    let modulePath: String
    let serverChain: String
    let clientChain: String
    let otherChain: String
    let rsaServerChain: String
    /// Key `generated` (P-256), made by SaMDKit itself (`PKCS11Token.generateECKeyPair`): its SubjectPublicKeyInfo
    /// as the token returned it, and its chain issued by SaMDDevPKI for that SPKI (`issueLeaf(forPublicKey:…)`).
    let generatedSPKI: [UInt8]
    let generatedChain: String

    private init() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-token-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        Self.removeAtExit(directory.path)
        self.directory = directory
        // SoftHSMToken keeps the process-wide token directory for the life of the process; removed at exit here.
        Self.removeAtExit(SoftHSMToken.processConfigurationDirectory.path)
        self.token = try await SoftHSMToken.inProcess(label: "tls")
        self.pinToken = try await SoftHSMToken.inProcess(label: "pin")
        try await self.token.generateKeyPair(label: "server", id: "01")
        try await self.token.generateKeyPair(label: "client", id: "02")
        try await self.token.generateKeyPair(label: "other", id: "03")
        try await self.token.generateKeyPair(label: "rsa-server", type: "RSA:2048", id: "04")
        try await self.pinToken.generateKeyPair(label: "probe", id: "01")
        // Through the installed module (this process's instance, which made the tokens); the engine's copy is
        // initialised later and reads the pair from the token's directory.
        let maker = try PKCS11Token(
            module: try PKCS11Module.load(path: SoftHSMToken.modulePath), label: self.token.label,
            pin: try SecureBytes(copying: Array(SoftHSMToken.testPIN.utf8)))
        self.generatedSPKI = try maker.generateECKeyPair(label: "generated", id: [0x05]).subjectPublicKeyInfo
        self.modulePath = directory.appendingPathComponent("libsofthsm2-copy.so").path
        // The file itself, not the installed symbolic link (a relative one, which would dangle here).
        let installed = URL(fileURLWithPath: SoftHSMToken.modulePath).resolvingSymlinksInPath().path
        try FileManager.default.copyItem(atPath: installed, toPath: self.modulePath)
        let ca = Fixtures.pki.intermediate
        let serverSANs = "DNS:gateway.test,DNS:localhost,IP:127.0.0.1"
        self.serverChain = try await self.token.issueCertificate(
            forKey: "server", by: ca, commonName: "gateway.test", subjectAltNames: serverSANs, in: directory)
        self.clientChain = try await self.token.issueCertificate(
            forKey: "client", by: ca, commonName: "device-token", subjectAltNames: "URI:\(TestPKI.deviceURI)",
            serverAuth: false, clientAuth: true, in: directory)
        self.otherChain = try await self.token.issueCertificate(
            forKey: "other", by: ca, commonName: "gateway.test", subjectAltNames: serverSANs, in: directory)
        self.generatedChain = try SoftHSMToken.issueCertificate(
            forPublicKey: self.generatedSPKI, by: ca, commonName: "gateway.test",
            sans: [.dns("gateway.test"), .dns("localhost"), .ip("127.0.0.1")], in: directory)
        self.rsaServerChain = try await self.token.issueCertificate(
            forKey: "rsa-server", by: ca, commonName: "gateway.test", subjectAltNames: serverSANs, in: directory)
    }

    private static func removeAtExit(_ path: String) {
        pathsToRemove.withLock { $0.append(path) }
        _ = registerAtExit
    }

    func uri(_ object: String, token: SoftHSMToken? = nil) throws -> PKCS11URI {
        try PKCS11URI(
            parsing:
                "pkcs11:token=\((token ?? self.token).label);object=\(object);type=private?module-path=\(self.modulePath)"
        )
    }

    func key(_ object: String, token: SoftHSMToken? = nil, pin: String = SoftHSMToken.testPIN) throws -> TLSTokenKey {
        TLSTokenKey(uri: try self.uri(object, token: token), pin: .value(try SecureBytes(copying: Array(pin.utf8))))
    }
}

private let pathsToRemove = Mutex<[String]>([])
private let registerAtExit: Void = {
    atexit {
        for path in pathsToRemove.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
    }
}()

// Every test bounded: a module that hangs in C_Login or C_Sign must not hang the run.
@Suite("TLS private keys in a PKCS #11 token (SoftHSM2, pkcs11 engine)", .timeLimit(.minutes(2)))
struct TokenKeyTests {
    private func code(_ body: () throws -> Void) -> TLSError.Code? {
        do {
            try body()
            return nil
        } catch let error as TLSError {
            #expect(!"\(error)".contains(SoftHSMToken.testPIN), "the PIN appears in \(error)")
            return error.code
        } catch {
            Issue.record("not a TLSError: \(error)")
            return nil
        }
    }

    private func handshake(client: TLSConfiguration, server: TLSConfiguration) throws -> (
        client: TLSConnectionInfo, server: TLSConnectionInfo, pair: EmbeddedPair
    ) {
        let pair = try EmbeddedPair(client: Fixtures.context(client), server: Fixtures.context(server))
        try pair.connect()
        let clientInfo = try pair.clientHandler.handshakeFuture.wait()
        let serverInfo = try pair.serverHandler.handshakeFuture.wait()
        let upstream = Fixtures.randomBytes(5_000)
        try pair.client.writeAndFlush(ByteBuffer(bytes: upstream)).wait()
        try pair.server.writeAndFlush(ByteBuffer(bytes: Array("ack".utf8))).wait()
        try pair.run()
        #expect(pair.serverInbound.bytes == upstream)
        #expect(pair.clientInbound.bytes == Array("ack".utf8))
        return (clientInfo, serverInfo, pair)
    }

    @Test("TLS 1.3 with the server's P-256 key in the token: the client sees the token key's certificate")
    func serverKeyInToken() async throws {
        let fixture = try await TokenKeyFixture.shared.value
        let server = TLSConfiguration.server(
            identity: .token(certificateChain: fixture.serverChain, privateKey: try fixture.key("server")))
        let serverContext = try Fixtures.context(server)
        let result = try self.handshake(client: Fixtures.clientConfiguration(), server: server)
        #expect(result.client.protocolVersion == "TLSv1.3")
        #expect(result.client.peer?.spkiSHA256 == serverContext.certificate?.spkiSHA256)
        #expect(result.client.peer?.subject.contains("CN=gateway.test") == true)
    }

    @Test("TLS 1.3 with a P-256 key SaMDKit generated in the token, certified by SaMDDevPKI for the token's SPKI")
    func serverKeyGeneratedBySaMDKit() async throws {
        let fixture = try await TokenKeyFixture.shared.value
        let server = TLSConfiguration.server(
            identity: .token(certificateChain: fixture.generatedChain, privateKey: try fixture.key("generated")))
        let result = try self.handshake(client: Fixtures.clientConfiguration(), server: server)
        #expect(result.client.protocolVersion == "TLSv1.3")
        // The certificate the client saw carries the key the token generated, which signed the handshake.
        #expect(result.client.peer?.spkiSHA256 == (try DigestAlgorithm.sha256.hash(fixture.generatedSPKI)))
        #expect(result.client.peer?.subject.contains("CN=gateway.test") == true)
    }

    @Test("mutual TLS 1.3 with both private keys in the token")
    func mutualTLSBothKeysInToken() async throws {
        let fixture = try await TokenKeyFixture.shared.value
        let server = TLSConfiguration.gatewayServer(
            identity: .token(certificateChain: fixture.serverChain, privateKey: try fixture.key("server")),
            clientTrustRoots: Fixtures.roots, peerPolicy: TLSPeerPolicy())
        let client = TLSConfiguration.deviceClient(
            identity: .token(certificateChain: fixture.clientChain, privateKey: try fixture.key("client")),
            trustRoots: Fixtures.roots, peerPolicy: TLSPeerPolicy())
        let result = try self.handshake(client: client, server: server)
        #expect(result.server.protocolVersion == "TLSv1.3")
        #expect(result.server.peer?.uris == [TestPKI.deviceURI])
        #expect(result.client.peer?.dnsNames.contains("gateway.test") == true)
    }

    @Test("TLS.md's snippet: the PIN from SAMD_PKCS11_PIN, the chain from a file")
    func docSnippet() async throws {
        let fixture = try await TokenKeyFixture.shared.value
        setenv(PKCS11PIN.environmentVariable, SoftHSMToken.testPIN, 1)
        defer { unsetenv(PKCS11PIN.environmentVariable) }
        let key = TLSTokenKey(
            uri: try PKCS11URI(
                parsing:
                    "pkcs11:token=\(fixture.token.label);object=server;type=private?module-path=\(fixture.modulePath)"),
            pin: .environment())
        let identity = TLSIdentitySource.token(certificateChain: fixture.serverChain, privateKey: key)
        let context = try TLSContext(configuration: .server(identity: identity))
        #expect(context.certificate?.dnsNames.contains("gateway.test") == true)
    }

    @Test("an RSA 2048 server key in the token")
    func rsaServerKey() async throws {
        let fixture = try await TokenKeyFixture.shared.value
        let server = TLSConfiguration.server(
            identity: .token(certificateChain: fixture.rsaServerChain, privateKey: try fixture.key("rsa-server")))
        let result = try self.handshake(client: Fixtures.clientConfiguration(), server: server)
        #expect(result.client.protocolVersion == "TLSv1.3")
    }

    @Test("a reload loads the key from the token again")
    func reload() async throws {
        let fixture = try await TokenKeyFixture.shared.value
        let context = try Fixtures.context(
            .server(identity: .token(certificateChain: fixture.serverChain, privateKey: try fixture.key("server"))))
        let before = context.certificate?.spkiSHA256
        try context.reload()
        #expect(context.certificate?.spkiSHA256 == before)
        let pair = try EmbeddedPair(client: Fixtures.context(Fixtures.clientConfiguration()), server: context)
        try pair.connect()
        #expect(try pair.clientHandler.handshakeFuture.wait().peer?.spkiSHA256 == before)
    }

    @Test("a wrong PIN is its own error, and the PIN is in no message; the right one then works")
    func wrongPIN() async throws {
        let fixture = try await TokenKeyFixture.shared.value
        let chain = try await fixture.pinToken.issueCertificate(
            forKey: "probe", by: Fixtures.pki.intermediate, commonName: "gateway.test",
            subjectAltNames: "DNS:gateway.test",
            in: fixture.directory)
        let wrong = "wrong-PIN-9876"
        do {
            _ = try Fixtures.context(
                .server(
                    identity: .token(
                        certificateChain: chain,
                        privateKey: try fixture.key("probe", token: fixture.pinToken, pin: wrong))))
            Issue.record("a wrong PIN was accepted")
        } catch let error as TLSError {
            #expect(error.code == .pkcs11PINIncorrect)
            #expect(!"\(error)".contains(wrong))
        }
        _ = try Fixtures.context(
            .server(
                identity: .token(certificateChain: chain, privateKey: try fixture.key("probe", token: fixture.pinToken))
            ))
    }

    @Test("a certificate for another key is refused")
    func keyCertificateMismatch() async throws {
        let fixture = try await TokenKeyFixture.shared.value
        #expect(
            self.code {
                _ = try Fixtures.context(
                    .server(
                        identity: .token(certificateChain: fixture.otherChain, privateKey: try fixture.key("server"))))
            } == .pkcs11KeyMismatch)
    }

    @Test("absent token, missing key, missing module, no PIN and unusable URIs have their own codes")
    func typedErrors() async throws {
        let fixture = try await TokenKeyFixture.shared.value
        func build(_ uri: String, pin: PKCS11PIN.Source? = nil) throws {
            let source = try pin ?? .value(SecureBytes(copying: Array(SoftHSMToken.testPIN.utf8)))
            let key = TLSTokenKey(uri: try PKCS11URI(parsing: uri), pin: source)
            _ = try Fixtures.context(.server(identity: .token(certificateChain: fixture.serverChain, privateKey: key)))
        }
        let module = "module-path=\(fixture.modulePath)"
        try build("pkcs11:token=\(fixture.token.label);object=server?\(module)")
        // The engine is now bound to the fixture's module: another module path is refused, not silently ignored.
        #expect(
            self.code {
                try build("pkcs11:token=\(fixture.token.label);object=server?module-path=\(SoftHSMToken.modulePath)")
            }
                == .invalidConfiguration)
        #expect(self.code { try build("pkcs11:token=absent;object=server?\(module)") } == .pkcs11TokenAbsent)
        #expect(
            self.code { try build("pkcs11:token=\(fixture.token.label);object=absent?\(module)") } == .pkcs11KeyNotFound
        )
        #expect(
            self.code { try build("pkcs11:token=tls;object=server?module-path=/nonexistent/libpkcs11.so") }
                == .pkcs11ModuleUnavailable)
        #expect(
            self.code {
                try build(
                    "pkcs11:token=\(fixture.token.label);object=server?\(module)",
                    pin: .environment("SAMD_PKCS11_PIN_UNSET_\(UUID().uuidString.prefix(8))"))
            } == .pkcs11PINUnavailable)
        #expect(self.code { try build("pkcs11:token=tls;object=server") } == .invalidConfiguration)
        #expect(self.code { try build("pkcs11:token=tls;object=server;slot-id=1?\(module)") } == .invalidConfiguration)
        #expect(self.code { try build("pkcs11:token=tls;object=server;x-v=1?\(module)") } == .invalidConfiguration)
        #expect(self.code { try build("pkcs11:token=tls;object=server;type=cert?\(module)") } == .invalidConfiguration)
        #expect(self.code { try build("pkcs11:token=tls?\(module)") } == .invalidConfiguration)
    }
}
