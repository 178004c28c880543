import Logging
public import NIOCore

/// Events the ``TLSHandler`` fires inbound.
public enum TLSUserEvent: Sendable, Hashable {
    /// The handshake completed and the peer is verified (and allowed by the peer policy).
    case handshakeCompleted(TLSConnectionInfo)
}

/// A SwiftNIO channel handler that runs TLS over OpenSSL: ciphertext on the network side, plaintext
/// `ByteBuffer`s on the application side.
///
/// - The handshake starts when the channel becomes active. Writes made before it completes are buffered and
///   sent, in order, once it has; application data that arrives with the handshake's last flight is
///   delivered at once. ``handshakeFuture`` completes with the negotiated ``TLSConnectionInfo`` or the
///   typed ``TLSError``; ``TLSUserEvent/handshakeCompleted(_:)`` is also fired.
/// - Errors are ``TLSError``s fired through `errorCaught`, after which the channel is closed. A fatal alert
///   is sent first, then the output is half-closed and what the peer still sends is read and dropped —
///   at most ``drainLimitBytes``, for at most ``TLSConfiguration/closeTimeout`` — before the channel closes,
///   so that a peer still writing reads the alert rather than a TCP reset (RFC 8446 §6.2).
/// - `close(mode: .all)` sends close_notify, keeps delivering what the peer still sends, and closes when the
///   peer's close_notify arrives or after ``TLSConfiguration/closeTimeout``. `close(mode: .output)` sends
///   close_notify and half-closes TCP: the peer may go on sending.
/// - The peer's close_notify ends the input: with `ChannelOptions.allowRemoteHalfClosure` it is reported as
///   `ChannelEvent.inputClosed` and the application may still write; otherwise the handler answers with its
///   own close_notify and closes. A connection that ends *without* close_notify fires
///   ``TLSError/Code/uncleanShutdown`` (possible truncation, RFC 8446 §6.1), never a clean end.
/// - The first bytes from the peer must start a TLS record; anything else (an HTTP request, a plaintext
///   banner) fails with ``TLSError/Code/notTLS`` before OpenSSL parses or buffers it. A server answers an
///   SSLv2-format ClientHello (first byte with the high bit set) with a fatal `protocol_version` alert, as
///   OpenSSL does, and fails with ``TLSError/Code/protocolVersion`` (RFC 6176: no SSL 2.0, nor its hello).
///
/// Add it first in the pipeline, in front of protocol handlers (HTTP/1.1, HTTP/2). Not `Sendable`: use it on
/// its channel's event loop only.
public final class TLSHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Plaintext is encrypted and handed to the channel in slices of this many bytes (1 MiB), so OpenSSL's
    /// memory BIO stays small whatever the size of a write.
    static let writeSliceSize = 1 << 20
    /// Decrypted data is delivered in buffers of this size (one TLS record holds at most 16 KiB).
    static let readBufferSize = 16 * 1024
    /// After a fatal alert, at most this many bytes (8 MiB) the peer still sends are read and dropped
    /// before the channel closes: enough for a peer that writes at loopback speed until it has read the alert
    /// (reading and dropping costs no decryption and no buffering); the time bound is
    /// ``TLSConfiguration/closeTimeout``.
    public static let drainLimitBytes = 8 << 20
    /// The fatal `protocol_version` alert answering an SSLv2-format ClientHello, byte for byte what OpenSSL
    /// sends: a TLS 1.0 alert record (RFC 8446 §5.1, §6), level fatal (2), description 70.
    static let protocolVersionAlertRecord: [UInt8] = [21, 3, 1, 0, 2, 2, 70]

    private enum State {
        case idle
        case handshaking
        case active
        /// close_notify sent after a full close was asked for; waiting for the peer's.
        case closing
        case closed
    }

    private let tlsContext: TLSContext
    private let serverName: TLSServerName?
    private let port: Int?
    private var role: TLSConfiguration.Role { self.tlsContext.configuration.role }
    private var logger: Logger { self.tlsContext.logger }

    private var state = State.idle
    private var connection: SSLConnection?
    private var handshakePromise: EventLoopPromise<TLSConnectionInfo>?
    private var closePromise: EventLoopPromise<Void>?
    private var bufferedWrites: [(buffer: ByteBuffer, promise: EventLoopPromise<Void>?)] = []
    private var flushPending = false
    private var outputClosed = false
    private var inputClosedReported = false
    /// How many of the peer's first bytes were checked to be a TLS record header.
    private var checkedHeaderBytes = 0
    private var handshakeTimer: Scheduled<Void>?
    private var closeTimer: Scheduled<Void>?
    private var ageTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    /// When a byte last went in either direction (for ``TLSConfiguration/idleTimeout``).
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    private var remoteAddress: String?
    /// The error that ended the connection; later writes fail with it rather than a bare "closed".
    private var failure: TLSError?
    /// After a fatal alert: the output is half-closed and the peer's bytes are dropped until the peer closes,
    /// ``drainLimitBytes`` were read or ``TLSConfiguration/closeTimeout`` passed.
    private var drain: (bytesLeft: Int, timer: Scheduled<Void>?, promises: [EventLoopPromise<Void>])?

    /// A server-side handler.
    public convenience init(serverContext context: TLSContext) {
        self.init(context: context, serverName: nil, port: nil)
    }

    /// A client-side handler that authenticates the server as `serverName` (a DNS name is also sent as SNI;
    /// an IP address is matched against IP SANs and never sent as SNI).
    /// - Parameter port: the server's port, which keys the session cache with the name (resumption).
    public convenience init(clientContext context: TLSContext, serverName: TLSServerName, port: Int? = nil) {
        self.init(context: context, serverName: serverName, port: port)
    }

    private init(context: TLSContext, serverName: TLSServerName?, port: Int?) {
        self.tlsContext = context
        self.serverName = serverName
        self.port = port
    }

    /// Completes when the handshake did: with the negotiated parameters and the verified peer, or with the
    /// ``TLSError`` that ended it. Available once the handler is in a pipeline.
    public var handshakeFuture: EventLoopFuture<TLSConnectionInfo> {
        guard let promise = self.handshakePromise else {
            preconditionFailure("TLSHandler.handshakeFuture is available once the handler is added to a pipeline")
        }
        return promise.futureResult
    }

    /// Bytes received from the network and not yet consumed by OpenSSL (at most a partial record while the
    /// connection is open). For tests of the handler's input bounds.
    @_spi(Testing) public var bufferedInputBytes: Int {
        self.connection?.pendingInputCount ?? 0
    }

    // MARK: - Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        self.handshakePromise = context.eventLoop.makePromise(of: TLSConnectionInfo.self)
        if context.channel.isActive {
            self.startHandshake(context: context)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.cancelTimers()
        self.endDrain(closing: nil)
        if self.state != .closed {
            self.state = .closed
            self.handshakePromise?.fail(TLSError(.connectionClosed, "the TLS handler was removed"))
        }
        self.failBufferedWrites(ChannelError.ioOnClosedChannel)
        self.closePromise?.succeed(())
        self.closePromise = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.startHandshake(context: context)
        context.fireChannelActive()
    }

    private func startHandshake(context: ChannelHandlerContext) {
        guard self.state == .idle else { return }
        self.remoteAddress = context.channel.remoteAddress.map(Self.describe)
        do {
            self.connection = try SSLConnection(
                context: self.tlsContext.box, serverName: self.serverName, port: self.port)
        } catch {
            self.failHandshake(context: context, error: error as? TLSError ?? TLSError(.io, "\(error)"))
            return
        }
        self.state = .handshaking
        let seconds = Int64(self.tlsContext.configuration.handshakeTimeout)
        self.handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(seconds)) {
            guard self.state == .handshaking else { return }
            self.failHandshake(
                context: context,
                error: TLSError(.handshakeTimeout, "the handshake did not finish within \(seconds) s")
            )
        }
        self.driveHandshake(context: context)
    }

    // MARK: - Handshake

    private func driveHandshake(context: ChannelHandlerContext) {
        guard let connection, self.state == .handshaking else { return }
        switch connection.handshake() {
        case .done:
            self.sendOutput(context: context, flush: true)
            self.handshakeCompleted(context: context)
        case .needMoreInput:
            self.sendOutput(context: context, flush: true)
            context.read()
        case .closeNotify:
            self.failHandshake(
                context: context,
                error: TLSError(.connectionClosed, "the peer closed the connection during the handshake"))
        case .failed(let error):
            self.failHandshake(context: context, error: error)
        }
    }

    private func handshakeCompleted(context: ChannelHandlerContext) {
        guard let connection else { return }
        self.handshakeTimer?.cancel()
        self.handshakeTimer = nil
        let info: TLSConnectionInfo
        do {
            info = try connection.establishedInfo()
        } catch {
            self.failHandshake(context: context, error: error as? TLSError ?? TLSError(.badCertificate, "\(error)"))
            return
        }
        self.state = .active
        TLSEvents.handshakeSucceeded(self.logger, role: self.role, remote: self.remoteAddress, info: info)
        if let age = self.tlsContext.configuration.maximumConnectionAge {
            self.ageTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(Int64(age))) {
                guard self.state == .active else { return }
                TLSEvents.maximumAgeReached(self.logger, role: self.role, remote: self.remoteAddress)
                self.startClose(context: context, promise: nil)
            }
        }
        // The writes made during the handshake go first, before any callback of the handshake's future or
        // event runs: a write made there must not overtake them, and a close made there must find them sent.
        let writes = self.bufferedWrites
        self.bufferedWrites = []
        for write in writes {
            self.writeWhenEstablished(context: context, write.buffer, promise: write.promise)
        }
        if self.flushPending || !writes.isEmpty {
            self.flushPending = false
            self.flush(context: context)
        }
        guard self.state == .active else {
            // Encrypting a buffered write failed and closed the connection.
            self.handshakePromise?.fail(self.failure ?? TLSError(.connectionClosed, "the connection closed"))
            return
        }
        if let idle = self.tlsContext.configuration.idleTimeout {
            self.lastActivity = context.eventLoop.now
            self.scheduleIdleCheck(context: context, after: .seconds(Int64(idle)))
        }
        self.handshakePromise?.succeed(info)
        context.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(info))
        // Application data may have arrived in the same flight as the handshake's last message.
        self.deliverPlaintext(context: context)
    }

    /// - Parameter alertRecord: a record to send before closing when OpenSSL has none to send (the answer to
    ///   an SSLv2-format ClientHello).
    private func failHandshake(context: ChannelHandlerContext, error: TLSError, alertRecord: [UInt8]? = nil) {
        guard self.state != .closed else { return }
        self.state = .closed
        self.failure = error
        self.cancelTimers()
        TLSEvents.handshakeFailed(
            self.logger,
            role: self.role,
            remote: self.remoteAddress,
            error: error,
            refusedPeer: self.connection?.refusedPeer
        )
        self.handshakePromise?.fail(error)
        self.failBufferedWrites(error)
        context.fireErrorCaught(error)
        self.closeAfterFatalAlert(context: context, alertRecord: alertRecord)
    }

    // MARK: - Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        self.lastActivity = context.eventLoop.now
        if let drain = self.drain {
            let left = drain.bytesLeft - buffer.readableBytes
            self.drain?.bytesLeft = left
            if left <= 0 {
                self.endDrain(closing: context)
            } else {
                context.read()
            }
            return
        }
        guard let connection, self.state != .closed, self.state != .idle else { return }
        if self.checkedHeaderBytes < 3, let refusal = self.checkRecordHeader(buffer) {
            self.failHandshake(context: context, error: refusal.error, alertRecord: refusal.alertRecord)
            return
        }
        if connection.receivedCloseNotify {
            // Data after the peer's close_notify is ignored (RFC 8446 §6.1). OpenSSL reads nothing more, so
            // handing it over would only grow the input buffer for as long as the peer keeps sending.
            return
        }
        buffer.withUnsafeReadableBytes { connection.receive($0) }
        if self.state == .handshaking {
            self.driveHandshake(context: context)
        } else {
            self.deliverPlaintext(context: context)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
    }

    /// Checks that the peer's first bytes begin a TLS record: content type handshake (22) — or alert (21)
    /// from a server — then protocol version major 3 and a minor version of at most 4 (RFC 8446 §5.1).
    /// Plaintext peers are refused here without handing their bytes to OpenSSL. A client's first byte with
    /// the high bit set is an SSLv2 record header (an SSLv2-format ClientHello): refused with the alert
    /// OpenSSL answers it with.
    private func checkRecordHeader(_ buffer: ByteBuffer) -> (error: TLSError, alertRecord: [UInt8]?)? {
        let bytes = buffer.readableBytesView.prefix(3 - self.checkedHeaderBytes)
        for byte in bytes {
            let position = self.checkedHeaderBytes
            self.checkedHeaderBytes += 1
            if position == 0, self.role == .server, byte & 0x80 != 0 {
                let error = TLSError(
                    .protocolVersion,
                    "the client sent an SSLv2-format ClientHello (first byte 0x\(String(byte, radix: 16))): SSL 2.0 and its hello format are not supported (RFC 6176)"
                )
                return (error, Self.protocolVersionAlertRecord)
            }
            let valid: Bool =
                switch position {
                case 0: byte == 22 || (self.role == .client && byte == 21)
                case 1: byte == 3
                default: byte <= 4
                }
            if !valid {
                let what =
                    position == 0 && (0x20...0x7e).contains(byte) ? "text such as an HTTP request" : "no TLS record"
                let error = TLSError(
                    .notTLS,
                    "the peer is not speaking TLS: byte \(position) of its first record is 0x\(String(byte, radix: 16)) (\(what))"
                )
                return (error, nil)
            }
        }
        return nil
    }

    /// Reads every record OpenSSL can decrypt from what has arrived and fires it on.
    private func deliverPlaintext(context: ChannelHandlerContext) {
        switch self.readAvailablePlaintext(context: context) {
        case .closeNotify:
            self.sendOutput(context: context, flush: true)
            self.peerSentCloseNotify(context: context)
        case .failed(let error):
            self.failConnection(context: context, error: error)
        case .done, .needMoreInput:
            // Reading can produce output: a KeyUpdate answer, an alert.
            self.sendOutput(context: context, flush: true)
        }
    }

    /// Decrypts what has arrived, while the connection is active or closing, and fires it on in buffers of
    /// up to ``readBufferSize`` bytes, each filled with as many records as fit: memory follows the plaintext,
    /// not the number of records (a peer sending one-byte records must not cost 16 KiB per byte).
    /// - Returns: how reading stopped — `.needMoreInput`, `.closeNotify`, `.failed`, or `.done` when the
    ///   state changed during a delivery (the application closed). Plaintext read before a close_notify or a
    ///   failure is delivered first.
    private func readAvailablePlaintext(context: ChannelHandlerContext) -> SSLConnection.Step {
        guard let connection else { return .done }
        var plaintext = context.channel.allocator.buffer(capacity: Self.readBufferSize)
        while self.state == .active || self.state == .closing {
            if plaintext.writableBytes == 0 {
                context.fireChannelRead(Self.wrapInboundOut(plaintext))
                plaintext = context.channel.allocator.buffer(capacity: Self.readBufferSize)
                continue
            }
            let step = connection.read(into: &plaintext)
            if case .done = step { continue }
            if plaintext.readableBytes > 0 {
                context.fireChannelRead(Self.wrapInboundOut(plaintext))
            }
            return step
        }
        return .done
    }

    private func peerSentCloseNotify(context: ChannelHandlerContext) {
        switch self.state {
        case .closing:
            self.finishClose(context: context)
        case .active:
            if self.outputClosed {
                // Both directions are done.
                self.state = .closed
                self.cancelTimers()
                context.close(promise: nil)
            } else if (try? context.channel.syncOptions?.getOption(.allowRemoteHalfClosure)) == true {
                self.inputClosedReported = true
                context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            } else {
                // Answer with our close_notify and close (RFC 8446 §6.1).
                self.startClose(context: context, promise: nil)
            }
        default:
            break
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // TCP FIN from the peer.
        if self.drain != nil {
            self.endDrain(closing: context)
            return
        }
        switch self.state {
        case .idle, .handshaking:
            self.failHandshake(
                context: context,
                error: TLSError(.connectionClosed, "the peer closed the connection during the handshake"))
        case .active, .closing:
            if self.connection?.receivedCloseNotify == true {
                if !self.inputClosedReported && self.state == .active {
                    self.inputClosedReported = true
                    context.fireUserInboundEventTriggered(event)
                }
            } else {
                self.endOfInputWithoutCloseNotify(context: context)
            }
        case .closed:
            break
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        switch self.state {
        case .idle, .handshaking:
            self.failHandshake(
                context: context, error: TLSError(.connectionClosed, "the connection closed during the handshake"))
        case .active:
            if self.connection?.receivedCloseNotify != true {
                self.endOfInputWithoutCloseNotify(context: context)
            }
        case .closing, .closed:
            break
        }
        self.state = .closed
        self.cancelTimers()
        self.endDrain(closing: nil)
        self.failBufferedWrites(ChannelError.ioOnClosedChannel)
        self.closePromise?.succeed(())
        self.closePromise = nil
        context.fireChannelInactive()
    }

    /// The network input ended without close_notify: let OpenSSL judge the end of input (OpenSSL 3 reports
    /// it as `SSL_ERROR_SSL` with `UNEXPECTED_EOF_WHILE_READING`), deliver anything complete, and report the
    /// truncation.
    private func endOfInputWithoutCloseNotify(context: ChannelHandlerContext) {
        guard let connection else { return }
        connection.markEndOfInput()
        var error = TLSError(
            .uncleanShutdown, "the peer closed the connection without close_notify: the data may be truncated")
        switch self.readAvailablePlaintext(context: context) {
        case .failed(let failure):
            error = failure
        case .closeNotify:
            self.peerSentCloseNotify(context: context)
            return
        case .done, .needMoreInput:
            break
        }
        if self.state == .closing {
            // We asked to close; the peer closed without answering. Not a truncation of anything we wait for.
            self.finishClose(context: context)
            return
        }
        if error.code == .uncleanShutdown {
            TLSEvents.uncleanShutdown(self.logger, role: self.role, remote: self.remoteAddress)
        }
        self.failConnection(context: context, error: error)
    }

    private func failConnection(context: ChannelHandlerContext, error: TLSError) {
        guard self.state != .closed else { return }
        self.state = .closed
        self.failure = error
        self.cancelTimers()
        if error.isCertificateError {
            // TLS 1.3: the peer refused our certificate after our side of the handshake completed. For the
            // audit trail this is a failed handshake, whatever was logged when our side finished.
            TLSEvents.handshakeFailed(
                self.logger, role: self.role, remote: self.remoteAddress, error: error, afterHandshake: true)
        } else if error.code != .uncleanShutdown {
            TLSEvents.connectionFailed(self.logger, role: self.role, remote: self.remoteAddress, error: error)
        }
        self.failBufferedWrites(error)
        context.fireErrorCaught(error)
        self.closeAfterFatalAlert(context: context)
        self.closePromise?.fail(error)
        self.closePromise = nil
    }

    // MARK: - Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = Self.unwrapOutboundIn(data)
        switch self.state {
        case .idle, .handshaking:
            self.bufferedWrites.append((buffer, promise))
        case .active, .closing, .closed:
            self.writeWhenEstablished(context: context, buffer, promise: promise)
        }
    }

    /// A write once the handshake is over: encrypted while the connection is active and its output open,
    /// refused otherwise (after close_notify nothing may be sent).
    private func writeWhenEstablished(
        context: ChannelHandlerContext, _ buffer: ByteBuffer, promise: EventLoopPromise<Void>?
    ) {
        switch self.state {
        case .active where !self.outputClosed:
            self.encryptAndWrite(context: context, buffer, promise: promise)
        case .active:
            promise?.fail(ChannelError.outputClosed)
        case .idle, .handshaking, .closing, .closed:
            promise?.fail(self.failure ?? ChannelError.ioOnClosedChannel)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        switch self.state {
        case .idle, .handshaking:
            self.flushPending = true
        case .active, .closing:
            context.flush()
        case .closed:
            break
        }
    }

    /// Closes the connection (close_notify) once ``TLSConfiguration/idleTimeout`` passed without traffic.
    private func scheduleIdleCheck(context: ChannelHandlerContext, after delay: TimeAmount) {
        self.idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
            guard self.state == .active, let idle = self.tlsContext.configuration.idleTimeout else { return }
            let deadline = self.lastActivity + .seconds(Int64(idle))
            let now = context.eventLoop.now
            if now >= deadline {
                TLSEvents.idleTimeoutReached(self.logger, role: self.role, remote: self.remoteAddress)
                self.startClose(context: context, promise: nil)
            } else {
                self.scheduleIdleCheck(context: context, after: deadline - now)
            }
        }
    }

    private func encryptAndWrite(context: ChannelHandlerContext, _ buffer: ByteBuffer, promise: EventLoopPromise<Void>?)
    {
        self.lastActivity = context.eventLoop.now
        guard let connection else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        var remaining = buffer
        repeat {
            let slice = remaining.readSlice(length: min(remaining.readableBytes, Self.writeSliceSize)) ?? remaining
            let step = slice.withUnsafeReadableBytes { connection.write($0) }
            if case .failed(let error) = step {
                promise?.fail(error)
                self.failConnection(context: context, error: error)
                return
            }
            let isLast = remaining.readableBytes == 0
            if let output = connection.takeOutput(allocator: context.channel.allocator) {
                context.write(Self.wrapOutboundOut(output), promise: isLast ? promise : nil)
            } else if isLast {
                promise?.succeed(())
            }
            if !isLast && (self.state != .active || self.outputClosed) {
                // Writing a slice closed the connection (a callback of an earlier write closed it).
                promise?.fail(self.failure ?? ChannelError.ioOnClosedChannel)
                return
            }
        } while remaining.readableBytes > 0
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .input:
            context.close(mode: .input, promise: promise)
        case .output:
            guard self.state == .active, let connection, !self.outputClosed else {
                if self.state == .idle || self.state == .handshaking {
                    promise?.fail(
                        TLSError(.connectionClosed, "the output cannot be closed before the handshake completed"))
                } else {
                    promise?.fail(ChannelError.outputClosed)
                }
                return
            }
            self.outputClosed = true
            _ = connection.shutdown()
            if connection.receivedCloseNotify {
                self.state = .closed
                self.cancelTimers()
                self.closeAfterSendingOutput(context: context, promise: promise)
                return
            }
            if let output = connection.takeOutput(allocator: context.channel.allocator) {
                context.writeAndFlush(Self.wrapOutboundOut(output)).assumeIsolated().whenComplete { _ in
                    context.close(mode: .output, promise: promise)
                }
            } else {
                context.close(mode: .output, promise: promise)
            }
        case .all:
            switch self.state {
            case .idle, .handshaking:
                self.state = .closed
                self.cancelTimers()
                TLSEvents.handshakeFailed(
                    self.logger,
                    role: self.role,
                    remote: self.remoteAddress,
                    error: TLSError(.connectionClosed, "closed by the application during the handshake")
                )
                self.handshakePromise?.fail(
                    TLSError(.connectionClosed, "closed by the application during the handshake"))
                self.failBufferedWrites(ChannelError.ioOnClosedChannel)
                context.close(promise: promise)
            case .active:
                self.startClose(context: context, promise: promise)
            case .closing:
                if let promise {
                    if let existing = self.closePromise {
                        existing.futureResult.cascade(to: promise)
                    } else {
                        self.closePromise = promise
                    }
                }
            case .closed:
                if self.drain != nil {
                    // Sending the fatal alert: the channel closes when the drain ends (bounded).
                    if let promise { self.drain?.promises.append(promise) }
                } else {
                    context.close(promise: promise)
                }
            }
        }
    }

    /// Sends close_notify, then waits (bounded) for the peer's while still delivering its data.
    private func startClose(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard self.state == .active, let connection else {
            context.close(promise: promise)
            return
        }
        self.ageTimer?.cancel()
        self.ageTimer = nil
        self.idleTimer?.cancel()
        self.idleTimer = nil
        let complete = connection.shutdown()
        if case .done = complete {
            self.state = .closed
            self.closeAfterSendingOutput(context: context, promise: promise)
            return
        }
        if connection.receivedCloseNotify || self.outputClosed && connection.sentCloseNotify && self.inputClosedReported
        {
            self.state = .closed
            self.closeAfterSendingOutput(context: context, promise: promise)
            return
        }
        self.state = .closing
        self.closePromise = promise
        self.sendOutput(context: context, flush: true)
        let seconds = Int64(self.tlsContext.configuration.closeTimeout)
        self.closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(seconds)) {
            guard self.state == .closing else { return }
            self.finishClose(context: context)
        }
    }

    private func finishClose(context: ChannelHandlerContext) {
        self.state = .closed
        self.cancelTimers()
        let promise = self.closePromise
        self.closePromise = nil
        self.closeAfterSendingOutput(context: context, promise: promise)
    }

    // MARK: - Helpers

    /// Writes whatever OpenSSL has produced (records, alerts) to the network.
    private func sendOutput(context: ChannelHandlerContext, flush: Bool) {
        guard let connection, let output = connection.takeOutput(allocator: context.channel.allocator) else { return }
        context.write(Self.wrapOutboundOut(output), promise: nil)
        if flush { context.flush() }
    }

    /// Flushes pending output (an alert, close_notify) — the socket writes what it can at once — and closes
    /// the channel without waiting for that write to complete: a peer that stops reading (a zero TCP window)
    /// must not keep a failed or closing connection open.
    private func closeAfterSendingOutput(context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        if let connection, let output = connection.takeOutput(allocator: context.channel.allocator) {
            context.writeAndFlush(Self.wrapOutboundOut(output), promise: nil)
        }
        context.close(promise: promise)
    }

    /// After a failure: sends the fatal alert OpenSSL produced (or `alertRecord`), then half-closes the output
    /// and drains the input, bounded in bytes (``drainLimitBytes``) and time
    /// (``TLSConfiguration/closeTimeout``), before closing — a peer still writing then reads the alert instead
    /// of a reset, which would discard it. Without an alert to send, closes at once.
    private func closeAfterFatalAlert(context: ChannelHandlerContext, alertRecord: [UInt8]? = nil) {
        var output = self.connection?.takeOutput(allocator: context.channel.allocator)
        if output == nil, let alertRecord {
            output = context.channel.allocator.buffer(bytes: alertRecord)
        }
        guard let output, context.channel.isActive else {
            if let output { context.writeAndFlush(Self.wrapOutboundOut(output), promise: nil) }
            context.close(promise: nil)
            return
        }
        context.writeAndFlush(Self.wrapOutboundOut(output), promise: nil)
        let seconds = Int64(self.tlsContext.configuration.closeTimeout)
        let timer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(seconds)) {
            self.endDrain(closing: context)
        }
        self.drain = (Self.drainLimitBytes, timer, [])
        let halfClosed = context.eventLoop.makePromise(of: Void.self)
        halfClosed.futureResult.assumeIsolated().whenFailure { _ in
            // A channel without half-closure (or one already closing): close it.
            self.endDrain(closing: context)
        }
        context.close(mode: .output, promise: halfClosed)
        context.read()
    }

    /// Ends a drain: closes the channel through `context` (nil when it is already closed or the handler
    /// removed) and completes the close promises that waited for it.
    private func endDrain(closing context: ChannelHandlerContext?) {
        guard let drain = self.drain else { return }
        self.drain = nil
        drain.timer?.cancel()
        guard let context else {
            for promise in drain.promises { promise.succeed(()) }
            return
        }
        let closed = context.eventLoop.makePromise(of: Void.self)
        for promise in drain.promises { closed.futureResult.cascade(to: promise) }
        context.close(promise: closed)
    }

    private func failBufferedWrites(_ error: any Error) {
        let writes = self.bufferedWrites
        self.bufferedWrites = []
        for write in writes {
            write.promise?.fail(error)
        }
    }

    private func cancelTimers() {
        self.handshakeTimer?.cancel()
        self.closeTimer?.cancel()
        self.ageTimer?.cancel()
        self.idleTimer?.cancel()
        self.handshakeTimer = nil
        self.closeTimer = nil
        self.ageTimer = nil
        self.idleTimer = nil
    }

    static func describe(_ address: SocketAddress) -> String {
        switch address {
        case .v4, .v6:
            if let ip = address.ipAddress, let port = address.port {
                return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
            }
            return "\(address)"
        case .unixDomainSocket:
            return "unix"
        }
    }
}

@available(*, unavailable)
extension TLSHandler: Sendable {}
