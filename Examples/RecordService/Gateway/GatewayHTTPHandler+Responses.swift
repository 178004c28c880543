import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SaMDExampleSupport
import SaMDKeys
import SaMDStore
import SaMDTLS
import Synchronization

// MARK: Responses

extension GatewayHTTPHandler {
    func respond(
        context: ChannelHandlerContext, _ reply: GatewayReply, version: HTTPVersion, keepAlive requested: Bool
    ) {
        guard context.channel.isActive, self.phase != .closing else { return }
        let keepAlive = requested && !self.stopping
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: reply.contentType)
        headers.add(name: "content-length", value: String(reply.body.readableBytes))
        // Patient data: never kept by a cache, never sniffed as another type.
        headers.add(name: "cache-control", value: "no-store")
        headers.add(name: "x-content-type-options", value: "nosniff")
        for (name, value) in reply.headers { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "connection", value: "close") }
        let status = Int(reply.status.code)
        let bytes = reply.body.readableBytes
        self.core.counters.withLock { $0.countResponse(status: status, bodyByteCount: bytes) }

        context.write(
            Self.wrapOutboundOut(.head(HTTPResponseHead(version: version, status: reply.status, headers: headers))),
            promise: nil)
        if bytes > 0 {
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(reply.body))), promise: nil)
        }
        if keepAlive {
            // Idle before the end is written: NIO's pipelining handler delivers the next buffered request from
            // within this write.
            self.phase = .idle
            self.startIdleTimer(context: context)
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            self.phase = .closing
            self.cancelTimers()
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}
