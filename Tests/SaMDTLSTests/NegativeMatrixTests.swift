import NIOCore
import NIOEmbedded
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

/// Every refusal, each with its typed error on both sides: the side that refuses names the cause; the other
/// side receives the alert. In TLS 1.3 a client's handshake completes before the server judges the client
/// certificate, so the client learns of a refusal on its first read — as the same typed certificate error.
@Suite("Refusals and their typed errors")
struct NegativeMatrixTests {
    struct Outcome {
        let client: [TLSError]
        let server: [TLSError]
        let clientHandshakeSucceeded: Bool
        let serverHandshakeSucceeded: Bool
    }

    static func attempt(
        client: TLSConfiguration,
        server: TLSConfiguration,
        serverName: TLSServerName = .dns("gateway.test")
    ) throws -> Outcome {
        let pair = try EmbeddedPair(
            client: Fixtures.context(client),
            server: Fixtures.context(server),
            serverName: serverName
        )
        try pair.connect()
        // The client reads (as an application would); a refusal reported after the handshake surfaces here.
        try pair.run()
        return Outcome(
            client: pair.clientInbound.tlsErrors,
            server: pair.serverInbound.tlsErrors,
            clientHandshakeSucceeded: (try? pair.clientHandler.handshakeFuture.wait()) != nil,
            serverHandshakeSucceeded: (try? pair.serverHandler.handshakeFuture.wait()) != nil
        )
    }

    static func identity(leafOnly certificate: TestCertificate) -> TLSIdentitySource {
        .pem(
            certificateChain: Array(certificate.certificatePEM.utf8), privateKey: Array(certificate.privateKeyPEM.utf8))
    }

    // MARK: - The server refuses the client

    static let clientRefusals: [(String, TLSError.Code, UInt8)] = [
        ("expiredDevice", .certificateExpired, 45),
        ("unknownCADevice", .unknownCA, 48),
        ("wrongPurposeDevice", .unsupportedCertificate, 43),
    ]

    @Test func noClientCertificateIsCertificateRequiredOnBothSides() throws {
        let outcome = try Self.attempt(client: Fixtures.clientConfiguration(), server: Fixtures.serverConfiguration())
        #expect(!outcome.serverHandshakeSucceeded)
        #expect(outcome.server.map(\.code) == [.certificateRequired])
        // TLS 1.3: the client finished its handshake; the refusal arrives on its first read.
        #expect(outcome.clientHandshakeSucceeded)
        let error = try #require(outcome.client.first)
        #expect(error.code == .certificateRequired)
        #expect(error.origin == .peer)
        #expect(error.alert == 116)
        #expect(error.isCertificateError && !error.isRetryable)
    }

    @Test(arguments: ["expiredDevice", "unknownCADevice", "wrongPurposeDevice"])
    func aRefusedClientCertificateIsTypedOnBothSides(name: String) throws {
        let (_, code, alert) = try #require(Self.clientRefusals.first { $0.0 == name })
        let pki = Fixtures.pki
        let certificate: TestCertificate =
            switch name {
            case "expiredDevice": pki.expiredDevice
            case "unknownCADevice": pki.unknownCADevice
            default: pki.wrongPurposeDevice
            }
        // The client identity is loaded without the build-time checks a device would apply to itself.
        var client = TLSConfiguration(role: .client)
        client.trustRoots = Fixtures.roots
        client.identity = Fixtures.identity(certificate)
        let context: TLSContext
        do {
            context = try TLSContext(configuration: client)
        } catch let error as TLSError {
            // An expired or wrong-purpose identity is refused when the configuration is built (tested in
            // ConfigurationTests); exercise the server's refusal with a peer that does not check itself.
            #expect(error.code == .invalidIdentity)
            try Self.refusedByServerFromUncheckedPeer(certificate, code: code, alert: alert)
            return
        }
        let outcome = try Self.attempt(client: context.configuration, server: Fixtures.serverConfiguration())
        #expect(outcome.server.map(\.code) == [code])
        let error = try #require(outcome.client.first)
        #expect(error.code == code && error.origin == .peer && error.alert == alert)
        #expect(error.isCertificateError)
    }

    /// A client built on swift-nio-ssl (which presents whatever it is given) against our server.
    static func refusedByServerFromUncheckedPeer(_ certificate: TestCertificate, code: TLSError.Code, alert: UInt8)
        throws
    {
        let outcome = try NIOSSLPeer.attemptAgainstServer(clientCertificate: certificate)
        #expect(outcome.serverErrors.map(\.code) == [code], "server-side code for \(certificate.subject)")
        #expect(
            outcome.clientAlertDescription.contains(TLSErrorAlertNames.name(alert)), "\(outcome.clientAlertDescription)"
        )
    }

    @Test func aMissingIntermediateIsAnUnknownCA() throws {
        var client = TLSConfiguration(role: .client)
        client.trustRoots = Fixtures.roots
        client.identity = Self.identity(leafOnly: Fixtures.pki.device)
        let outcome = try Self.attempt(client: client, server: Fixtures.serverConfiguration())
        #expect(outcome.server.map(\.code) == [.unknownCA])
        #expect(outcome.client.map(\.code) == [.unknownCA])
        #expect(outcome.client.first?.origin == .peer)
    }

    @Test func aRevokedClientIsRefusedAndOthersPass() throws {
        var server = Fixtures.serverConfiguration()
        server.certificateRevocationLists = [
            .bytes(Array(Fixtures.pki.crlPEM.utf8)), .bytes(Array(Fixtures.pki.rootCRLPEM.utf8)),
        ]
        let revoked = try Self.attempt(client: Fixtures.clientConfiguration(Fixtures.pki.revokedDevice), server: server)
        #expect(revoked.server.map(\.code) == [.certificateRevoked])
        #expect(revoked.client.first?.alert == 44)
        let good = try Self.attempt(client: Fixtures.clientConfiguration(Fixtures.pki.device), server: server)
        #expect(good.server.isEmpty && good.client.isEmpty && good.serverHandshakeSucceeded)
    }

    @Test func crlCheckingFailsClosedWhenTheIssuersCRLIsMissing() throws {
        var server = Fixtures.serverConfiguration()
        // Only the root's CRL: the intermediate's is missing.
        server.certificateRevocationLists = [.bytes(Array(Fixtures.pki.rootCRLPEM.utf8))]
        let outcome = try Self.attempt(client: Fixtures.clientConfiguration(Fixtures.pki.device), server: server)
        #expect(outcome.server.map(\.code) == [.crlUnavailable])
    }

    @Test func aVerifiedClientOutsideThePeerPolicyIsRefused() throws {
        let policy = TLSPeerPolicy(uris: [TestPKI.readerURI])
        let refused = try Self.attempt(
            client: Fixtures.clientConfiguration(Fixtures.pki.device),
            server: Fixtures.serverConfiguration(policy: policy)
        )
        #expect(refused.server.map(\.code) == [.peerNotAllowed])
        #expect(refused.client.first?.alert == 42)
        #expect(refused.client.first?.isCertificateError == true)
        let allowed = try Self.attempt(
            client: Fixtures.clientConfiguration(Fixtures.pki.reader),
            server: Fixtures.serverConfiguration(policy: policy)
        )
        #expect(allowed.serverHandshakeSucceeded && allowed.server.isEmpty)
    }

    @Test func everyKindOfAllowListEntryAdmitsItsPeer() throws {
        let device = Fixtures.pki.device
        for policy in [
            TLSPeerPolicy(uris: [TestPKI.deviceURI]),
            TLSPeerPolicy(subjects: [device.subject]),
            TLSPeerPolicy(spkiSHA256: [device.spkiSHA256()]),
        ] {
            let outcome = try Self.attempt(
                client: Fixtures.clientConfiguration(device),
                server: Fixtures.serverConfiguration(policy: policy)
            )
            #expect(outcome.serverHandshakeSucceeded, "\(policy)")
        }
    }

    // MARK: - The client refuses the server

    @Test func theClientRefusesAnExpiredUnknownOrWrongPurposeServer() throws {
        let cases: [(TestCertificate, TLSError.Code, UInt8)] = [
            (Fixtures.pki.expiredServer, .certificateExpired, 45),
            (Fixtures.pki.unknownCAServer, .unknownCA, 48),
            (Fixtures.pki.wrongPurposeServer, .unsupportedCertificate, 43),
        ]
        for (certificate, code, alert) in cases {
            let outcome = try NIOSSLPeer.attemptAgainstClient(serverCertificate: certificate)
            #expect(outcome.clientErrors.map(\.code) == [code], "\(certificate.subject)")
            #expect(outcome.clientErrors.first?.alert == alert)
            // OpenSSL 3.0's TLS 1.3 client sends this alert before it has switched to its handshake write
            // keys, i.e. in plaintext; BoringSSL then reports a record decryption failure instead of the
            // alert (an OpenSSL OpenSSL server accepts it: see aServerWithoutTheNameIsAHostnameMismatch).
            #expect(outcome.clientRecordTypes.last == 21, "the alert went out as a plaintext record")
            #expect(
                outcome.serverAlertDescription.contains("DECRYPTION_FAILED_OR_BAD_RECORD_MAC"),
                "\(outcome.serverAlertDescription)")
        }
    }

    @Test func aServerWithoutTheNameIsAHostnameMismatch() throws {
        let otherServer = try Self.attempt(
            client: Fixtures.clientConfiguration(Fixtures.pki.device),
            server: Fixtures.serverConfiguration(Fixtures.pki.otherServer)
        )
        #expect(otherServer.client.map(\.code) == [.hostnameMismatch])
        // The server (OpenSSL) receives the client's alert.
        #expect(otherServer.server.first?.origin == .peer)
        #expect(otherServer.server.first?.code == .badCertificate, "OpenSSL 3.0 sends a name mismatch as alert 42")
        let wrongName = try Self.attempt(
            client: Fixtures.clientConfiguration(Fixtures.pki.device),
            server: Fixtures.serverConfiguration(),
            serverName: .dns("gateway.example")
        )
        #expect(wrongName.client.map(\.code) == [.hostnameMismatch])
    }

    @Test func anIPWrittenAsADNSNameDoesNotMatchTheAddress() throws {
        let outcome = try Self.attempt(
            client: Fixtures.clientConfiguration(Fixtures.pki.device),
            server: Fixtures.serverConfiguration(Fixtures.pki.ipAsDNSServer),
            serverName: .ipAddress("127.0.0.1")
        )
        #expect(outcome.client.map(\.code) == [.ipAddressMismatch])
    }

    @Test func anIPAddressIsCheckedAgainstIPSANsAndNeverSentAsSNI() throws {
        let pair = try EmbeddedPair(
            client: Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device)),
            server: Fixtures.context(Fixtures.serverConfiguration()),
            serverName: TLSServerName("::1")
        )
        try pair.connect()
        #expect(try pair.clientHandler.handshakeFuture.wait().peer?.ipAddresses.contains("::1") == true)
        #expect(try pair.serverHandler.handshakeFuture.wait().serverName == nil)
        let mismatch = try Self.attempt(
            client: Fixtures.clientConfiguration(Fixtures.pki.device),
            server: Fixtures.serverConfiguration(),
            serverName: .ipAddress("10.0.0.1")
        )
        #expect(mismatch.client.map(\.code) == [.ipAddressMismatch])
    }

    @Test func aClientPinRefusesAnotherServerKey() throws {
        let pin = TLSPeerPolicy(spkiSHA256: [Fixtures.pki.otherServer.spkiSHA256()])
        let outcome = try Self.attempt(
            client: Fixtures.clientConfiguration(Fixtures.pki.device, policy: pin),
            server: Fixtures.serverConfiguration()
        )
        #expect(outcome.client.map(\.code) == [.peerNotAllowed])
    }

    // MARK: - ALPN

    @Test func alpnAgreesOrFailsWithNoApplicationProtocol() throws {
        var server = Fixtures.serverConfiguration()
        server.applicationProtocols = ["h2", "http/1.1"]
        var client = Fixtures.clientConfiguration(Fixtures.pki.device)
        client.applicationProtocols = ["http/1.1"]
        let pair = try EmbeddedPair(client: Fixtures.context(client), server: Fixtures.context(server))
        try pair.connect()
        #expect(try pair.clientHandler.handshakeFuture.wait().applicationProtocol == "http/1.1")
        #expect(try pair.serverHandler.handshakeFuture.wait().applicationProtocol == "http/1.1")

        client.applicationProtocols = ["samd/2"]
        let refused = try Self.attempt(client: client, server: server)
        #expect(refused.server.map(\.code) == [.noApplicationProtocol])
        #expect(refused.client.map(\.code) == [.noApplicationProtocol])
    }

    // MARK: - Events

    @Test func refusalsAreLoggedWithStableEventNamesAndNoSecrets() throws {
        let recorder = RecordingLogHandler()
        let pair = try EmbeddedPair(
            client: Fixtures.context(Fixtures.clientConfiguration()),
            server: Fixtures.context(Fixtures.serverConfiguration(), logger: recorder.logger)
        )
        try pair.connect()
        try pair.run()
        let failed = try #require(recorder.events("samd.tls.handshake-failed").first)
        #expect(failed.metadata["error"] == "certificateRequired")
        #expect(failed.metadata["role"] == "server")
        #expect(failed.metadata["alert"] == "116")
        let everything = recorder.records.map { "\($0.message) \($0.metadata)" }.joined()
        #expect(!everything.contains("PRIVATE KEY"))
    }
}

/// Alert names as swift-nio-ssl (BoringSSL) spells them in its error strings.
enum TLSErrorAlertNames {
    static func name(_ alert: UInt8) -> String {
        switch alert {
        case 42: "BAD_CERTIFICATE"
        case 43: "UNSUPPORTED_CERTIFICATE"
        case 45: "CERTIFICATE_EXPIRED"
        case 48: "UNKNOWN_CA"
        case 116: "CERTIFICATE_REQUIRED"
        default: "ALERT"
        }
    }
}

extension NegativeMatrixTests {
    @Test func aRefusalAfterTheClientsHandshakeIsLoggedAsAFailedHandshakeOnTheClient() throws {
        let clientLog = RecordingLogHandler()
        let serverLog = RecordingLogHandler()
        let pair = try EmbeddedPair(
            client: Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device), logger: clientLog.logger),
            server: Fixtures.context(
                Fixtures.serverConfiguration(policy: TLSPeerPolicy(uris: [TestPKI.readerURI])),
                logger: serverLog.logger
            )
        )
        try pair.connect()
        try pair.run()
        // TLS 1.3: the client's side completed, then the server's refusal arrived.
        #expect(clientLog.events("samd.tls.handshake-succeeded").count == 1)
        let clientFailure = try #require(clientLog.events("samd.tls.handshake-failed").first)
        #expect(clientFailure.metadata["after_handshake"] == "true")
        #expect(clientFailure.metadata["origin"] == "peer")
        #expect(clientFailure.metadata["alert"] == "42")
        // The server names whom it refused.
        let serverFailure = try #require(serverLog.events("samd.tls.handshake-failed").first)
        #expect(serverFailure.metadata["error"] == "peerNotAllowed")
        #expect(serverFailure.metadata["peer"] == TestPKI.deviceURI)
        #expect(serverFailure.metadata["peer_subject"] == Fixtures.pki.device.subject)
        #expect(serverFailure.metadata["peer_serial"].flatMap { UInt64($0, radix: 16) } == Fixtures.pki.device.serial)
        #expect(serverFailure.metadata["peer_issuer"]?.contains("SaMDKit Test Intermediate") == true)
    }

    @Test func aProtocolFailureAfterTheHandshakeIsLogged() throws {
        let serverLog = RecordingLogHandler()
        let pair = try EmbeddedPair(
            client: Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device)),
            server: Fixtures.context(Fixtures.serverConfiguration(), logger: serverLog.logger)
        )
        try pair.connect()
        // An application-data record that does not authenticate.
        try pair.server.writeInbound(ByteBuffer(bytes: [23, 3, 3, 0, 32] + Fixtures.randomBytes(32)))
        let failure = try #require(serverLog.events("samd.tls.connection-failed").first)
        #expect(failure.metadata["error"] == "protocolError")
        // The event and the error name the alert that was sent: bad_record_mac.
        #expect(failure.metadata["alert"] == "20")
        #expect(pair.serverInbound.tlsErrors.first?.alert == 20)
    }

    @Test func dnsNamesAddedToAPolicyAfterItsCreationMatchCaseInsensitively() throws {
        var policy = TLSPeerPolicy()
        policy.dnsNames = ["Gateway.TEST"]
        let outcome = try Self.attempt(
            client: Fixtures.clientConfiguration(Fixtures.pki.device, policy: policy),
            server: Fixtures.serverConfiguration()
        )
        #expect(outcome.client.isEmpty && outcome.clientHandshakeSucceeded, "\(outcome.client)")
    }

    @Test func exactlyTheConfiguredChainIsSentNeverOneCompletedFromTheTrustStore() throws {
        // The server trusts the intermediate (as a client CA) but is configured with its leaf alone: the
        // intermediate must not be added from its trust store behind the configuration's back.
        let pki = Fixtures.pki
        let trust = pki.root.certificate.certificatePEM + pki.intermediate.certificate.certificatePEM
        let server = TLSConfiguration.gatewayServer(
            identity: Self.identity(leafOnly: pki.server),
            clientTrustRoots: .pem(Array(trust.utf8))
        )
        let outcome = try Self.attempt(client: Fixtures.clientConfiguration(pki.device), server: server)
        #expect(outcome.client.map(\.code) == [.unknownCA])
    }
}
