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

/// What every connection of one gateway shares: its configuration, store, logger and counters.
final class GatewayCore: Sendable {
    let configuration: RecordGatewayConfiguration
    let store: EncryptedRecordStore
    let logger: Logger
    /// Where the store's synchronous calls (SQLite, fsync, key store) run: never on an event loop.
    let threadPool: NIOThreadPool
    let counters = Mutex(RecordGatewayStatistics())
    let stopping = Mutex(false)
    /// Request body bytes held by all connections now, at most `configuration.maximumBufferedBodyByteCount`.
    private let bufferedBodyBytes = Mutex(0)
    /// What the full handshakes found about issuer-bound roles, by leaf certificate, for resumed sessions.
    private let issuedRoles = Mutex(IssuedRolesCache())

    init(
        configuration: RecordGatewayConfiguration, store: EncryptedRecordStore, logger: Logger,
        threadPool: NIOThreadPool
    ) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        self.threadPool = threadPool
    }

    /// Whether `count` more body bytes would fit the shared budget now (nothing is reserved).
    func bodyBytesFit(_ count: Int) -> Bool {
        let limit = self.configuration.maximumBufferedBodyByteCount
        return self.bufferedBodyBytes.withLock { held in count <= limit - held }
    }

    /// Reserves `count` more body bytes of the shared budget; `false` (nothing reserved) when they do not fit.
    func reserveBodyBytes(_ count: Int) -> Bool {
        let limit = self.configuration.maximumBufferedBodyByteCount
        return self.bufferedBodyBytes.withLock { held in
            guard count <= limit - held else { return false }
            held += count
            return true
        }
    }

    /// The roles of a client verified in a handshake. A resumed session's identity is its leaf alone (no
    /// chain is verified again): its issuer-bound roles are what the full handshake that made the session
    /// found for that leaf, remembered here; forgotten (bounded cache), they are not granted — fail closed.
    func roles(of peer: TLSPeerIdentity, resumed: Bool) -> (roles: Set<RecordRole>, refusedByIssuer: [RecordRole]) {
        let configuration = self.configuration
        guard configuration.bindsRolesToIssuers else { return (configuration.roles(of: peer), []) }
        let leaf = peer.certificateChain.first ?? []
        let issued: Set<RecordRole>
        if resumed {
            issued = self.issuedRoles.withLock { $0.roles(for: leaf) } ?? []
        } else {
            issued = configuration.issuedRoles(of: peer)
            self.issuedRoles.withLock { $0.remember(issued, for: leaf) }
        }
        return (
            configuration.roles(of: peer, issuedRoles: issued),
            configuration.rolesRefusedByIssuer(peer, issuedRoles: issued)
        )
    }

    /// Gives `count` reserved body bytes back.
    func releaseBodyBytes(_ count: Int) {
        self.bufferedBodyBytes.withLock { $0 -= count }
    }
}

/// The issuer-bound roles full handshakes found, by leaf certificate (DER), at most ``limit`` leaves (the
/// oldest forgotten first): a resumed session can only come from a full handshake of this process.
struct IssuedRolesCache {
    static let limit = 4096
    private var roles: [[UInt8]: Set<RecordRole>] = [:]
    private var order: [[UInt8]] = []

    func roles(for leaf: [UInt8]) -> Set<RecordRole>? {
        self.roles[leaf]
    }

    mutating func remember(_ issued: Set<RecordRole>, for leaf: [UInt8]) {
        guard !leaf.isEmpty else { return }
        if self.roles.updateValue(issued, forKey: leaf) == nil {
            self.order.append(leaf)
            if self.order.count > Self.limit {
                self.roles[self.order.removeFirst()] = nil
            }
        }
    }
}

/// Sent down each connection's pipeline when the gateway stops: idle connections close now, busy ones after
/// their response.
struct GatewayShutdownEvent: Sendable {}

/// What a store call produced, carried back from the thread pool to the event loop.
private enum StoreOutcome: Sendable {
    case stored(RecordWriteResult, bytes: Int, recordType: String)
    case read(StoredRecord)
    case shredded(ShredReceipt)
}

/// The gateway's HTTP/1.1 request handling for one connection, behind `TLSHandler` and NIO's HTTP server
/// handlers (with pipelining assistance: one request at a time reaches this handler).
///
/// The client's roles come from the certificate verified in the handshake (`TLSUserEvent.handshakeCompleted`,
/// fired before any request byte is delivered). A request is routed when its head arrives; its body is
/// accumulated only for an allowed `PUT`, up to the configured limit; the store call runs on the thread pool
/// when the request has fully arrived. Not `Sendable`: it lives on its channel's event loop.
final class GatewayHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Phase {
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

    private struct Request {
        let head: HTTPRequestHead
        let decision: GatewayRouting.Decision
        /// The body so far; `nil` when it is discarded (every request but an allowed PUT).
        var body: ByteBuffer?
        var received: Int
        /// Whether the connection may carry another request after this one: not after an `Upgrade` or
        /// `CONNECT` (NIO's parser stops parsing after their heads).
        let keepAlive: Bool
    }

    private let core: GatewayCore
    private var phase = Phase.handshaking
    private var request: Request?
    private var client = GatewayEvents.Client()
    private var roles: Set<RecordRole> = []
    /// The connection closes after the response in flight, or at once when idle: the gateway stops, the
    /// client is no longer valid (``TLSPeerInvalidatedEvent``), or the connection reached its maximum age.
    private var stopping = false
    private var idleTimer: Scheduled<Void>?
    private var ageTimer: Scheduled<Void>?
    private var requestTimer: Scheduled<Void>?
    /// Ends the current window of the body rate check (``RecordGatewayConfiguration/minimumBodyBytesPerSecond``).
    private var rateTimer: Scheduled<Void>?
    /// Body bytes of the current request when the current rate window began.
    private var receivedAtWindowStart = 0
    /// Body bytes of the shared budget this connection holds (``GatewayCore/reserveBodyBytes(_:)``).
    private var reservedBodyBytes = 0
    /// A request that arrived while the previous response still waited in the outbound buffer: it is
    /// processed when the client has read enough (`channelWritabilityChanged`).
    private var parked: Request?

    init(core: GatewayCore) {
        self.core = core
    }

    private var limit: Int { self.core.configuration.maximumBodyByteCount }

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
    private func finishAfterResponse(context: ChannelHandlerContext) {
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

    private func receiveHead(context: ChannelHandlerContext, _ head: HTTPRequestHead) {
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
        let seconds = self.core.configuration.requestTimeout
        self.requestTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.timeAmount(seconds)) {
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
    private func startRateWindow(context: ChannelHandlerContext) {
        let minimum = self.core.configuration.minimumBodyBytesPerSecond
        guard minimum > 0 else { return }
        let window = self.core.configuration.bodyRateWindow
        self.receivedAtWindowStart = self.request?.received ?? 0
        self.rateTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.timeAmount(window)) {
            guard self.phase == .receiving, let request = self.request else { return }
            let arrived = request.received - self.receivedAtWindowStart
            guard Double(arrived) < Double(minimum) * window else {
                self.startRateWindow(context: context)
                return
            }
            GatewayEvents.bodyTooSlow(
                self.core.logger, client: self.client, bytes: arrived, seconds: window, minimum: minimum)
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

    private func receiveBody(context: ChannelHandlerContext, _ chunk: inout ByteBuffer) {
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

    private func receiveEnd(context: ChannelHandlerContext) {
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

    private func process(context: ChannelHandlerContext, _ request: Request) {
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

    private func refuse(
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
    private func refuseBody(context: ChannelHandlerContext, version: HTTPVersion, declared: Int?) {
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
    private func refuseOverloaded(context: ChannelHandlerContext, version: HTTPVersion) {
        self.dropRequest()
        GatewayEvents.bodiesOverBudget(
            self.core.logger, client: self.client, limit: self.core.configuration.maximumBufferedBodyByteCount)
        var reply = GatewayReply.error(
            .serviceUnavailable, "unavailable", "the gateway holds too many request bodies now; try again later")
        reply.headers.append(("retry-after", "1"))
        self.respond(context: context, reply, version: version, keepAlive: false)
    }

    /// Forgets the request being received: its timer stops and its body bytes go back to the shared budget.
    private func dropRequest() {
        self.request = nil
        self.cancelRequestTimers()
        self.releaseBody()
    }

    private func reserveBody(_ count: Int) -> Bool {
        guard self.core.reserveBodyBytes(count) else { return false }
        self.reservedBodyBytes += count
        return true
    }

    private func releaseBody() {
        guard self.reservedBodyBytes > 0 else { return }
        self.core.releaseBodyBytes(self.reservedBodyBytes)
        self.reservedBodyBytes = 0
    }

    // MARK: The store

    private func perform(
        context: ChannelHandlerContext,
        _ operation: GatewayOperation,
        route: GatewayRoute,
        head: HTTPRequestHead,
        keepAlive: Bool,
        body: ByteBuffer
    ) {
        if case .health = operation {
            self.respond(
                context: context, .json(.ok, GatewayReply.Health(status: "ok")), version: head.version,
                keepAlive: keepAlive)
            return
        }
        let store = self.core.store
        let work = self.core.threadPool.runIfActive(eventLoop: context.eventLoop) { () throws -> StoreOutcome in
            switch operation {
            case .putRecord(let subject, let recordID, let recordType):
                let result = try store.put(
                    body.readableBytesView, subject: subject, recordID: recordID, recordType: recordType)
                return .stored(result, bytes: body.readableBytes, recordType: recordType)
            case .getRecord(let subject, let recordID):
                return .read(try store.get(subject: subject, recordID: recordID))
            case .shredSubject(let subject):
                return .shredded(try store.shred(subject: subject))
            case .health:
                preconditionFailure("answered without the store")
            }
        }
        work.assumeIsolated().whenComplete { result in
            // The store has sealed (or refused) the body: its bytes go back to the shared budget.
            self.releaseBody()
            let reply = self.reply(for: result, operation: operation, route: route, method: head.method.rawValue)
            self.respond(context: context, reply, version: head.version, keepAlive: keepAlive)
        }
    }

    private func reply(
        for result: Result<StoreOutcome, any Error>, operation: GatewayOperation, route: GatewayRoute, method: String
    ) -> GatewayReply {
        let logger = self.core.logger
        switch result {
        case .success(.stored(let write, let bytes, let recordType)):
            GatewayEvents.recordStored(
                logger, client: self.client, revision: write.revision, key: "\(write.key)", recordType: recordType,
                bytes: bytes)
            return .json(write.revision == 1 ? .created : .ok, GatewayReply.Revision(revision: write.revision))
        case .success(.read(let record)):
            GatewayEvents.recordRead(
                logger, client: self.client, revision: record.revision, recordType: record.recordType,
                bytes: record.payload.count)
            return .record(record.payload, recordType: record.recordType)
        case .success(.shredded(let shred)):
            let receipt = shred.receipt
            GatewayEvents.subjectShredded(
                logger, client: self.client, key: "\(receipt.key)", destroyedAt: receipt.destroyedAt,
                records: shred.recordCount)
            return .json(
                .ok,
                GatewayReply.Receipt(
                    key: "\(receipt.key)", destroyedAt: receipt.destroyedAt.formatted(.iso8601),
                    records: shred.recordCount))
        case .failure(let error as RecordStoreError):
            return self.reply(for: error, operation: operation, route: route, method: method)
        case .failure:
            // The thread pool is not running: only while the process shuts down.
            GatewayEvents.storeFailed(
                logger, client: self.client, method: method, route: route, error: "unavailable", status: 503)
            return .error(.serviceUnavailable, "unavailable", "the record store is not available; try again later")
        }
    }

    /// Store errors as statuses. Reasons of 400 and 413 are the store's words (which never hold an id);
    /// every other body is fixed text.
    private func reply(for error: RecordStoreError, operation: GatewayOperation, route: GatewayRoute, method: String)
        -> GatewayReply
    {
        switch error.code {
        case .invalidArgument:
            return .error(.badRequest, "invalid-request", error.reason)
        case .limitExceeded:
            return .error(.payloadTooLarge, "payload-too-large", error.reason)
        case .notFound:
            if case .shredSubject = operation {
                return .error(.notFound, "not-found", "this subject has no key to shred")
            }
            return .error(.notFound, "not-found", "no record at this address")
        case .shredded:
            return .error(.gone, "gone", "the subject was crypto-shredded; its records can never be opened")
        case .conflict:
            return .error(.conflict, "conflict", "the record changed meanwhile; try again")
        case .authenticationFailed:
            GatewayEvents.recordAuthenticationFailed(self.core.logger, client: self.client, method: method)
            return .error(.internalServerError, "internal-error", "the request could not be completed")
        case .keyUnavailable where !error.isRetryable:
            // A key the request needs is not there (no active KEK, a key version missing from a key store restored
            // from another time): waiting does not bring it back, so no "try again".
            GatewayEvents.storeFailed(
                self.core.logger, client: self.client, method: method, route: route, error: "\(error.code)", status: 500
            )
            return .error(
                .internalServerError, "key-unavailable",
                "the record store lacks a key this request needs; the operator must restore or rotate its keys")
        default:
            // storage, a busy key store: the operator's problem, maybe temporary.
            GatewayEvents.storeFailed(
                self.core.logger, client: self.client, method: method, route: route, error: "\(error.code)", status: 503
            )
            var reply = GatewayReply.error(
                .serviceUnavailable, "unavailable", "the record store is not available; try again later")
            if error.isRetryable {
                // Busy: the key store's lock held past its timeout, or the database's.
                reply.headers.append(("retry-after", "1"))
            }
            return reply
        }
    }

    // MARK: Responses

    private func respond(
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

    // MARK: Timers

    /// Closes the connection after `idleTimeout` unless a request arrives first — or, for a parked request,
    /// unless the client reads the previous answer first.
    private func startIdleTimer(context: ChannelHandlerContext) {
        self.idleTimer?.cancel()
        let seconds = self.core.configuration.idleTimeout
        self.idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.timeAmount(seconds)) {
            if self.parked != nil {
                GatewayEvents.responseUnread(self.core.logger, client: self.client, seconds: seconds)
                self.parked = nil
            } else {
                guard self.phase == .idle else { return }
            }
            self.phase = .closing
            self.releaseBody()
            context.close(promise: nil)
        }
    }

    /// After ``RecordGatewayConfiguration/maximumConnectionAge`` (counted from the handshake) the connection
    /// finishes its request in flight and closes.
    private func startAgeTimer(context: ChannelHandlerContext) {
        let seconds = self.core.configuration.maximumConnectionAge
        self.ageTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.timeAmount(seconds)) {
            guard self.phase != .closing else { return }
            GatewayEvents.connectionMaximumAge(self.core.logger, client: self.client, seconds: seconds)
            self.finishAfterResponse(context: context)
        }
    }

    private func cancelTimers() {
        self.ageTimer?.cancel()
        self.ageTimer = nil
        self.idleTimer?.cancel()
        self.idleTimer = nil
        self.cancelRequestTimers()
    }

    /// Stops the timers of a request being received: its timeout and its body rate check.
    private func cancelRequestTimers() {
        self.requestTimer?.cancel()
        self.requestTimer = nil
        self.rateTimer?.cancel()
        self.rateTimer = nil
    }

    static func timeAmount(_ seconds: Double) -> TimeAmount {
        .nanoseconds(Int64((seconds * 1e9).rounded()))
    }
}
