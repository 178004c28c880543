import NIOCore
import NIOHTTP1

/// Honours a client's wish to end its connection (RFC 9112 §9.3), which Hummingbird 2.28's HTTP/1.1 channel does
/// not: after the response to a request that is not keep-alive — an HTTP/1.0 request without
/// `Connection: keep-alive`, or one whose `Connection` header names `close` in any case or list — the response
/// says `Connection: close` and the connection closes once it is written. Hummingbird closes only on the exact
/// value `close`, and without saying so, leaving the others open until the idle timeout.
///
/// Sits between NIO's HTTP/1.1 server codec and Hummingbird's HTTP-types codec (the request's version is known
/// only there); ``HTTPServerBuilder/samdTLS(http1:context:configuration:)`` adds it. Responses come in the order
/// of their requests (Hummingbird answers one request at a time). Not `Sendable`: it lives on its channel's event
/// loop.
final class HTTP1ConnectionCloseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Whether each request read and not yet answered may keep the connection open, oldest first.
    private var keepAlive: [Bool] = []
    private var closeAfterResponse = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = Self.unwrapInboundIn(data) {
            self.keepAlive.append(head.isKeepAlive)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch Self.unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200:
            let keepAlive = self.keepAlive.isEmpty ? true : self.keepAlive.removeFirst()
            let closing =
                !keepAlive
                || head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "close" }
            if closing {
                self.closeAfterResponse = true
                head.headers.replaceOrAdd(name: "connection", value: "close")
            }
            context.write(Self.wrapOutboundOut(.head(head)), promise: promise)
        case .end where self.closeAfterResponse:
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.cascade(to: promise)
            context.writeAndFlush(data, promise: written)
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        default:
            context.write(data, promise: promise)
        }
    }
}
