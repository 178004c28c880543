import Foundation
import NIOCore
import SaMDCrypto
import SaMDTLS
import SaMDTLSTestSupport
import Testing

/// A misconfiguration fails when the context is built, never at the first handshake.
@Suite("TLS configuration is validated when built")
struct ConfigurationTests {
    static func code(_ configuration: TLSConfiguration) -> TLSError.Code? {
        do {
            _ = try TLSContext(configuration: configuration)
            return nil
        } catch let error as TLSError {
            return error.code
        } catch {
            return nil
        }
    }

    static func server(chain: String, key: String, passphrase: SecureBytes? = nil) -> TLSConfiguration {
        .gatewayServer(
            identity: .pem(certificateChain: Array(chain.utf8), privateKey: Array(key.utf8), passphrase: passphrase),
            clientTrustRoots: Fixtures.roots
        )
    }

    @Test func defaultsAreTLS13OnlyWithVerification() {
        let configuration = TLSConfiguration(role: .server)
        #expect(configuration.allowsTLS12 == false)
        #expect(configuration.profile == .default)
        #expect(configuration.sessionResumption)
        #expect(TLSConfiguration.client(trustRoots: Fixtures.roots).verifiesPeer)
        #expect(Fixtures.serverConfiguration().verifiesPeer)
        #expect(!Fixtures.serverConfiguration(requireClients: false).verifiesPeer)
    }

    @Test func identityProblemsAreRefusedUpFront() throws {
        let pki = Fixtures.pki
        // Empty chain.
        #expect(Self.code(Self.server(chain: "", key: pki.server.privateKeyPEM)) == .invalidIdentity)
        // Key of another certificate.
        #expect(Self.code(Self.server(chain: pki.server.chainPEM, key: pki.device.privateKeyPEM)) == .invalidIdentity)
        // Expired leaf.
        #expect(
            Self.code(Self.server(chain: pki.expiredServer.chainPEM, key: pki.expiredServer.privateKeyPEM))
                == .invalidIdentity)
        // A client-only certificate on a server, a server-only one on a device.
        #expect(
            Self.code(Self.server(chain: pki.wrongPurposeServer.chainPEM, key: pki.wrongPurposeServer.privateKeyPEM))
                == .invalidIdentity)
        #expect(
            Self.code(.deviceClient(identity: Fixtures.identity(pki.wrongPurposeDevice), trustRoots: Fixtures.roots))
                == .invalidIdentity
        )
        // Chain out of order: intermediate first.
        let reversed = pki.intermediate.certificate.certificatePEM + pki.server.certificatePEM
        #expect(Self.code(Self.server(chain: reversed, key: pki.server.privateKeyPEM)) == .invalidIdentity)
        // Not PEM at all.
        #expect(
            Self.code(
                Self.server(
                    chain: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                    key: pki.server.privateKeyPEM)) == .invalidIdentity)
    }

    @Test func encryptedKeysNeedTheirPassphrase() throws {
        let pki = Fixtures.pki
        let encrypted = pki.server.encryptedPrivateKeyPEM(passphrase: "correct horse")
        let right = try SecureBytes(copying: Array("correct horse".utf8))
        let wrong = try SecureBytes(copying: Array("battery staple".utf8))
        #expect(Self.code(Self.server(chain: pki.server.chainPEM, key: encrypted, passphrase: right)) == nil)
        #expect(
            Self.code(Self.server(chain: pki.server.chainPEM, key: encrypted, passphrase: wrong)) == .invalidIdentity)
        // Never a terminal prompt: without a passphrase an encrypted key simply fails.
        #expect(Self.code(Self.server(chain: pki.server.chainPEM, key: encrypted)) == .invalidIdentity)
    }

    @Test func everyCertificateOfTheChainIsSent() throws {
        let context = try TLSContext(configuration: Fixtures.serverConfiguration())
        #expect(context.certificate?.subject == Fixtures.pki.server.subject)
        // The client verifies through the intermediate, which only the server's chain provides.
        let pair = try EmbeddedPair(
            client: Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device)), server: context)
        try pair.connect()
        let chain = try pair.clientHandler.handshakeFuture.wait().peer?.certificateChain ?? []
        #expect(chain.count == 3, "leaf, intermediate, root")
    }

    /// Time settings are `Duration`s bounded as their documentation says, below a second too.
    @Test func timeSettingsOutOfTheirBoundsAreRefused() throws {
        let refused: [WritableKeyPath<TLSConfiguration, Duration>: [Duration]] = [
            \.handshakeTimeout: [.milliseconds(999), .seconds(601)],
            \.closeTimeout: [.zero, .seconds(600) + .nanoseconds(1)],
            \.sessionTicketLifetime: [.milliseconds(500), .seconds(604_801)],
        ]
        for (setting, values) in refused {
            for value in values {
                var configuration = Fixtures.serverConfiguration()
                configuration[keyPath: setting] = value
                #expect(Self.code(configuration) == .invalidConfiguration, "\(setting) = \(value)")
            }
        }
        var idle = Fixtures.serverConfiguration()
        idle.idleTimeout = .milliseconds(999)
        #expect(Self.code(idle) == .invalidConfiguration)
        var age = Fixtures.serverConfiguration()
        age.maximumConnectionAge = .milliseconds(999)
        #expect(Self.code(age) == .invalidConfiguration)
        var fractional = Fixtures.serverConfiguration()
        fractional.handshakeTimeout = .milliseconds(1_500)
        fractional.idleTimeout = .milliseconds(2_500)
        fractional.sessionTicketLifetime = .seconds(600)
        #expect(Self.code(fractional) == nil)
    }

    @Test func unsafeOrIncompleteConfigurationsAreRefused() throws {
        // A server without identity, a client without trust roots.
        #expect(Self.code(TLSConfiguration(role: .server)) == .invalidConfiguration)
        #expect(Self.code(TLSConfiguration(role: .client)) == .invalidConfiguration)
        // A peer policy or CRLs on a server that verifies no client: they would never apply.
        var unverified = Fixtures.serverConfiguration(requireClients: false)
        unverified.peerPolicy = TLSPeerPolicy(uris: ["urn:uuid:1"])
        #expect(Self.code(unverified) == .invalidConfiguration)
        // Out-of-range values.
        var lifetime = Fixtures.serverConfiguration()
        lifetime.sessionTicketLifetime = .seconds(8 * 86_400)
        #expect(Self.code(lifetime) == .invalidConfiguration)
        var alpn = Fixtures.serverConfiguration()
        alpn.applicationProtocols = [""]
        #expect(Self.code(alpn) == .invalidConfiguration)
        var pin = Fixtures.serverConfiguration()
        pin.peerPolicy = TLSPeerPolicy(spkiSHA256: [[1, 2, 3]])
        #expect(Self.code(pin) == .invalidConfiguration)
        // Trust roots that hold no certificate.
        #expect(
            Self.code(.gatewayServer(identity: Fixtures.identity(Fixtures.pki.server), clientTrustRoots: .pem([])))
                == .invalidConfiguration)
        // A file that does not exist.
        #expect(
            Self.code(
                .gatewayServer(
                    identity: .files(certificateChain: "/nonexistent/chain.pem", privateKey: "/nonexistent/key.pem"),
                    clientTrustRoots: Fixtures.roots)) == .io)
    }

    @Test func theNISTProfileFailsClosedWithoutAFIPSProvider() throws {
        let report = try RuntimeReport.current()
        try #require(
            !report.openSSL.fipsProviderAvailable, "this machine has a FIPS provider; the test expects none (Debian 12)"
        )
        var configuration = Fixtures.serverConfiguration()
        configuration.profile = .nist
        #expect(Self.code(configuration) == .fipsProviderUnavailable)
        #expect(CryptoProfile.active == .default, "nothing switched")
    }

    @Test func aTLS12PeerIsRefusedByDefaultAndServedOnlyWithECDHEAndAEADWhenAllowed() throws {
        let refused = try NIOSSLPeer.attemptAgainstServer(clientCertificate: Fixtures.pki.device, tls12Only: true)
        #expect(refused.serverErrors.map(\.code) == [.protocolVersion])
        var allowing = Fixtures.serverConfiguration()
        allowing.allowsTLS12 = true
        let served = try NIOSSLPeer.attemptAgainstServer(
            clientCertificate: Fixtures.pki.device, tls12Only: true, server: allowing)
        #expect(served.serverErrors.isEmpty, "\(served.serverErrors)")
        #expect(served.clientHandshakeCompleted)
    }
}
