import Logging
public import NIOCore
public import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A TLS server for async/await code: it accepts TCP connections, runs each handshake concurrently (so a
/// slow or hostile client holds up no one else), and yields only the connections whose handshake completed
/// and whose peer is verified and allowed. Failed handshakes are logged (`samd.tls.handshake-failed`) and
/// closed; they never end the sequence.
///
/// The number of open connections is bounded (`maximumConnections`, by default derived from the process's
/// descriptor limit, ``TLSConnectionLimit``): a TCP connection over the bound is closed at once, before any
/// TLS, and refusals are logged once per interval (`samd.tls.connections-refused`). When `accept` itself
/// fails (descriptors exhausted by something else), accepting pauses for a second instead of retrying at once
/// (``TLSAcceptBackoffHandler``; logged once per interval, `samd.tls.accept-failed`).
///
/// Each connection's peer stays valid for as long as it is open (``TLSPeerRevalidationHandler``): after a
/// reload of the context's trust state (``TLSContext/reload()``, ``TLSIdentityReloader``) a peer that no
/// longer verifies — revoked by a new CRL, its CA removed — is closed after `revalidationGracePeriod`, and a
/// peer is closed when its certificate chain expires; each with a `samd.tls.connection-invalidated` event.
///
/// ```swift
/// let server = try await TLSServer.bind(host: "127.0.0.1", port: 0, context: context)
/// try await server.executeThenClose { connections in
///     for try await connection in connections {
///         // connection.peer is the verified device
///     }
/// }
/// ```
public struct TLSServer: Sendable {
    /// The address the server listens on; its port is the real one when 0 was asked for.
    public let localAddress: SocketAddress
    let logger: Logger
    let channel: NIOAsyncChannel<PendingConnection, Never>

    /// A connection whose handshake is running.
    struct PendingConnection: Sendable {
        let handshake: EventLoopFuture<TLSConnection>
    }

    /// Established connections that may wait for the application; beyond, new ones are closed.
    let readyQueueLimit: Int

    /// Listens on `host`:`port` (port 0: any free port).
    /// - Parameters:
    ///   - host: the address to listen on, e.g. `127.0.0.1`, `::1` or `0.0.0.0`.
    ///   - port: the port; 0 picks a free one (read it from ``localAddress``).
    ///   - context: a server context (``TLSConfiguration/Role/server``).
    ///   - backlog: the listen backlog.
    ///   - readyQueueLimit: how many established connections may wait for the application to take them
    ///     (default 1 024, at least 1); beyond, new ones are closed with close_notify and logged
    ///     (`samd.tls.connection-dropped`).
    ///   - maximumConnections: the most connections open at once, handshaking or established (at least 1;
    ///     `nil`, the default: ``TLSConnectionLimit/defaultMaximumConnections()``, below the descriptor limit).
    ///   - revalidationGracePeriod: how long a connection whose peer is no longer valid stays open after
    ///     ``TLSPeerInvalidatedEvent`` (default 5 seconds), for an application handler to finish and close it.
    ///   - group: the event loops to run on.
    /// - Throws: ``TLSError/Code/invalidConfiguration`` when `context` is not a server context; the socket
    ///   error when the address cannot be bound.
    public static func bind(
        host: String,
        port: Int,
        context: TLSContext,
        backlog: Int32 = 256,
        readyQueueLimit: Int = 1024,
        maximumConnections: Int? = nil,
        revalidationGracePeriod: Duration = .seconds(5),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> TLSServer {
        guard context.configuration.role == .server else {
            throw TLSError(.invalidConfiguration, "TLSServer needs a server configuration")
        }
        guard readyQueueLimit >= 1 else {
            throw TLSError(.invalidConfiguration, "readyQueueLimit must be at least 1")
        }
        if let maximumConnections, maximumConnections < 1 {
            throw TLSError(.invalidConfiguration, "maximumConnections must be at least 1")
        }
        let limit = TLSConnectionLimit(
            maximumConnections: maximumConnections ?? TLSConnectionLimit.defaultMaximumConnections(),
            context: context
        )
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(limit.makeAcceptBackoffHandler())
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                // Completes at once: the child channel is registered (and starts reading) only after this.
                channel.eventLoop.makeCompletedFuture {
                    guard limit.admit(channel) else {
                        // Closed before it is registered: no handshake, no descriptor held.
                        channel.close(promise: nil)
                        return PendingConnection(
                            handshake: channel.eventLoop.makeFailedFuture(
                                TLSError(.connectionClosed, "the server holds its maximum number of connections")
                            )
                        )
                    }
                    let handshake = try TLSConnection.establish(on: channel) { TLSHandler(serverContext: context) }
                    try channel.pipeline.syncOperations.addHandler(
                        TLSPeerRevalidationHandler(context: context, gracePeriod: revalidationGracePeriod)
                    )
                    return PendingConnection(handshake: handshake)
                }
            }
        guard let address = channel.channel.localAddress else {
            throw TLSError(.io, "the listening socket has no local address")
        }
        return TLSServer(
            localAddress: address, logger: context.logger, channel: channel, readyQueueLimit: readyQueueLimit)
    }

    /// Runs `body` with the sequence of authenticated connections, then stops listening. Connections already
    /// handed out stay open until their own `executeThenClose` returns.
    public func executeThenClose<Result: Sendable>(
        _ body: (_ connections: Connections) async throws -> Result
    ) async throws -> Result {
        try await self.channel.executeThenClose { inbound in
            let logger = self.logger
            let limit = self.readyQueueLimit
            let (ready, continuation) = AsyncStream<TLSConnection>.makeStream(bufferingPolicy: .bufferingOldest(limit))
            return try await withThrowingTaskGroup(of: Void.self) { group in
                // Accepts and attaches to each handshake; a connection is queued when its handshake completes.
                group.addTask {
                    defer { continuation.finish() }
                    for try await pending in inbound {
                        pending.handshake.whenSuccess { connection in
                            if case .dropped = continuation.yield(connection) {
                                TLSEvents.connectionDropped(
                                    logger,
                                    remote: connection.remoteAddress.map(TLSHandler.describe),
                                    waiting: limit
                                )
                                connection.channel.channel.close(promise: nil)
                            }
                        }
                        // A failed handshake was logged and closed by its handler.
                    }
                }
                defer { group.cancelAll() }
                return try await body(Connections(base: ready))
            }
        }
    }

    /// The authenticated connections, in the order their handshakes completed.
    public struct Connections: AsyncSequence, Sendable {
        public typealias Element = TLSConnection
        let base: AsyncStream<TLSConnection>

        public func makeAsyncIterator() -> AsyncStream<TLSConnection>.AsyncIterator {
            self.base.makeAsyncIterator()
        }
    }
}

/// Opens TLS connections for async/await code.
public enum TLSClient {
    /// Connects to `host`:`port` and completes the handshake.
    ///
    /// The server must prove `serverName` (by default `host`): a DNS name against its DNS SANs (and sent as
    /// SNI), an IP address against its IP SANs (never sent as SNI). In TLS 1.3 a server that refuses this
    /// client's certificate says so after the client's handshake completed: that refusal arrives as a
    /// ``TLSError`` certificate error on the connection's first read.
    /// - Parameters:
    ///   - host: the server's DNS name or IP address.
    ///   - port: the server's port.
    ///   - serverName: the name the server's certificate must prove; by default `host`.
    ///   - context: a client context (``TLSConfiguration/Role/client``).
    ///   - connectTimeout: how long to wait for the TCP connection (default 10 seconds).
    ///   - group: the event loops to run on.
    /// - Throws: ``TLSError/Code/unreachable`` when no TCP connection can be made; the handshake's
    ///   ``TLSError`` otherwise.
    public static func connect(
        host: String,
        port: Int,
        context: TLSContext,
        serverName: TLSServerName? = nil,
        connectTimeout: Duration = .seconds(10),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> TLSConnection {
        guard context.configuration.role == .client else {
            throw TLSError(.invalidConfiguration, "TLSClient needs a client configuration")
        }
        let name = serverName ?? TLSServerName(host)
        let bootstrap = ClientBootstrap(group: group)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(TimeAmount(connectTimeout))
        let establishment: EventLoopFuture<TLSConnection>
        do {
            establishment = try await bootstrap.connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try TLSConnection.establish(on: channel) {
                        TLSHandler(clientContext: context, serverName: name, port: port)
                    }
                }
            }
        } catch {
            throw TLSError(.unreachable, "cannot reach \(host):\(port): \(NetworkErrorText.reason(error))")
        }
        return try await establishment.get()
    }
}
