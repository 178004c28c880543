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
/// The protocol state is kept by an internal state machine; this handler performs the OpenSSL calls and the
/// channel operations its actions ask for.
///
/// Add it first in the pipeline, in front of protocol handlers (HTTP/1.1, HTTP/2). Not `Sendable`: use it on
/// its channel's event loop only.
public final class TLSHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer
    typealias StateMachine = TLSHandlerStateMachine<EventLoopPromise<Void>>

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

    let tlsContext: TLSContext
    let serverName: TLSServerName?
    let port: Int?
    var role: TLSConfiguration.Role { self.tlsContext.configuration.role }
    var logger: Logger { self.tlsContext.logger }

    var stateMachine: StateMachine
    var connection: SSLConnection?
    var handshakePromise: EventLoopPromise<TLSConnectionInfo>?
    /// The scheduled task of each armed timer.
    var timerTasks = TLSHandlerTimers.PerTimer<Scheduled<Void>>()
    var remoteAddress: String?

    /// A server-side handler.
    public convenience init(serverContext context: TLSContext) {
        self.init(context: context, serverName: nil, port: nil)
    }

    /// A client-side handler that authenticates the server as `serverName` (a DNS name is also sent as SNI;
    /// an IP address is matched against IP SANs and never sent as SNI).
    /// - Parameters:
    ///   - context: a client context (``TLSConfiguration/Role/client``).
    ///   - serverName: the name the server's certificate must prove.
    ///   - port: the server's port, which keys the session cache with the name (resumption).
    public convenience init(clientContext context: TLSContext, serverName: TLSServerName, port: Int? = nil) {
        self.init(context: context, serverName: serverName, port: port)
    }

    private init(context: TLSContext, serverName: TLSServerName?, port: Int?) {
        self.tlsContext = context
        self.serverName = serverName
        self.port = port
        self.stateMachine = StateMachine(
            role: context.configuration.role,
            timers: TLSHandlerTimers(configuration: context.configuration),
            drainLimitBytes: Self.drainLimitBytes
        )
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

    // MARK: - Channel events

    public func handlerAdded(context: ChannelHandlerContext) {
        self.handshakePromise = context.eventLoop.makePromise(of: TLSConnectionInfo.self)
        if context.channel.isActive {
            self.apply(self.stateMachine.channelActive(), context: context)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.apply(self.stateMachine.handlerRemoved(), context: context)
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.apply(self.stateMachine.channelActive(), context: context)
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        let peerSentCloseNotify = self.connection?.receivedCloseNotify ?? false
        let actions = self.stateMachine.bytesRead(
            buffer, peerSentCloseNotify: peerSentCloseNotify, now: context.eventLoop.now)
        self.apply(actions, context: context)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // TCP FIN from the peer.
        let peerSentCloseNotify = self.connection?.receivedCloseNotify ?? false
        self.apply(self.stateMachine.inputClosed(peerSentCloseNotify: peerSentCloseNotify), context: context)
    }

    /// A socket error during the handshake fails it with its cause (``TLSError/Code/connectionClosed``, "the
    /// connection failed during the handshake: connection reset by peer"); any other error, and any error once
    /// the handshake completed, passes on unchanged.
    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let actions = error is IOError ? self.stateMachine.transportFailed(NetworkErrorText.reason(error)) : []
        if actions.isEmpty {
            context.fireErrorCaught(error)
        } else {
            self.apply(actions, context: context)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        let peerSentCloseNotify = self.connection?.receivedCloseNotify ?? false
        self.apply(self.stateMachine.channelInactive(peerSentCloseNotify: peerSentCloseNotify), context: context)
        self.apply(self.stateMachine.channelClosed(), context: context)
        context.fireChannelInactive()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = Self.unwrapOutboundIn(data)
        self.apply(self.stateMachine.write(buffer, promise: promise, now: context.eventLoop.now), context: context)
    }

    public func flush(context: ChannelHandlerContext) {
        self.apply(self.stateMachine.flush(), context: context)
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .input:
            context.close(mode: .input, promise: promise)
        case .output:
            self.apply(self.stateMachine.closeOutput(promise: promise), context: context)
        case .all:
            self.apply(self.stateMachine.close(promise: promise), context: context)
        }
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
