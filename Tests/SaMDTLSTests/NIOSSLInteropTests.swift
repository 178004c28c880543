import NIOCore
import NIOPosix
import NIOSSL
import SaMDTLS
import SaMDTLSTestSupport
import Testing

/// Loopback interop with swift-nio-ssl (BoringSSL), an independent TLS 1.3 implementation, in both directions.
@Suite("Interop with swift-nio-ssl over loopback")
struct NIOSSLInteropTests {
    /// Echoes one connection's bytes until its input ends, then closes.
    final class Echo: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.write(data, promise: nil)
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            context.flush()
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? ChannelEvent, event == .inputClosed {
                context.close(promise: nil)
            }
            context.fireUserInboundEventTriggered(event)
        }
    }

    @Test func ourClientTalksToASwiftNIOSSLServer() async throws {
        let sslContext = try NIOSSLContext(
            configuration: try NIOSSLPeer.serverConfiguration(certificate: Fixtures.pki.server))
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    try channel.pipeline.syncOperations.addHandler(Echo())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { server.close(promise: nil) }
        let port = try #require(server.localAddress?.port)

        let client = try Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device))
        let payload = Fixtures.randomBytes(200_000)
        let connection = try await TLSClient.connect(host: "localhost", port: port, context: client)
        #expect(connection.info.protocolVersion == "TLSv1.3")
        #expect(connection.info.peer?.dnsNames.contains("localhost") == true)
        #expect(try await AsyncLoopbackTests.exchange(connection, payload) == payload)
    }

    @Test func aSwiftNIOSSLClientTalksToOurServer() async throws {
        let payload = Fixtures.randomBytes(200_000)
        let received = try await AsyncLoopbackTests.withEchoServer(Fixtures.serverConfiguration()) { port in
            let sslContext = try NIOSSLContext(
                configuration: try NIOSSLPeer.clientConfiguration(certificate: Fixtures.pki.device))
            let collector = Collector()
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: sslContext, serverHostname: "gateway.test")
                        )
                        try channel.pipeline.syncOperations.addHandler(collector)
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
            try await channel.writeAndFlush(ByteBuffer(bytes: payload))
            try await channel.close(mode: .output)
            try await channel.closeFuture.get()
            return try await channel.eventLoop.submit { collector.bytes }.get()
        }
        #expect(received == payload)
    }

    final class Collector: ChannelInboundHandler, @unchecked Sendable { // touched on its channel's event loop only
        typealias InboundIn = ByteBuffer
        var bytes: [UInt8] = []

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.bytes += Self.unwrapInboundIn(data).readableBytesView
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? ChannelEvent, event == .inputClosed {
                context.close(promise: nil)
            }
        }
    }
}
