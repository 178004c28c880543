public import NIOCore

/// One established, authenticated TLS connection for async/await code.
///
/// ``info`` tells what was negotiated and who the peer is. ``executeThenClose(_:)`` gives the inbound bytes
/// as an async sequence (backpressured: the socket is not read while the application is not reading) and an
/// outbound writer (which waits while the channel is not writable). The inbound sequence ends cleanly only
/// on the peer's close_notify; it throws a ``TLSError`` for a truncation (``TLSError/Code/uncleanShutdown``),
/// a refusal reported after the handshake (a TLS 1.3 server refusing this client's certificate), or a
/// protocol failure. Finishing the writer sends close_notify and half-closes (the peer may still send).
public struct TLSConnection: Sendable {
    /// What the handshake negotiated, and the verified peer.
    public let info: TLSConnectionInfo
    /// The peer's socket address.
    public let remoteAddress: SocketAddress?
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// The verified peer; `nil` on a server that does not authenticate clients.
    public var peer: TLSPeerIdentity? { self.info.peer }

    /// Runs `body` with the connection's inbound stream and outbound writer, then closes the connection
    /// (close_notify, waiting at most ``TLSConfiguration/closeTimeout`` for the peer's).
    /// - Throws: what `body` throws.
    public func executeThenClose<Result>(
        _ body: (
            _ inbound: NIOAsyncChannelInboundStream<ByteBuffer>,
            _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
        ) async throws -> Result
    ) async throws -> Result {
        try await self.channel.executeThenClose { inbound, outbound in
            try await body(inbound, outbound)
        }
    }

    /// The underlying channel, for adding handlers or reading options.
    public var underlyingChannel: any Channel { self.channel.channel }
}

extension TLSConnection {
    /// Adds a ``TLSHandler`` to `channel` (synchronously, on its event loop) and returns a future that
    /// completes when the handshake did. The async wrapper is added inside the handshake's completion, before
    /// the handler delivers any application data, so nothing that arrived with the last flight is lost; a
    /// failed handshake never gets one.
    static func establish(
        on channel: any Channel,
        makeHandler: () -> TLSHandler
    ) throws -> EventLoopFuture<TLSConnection> {
        channel.eventLoop.preconditionInEventLoop()
        let remote = channel.remoteAddress
        let handler = makeHandler()
        try channel.pipeline.syncOperations.addHandler(handler)
        return handler.handshakeFuture.flatMapThrowing { info in
            let asyncChannel = try AsyncChannelFactory.wrap(channel)
            return TLSConnection(info: info, remoteAddress: remote ?? channel.remoteAddress, channel: asyncChannel)
        }
    }
}

/// Makes the `NIOAsyncChannel` of a connection with "close on deinit": a connection that the application
/// drops without `executeThenClose` (a server stopped with connections still queued) is closed, not a trap.
/// NIO offers this through an initializer it deprecated in favour of explicit closing; SaMDTLS still closes
/// explicitly everywhere it can, and calls it through a protocol so the deprecation does not spread.
private protocol CloseOnDeinitWrapping {
    init(
        synchronouslyWrapping channel: any Channel, configuration: NIOAsyncChannel<ByteBuffer, ByteBuffer>.Configuration
    ) throws
}

extension NIOAsyncChannel<ByteBuffer, ByteBuffer>: CloseOnDeinitWrapping {}

private enum AsyncChannelFactory {
    static func wrap(_ channel: any Channel) throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let type: any CloseOnDeinitWrapping.Type = NIOAsyncChannel<ByteBuffer, ByteBuffer>.self
        let wrapped = try type.init(
            synchronouslyWrapping: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        return wrapped as! NIOAsyncChannel<ByteBuffer, ByteBuffer>
    }
}
