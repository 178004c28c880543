public import Logging
public import NIOCore
import NIOHTTP1
public import NIOPosix
import SaMDExampleSupport
public import SaMDStore
import SaMDTLS
import Synchronization

/// The records gateway: HTTPS (HTTP/1.1 over SaMDTLS, client certificates required) in front of an
/// `EncryptedRecordStore`.
///
/// | request | role | answers |
/// |---|---|---|
/// | `PUT /records/{subject}/{id}` | device | 201 new / 200 replaced, `{"revision":N}`; 400, 413, 503 |
/// | `GET /records/{subject}/{id}` | reader | 200 with the record and its type; 403, 404, 410, 500, 503 |
/// | `DELETE /subjects/{subject}` | shredder | 200 `{"key","destroyed_at","records"}`; 403, 404, 503 |
/// | `GET /healthz` | device | 200 `{"status":"ok"}` |
///
/// Each connection's pipeline is `TLSHandler` → `TLSPeerRevalidationHandler` (the client is verified again
/// after each reload of the TLS context's trust state, and ends at its certificate's expiry) → NIO's HTTP/1.1
/// server handlers (pipelining assistance, 400 on parse errors) → the gateway's handler. The client's roles come from the certificate verified in the
/// handshake; store calls run on `NIOThreadPool.singleton`, never on an event loop. Responses carry no
/// subject or record id and logs name no patient data (Examples/RecordService/SaMDRecordService.docc/Gateway.md, Docs/SecurityEvents.md).
public final class RecordGateway: Sendable {
    /// The address the gateway listens on; its port is the real one when 0 was asked for.
    public let localAddress: SocketAddress
    /// The configuration it serves with.
    public var configuration: RecordGatewayConfiguration { self.core.configuration }
    let core: GatewayCore
    let listener: any Channel
    let connections: GatewayConnections

    private init(localAddress: SocketAddress, core: GatewayCore, listener: any Channel, connections: GatewayConnections)
    {
        self.localAddress = localAddress
        self.core = core
        self.listener = listener
        self.connections = connections
    }

    /// Listens on `host`:`port` (port 0: any free port) and serves until ``stop()``.
    /// - Parameters:
    ///   - host: the address to listen on, e.g. `127.0.0.1` or `::1`.
    ///   - port: the port; 0 picks a free one (read it from ``localAddress``).
    ///   - configuration: TLS, roles and bounds; see ``RecordGatewayConfiguration``.
    ///   - store: the record store; its calls run on `NIOThreadPool.singleton`.
    ///   - logger: where the `samd.gateway.*` events go (label suggestion `samdkit.gateway`). TLS events go to
    ///     the TLS context's logger, store events to the store's.
    ///   - group: the event loops to serve on.
    /// - Throws: ``RecordServiceError/Code/invalidConfiguration`` when the configuration cannot work (see
    ///   ``RecordGatewayConfiguration``); the socket error when the address cannot be bound.
    public static func start(
        host: String,
        port: Int,
        configuration: RecordGatewayConfiguration,
        store: EncryptedRecordStore,
        logger: Logger = Logger(label: "samdkit.gateway"),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> RecordGateway {
        try configuration.validate()
        let core = GatewayCore(configuration: configuration, store: store, logger: logger, threadPool: .singleton)
        let connections = GatewayConnections()
        let tls = configuration.tls
        let limit = TLSConnectionLimit(maximumConnections: configuration.maximumConnections, context: tls)
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                // A failed accept (descriptors exhausted) pauses accepting instead of retrying at once, which
                // would keep an event loop at 100 % for as long as the connection waits in the backlog.
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(limit.makeAcceptBackoffHandler())
                }
            }
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                // Completes at once: the child is registered (and starts its handshake) only after this.
                channel.eventLoop.makeCompletedFuture {
                    guard limit.admit(channel) else {
                        // Over maximumConnections: closed before it is registered, before any TLS.
                        channel.close(promise: nil)
                        return
                    }
                    let tlsHandler = TLSHandler(serverContext: tls)
                    try channel.pipeline.syncOperations.addHandler(tlsHandler)
                    // A client revoked (CRL reload), dropped from the CAs or expired while connected: its
                    // request in flight is answered with `Connection: close`, then the connection closes.
                    try channel.pipeline.syncOperations.addHandler(
                        TLSPeerRevalidationHandler(
                            context: tls,
                            gracePeriod: configuration.shutdownGracePeriod
                        )
                    )
                    tlsHandler.handshakeFuture.whenComplete { result in
                        core.counters.withLock { counters in
                            if case .success = result {
                                counters.handshakesSucceeded += 1
                            } else {
                                counters.handshakesFailed += 1
                            }
                        }
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(GatewayHTTPHandler(core: core))
                    connections.add(channel)
                    if core.stopping.withLock({ $0 }) {
                        channel.pipeline.fireUserInboundEventTriggered(GatewayShutdownEvent())
                    }
                }
            }
            .bind(host: host, port: port)
            .get()
        guard let address = listener.localAddress else {
            listener.close(promise: nil)
            throw RecordServiceError(.invalidConfiguration, "the listening socket has no local address")
        }
        let gateway = RecordGateway(localAddress: address, core: core, listener: listener, connections: connections)
        GatewayEvents.started(
            logger,
            address: gateway.addressDescription,
            readers: configuration.readers,
            shredders: configuration.shredders,
            readerIssuers: configuration.readerIssuers,
            shredderIssuers: configuration.shredderIssuers,
            maximumBodyByteCount: configuration.maximumBodyByteCount,
            maximumConnections: configuration.maximumConnections
        )
        return gateway
    }

    /// Counters since the start (a snapshot).
    public var statistics: RecordGatewayStatistics {
        var statistics = self.core.counters.withLock { $0 }
        statistics.openConnections = self.connections.count
        return statistics
    }

    /// Stops listening, lets requests in progress finish (at most
    /// ``RecordGatewayConfiguration/shutdownGracePeriod`` seconds) and closes every connection (close_notify).
    /// Idle connections close at once. Returns when every connection is closed; calling it again returns at
    /// once.
    public func stop() async {
        let first = self.core.stopping.withLock { stopping in
            defer { stopping = true }
            return !stopping
        }
        guard first else { return }
        try? await self.listener.close()
        let open = self.connections.all
        let grace = TimeAmount(self.configuration.shutdownGracePeriod)
        let deadlines = open.map { channel in
            channel.pipeline.fireUserInboundEventTriggered(GatewayShutdownEvent())
            return channel.eventLoop.scheduleTask(in: grace) { channel.close(promise: nil) }
        }
        for (channel, deadline) in zip(open, deadlines) {
            try? await channel.closeFuture.get()
            deadline.cancel()
        }
        GatewayEvents.stopped(self.core.logger, address: self.addressDescription)
    }

    var addressDescription: String {
        guard let ip = self.localAddress.ipAddress, let port = self.localAddress.port else {
            return "\(self.localAddress)"
        }
        return Endpoint.format(host: ip, port: port)
    }
}

/// The open connections of a gateway, so that ``RecordGateway/stop()`` can close them.
final class GatewayConnections: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        self.channels.withLock { $0[key] = channel }
        channel.closeFuture.whenComplete { _ in
            _ = self.channels.withLock { $0.removeValue(forKey: key) }
        }
    }

    var count: Int {
        self.channels.withLock { $0.count }
    }

    var all: [any Channel] {
        self.channels.withLock { Array($0.values) }
    }
}
