import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

/// TLSHandler composed with SwiftNIO's HTTP/1.1 server handlers in a user's own pipeline, and curl as the
/// client: the shape a gateway takes.
@Suite("TLSHandler in an HTTP/1.1 pipeline")
struct HTTPCompositionTests {
    /// Answers every request with 200 and the verified peer's device id, taken from the handshake event.
    final class WhoAmI: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        var peer = "anonymous"

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted(let info) = event as? TLSUserEvent {
                self.peer = info.peer?.displayName ?? "anonymous"
            }
            context.fireUserInboundEventTriggered(event)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = Self.unwrapInboundIn(data) else { return }
            let body = ByteBuffer(string: "peer=\(self.peer)\n")
            var headers = HTTPHeaders()
            headers.add(name: "content-length", value: "\(body.readableBytes)")
            context.write(
                Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                promise: nil)
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    @Test func curlGetsAnHTTPSResponseNamingItsVerifiedCertificate() async throws {
        let curl = try ProgramLocations.requiredTool("curl")
        let pki = try PKIDirectory()
        let context = try TLSContext(
            configuration: .gatewayServer(
                identity: .files(certificateChain: pki.cert("server"), privateKey: pki.key("server")),
                clientTrustRoots: .file(pki.root)
            ))
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TLSHandler(serverContext: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(WhoAmI())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { server.close(promise: nil) }
        let port = try #require(server.localAddress?.port)

        let result = try await ChildProcess.run(
            curl,
            [
                "--silent", "--show-error", "--max-time", "10",
                "--cert", pki.cert("device"), "--key", pki.key("device"), "--cacert", pki.root,
                "https://127.0.0.1:\(port)/whoami",
            ], timeout: .seconds(30))
        #expect(result.status == 0, "\(result)")
        #expect(result.output == "peer=\(TestPKI.deviceURI)\n")

        let refused = try await ChildProcess.run(
            curl,
            [
                "--silent", "--max-time", "10", "--cacert", pki.root, "https://127.0.0.1:\(port)/whoami",
            ], timeout: .seconds(30))
        #expect(refused.status == 56 || refused.status == 35, "no client certificate: \(refused)")
        #expect(refused.output.isEmpty)
    }
}
