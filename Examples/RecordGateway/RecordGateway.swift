import Hummingbird
import HummingbirdCore
public import Logging
public import NIOCore
public import NIOPosix
import SaMDExampleSupport
import SaMDHummingbird
import SaMDRecordService
public import SaMDStore
import SaMDTLS
import ServiceLifecycle
import Synchronization

/// The records gateway: a Hummingbird application served over SaMDTLS (HTTP/1.1, TLS 1.3, client
/// certificates required) in front of a `RecordStore`.
///
/// | request | role | answers |
/// |---|---|---|
/// | `PUT /records/{subject}/{id}` | device | 201 new / 200 replaced, `{"revision":N}`; 400, 413, 503 |
/// | `GET /records/{subject}/{id}` | reader | 200 with the record and its type; 403, 404, 410, 500, 503 |
/// | `DELETE /subjects/{subject}` | shredder | 200 `{"key","destroyed_at","records"}`; 403, 404, 503 |
/// | `GET /healthz` | device | 200 `{"status":"ok"}` |
///
/// Each connection is a `SaMDTLSChannel` (SaMDHummingbird: `TLSHandler`, the client verified again after each
/// reload of the TLS context's trust state, maximum connection age, a deadline on every close) around
/// Hummingbird's HTTP/1.1 channel, with the gateway's own connection rules (request deadlines,
/// `100 Continue`, unread responses) between NIO's codec and Hummingbird. Routes are Hummingbird's router,
/// each guarded by the role it needs (`TLSRoleMiddleware`, roles from the certificate verified in the
/// handshake). Responses carry no subject or record id and logs name no patient data
/// (Examples/RecordGateway/SaMDRecordGateway.docc/Gateway.md, Docs/SecurityEvents.md).
public final class RecordGateway: Sendable {
    /// The address the gateway listens on; its port is the real one when 0 was asked for.
    public let localAddress: SocketAddress
    /// The configuration it serves with.
    public var configuration: RecordGatewayConfiguration { self.core.configuration }
    let core: GatewayCore
    let services: ServiceGroup
    let running: Task<Void, Never>
    private let stopped = Mutex(false)

    private init(localAddress: SocketAddress, core: GatewayCore, services: ServiceGroup, running: Task<Void, Never>) {
        self.localAddress = localAddress
        self.core = core
        self.services = services
        self.running = running
    }

    /// Listens on `host`:`port` (port 0: any free port) and serves until ``stop()``.
    /// - Parameters:
    ///   - host: the address to listen on, e.g. `127.0.0.1` or `::1`.
    ///   - port: the port; 0 picks a free one (read it from ``localAddress``).
    ///   - configuration: TLS, roles and bounds; see ``RecordGatewayConfiguration``.
    ///   - store: the record store (`EncryptedRecordStore` runs its blocking work on its own thread pool).
    ///   - logger: where the `samd.gateway.*` events go (label suggestion `samdkit.gateway`). TLS events go to
    ///     the TLS context's logger, store events to the store's; Hummingbird's own messages, at warning and
    ///     above, to this one.
    ///   - group: the event loops to serve on.
    /// - Throws: `RecordServiceError.Code.invalidConfiguration` when the configuration cannot work (see
    ///   ``RecordGatewayConfiguration``); the socket error when the address cannot be bound.
    public static func start(
        host: String,
        port: Int,
        configuration: RecordGatewayConfiguration,
        store: any RecordStore,
        logger: Logger = Logger(label: "samdkit.gateway"),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> RecordGateway {
        let roles = try configuration.validate()
        let core = GatewayCore(configuration: configuration, roles: roles, store: store, logger: logger)
        let limit = TLSConnectionLimit(maximumConnections: configuration.maximumConnections, context: configuration.tls)
        let server = try HTTPServerBuilder.samdTLS(
            http1: HTTP1Channel.Configuration(
                additionalChannelHandlers: [GatewayConnectionHandler(core: core)],
                idleTimeout: TimeAmount(configuration.idleTimeout)),
            context: configuration.tls,
            configuration: SaMDTLSChannelConfiguration(
                maximumConnectionAge: configuration.maximumConnectionAge,
                shutdownGracePeriod: configuration.shutdownGracePeriod,
                connectionLimit: limit))
        // Hummingbird's own messages (server started, connection errors) below warning stay out of the
        // gateway's event log.
        let frameworkLogger = Logger(label: logger.label) { _ in FrameworkLogHandler(base: logger, minimum: .warning) }
        let listening = group.any().makePromise(of: (any Channel).self)
        let application = Application(
            router: GatewayRoutes.router(core),
            server: server,
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: port), serverName: nil, backlog: 256, reuseAddress: true),
            onServerRunning: { channel in
                // A failed accept (descriptors exhausted) pauses accepting instead of retrying at once, which
                // would keep an event loop at 100 % for as long as the connection waits in the backlog.
                try? await channel.eventLoop.submit {
                    try channel.pipeline.syncOperations.addHandler(limit.makeAcceptBackoffHandler(), position: .first)
                }.get()
                listening.succeed(channel)
            },
            eventLoopGroupProvider: .shared(group),
            logger: frameworkLogger
        )
        let services = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [application], gracefulShutdownSignals: [], logger: frameworkLogger))
        let running = Task {
            do {
                try await services.run()
                listening.fail(RecordServiceError(.invalidConfiguration, "the gateway stopped before it listened"))
            } catch {
                // A bind failure, or the server failing later: start() reports the first.
                listening.fail(error)
            }
        }
        let listener: any Channel
        do {
            listener = try await listening.futureResult.get()
        } catch {
            await services.triggerGracefulShutdown()
            _ = await running.value
            throw error
        }
        guard let address = listener.localAddress else {
            await services.triggerGracefulShutdown()
            _ = await running.value
            throw RecordServiceError(.invalidConfiguration, "the listening socket has no local address")
        }
        let gateway = RecordGateway(localAddress: address, core: core, services: services, running: running)
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
        self.core.counters.withLock { $0 }
    }

    /// Stops listening, lets requests in progress finish (at most
    /// ``RecordGatewayConfiguration/shutdownGracePeriod`` seconds) and closes every connection (close_notify):
    /// Hummingbird's graceful shutdown (swift-service-lifecycle), each connection's deadline set by
    /// `SaMDTLSChannel`. Idle connections close at once. Returns when every connection is closed; calling it
    /// again returns at once.
    public func stop() async {
        await self.services.triggerGracefulShutdown()
        await self.running.value
        let first = self.stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        GatewayEvents.stopped(self.core.logger, address: self.addressDescription)
    }

    var addressDescription: String {
        guard let ip = self.localAddress.ipAddress, let port = self.localAddress.port else {
            return "\(self.localAddress)"
        }
        return Endpoint.format(host: ip, port: port)
    }
}

/// Hands on to `base` only what is at `minimum` or above: Hummingbird's own messages in the gateway's log, its
/// routine ones (server started, a connection error at debug) left out. `base`'s handler is never changed (a
/// handler may be a shared reference, so setting a copy's level would silence the gateway's events too).
struct FrameworkLogHandler: LogHandler {
    let base: Logger
    let minimum: Logger.Level
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level {
        get { max(self.minimum, self.base.logLevel) }
        set {}
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        guard event.level >= self.minimum else { return }
        var metadata = self.metadata
        metadata.merge(event.metadata ?? [:]) { $1 }
        self.base.log(
            level: event.level, event.message, metadata: metadata, source: event.source, file: event.file,
            function: event.function, line: event.line)
    }
}
