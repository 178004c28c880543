public import HummingbirdCore
public import Logging
public import NIOCore
public import SaMDTLS

/// How a ``SaMDTLSChannel`` treats its connections beside the TLS handshake itself.
public struct SaMDTLSChannelConfiguration: Sendable {
    /// The longest a connection may carry requests (default one hour; `nil`: no limit). Counted from the end
    /// of the handshake; once reached the connection finishes the request in flight and closes
    /// (`ChannelShouldQuiesceEvent`, as on shutdown), so that every client makes a fresh handshake — under the
    /// trust roots, CRLs and identity in force then — at least this often.
    public var maximumConnectionAge: Duration?
    /// How long a connection may finish its request in flight once it is asked to close — by a graceful
    /// shutdown, its maximum age, or its client no longer being valid (revoked by a CRL reload, its CA
    /// removed, its certificate expired: `TLSPeerInvalidatedEvent`) — before it is closed anyway (default
    /// 10 seconds; 0 or more).
    public var shutdownGracePeriod: Duration
    /// A bound on the connections open at once (`nil`: none). A connection over it is closed before any TLS;
    /// refusals are logged once per interval (`samd.tls.connections-refused`). Pair it with the limit's
    /// `makeAcceptBackoffHandler()` on the listening channel (`onServerRunning`).
    public var connectionLimit: TLSConnectionLimit?

    /// - Parameters:
    ///   - maximumConnectionAge: see ``maximumConnectionAge`` (default one hour).
    ///   - shutdownGracePeriod: see ``shutdownGracePeriod`` (default 10 seconds).
    ///   - connectionLimit: see ``connectionLimit`` (default none).
    public init(
        maximumConnectionAge: Duration? = .seconds(3_600),
        shutdownGracePeriod: Duration = .seconds(10),
        connectionLimit: TLSConnectionLimit? = nil
    ) {
        self.maximumConnectionAge = maximumConnectionAge
        self.shutdownGracePeriod = shutdownGracePeriod
        self.connectionLimit = connectionLimit
    }
}

/// A Hummingbird child channel that runs `BaseChannel` (HTTP/1.1: `HTTP1Channel`) over SaMDTLS on the system
/// OpenSSL — the counterpart of HummingbirdTLS's `TLSChannel`, with SaMDKit's `TLSHandler` where that one has
/// swift-nio-ssl's.
///
/// Each accepted connection's pipeline is `TLSHandler` → `TLSPeerRevalidationHandler` (the client is verified
/// again after each reload of the context's trust state, and its connection ends at its certificate's
/// expiry) → a lifetime handler (maximum age, a deadline after a close was asked for) → the base channel's
/// handlers. Requests are handled only once the handshake has completed; the connection's
/// `TLSConnectionInfo` — the verified client included — is then available to every request it carries,
/// through ``TLSRequestContext`` (`ApplicationRequestContextSource.tlsConnection`). A failed handshake closes
/// the connection (after its alert) and reaches no handler.
public struct SaMDTLSChannel<BaseChannel: ServerChildChannel>: ServerChildChannel {
    /// What the base channel set up, and the handshake it waits for.
    public struct Value: ServerChildChannelValue {
        let base: BaseChannel.Value
        let handshake: EventLoopFuture<TLSConnectionInfo>
        /// The connection's channel.
        public var channel: any Channel { self.base.channel }
    }

    /// The server TLS context every connection's handshake is made from.
    public let context: TLSContext
    /// Maximum age, shutdown deadline and connection bound.
    public let configuration: SaMDTLSChannelConfiguration
    let baseChannel: BaseChannel

    /// - Parameters:
    ///   - baseChannel: the channel to run over TLS, e.g. `HTTP1Channel(responder:configuration:)`.
    ///   - context: a server context (`TLSConfiguration.server(…)`, `.gatewayServer(…)`); when it has client
    ///     trust roots, clients must present a certificate that verifies.
    ///   - configuration: maximum age, shutdown deadline, connection bound (``SaMDTLSChannelConfiguration``).
    /// - Throws: `TLSError` (`invalidConfiguration`) when `context` is a client context, or a duration is
    ///   negative.
    public init(
        _ baseChannel: BaseChannel, context: TLSContext, configuration: SaMDTLSChannelConfiguration = .init()
    ) throws {
        try Self.validate(context: context, configuration: configuration)
        self.baseChannel = baseChannel
        self.context = context
        self.configuration = configuration
    }

    /// Checks what a server's TLS channel needs.
    /// - Throws: `TLSError` (`invalidConfiguration`) when `context` is a client context, or a duration is negative.
    static func validate(context: TLSContext, configuration: SaMDTLSChannelConfiguration) throws {
        guard context.configuration.role == .server else {
            throw TLSError(.invalidConfiguration, "a Hummingbird server needs a server TLS context")
        }
        guard configuration.shutdownGracePeriod >= .zero, configuration.maximumConnectionAge.map({ $0 > .zero }) ?? true
        else {
            throw TLSError(
                .invalidConfiguration,
                "the shutdown grace period is 0 or more and the maximum connection age more than 0")
        }
    }

    /// Adds the TLS handlers, then the base channel's.
    /// - Parameters:
    ///   - channel: the accepted connection.
    ///   - logger: the server's logger.
    /// - Returns: the base channel's value with the handshake to wait for; a failed future (the channel
    ///   closed) for a connection over the ``SaMDTLSChannelConfiguration/connectionLimit``.
    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let handshake: EventLoopFuture<TLSConnectionInfo>
        do {
            // Called on the channel's event loop, before the channel is registered.
            if let limit = self.configuration.connectionLimit, !limit.admit(channel) {
                channel.close(promise: nil)
                throw TLSError(.connectionClosed, "over the connection limit")
            }
            let tls = TLSHandler(serverContext: self.context)
            let operations = channel.pipeline.syncOperations
            try operations.addHandler(tls)
            try operations.addHandler(
                TLSPeerRevalidationHandler(context: self.context, gracePeriod: self.configuration.shutdownGracePeriod))
            try operations.addHandler(
                TLSConnectionLifetimeHandler(
                    maximumAge: self.configuration.maximumConnectionAge,
                    gracePeriod: self.configuration.shutdownGracePeriod))
            handshake = tls.handshakeFuture
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return self.baseChannel.setup(channel: channel, logger: logger).map { base in
            Value(base: base, handshake: handshake)
        }
    }

    /// Waits for the handshake, then lets the base channel handle the connection with its
    /// `TLSConnectionInfo` bound to the task (``TLSRequestContext``).
    /// - Parameters:
    ///   - value: what ``setup(channel:logger:)`` returned.
    ///   - logger: the server's logger.
    public func handle(value: Value, logger: Logger) async {
        let info: TLSConnectionInfo
        do {
            info = try await value.handshake.get()
        } catch {
            // TLSHandler logged the failure (samd.tls.handshake-failed) and closes the connection after its
            // alert. The base channel still runs, to release what it set up (Hummingbird's HTTP/1.1 channel
            // must finish its async writer); it reads nothing: no plaintext follows a failed handshake.
            await self.baseChannel.handle(value: value.base, logger: logger)
            return
        }
        await TLSChannelConnection.$current.withValue(TLSChannelConnection(channel: value.channel, info: info)) {
            await self.baseChannel.handle(value: value.base, logger: logger)
        }
    }
}

extension SaMDTLSChannel: HTTPChannelHandler where BaseChannel: HTTPChannelHandler {
    /// The base channel's responder.
    public var responder: HTTPChannelHandler.Responder {
        self.baseChannel.responder
    }
}
