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

/// The gateway's HTTP/1.1 request handling for one connection, behind `TLSHandler` and NIO's HTTP server
/// handlers (with pipelining assistance: one request at a time reaches this handler).
///
/// The client's roles come from the certificate verified in the handshake (`TLSUserEvent.handshakeCompleted`,
/// fired before any request byte is delivered). A request is routed when its head arrives; its body is
/// accumulated only for an allowed `PUT`, up to the configured limit; the store call runs on the thread pool
/// when the request has fully arrived. Not `Sendable`: it lives on its channel's event loop.
///
/// This file holds the connection's state and the request intake; the store calls, the responses and the
/// timers are extensions beside it (`GatewayHTTPHandler+Store.swift`, `+Responses.swift`, `+Timers.swift`),
/// so the state is internal to the module rather than private.
final class GatewayHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    enum Phase {
        /// Before the TLS handshake completed: no request can arrive.
        case handshaking
        /// Waiting for a request head (the idle timer runs).
        case idle
        /// A head arrived; its body is arriving (the request timer runs).
        case receiving
        /// The request arrived; the store works on it or the response is being written.
        case processing
        /// The connection is closing: everything that arrives is ignored.
        case closing
    }

    struct Request {
        let head: HTTPRequestHead
        let decision: GatewayRouting.Decision
        /// The body so far; `nil` when it is discarded (every request but an allowed PUT).
        var body: ByteBuffer?
        var received: Int
        /// Whether the connection may carry another request after this one: not after an `Upgrade` or
        /// `CONNECT` (NIO's parser stops parsing after their heads).
        let keepAlive: Bool
    }

    let core: GatewayCore
    var phase = Phase.handshaking
    var request: Request?
    var client = GatewayEvents.Client()
    var roles: Set<RecordRole> = []
    /// The connection closes after the response in flight, or at once when idle: the gateway stops, the
    /// client is no longer valid (`TLSPeerInvalidatedEvent`), or the connection reached its maximum age.
    var stopping = false
    var idleTimer: Scheduled<Void>?
    var ageTimer: Scheduled<Void>?
    var requestTimer: Scheduled<Void>?
    /// Ends the current window of the body rate check (``RecordGatewayConfiguration/minimumBodyBytesPerSecond``).
    var rateTimer: Scheduled<Void>?
    /// Body bytes of the current request when the current rate window began.
    var receivedAtWindowStart = 0
    /// Body bytes of the shared budget this connection holds (``GatewayCore/reserveBodyBytes(_:)``).
    var reservedBodyBytes = 0
    /// A request that arrived while the previous response still waited in the outbound buffer: it is
    /// processed when the client has read enough (`channelWritabilityChanged`).
    var parked: Request?

    init(core: GatewayCore) {
        self.core = core
    }

    var limit: Int { self.core.configuration.maximumBodyByteCount }

    func handlerAdded(context: ChannelHandlerContext) {
        if let address = context.channel.remoteAddress {
            self.client.remote =
                address.ipAddress.map { Endpoint.format(host: $0, port: address.port ?? 0) }
                ?? "\(address)"
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let info) = event as? TLSUserEvent {
            guard let peer = info.peer else {
                // Only a context that authenticates no one gets here, and start() refuses such contexts.
                self.phase = .closing
                context.close(promise: nil)
                return
            }
            self.client.peer = peer.displayName
            let roles = self.core.roles(of: peer, resumed: info.sessionResumed)
            self.roles = roles.roles
            for role in roles.refusedByIssuer {
                GatewayEvents.roleNotIssued(
                    self.core.logger, client: self.client, role: role, resumed: info.sessionResumed)
            }
            self.phase = .idle
            if self.stopping {
                self.phase = .closing
                context.close(promise: nil)
            } else {
                self.startIdleTimer(context: context)
                self.startAgeTimer(context: context)
            }
        } else if event is GatewayShutdownEvent {
            self.finishAfterResponse(context: context)
            return
        } else if event is TLSPeerInvalidatedEvent {
            // The TLS layer logged why (samd.tls.connection-invalidated) and closes the connection after its
            // grace period should the request in flight not be answered by then.
            self.finishAfterResponse(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Closes now when no request is in flight; otherwise the response in flight carries `Connection: close`
    /// and the connection closes after it.
    func finishAfterResponse(context: ChannelHandlerContext) {
        self.stopping = true
        if self.phase == .idle || self.phase == .handshaking {
            self.phase = .closing
            self.cancelTimers()
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.receiveHead(context: context, head)
        case .body(var chunk):
            self.receiveBody(context: context, &chunk)
        case .end:
            self.receiveEnd(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.phase = .closing
        self.request = nil
        self.parked = nil
        self.cancelTimers()
        self.releaseBody()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, self.phase == .processing, let request = self.parked {
            self.parked = nil
            self.idleTimer?.cancel()
            self.idleTimer = nil
            self.process(context: context, request)
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // This connection is over. A TLSError is closed by TLSHandler itself once its alert is out (closing
        // here first would drop the alert: a refused client would see a bare EOF, not why). HTTP parse errors
        // were answered 400 by NIO's HTTPServerProtocolErrorHandler; anything else is closed here.
        self.phase = .closing
        self.parked = nil
        self.cancelTimers()
        self.releaseBody()
        if !(error is TLSError) {
            context.close(promise: nil)
        }
    }

    // MARK: Requests

    func receiveHead(context: ChannelHandlerContext, _ head: HTTPRequestHead) {
        guard self.phase == .idle else {
            // The pipelining handler delivers one request at a time; anything else ends the connection.
            if self.phase != .closing {
                self.phase = .closing
                context.close(promise: nil)
            }
            return
        }
        self.idleTimer?.cancel()
        self.idleTimer = nil
        let declared = head.headers["content-length"].first.flatMap { Int($0) }
        if let declared, declared > self.limit {
            self.refuseBody(context: context, version: head.version, declared: declared)
            return
        }
        let decision = GatewayRouting.decide(head, roles: self.roles)
        let upgrade = head.method == .CONNECT || head.headers.contains(name: "upgrade")
        let expectsContinue = head.headers["expect"].contains(where: { $0.lowercased() == "100-continue" })
        var body: ByteBuffer?
        if case .perform(.putRecord, _) = decision {
            // A declared length that cannot fit what is free now is refused before a byte of the body is read;
            // one that fits reserves nothing yet: the budget is taken as the bytes arrive (receiveBody), so
            // a client that announces much and sends little holds little.
            guard self.core.bodyBytesFit(declared ?? 0) else {
                self.refuseOverloaded(context: context, version: head.version)
                return
            }
            // Grown as the body arrives: a declared length is a claim, not an allocation.
            body = context.channel.allocator.buffer(capacity: min(declared ?? 0, 64 << 10))
        } else if expectsContinue, case .refuse(let reply, let route, let refusedRole) = decision {
            // The client waits for 100 before sending a body that would be discarded: the refusal now, and
            // the connection closed, since the body may still come (RFC 9110 §10.1.1).
            self.phase = .processing
            self.refuse(
                context: context, reply, route: route, refusedRole: refusedRole, method: head.method,
                version: head.version, keepAlive: false)
            return
        }
        self.request = Request(
            head: head, decision: decision, body: body, received: 0, keepAlive: head.isKeepAlive && !upgrade)
        self.phase = .receiving
        if expectsContinue {
            context.writeAndFlush(
                Self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
        }
        let timeout = self.core.configuration.requestTimeout
        let seconds = timeout.secondsValue
        self.requestTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
            guard self.phase == .receiving, let request = self.request else { return }
            GatewayEvents.requestTimeout(self.core.logger, client: self.client, seconds: seconds)
            self.request = nil
            self.cancelRequestTimers()
            self.releaseBody()
            self.respond(
                context: context,
                .error(.requestTimeout, "request-timeout", "the request did not arrive in time"),
                version: request.head.version,
                keepAlive: false
            )
        }
        self.startRateWindow(context: context)
    }

    /// Starts a window of the body rate check: when it ends, the request must have received at least
    /// `minimumBodyBytesPerSecond × bodyRateWindow` more bytes, or it is dropped (408, connection closed).
    func startRateWindow(context: ChannelHandlerContext) {
        let minimum = self.core.configuration.minimumBodyBytesPerSecond
        guard minimum > 0 else { return }
        let window = self.core.configuration.bodyRateWindow
        let seconds = window.secondsValue
        self.receivedAtWindowStart = self.request?.received ?? 0
        self.rateTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(window)) {
            guard self.phase == .receiving, let request = self.request else { return }
            let arrived = request.received - self.receivedAtWindowStart
            guard Double(arrived) < Double(minimum) * seconds else {
                self.startRateWindow(context: context)
                return
            }
            GatewayEvents.bodyTooSlow(
                self.core.logger, client: self.client, bytes: arrived, seconds: seconds, minimum: minimum)
            self.dropRequest()
            self.respond(
                context: context,
                .error(
                    .requestTimeout, "body-too-slow", "the request body arrived slower than \(minimum) bytes per second"
                ),
                version: request.head.version,
                keepAlive: false
            )
        }
    }

    func receiveBody(context: ChannelHandlerContext, _ chunk: inout ByteBuffer) {
        guard self.phase == .receiving, self.request != nil else { return }
        let count = chunk.readableBytes
        self.core.counters.withLock { $0.bytesIn += count }
        self.request!.received += count
        guard self.request!.received <= self.limit else {
            self.refuseBody(context: context, version: self.request!.head.version, declared: nil)
            return
        }
        if self.request!.body != nil, self.request!.received > self.reservedBodyBytes {
            // A chunked body (or one longer than declared, which NIO's parser does not let through).
            guard self.reserveBody(self.request!.received - self.reservedBodyBytes) else {
                self.refuseOverloaded(context: context, version: self.request!.head.version)
                return
            }
        }
        // In place: the buffer is uniquely referenced by the request.
        self.request!.body?.writeBuffer(&chunk)
    }

    func receiveEnd(context: ChannelHandlerContext) {
        guard self.phase == .receiving, let request = self.request else { return }
        self.request = nil
        self.cancelRequestTimers()
        self.phase = .processing
        guard context.channel.isWritable else {
            // The previous response still waits in the outbound buffer: a client that pipelines requests
            // without reading the answers must not make the gateway hold one answer per request. Processed
            // when it reads (channelWritabilityChanged); closed if it does not within idleTimeout.
            self.parked = request
            self.startIdleTimer(context: context)
            return
        }
        self.process(context: context, request)
    }

    func process(context: ChannelHandlerContext, _ request: Request) {
        let head = request.head
        switch request.decision {
        case .refuse(let reply, let route, let refusedRole):
            self.refuse(
                context: context, reply, route: route, refusedRole: refusedRole, method: head.method,
                version: head.version, keepAlive: request.keepAlive)
        case .perform(let operation, let route):
            self.perform(
                context: context, operation, route: route, head: head, keepAlive: request.keepAlive,
                body: request.body ?? ByteBuffer())
        }
    }

    func refuse(
        context: ChannelHandlerContext,
        _ reply: GatewayReply,
        route: GatewayRoute?,
        refusedRole: RecordRole?,
        method: HTTPMethod,
        version: HTTPVersion,
        keepAlive: Bool
    ) {
        if let refusedRole, let route {
            GatewayEvents.requestRefused(
                self.core.logger, client: self.client, role: refusedRole, method: method.rawValue, route: route)
        }
        self.respond(context: context, reply, version: version, keepAlive: keepAlive)
    }

    /// 413: the body is not read; the connection closes after the response (TLSHandler's close drains what
    /// the client still sends while it waits for its close_notify).
    func refuseBody(context: ChannelHandlerContext, version: HTTPVersion, declared: Int?) {
        self.dropRequest()
        GatewayEvents.bodyTooLarge(self.core.logger, client: self.client, limit: self.limit, declared: declared)
        self.respond(
            context: context,
            .error(.payloadTooLarge, "payload-too-large", "a request body is at most \(self.limit) bytes"),
            version: version,
            keepAlive: false
        )
    }

    /// 503: the body does not fit the shared budget (``RecordGatewayConfiguration/maximumBufferedBodyByteCount``);
    /// not read, and the connection closes after the response, as for 413.
    func refuseOverloaded(context: ChannelHandlerContext, version: HTTPVersion) {
        self.dropRequest()
        GatewayEvents.bodiesOverBudget(
            self.core.logger, client: self.client, limit: self.core.configuration.maximumBufferedBodyByteCount)
        var reply = GatewayReply.error(
            .serviceUnavailable, "unavailable", "the gateway holds too many request bodies now; try again later")
        reply.headers.append(("retry-after", "1"))
        self.respond(context: context, reply, version: version, keepAlive: false)
    }

    /// Forgets the request being received: its timer stops and its body bytes go back to the shared budget.
    func dropRequest() {
        self.request = nil
        self.cancelRequestTimers()
        self.releaseBody()
    }

    func reserveBody(_ count: Int) -> Bool {
        guard self.core.reserveBodyBytes(count) else { return false }
        self.reservedBodyBytes += count
        return true
    }

    func releaseBody() {
        guard self.reservedBodyBytes > 0 else { return }
        self.core.releaseBodyBytes(self.reservedBodyBytes)
        self.reservedBodyBytes = 0
    }
}
