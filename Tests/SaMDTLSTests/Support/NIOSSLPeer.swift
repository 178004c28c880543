import NIOCore
import NIOEmbedded
import NIOSSL
import SaMDTLS
import SaMDTLSTestSupport

/// swift-nio-ssl (BoringSSL) as the other end: an independent TLS stack that presents whatever certificate it
/// is given, so our refusals can be seen from outside.
enum NIOSSLPeer {
    struct ServerSideOutcome {
        let serverErrors: [SaMDTLS.TLSError]
        let clientAlertDescription: String
        let clientHandshakeCompleted: Bool
    }

    struct ClientSideOutcome {
        /// The content type of the first record of each write from our client (21 alert, 22 handshake, 23 encrypted).
        let clientRecordTypes: [UInt8]
        let clientErrors: [SaMDTLS.TLSError]
        let serverAlertDescription: String
    }

    /// Collects what a swift-nio-ssl pipeline reports.
    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var bytes: [UInt8] = []
        var errors: [any Error] = []
        var handshakeCompleted = false

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.bytes += Self.unwrapInboundIn(data).readableBytesView
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            self.errors.append(error)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if "\(event)".hasPrefix("handshakeCompleted") { self.handshakeCompleted = true } // NIOTLS.TLSUserEvent
        }
    }

    static func certificates(_ pem: String) throws -> [NIOSSLCertificate] {
        try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8))
    }

    static func clientConfiguration(
        certificate: TestCertificate?,
        maximumVersion: NIOSSL.TLSVersion = .tlsv13
    ) throws -> NIOSSL.TLSConfiguration {
        var configuration = NIOSSL.TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try Self.certificates(Fixtures.pki.root.certificate.certificatePEM))
        configuration.maximumTLSVersion = maximumVersion
        if let certificate {
            configuration.certificateChain = try Self.certificates(certificate.chainPEM).map { .certificate($0) }
            configuration.privateKey = .privateKey(
                try NIOSSLPrivateKey(bytes: Array(certificate.privateKeyPEM.utf8), format: .pem))
        }
        return configuration
    }

    static func serverConfiguration(certificate: TestCertificate, requireClients: Bool = true) throws
        -> NIOSSL.TLSConfiguration
    {
        var configuration = NIOSSL.TLSConfiguration.makeServerConfiguration(
            certificateChain: try Self.certificates(certificate.chainPEM).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(certificate.privateKeyPEM.utf8), format: .pem))
        )
        if requireClients {
            configuration.trustRoots = .certificates(
                try Self.certificates(Fixtures.pki.root.certificate.certificatePEM))
            configuration.certificateVerification = .noHostnameVerification
        }
        return configuration
    }

    /// Moves bytes between two embedded channels until both are quiet (bounded).
    static func shuttle(_ a: EmbeddedChannel, _ b: EmbeddedChannel, observeFromA: ([UInt8]) -> Void = { _ in }) throws {
        for _ in 0..<1000 {
            var moved = false
            while let buffer = try a.readOutbound(as: ByteBuffer.self) {
                observeFromA(Array(buffer.readableBytesView))
                moved = true
                if b.isActive { _ = try? b.writeInbound(buffer) }
            }
            while let buffer = try b.readOutbound(as: ByteBuffer.self) {
                moved = true
                if a.isActive { _ = try? a.writeInbound(buffer) }
            }
            if !moved { return }
        }
    }

    /// A swift-nio-ssl client presenting `clientCertificate` to our gateway server.
    static func attemptAgainstServer(
        clientCertificate: TestCertificate?,
        tls12Only: Bool = false,
        server: SaMDTLS.TLSConfiguration = Fixtures.serverConfiguration()
    ) throws -> ServerSideOutcome {
        let serverChannel = EmbeddedChannel()
        let serverHandler = TLSHandler(serverContext: try Fixtures.context(server))
        let serverCollector = EmbeddedPair.Collector()
        try serverChannel.pipeline.syncOperations.addHandlers(serverHandler, serverCollector)

        let clientChannel = EmbeddedChannel()
        let context = try NIOSSLContext(
            configuration: try Self.clientConfiguration(
                certificate: clientCertificate, maximumVersion: tls12Only ? .tlsv12 : .tlsv13))
        let recorder = Recorder()
        try clientChannel.pipeline.syncOperations.addHandlers(
            try NIOSSLClientHandler(context: context, serverHostname: "gateway.test"),
            recorder
        )
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
        try serverChannel.connect(to: address).wait()
        try clientChannel.connect(to: address).wait()
        try Self.shuttle(clientChannel, serverChannel)
        return ServerSideOutcome(
            serverErrors: serverCollector.tlsErrors,
            clientAlertDescription: recorder.errors.map { "\($0)" }.joined(separator: "; "),
            clientHandshakeCompleted: recorder.handshakeCompleted
        )
    }

    /// Our device client against a swift-nio-ssl server presenting `serverCertificate`.
    static func attemptAgainstClient(serverCertificate: TestCertificate) throws -> ClientSideOutcome {
        let serverChannel = EmbeddedChannel()
        let context = try NIOSSLContext(configuration: try Self.serverConfiguration(certificate: serverCertificate))
        let recorder = Recorder()
        try serverChannel.pipeline.syncOperations.addHandlers(NIOSSLServerHandler(context: context), recorder)

        let clientChannel = EmbeddedChannel()
        let clientHandler = TLSHandler(
            clientContext: try Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device)),
            serverName: .dns("gateway.test")
        )
        let clientCollector = EmbeddedPair.Collector()
        try clientChannel.pipeline.syncOperations.addHandlers(clientHandler, clientCollector)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
        try serverChannel.connect(to: address).wait()
        try clientChannel.connect(to: address).wait()
        var recordTypes: [UInt8] = []
        try Self.shuttle(clientChannel, serverChannel, observeFromA: { bytes in recordTypes.append(bytes.first ?? 0) })
        return ClientSideOutcome(
            clientRecordTypes: recordTypes,
            clientErrors: clientCollector.tlsErrors,
            serverAlertDescription: recorder.errors.map { "\($0)" }.joined(separator: "; ")
        )
    }
}
