import NIOCore
import NIOHTTP1
import NIOPosix
import SaMDExampleSupport
import SaMDTLS
import Synchronization

/// One request as ``RecordClientHandler`` takes it, with the promise of its answer.
struct ClientExchange: Sendable {
    let head: HTTPRequestHead
    let body: ClientRequestBody?
    let promise: EventLoopPromise<ClientResult>
}

/// A request's body: bytes in memory, or a range of a file opened for this attempt and sent in pieces.
enum ClientRequestBody: Sendable {
    case bytes(ByteBuffer)
    case file(OpenedUploadFile)
}

/// The first failure of one connection, kept beyond its pipeline: a TLS alert that closed the channel before a
/// request reached the handler must be what that request fails with, not "I/O on closed channel".
final class ConnectionFailure: Sendable {
    private let first = Mutex<(error: (any Error)?, closedBeforeAnswer: Bool)>((nil, false))

    /// Records `error` unless a failure was recorded before. `closedBeforeAnswer`: the server closed the
    /// connection cleanly (close_notify) while no answer was arriving — what its idle timeout does.
    func record(_ error: any Error, closedBeforeAnswer: Bool = false) {
        self.first.withLock {
            if $0.error == nil { $0 = (error, closedBeforeAnswer) }
        }
    }

    var error: (any Error)? {
        self.first.withLock { $0.error }
    }

    /// Whether the connection ended by the server's clean close while no answer was arriving: the only end
    /// after which the client sends a request again on its own (the keep-alive race).
    var closedBeforeAnswer: Bool {
        self.first.withLock { $0.closedBeforeAnswer }
    }
}

/// A final answer, and whether the server keeps the connection open.
struct ClientResult: Sendable {
    let response: RecordResponse
    let keepAlive: Bool
}

/// The client's one connection to the gateway: made on first use, reused while the server keeps it alive
/// (HTTP/1.1 keep-alive), made again when the server closed it (a TLS 1.3 session ticket from the previous
/// connection is offered, so the new handshake is usually a resumption). Requests are sent one at a time, in
/// the order they were asked for.
///
/// The actor runs on one of the group's event loops: connecting, the handshake and each exchange proceed
/// there, however busy Swift's cooperative threads are (a device's request must not wait for a thread while
/// the gateway's idle timer runs).
actor RecordClientConnection {
    let host: String
    let port: Int
    let context: TLSContext
    let serverName: TLSServerName
    let connectTimeout: Duration
    let requestTimeout: Duration
    let maximumResponseByteCount: Int
    let group: any EventLoopGroup

    /// The event loop this actor runs on, kept so that its executor outlives every unowned reference to it.
    private let loopExecutor: any SerialExecutor
    private var channel: (any Channel)?
    private var failure: ConnectionFailure?
    private var reusable = false
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(
        host: String,
        port: Int,
        context: TLSContext,
        serverName: TLSServerName,
        connectTimeout: Duration,
        requestTimeout: Duration,
        maximumResponseByteCount: Int,
        group: any EventLoopGroup
    ) {
        self.host = host
        self.port = port
        self.context = context
        self.serverName = serverName
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.maximumResponseByteCount = maximumResponseByteCount
        self.group = group
        self.loopExecutor = group.next().executor
    }

    nonisolated var unownedExecutor: UnownedSerialExecutor {
        self.loopExecutor.asUnownedSerialExecutor()
    }

    deinit {
        self.channel?.close(promise: nil)
    }

    /// Sends one request and returns the final answer.
    /// - Throws: `TLSError` for network and TLS failures (`unreachable`, certificate errors, …);
    ///   ``RecordServiceError`` for an answer that is not HTTP, too large, or late.
    func exchange(_ head: HTTPRequestHead, body: ByteBuffer?) async throws -> RecordResponse {
        try await self.exchange(head) { body.map { .bytes($0) } }
    }

    /// Sends one request whose body is read from `file` as it is sent (opened again for each attempt).
    /// - Throws: ``RecordServiceError/Code/bodyUnreadable`` when the file cannot be read or changes size;
    ///   as ``exchange(_:body:)``.
    func exchange(_ head: HTTPRequestHead, file: RecordUploadFile) async throws -> RecordResponse {
        try await self.exchange(head) { .file(try file.open()) }
    }

    /// Sends one request; `makeBody` gives the body for each attempt (a file opened again).
    private func exchange(
        _ head: HTTPRequestHead, makeBody: () throws -> ClientRequestBody?
    ) async throws -> RecordResponse {
        await self.acquire()
        defer { self.release() }
        var sentAgain = false
        while true {
            let channel: any Channel
            let failure: ConnectionFailure
            let reused: Bool
            if let open = self.channel, let openFailure = self.failure, self.reusable, open.isActive {
                (channel, failure, reused) = (open, openFailure, true)
            } else {
                self.drop()
                (channel, failure) = try await self.connect()
                reused = false
            }
            let body = try makeBody()
            defer { if case .file(let file) = body { file.close() } }
            do {
                return try await self.send(on: channel, failure, head, body)
            } catch let error as TLSError
                where !sentAgain && reused && error.code == .connectionClosed && failure.closedBeforeAnswer
            {
                // The keep-alive race: the server closed this kept-alive connection cleanly (close_notify, its
                // idle timeout) while the request was on its way, and began no answer — so it did not take the
                // request up. Sent once more on a new connection (every request of this API is idempotent).
                // Anything else — a connection cut without close_notify or reset (a gateway killed or a
                // network failing mid-request), a fresh connection closed — is this attempt's failure,
                // reported as it is; retrying it is the caller's policy (`upload(…policy:)`).
                sentAgain = true
            }
        }
    }

    /// Closes the connection (close_notify); the next request makes a new one.
    func close() async {
        guard let channel = self.channel else { return }
        self.channel = nil
        self.reusable = false
        try? await channel.close()
    }

    private func send(
        on channel: any Channel,
        _ failure: ConnectionFailure,
        _ head: HTTPRequestHead,
        _ body: ClientRequestBody?
    ) async throws -> RecordResponse {
        let promise = channel.eventLoop.makePromise(of: ClientResult.self)
        channel.writeAndFlush(ClientExchange(head: head, body: body, promise: promise)).whenFailure { error in
            // Only when the write never reached the handler: the channel had closed, for the reason recorded.
            promise.fail(failure.error ?? RecordClientHandler.mapped(error))
        }
        do {
            let result = try await promise.futureResult.get()
            self.reusable = result.keepAlive
            if !result.keepAlive { self.drop() }
            return result.response
        } catch {
            self.drop()
            throw error
        }
    }

    private func connect() async throws -> (any Channel, ConnectionFailure) {
        guard self.context.configuration.role == .client else {
            throw RecordServiceError(.invalidConfiguration, "RecordClient needs a client TLS context")
        }
        let (context, name, port) = (self.context, self.serverName, self.port)
        let (limit, timeout) = (self.maximumResponseByteCount, TimeAmount(self.requestTimeout))
        let failure = ConnectionFailure()
        let bootstrap = ClientBootstrap(group: self.group)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(TimeAmount(self.connectTimeout))
        let channel: any Channel
        let handshake: EventLoopFuture<TLSConnectionInfo>
        do {
            (channel, handshake) = try await bootstrap.connect(host: self.host, port: self.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tls = TLSHandler(clientContext: context, serverName: name, port: port)
                    try channel.pipeline.syncOperations.addHandler(tls)
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        RecordClientHandler(maximumResponseByteCount: limit, timeout: timeout, failure: failure))
                    return (channel, tls.handshakeFuture)
                }
            }
        } catch {
            throw TLSError(
                .unreachable,
                "cannot reach \(Endpoint.format(host: self.host, port: self.port)): \(NetworkErrorText.reason(error))"
            )
        }
        do {
            _ = try await handshake.get()
        } catch {
            channel.close(promise: nil)
            throw RecordClientHandler.mapped(error)
        }
        self.channel = channel
        self.failure = failure
        self.reusable = true
        return (channel, failure)
    }

    private func drop() {
        self.channel?.close(promise: nil)
        self.channel = nil
        self.failure = nil
        self.reusable = false
    }

    private func acquire() async {
        guard self.busy else {
            self.busy = true
            return
        }
        await withCheckedContinuation { self.waiters.append($0) }
    }

    private func release() {
        if self.waiters.isEmpty {
            self.busy = false
        } else {
            self.waiters.removeFirst().resume() // handed over: still busy
        }
    }
}

/// Writes one request and collects its final answer, behind `TLSHandler` and NIO's HTTP/1.1 client handlers.
/// Not `Sendable`: it lives on its channel's event loop.
final class RecordClientHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = ClientExchange
    typealias OutboundOut = HTTPClientRequestPart

    /// Chunked request bodies are sent in parts of this many bytes.
    static let chunkByteCount = 16 << 10

    private let maximumResponseByteCount: Int
    private let timeout: TimeAmount
    private var pending: EventLoopPromise<ClientResult>?
    private var head: HTTPResponseHead?
    private var body: ByteBuffer?
    private var informational = false
    private var failure: (any Error)?
    private let sharedFailure: ConnectionFailure
    private var timer: Scheduled<Void>?
    /// The file body being sent, if any.
    private var upload: FileUploadState?
    /// Whether ``sendFilePieces(context:)`` is running.
    private var sendingPieces = false

    init(maximumResponseByteCount: Int, timeout: TimeAmount, failure: ConnectionFailure) {
        self.maximumResponseByteCount = maximumResponseByteCount
        self.timeout = timeout
        self.sharedFailure = failure
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = Self.unwrapOutboundIn(data)
        // Taken over: from here on the exchange's own promise reports what happens.
        promise?.succeed(())
        if let failure = self.failure {
            exchange.promise.fail(failure)
            return
        }
        guard self.pending == nil else {
            exchange.promise.fail(
                RecordServiceError(.invalidResponse, "a request was sent before the previous one was answered"))
            return
        }
        self.pending = exchange.promise
        self.head = nil
        self.body = nil
        context.write(Self.wrapOutboundOut(.head(exchange.head)), promise: nil)
        self.armTimer(context: context)
        if case .file(let file) = exchange.body {
            self.upload = FileUploadState(file: file)
            self.sendFilePieces(context: context)
            return
        }
        if case .bytes(let body) = exchange.body, body.readableBytes > 0 {
            if exchange.head.headers["transfer-encoding"].contains(where: { $0.lowercased() == "chunked" }) {
                var offset = 0
                while offset < body.readableBytes {
                    let length = min(Self.chunkByteCount, body.readableBytes - offset)
                    context.write(
                        Self.wrapOutboundOut(
                            .body(.byteBuffer(body.getSlice(at: body.readerIndex + offset, length: length)!))),
                        promise: nil)
                    offset += length
                }
            } else {
                context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            }
        }
        // A failed write is seen by the read side too (errorCaught, channelInactive): a refusal the server
        // sent before the upload finished (413) must win over the broken write.
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
    }

    private func armTimer(context: ChannelHandlerContext) {
        let timeout = self.timeout
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.fail(
                RecordServiceError(
                    .timedOut, "no complete answer within \(Duration.nanoseconds(timeout.nanoseconds).secondsText) s"))
            context.close(promise: nil)
        }
    }

    /// Writes the file's next pieces while fewer than ``RecordUploadFile/piecesInFlight`` are unsent, then the
    /// request's end once every byte is out. Called when the request starts and whenever a piece was sent. When
    /// the range ends the file, its last piece is read with one byte more than remains: a file that grew since it
    /// was opened is refused like one that shrank, before that piece is sent, and the connection is closed, so the
    /// gateway sees a body shorter than its `Content-Length` and stores nothing.
    private func sendFilePieces(context: ChannelHandlerContext) {
        // A piece's write may complete while it is being written (flushed at once): that completion only
        // counts the piece as sent, and this loop goes on, rather than calling in again (no recursion per piece).
        guard !self.sendingPieces else { return }
        self.sendingPieces = true
        defer { self.sendingPieces = false }
        while var upload = self.upload, upload.inFlight < RecordUploadFile.piecesInFlight {
            let remaining = upload.file.byteCount - upload.position
            if remaining == 0 {
                self.upload = nil
                context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
                return
            }
            let wanted = Int(min(Int64(RecordUploadFile.pieceByteCount), remaining))
            // Read one byte past the range when it ends the file, to find a file that grew.
            let last = Int64(wanted) == remaining && upload.file.endsAtFileEnd
            var piece = context.channel.allocator.buffer(capacity: wanted + 1)
            let position = upload.position
            let read: Int
            do {
                read = try piece.writeWithUnsafeMutableBytes(minimumWritableBytes: wanted + 1) { buffer in
                    try upload.file.read(
                        at: position,
                        into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<(last ? wanted + 1 : wanted)]))
                }
            } catch {
                self.abortUpload(context: context, error)
                return
            }
            guard read == wanted else {
                self.abortUpload(
                    context: context,
                    RecordServiceError(
                        .bodyUnreadable,
                        read < wanted
                            ? "the file became shorter while it was sent" : "the file became longer while it was sent"))
                return
            }
            upload.position += Int64(wanted)
            upload.inFlight += 1
            self.upload = upload
            let sent = context.eventLoop.makePromise(of: Void.self)
            let file = upload.file
            sent.futureResult.assumeIsolated().whenComplete { result in
                // Only while this file is still the one being sent (not after an answer, a failure, or the end).
                guard var current = self.upload, current.file === file else { return }
                current.inFlight -= 1
                self.upload = current
                if case .success = result { self.sendFilePieces(context: context) }
                // A failed write is reported by errorCaught or channelInactive.
            }
            context.writeAndFlush(Self.wrapOutboundOut(.body(.byteBuffer(piece))), promise: sent)
        }
    }

    /// Ends an upload that cannot go on: the request fails with `error` and the connection closes, cutting the
    /// body short of its `Content-Length`.
    private func abortUpload(context: ChannelHandlerContext, _ error: any Error) {
        self.upload = nil
        self.fail(error)
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            if (100..<200).contains(head.status.code) && head.status.code != 101 {
                self.informational = true // 100 Continue and the like: the final answer follows
                return
            }
            self.informational = false
            let declared = head.headers["content-length"].first.flatMap { Int($0) }
            if let declared, declared > self.maximumResponseByteCount {
                self.tooLarge(context: context)
                return
            }
            self.head = head
            self.body = context.channel.allocator.buffer(capacity: min(declared ?? 0, 1 << 20))
        case .body(var chunk):
            guard !self.informational, self.head != nil else { return }
            guard self.body!.readableBytes + chunk.readableBytes <= self.maximumResponseByteCount else {
                self.tooLarge(context: context)
                return
            }
            self.body!.writeBuffer(&chunk)
        case .end:
            if self.informational {
                self.informational = false
                return
            }
            guard let head = self.head, let promise = self.pending else { return }
            self.pending = nil
            // An answer before the whole body went out (a refusal: 413, 403…): the rest is not sent, and the
            // connection cannot carry another request.
            let bodyUnsent = self.upload != nil
            self.upload = nil
            self.timer?.cancel()
            self.timer = nil
            let body = self.body.map { Array($0.readableBytesView) } ?? []
            self.head = nil
            self.body = nil
            let response = RecordResponse(
                status: Int(head.status.code), body: body, contentType: head.headers["content-type"].first,
                headers: head.headers.map { (name: $0.name, value: $0.value) })
            promise.succeed(ClientResult(response: response, keepAlive: head.isKeepAlive && !bodyUnsent))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        var mapped = Self.mapped(error)
        if self.pending != nil, let cut = mapped as? TLSError,
            cut.code == .uncleanShutdown || cut.code == .connectionClosed
        {
            // Cut under a request: say so, not only how.
            let how =
                cut.code == .uncleanShutdown
                ? ", without close_notify" : ": " + (error is TLSError ? cut.reason : NetworkErrorText.reason(error))
            mapped = TLSError(cut.code, origin: cut.origin, "the connection closed before the answer" + how)
        }
        self.fail(mapped)
        // TLSHandler closes after a TLSError once its alert is out; anything else is closed here.
        if !(error is TLSError) {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if self.failure == nil {
            // Nothing was reported first, so the TLS close was clean (close_notify): an end without it, or a
            // reset, arrives through errorCaught before this.
            let answering = self.head != nil || self.informational
            let error = TLSError(.connectionClosed, "the server closed the connection before answering")
            self.sharedFailure.record(error, closedBeforeAnswer: !answering)
            self.fail(error)
        }
        context.fireChannelInactive()
    }

    private func tooLarge(context: ChannelHandlerContext) {
        self.fail(
            RecordServiceError(.responseTooLarge, "the answer is larger than \(self.maximumResponseByteCount) bytes"))
        context.close(promise: nil)
    }

    /// Records the first failure and fails the request waiting for an answer, if any.
    private func fail(_ error: any Error) {
        self.upload = nil
        if self.failure == nil {
            self.failure = error
            self.sharedFailure.record(error)
        }
        self.timer?.cancel()
        self.timer = nil
        if let promise = self.pending {
            self.pending = nil
            promise.fail(self.failure!)
        }
    }

    /// TLS and record-service errors as they are; HTTP parse errors as ``RecordServiceError/Code/invalidResponse``;
    /// anything else (a socket error) as a closed connection, which may be retried.
    static func mapped(_ error: any Error) -> any Error {
        switch error {
        case is TLSError, is RecordServiceError: error
        case is HTTPParserError: RecordServiceError(.invalidResponse, "the answer is not valid HTTP/1.1: \(error)")
        default: TLSError(.connectionClosed, "the connection failed: \(NetworkErrorText.reason(error))")
        }
    }
}

/// How far a file body got: the bytes written so far and the pieces written but not yet sent.
struct FileUploadState {
    let file: OpenedUploadFile
    var position: Int64 = 0
    var inFlight = 0
}
