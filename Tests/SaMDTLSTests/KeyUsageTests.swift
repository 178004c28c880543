// The leaf's keyUsage (RFC 5280 §4.2.1.3): a TLS 1.3 peer authenticates by signing (CertificateVerify,
// RFC 8446 §4.4.2.2–4.4.3), so a leaf whose keyUsage is present without digitalSignature must be refused —
// as a peer on both sides, and as our own identity when it is loaded. OpenSSL does not check it
// (openssl/openssl#12721). Certificates are made at test time, for every key type SaMDTLS accepts.

import Foundation
import Logging
import NIOCore
@_spi(Testing) import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("Leaf key usage")
struct KeyUsageTests {
    /// One leaf shape: its key type, its keyUsage, and whether a TLS peer may present it.
    struct Shape: CustomStringConvertible, Sendable {
        let keyType: TestKeyType
        let keyUsage: DevelopmentKeyUsage
        let mayPresent: Bool

        var description: String { "\(self.keyType) keyUsage \(self.keyUsage)" }
    }

    /// The family: keyUsage present without digitalSignature for each key type (for RSA also the classic
    /// keyEncipherment-only leaf of TLS 1.2's RSA key exchange), and the accepted neighbours — digitalSignature
    /// among other bits, and no keyUsage extension at all (RFC 5280 lets an end entity leave it out).
    static let shapes: [Shape] = [
        Shape(keyType: .p256, keyUsage: .critical([.keyAgreement]), mayPresent: false),
        Shape(keyType: .p256, keyUsage: .critical([.keyAgreement, .keyEncipherment]), mayPresent: false),
        Shape(keyType: .p256, keyUsage: .critical([.nonRepudiation]), mayPresent: false),
        Shape(keyType: .p256, keyUsage: .critical([.digitalSignature, .keyAgreement]), mayPresent: true),
        Shape(keyType: .p256, keyUsage: .absent, mayPresent: true),
        Shape(keyType: .p384, keyUsage: .critical([.keyAgreement]), mayPresent: false),
        Shape(keyType: .ed25519, keyUsage: .critical([.nonRepudiation]), mayPresent: false),
        Shape(keyType: .ed25519, keyUsage: .critical([.digitalSignature]), mayPresent: true),
        Shape(keyType: .ed25519, keyUsage: .absent, mayPresent: true),
        Shape(keyType: .rsa2048, keyUsage: .critical([.keyEncipherment]), mayPresent: false),
        Shape(keyType: .rsa2048, keyUsage: .critical([.keyEncipherment, .dataEncipherment]), mayPresent: false),
        Shape(keyType: .rsa2048, keyUsage: .standard, mayPresent: true),
        Shape(keyType: .rsa2048, keyUsage: .absent, mayPresent: true),
    ]

    static func server(_ keyType: TestKeyType = .p256, _ keyUsage: DevelopmentKeyUsage) throws -> TestCertificate {
        try Fixtures.pki.intermediate.issueLeaf(
            commonName: "gateway.test", sans: TestPKI.serverSANs, ekus: [.serverAuth], keyType: keyType,
            keyUsage: keyUsage)
    }

    static func device(_ keyType: TestKeyType = .p256, _ keyUsage: DevelopmentKeyUsage) throws -> TestCertificate {
        try Fixtures.pki.intermediate.issueLeaf(
            commonName: "device-0009", sans: [.uri("urn:samd:device:0009")], ekus: [.clientAuth], keyType: keyType,
            keyUsage: keyUsage)
    }

    /// The refusal every side reports for such a leaf.
    static func expectKeyUsageRefusal(_ error: TLSError?, _ comment: Comment) {
        #expect(error?.code == .unsupportedCertificate, comment)
        #expect(error?.alert == 43, comment)
        #expect(error?.isCertificateError == true && error?.isRetryable == false, comment)
    }

    // MARK: - The verification path (TLSChainVerifier = what handshakes run), x509-limbo style

    @Test("every leaf shape, as a server and as a client, through SaMDTLS's verification path")
    func theVerifierRefusesEveryLeafWhoseKeyUsageLacksDigitalSignature() throws {
        let pki = Fixtures.pki
        let roots = [pki.root.certificate.der]
        let intermediates = [pki.intermediate.certificate.der]
        for shape in Self.shapes {
            let cases: [(TestCertificate, TLSChainVerifier.Peer)] = [
                (try Self.server(shape.keyType, shape.keyUsage), .server(name: .dns("gateway.test"))),
                (try Self.device(shape.keyType, shape.keyUsage), .client),
            ]
            for (leaf, peer) in cases {
                let result = TLSChainVerifier.verify(
                    leaf: leaf.der, intermediates: intermediates, roots: roots, peer: peer, at: Date())
                switch result {
                case .success:
                    #expect(shape.mayPresent, "\(shape) as \(peer) was accepted")
                case .failure(let error):
                    #expect(!shape.mayPresent, "\(shape) as \(peer) was refused: \(error)")
                    Self.expectKeyUsageRefusal(error, "\(shape) as \(peer)")
                    // OpenSSL's own purpose check already refuses a keyUsage with none of the bits it
                    // associates with TLS (nonRepudiation alone; keyEncipherment alone for a client); SaMDTLS's
                    // check refuses the rest (keyAgreement, keyEncipherment for a server).
                    #expect(
                        error.reason.contains("digitalSignature")
                            || error.reason.contains("unsuitable certificate purpose"),
                        "\(error.reason)")
                }
            }
        }
    }

    // MARK: - Our own identity

    @Test("our own leaf without digitalSignature is refused at load, on both roles, for every key type")
    func ownIdentityWithoutDigitalSignatureIsInvalid() throws {
        for shape in Self.shapes {
            let server = Fixtures.serverConfiguration(try Self.server(shape.keyType, shape.keyUsage))
            let client = Fixtures.clientConfiguration(try Self.device(shape.keyType, shape.keyUsage))
            for configuration in [server, client] {
                do {
                    _ = try TLSContext(configuration: configuration)
                    #expect(shape.mayPresent, "\(shape) loaded as our own \(configuration.role) identity")
                } catch let error as TLSError {
                    #expect(!shape.mayPresent, "\(shape) refused as \(configuration.role) identity: \(error)")
                    #expect(error.code == .invalidIdentity, "\(error)")
                    #expect(error.reason.contains("digitalSignature"), "\(error.reason)")
                }
            }
        }
    }

    @Test func aReloadToALeafWithoutDigitalSignatureIsRefusedAndTheOldIdentityServes() throws {
        let recorder = RecordingLogHandler()
        let (server, directory) = try ReloadTests.fileBackedServer(Fixtures.pki.server, logger: recorder)
        defer { try? FileManager.default.removeItem(at: directory) }
        try ReloadTests.install(try Self.server(.p256, .critical([.keyAgreement])), in: directory)
        #expect(throws: TLSError(.invalidIdentity, "")) { try server.reload() }
        #expect(server.certificate?.spkiSHA256 == Fixtures.pki.server.spkiSHA256())
        #expect(recorder.events("samd.tls.identity-reload-refused").first?.metadata["error"] == "invalidIdentity")
        let pair = try EmbeddedPair(
            client: Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device)), server: server)
        try pair.connect()
        #expect(try pair.serverHandler.handshakeFuture.wait().peer?.uris == [TestPKI.deviceURI])
    }
}

/// The same refusal in a real handshake, with the `openssl` tool as the peer that presents such a leaf anyway
/// (swift-nio-ssl cannot: BoringSSL refuses to load an ECDSA leaf without digitalSignature as its own). How
/// samd-tls meets these leaves: ExampleProgramTests' SamdTLSKeyUsageTests.
@Suite("Leaf key usage: programs")
struct KeyUsageProcessTests {
    /// openssl s_client presents the leaf anyway: the gateway refuses it with alert 43.
    @Test func theGatewayRefusesSuchAClientLeafFromOpenSSLWithAlert43() async throws {
        let pki = try PKIDirectory()
        let files = try pki.write(try pki.keyAgreementLeaves().device, as: "keyAgreementDevice")
        try await OpenSSLInteropTests.expectGatewayRefuses(
            certificate: files.cert, key: files.key, pki: pki, code: "unsupportedCertificate", alert: "alert number 43")
    }
}
