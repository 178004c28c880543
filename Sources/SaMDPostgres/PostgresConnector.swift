import Logging
public import NIOCore
import NIOPosix
public import PostgresNIO
public import SaMDTLS

/// Opens connections to PostgreSQL over SaMDTLS: TCP, PostgreSQL's `SSLRequest`, TLS 1.3 on the system OpenSSL
/// with the server verified as `verify-full` (its chain to the location's `sslrootcert`, its name or IP
/// address in a subject alternative name, EKU serverAuth), then postgres-nio's startup and authentication on
/// that channel (`PostgresConnection.Configuration(establishedChannel:…)`). postgres-nio's own TLS (swift-nio-ssl,
/// BoringSSL) is never used.
///
/// The protocol (PostgreSQL 15 documentation, §55.2.10 "SSL Session Encryption"): the client sends the 8-byte
/// SSLRequest (length 8, code 80877103); the server answers one byte, `S` (go on with TLS) or `N` (no TLS). `N`
/// ends the attempt — a connection is never continued in the clear — and so does any byte after `S` before the
/// handshake: a man in the middle could have injected it (CVE-2021-23222).
///
/// Every step has one deadline, the location's `connect_timeout`: the TCP connection, the SSLRequest's answer,
/// the handshake and the authentication together.
public struct PostgresConnector: Sendable {
    /// Where the server is and who logs in.
    public let location: PostgresLocation
    let credentials: PostgresCredentials
    /// The client context: trust roots from the location's `sslrootcert`, SaMDKit's TLS defaults.
    public let tlsContext: TLSContext
    /// Parameters sent at startup with every connection (`statement_timeout`…).
    let startupParameters: [(String, String)]
    let group: any EventLoopGroup
    let logger: Logger

    /// - Parameters:
    ///   - location: the server, role and database, and the CA that verifies the server.
    ///   - credentials: the role's password (``PostgresCredentials/resolve(for:environment:)``).
    ///   - startupParameters: server settings for each session (name, value), sent in the startup message.
    ///   - group: the event loops the connections run on.
    ///   - logger: where connection events go (never a password).
    /// - Throws: ``PostgresStoreError/Code/invalidLocation`` when the CA file cannot be loaded.
    public init(
        location: PostgresLocation,
        credentials: PostgresCredentials,
        startupParameters: [(String, String)] = [],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "samdkit.postgres")
    ) throws {
        var configuration = TLSConfiguration.client(trustRoots: .file(location.rootCertificatePath))
        configuration.handshakeTimeout = location.connectTimeout
        do {
            self.tlsContext = try TLSContext(configuration: configuration, logger: logger)
        } catch {
            throw PostgresStoreError(
                .invalidLocation,
                "the CA file \(PostgresLocation.printable(location.rootCertificatePath)) of the PostgreSQL URL cannot be used: \(error)"
            )
        }
        self.location = location
        self.credentials = credentials
        self.startupParameters = startupParameters
        self.group = group
        self.logger = logger
    }

    /// Opens one connection, authenticated, within the location's `connect_timeout`.
    /// - Parameter id: the connection's number in the logs.
    /// - Throws: ``PostgresStoreError`` — `unavailable` (not reached, or too slow), `tlsRefused`,
    ///   `authenticationFailed`, `query` (another server error at startup).
    public func connect(id: Int) async throws -> PostgresConnection {
        let deadline = NIODeadline.now() + TimeAmount(self.location.connectTimeout)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: self.group)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelOption(.socketOption(.so_keepalive), value: 1)
                .connectTimeout(TimeAmount(self.location.connectTimeout))
                .connect(host: self.location.host, port: self.location.port).get()
        } catch {
            throw PostgresStoreError(
                .unavailable, "cannot reach \(self.location): \(NetworkErrorText.reason(error))")
        }
        do {
            try await self.negotiateTLS(on: channel, deadline: deadline)
            var configuration = PostgresConnection.Configuration(
                establishedChannel: channel, username: self.location.user, password: self.credentials.password,
                database: self.location.database)
            configuration.options.additionalStartupParameters =
                self.startupParameters + (self.location.applicationName.map { [("application_name", $0)] } ?? [])
            let startup = configuration
            let connection = try await Self.withDeadline(deadline, onTimeout: { channel.close(promise: nil) }) {
                try await PostgresConnection.connect(
                    on: channel.eventLoop, configuration: startup, id: id, logger: self.logger)
            }
            return connection
        } catch {
            channel.close(promise: nil)
            throw Self.connectionError(error, location: self.location)
        }
    }

    /// Sends the SSLRequest, reads the one-byte answer, adds SaMDTLS's handler and waits for the handshake.
    private func negotiateTLS(on channel: any Channel, deadline: NIODeadline) async throws {
        // Completed with the TLS handler's handshake future as the handler is added: a handshake that fails at once
        // (a refused certificate) removes the handler, so it is never looked up afterwards.
        let answered = channel.eventLoop.makePromise(of: EventLoopFuture<TLSConnectionInfo>.self)
        let timeout = channel.eventLoop.scheduleTask(deadline: deadline) {
            answered.fail(PostgresStoreError(.unavailable, "\(self.location) did not answer the SSLRequest in time"))
        }
        defer { timeout.cancel() }
        let context = self.tlsContext
        let serverName = TLSServerName(self.location.host)
        let port = self.location.port
        try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandler(
                SSLRequestHandler(answered: answered) {
                    TLSHandler(clientContext: context, serverName: serverName, port: port)
                })
        }.get()
        let handshake = try await answered.futureResult.get()
        _ = try await handshake.get()
    }

    /// The store's error for what failed while connecting.
    static func connectionError(_ error: any Error, location: PostgresLocation) -> PostgresStoreError {
        if let error = error as? PostgresStoreError { return error }
        if let error = error as? TLSError {
            switch error.code {
            case .unreachable, .handshakeTimeout, .connectionClosed, .uncleanShutdown, .io:
                return PostgresStoreError(.unavailable, "\(location): TLS: \(error.reason)")
            default:
                return PostgresStoreError(.tlsRefused, "\(location): TLS: \(error.code): \(error.reason)")
            }
        }
        if let error = error as? PSQLError {
            switch error.code {
            case .server:
                let state = error.serverInfo?[.sqlState] ?? "?"
                // 28P01 invalid_password, 28000 invalid_authorization_specification, 3D000 invalid_catalog_name.
                if state.hasPrefix("28") || state == "3D000" {
                    return PostgresStoreError(
                        .authenticationFailed, "\(location) refused the login (SQLSTATE \(state))")
                }
                if state.hasPrefix("57P") || state.hasPrefix("53") {
                    // 57P03 cannot_connect_now (starting up), 53300 too_many_connections.
                    return PostgresStoreError(
                        .unavailable, "\(location) cannot take a connection now (SQLSTATE \(state))")
                }
                return PostgresStoreError(.query, "\(location) failed the startup (SQLSTATE \(state))")
            case .authMechanismRequiresPassword:
                return PostgresStoreError(
                    .authenticationFailed,
                    "\(location) asks for a password and none was found (PGPASSWORD, PGPASSFILE or ~/.pgpass)")
            case .unsupportedAuthMechanism, .saslError:
                return PostgresStoreError(.authenticationFailed, "\(location): authentication failed (\(error.code))")
            default:
                return PostgresStoreError(.unavailable, "\(location): \(error.code)")
            }
        }
        return PostgresStoreError(.unavailable, "\(location): \(NetworkErrorText.reason(error))")
    }

    /// Runs `body`, calling `onTimeout` and throwing ``PostgresStoreError/Code/unavailable`` if it has not
    /// finished by `deadline`.
    static func withDeadline<T: Sendable>(
        _ deadline: NIODeadline, onTimeout: @escaping @Sendable () -> Void,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                let nanoseconds = max(0, (deadline - NIODeadline.now()).nanoseconds)
                try? await Task.sleep(for: .nanoseconds(nanoseconds))
                return nil
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
                onTimeout()
                throw PostgresStoreError(.unavailable, "PostgreSQL did not answer within the deadline")
            }
            throw PostgresStoreError(.unavailable, "PostgreSQL did not answer within the deadline")
        }
    }
}

/// Reads the server's one-byte answer to the SSLRequest it sends when added, then replaces itself with the TLS
/// handler (`S`) or fails (`N`, anything else, or more than the one byte).
private final class SSLRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Length 8, then the SSLRequest code 80877103 (1234 << 16 | 5679), both Int32 big-endian.
    static let request: [UInt8] = [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F]

    private let answered: EventLoopPromise<EventLoopFuture<TLSConnectionInfo>>
    private let makeTLSHandler: () -> TLSHandler
    private var done = false

    init(answered: EventLoopPromise<EventLoopFuture<TLSConnectionInfo>>, makeTLSHandler: @escaping () -> TLSHandler) {
        self.answered = answered
        self.makeTLSHandler = makeTLSHandler
    }

    func handlerAdded(context: ChannelHandlerContext) {
        context.writeAndFlush(Self.wrapOutboundOut(context.channel.allocator.buffer(bytes: Self.request)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        guard !self.done else { return }
        self.done = true
        guard buffer.readableBytes == 1, let answer = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self)
        else {
            self.fail(
                context,
                PostgresStoreError(
                    .tlsRefused,
                    buffer.readableBytes > 1
                        ? "the server sent data after accepting TLS, before the handshake (CVE-2021-23222): refused"
                        : "the server's answer to the SSLRequest is empty"))
            return
        }
        switch answer {
        case UInt8(ascii: "S"):
            do {
                let tls = self.makeTLSHandler()
                try context.pipeline.syncOperations.addHandler(tls, position: .after(self))
                // Taken now: the handshake has started, and a failed one removes the handler.
                let handshake = tls.handshakeFuture
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                self.answered.succeed(handshake)
            } catch {
                self.fail(context, error)
            }
        case UInt8(ascii: "N"):
            self.fail(
                context,
                PostgresStoreError(.tlsRefused, "the server does not accept TLS (it answered N to the SSLRequest)"))
        default:
            self.fail(context, PostgresStoreError(.tlsRefused, "the server's answer to the SSLRequest is not S or N"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.answered.fail(PostgresStoreError(.unavailable, "the server closed the connection at the SSLRequest"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail(context, PostgresStoreError(.unavailable, "at the SSLRequest: \(NetworkErrorText.reason(error))"))
    }

    private func fail(_ context: ChannelHandlerContext, _ error: any Error) {
        self.answered.fail(error)
        context.close(promise: nil)
    }
}
