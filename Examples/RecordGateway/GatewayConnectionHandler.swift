import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
import SaMDHummingbird
import SaMDRecordService
import SaMDTLS
import Synchronization

/// Why a request's body stopped being read: thrown to the route reading it (through the connection's inbound
/// stream), which answers 408 and closes the connection. Logged by ``GatewayConnectionHandler`` when it fires.
enum GatewayRequestDeadline: Error, Sendable {
    /// The request did not arrive within ``RecordGatewayConfiguration/requestTimeout``.
    case requestTimeout
    /// A window of ``RecordGatewayConfiguration/bodyRateWindow`` brought fewer bytes than the minimum rate.
    case bodyTooSlow(minimumBytesPerSecond: Int)

    var reply: GatewayReply {
        switch self {
        case .requestTimeout:
            .error(.requestTimeout, "request-timeout", "the request did not arrive in time").closing()
        case .bodyTooSlow(let minimum):
            .error(.requestTimeout, "body-too-slow", "the request body arrived slower than \(minimum) bytes per second")
                .closing()
        }
    }
}

/// The gateway's per-connection HTTP rules that Hummingbird's HTTP/1.1 channel does not have, between NIO's
/// HTTP codec and Hummingbird's connection-state handler (`HTTP1Channel.Configuration.additionalChannelHandlers`):
///
/// - **Request deadlines**: from a request head to the end of its body at most `requestTimeout`, and at least
///   `minimumBodyBytesPerSecond` over each `bodyRateWindow`; past either, the event is logged and
///   ``GatewayRequestDeadline`` is thrown to the route reading the body (408, connection closed).
/// - **`100 Continue`** only when the route asks for it (``ContinueEvent``), once it has accepted the request —
///   and a final answer given without it closes the connection, since the body may still come
///   (RFC 9110 §10.1.1).
/// - **`Connection: close` set** on a response after which the connection must end (413, 408, a refused `CONNECT`
///   or `Upgrade`, one written while the connection is asked to close); `samdTLS`'s HTTP/1 handler closes the
///   connection once such a response is written.
/// - **Unread responses**: a response the client does not read within `idleTimeout` (the channel stays
///   unwritable) closes the connection (`samd.gateway.response-unread`).
/// - **Counting** handshakes, open connections, responses and their body bytes as they are handed to the
///   connection, and logging the connection's maximum age.
///
/// Not `Sendable`: it lives on its channel's event loop.
final class GatewayConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Asks for `100 Continue` on the request being received (sent only if it expects one).
    struct ContinueEvent: Sendable {}

    private let core: GatewayCore
    private var client = GatewayEvents.Client()
    /// Between a request head and the end of its body.
    private var receiving = false
    private var received = 0
    private var receivedAtWindowStart = 0
    private var expectsContinue = false
    private var continued = false
    /// Body bytes of the request being received arrived (with or without the 100).
    private var bodyStarted = false
    /// The request is a `CONNECT` or asks for `Upgrade`: NIO's parser reads nothing after its head.
    private var upgrade = false
    /// The connection has been asked to close (shutdown, maximum age, an invalid client): the response in flight
    /// says `Connection: close`.
    private var quiescing = false
    /// The response being written ends the connection.
    private var closeAfterResponse = false
    private var requestTimer: Scheduled<Void>?
    private var rateTimer: Scheduled<Void>?
    private var unreadTimer: Scheduled<Void>?

    init(core: GatewayCore) {
        self.core = core
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.client.remote = GatewayEvents.Client.describe(context.channel.remoteAddress)
        let core = self.core
        core.counters.withLock { $0.openConnections += 1 }
        context.channel.closeFuture.whenComplete { _ in core.counters.withLock { $0.openConnections -= 1 } }
        if let tls = try? context.pipeline.syncOperations.handler(type: TLSHandler.self) {
            tls.handshakeFuture.whenComplete { result in
                core.counters.withLock { counters in
                    if case .success = result {
                        counters.handshakesSucceeded += 1
                    } else {
                        counters.handshakesFailed += 1
                    }
                }
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.cancelTimers()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.receiving = true
            self.received = 0
            self.continued = false
            self.bodyStarted = false
            self.expectsContinue = head.headerFields[values: .expect].contains { $0.lowercased() == "100-continue" }
            self.upgrade = head.method == .connect || head.headerFields[.upgrade] != nil
            self.startRequestTimers(context: context)
        case .body(let chunk):
            self.received += chunk.readableBytes
            // A client may send its body without waiting for the 100 (RFC 9110 §10.1.1, curl after 1 s): it is no
            // longer waiting, so an answer without the 100 need not close the connection.
            self.bodyStarted = true
        case .end:
            self.receiving = false
            self.cancelRequestTimers()
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let info) = event as? TLSUserEvent {
            self.client.peer = info.peer?.displayName
        } else if let retiring = event as? TLSConnectionRetiringEvent, retiring.reason == .maximumAge {
            GatewayEvents.connectionMaximumAge(
                self.core.logger, client: self.client,
                seconds: self.core.configuration.maximumConnectionAge.secondsValue)
        } else if event is ChannelShouldQuiesceEvent {
            self.quiescing = true
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.unreadTimer?.cancel()
            self.unreadTimer = nil
        } else if self.unreadTimer == nil {
            // The client does not read what was answered: Hummingbird's writer waits (no further request is
            // read meanwhile), and the connection ends if it stays so for idleTimeout.
            let timeout = self.core.configuration.idleTimeout
            self.unreadTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
                GatewayEvents.responseUnread(self.core.logger, client: self.client, seconds: timeout.secondsValue)
                context.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.cancelTimers()
        context.fireChannelInactive()
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch Self.unwrapOutboundIn(data) {
        case .head(var head) where head.status.kind != .informational:
            let status = head.status.code
            self.core.counters.withLock { $0.countResponse(status: status) }
            if self.quiescing || self.upgrade || (self.expectsContinue && !self.continued && !self.bodyStarted) {
                head.headerFields[.connection] = "close"
            }
            if head.headerFields[.connection]?.lowercased() == "close" {
                self.closeAfterResponse = true
            }
            context.write(Self.wrapOutboundOut(.head(head)), promise: promise)
        case .body(let chunk):
            let count = chunk.readableBytes
            self.core.counters.withLock { $0.bytesOut += count }
            context.write(data, promise: promise)
        case .end where self.closeAfterResponse:
            // SaMDHummingbird's HTTP/1 handler, below, closes the connection once a `Connection: close` response
            // is written.
            self.cancelTimers()
            context.write(data, promise: promise)
        default:
            context.write(data, promise: promise)
        }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is ContinueEvent else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        if self.expectsContinue, !self.continued, self.receiving, !self.closeAfterResponse {
            self.continued = true
            context.writeAndFlush(Self.wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: promise)
        } else {
            promise?.succeed()
        }
    }

    // MARK: Deadlines

    private func startRequestTimers(context: ChannelHandlerContext) {
        self.cancelRequestTimers()
        let timeout = self.core.configuration.requestTimeout
        self.requestTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
            guard self.receiving else { return }
            GatewayEvents.requestTimeout(self.core.logger, client: self.client, seconds: timeout.secondsValue)
            self.expire(context: context, .requestTimeout)
        }
        self.startRateWindow(context: context)
    }

    /// A window of the body rate check: when it ends, the request must have received at least
    /// `minimumBodyBytesPerSecond × bodyRateWindow` more bytes.
    private func startRateWindow(context: ChannelHandlerContext) {
        let minimum = self.core.configuration.minimumBodyBytesPerSecond
        guard minimum > 0 else { return }
        let window = self.core.configuration.bodyRateWindow
        self.receivedAtWindowStart = self.received
        self.rateTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(window)) {
            guard self.receiving else { return }
            let arrived = self.received - self.receivedAtWindowStart
            guard Double(arrived) < Double(minimum) * window.secondsValue else {
                self.startRateWindow(context: context)
                return
            }
            GatewayEvents.bodyTooSlow(
                self.core.logger, client: self.client, bytes: arrived, seconds: window.secondsValue, minimum: minimum)
            self.expire(context: context, .bodyTooSlow(minimumBytesPerSecond: minimum))
        }
    }

    /// Ends the request being received: the route reading its body gets `deadline` (and answers 408); the
    /// connection closes after that answer — or now, if the route no longer reads.
    private func expire(context: ChannelHandlerContext, _ deadline: GatewayRequestDeadline) {
        self.receiving = false
        self.cancelRequestTimers()
        self.closeAfterResponse = true
        context.fireErrorCaught(deadline)
    }

    private func cancelRequestTimers() {
        self.requestTimer?.cancel()
        self.requestTimer = nil
        self.rateTimer?.cancel()
        self.rateTimer = nil
    }

    private func cancelTimers() {
        self.cancelRequestTimers()
        self.unreadTimer?.cancel()
        self.unreadTimer = nil
    }
}
