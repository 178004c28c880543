public import Hummingbird
public import NIOCore
public import SaMDTLS

/// A request context that knows the TLS connection its request arrived on — its protocol, cipher suite,
/// whether it was resumed, and the client verified in its handshake (`TLSConnectionInfo.peer`: SAN URIs, DNS
/// names, subject, issuer, SPKI pin, chain).
///
/// A context of your own conforms by filling ``tlsConnection`` from its source:
///
/// ```swift
/// struct AppContext: TLSRequestContext {
///     var coreContext: CoreRequestContextStorage
///     let tlsConnection: TLSConnectionInfo?
///     let remoteAddress: SocketAddress?
///     init(source: ApplicationRequestContextSource) {
///         self.coreContext = .init(source: source)
///         self.tlsConnection = source.tlsConnection
///         self.remoteAddress = source.channel.remoteAddress
///     }
/// }
/// ```
public protocol TLSRequestContext: RequestContext, RemoteAddressRequestContext {
    /// The connection's TLS summary; `nil` when the request did not arrive through ``SaMDTLSChannel``
    /// (`HTTPServerBuilder.samdTLS`), e.g. in a router test without a server.
    var tlsConnection: TLSConnectionInfo? { get }
}

extension TLSRequestContext {
    /// The client verified in the connection's handshake; `nil` when the server does not ask for client
    /// certificates, or without ``tlsConnection``.
    public var tlsPeer: TLSPeerIdentity? { self.tlsConnection?.peer }
}

/// The basic request context with the TLS connection: Hummingbird's `BasicRequestContext` plus
/// ``TLSRequestContext``.
public struct BasicTLSRequestContext: TLSRequestContext {
    /// Hummingbird's per-request storage (parameters, logger, endpoint path).
    public var coreContext: CoreRequestContextStorage
    /// The connection's TLS summary (``TLSRequestContext/tlsConnection``).
    public let tlsConnection: TLSConnectionInfo?
    /// The client's socket address.
    public let remoteAddress: SocketAddress?

    /// Made by Hummingbird for each request.
    /// - Parameter source: the request's channel and logger.
    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.tlsConnection = source.tlsConnection
        self.remoteAddress = source.channel.remoteAddress
    }
}

extension ApplicationRequestContextSource {
    /// The TLS summary of the connection this request arrived on: set by ``SaMDTLSChannel`` for the requests
    /// of the connection it handles (a task-local value bound to that connection's channel, so a request of
    /// another channel never sees it); `nil` otherwise.
    public var tlsConnection: TLSConnectionInfo? {
        TLSChannelConnection.info(for: self.channel)
    }
}

/// The TLS connection a ``SaMDTLSChannel`` is handling, bound to the task that handles it (and its child
/// tasks: HTTP/2 streams), together with the channel it belongs to.
struct TLSChannelConnection: Sendable {
    @TaskLocal static var current: TLSChannelConnection?

    let channel: ObjectIdentifier
    let info: TLSConnectionInfo

    init(channel: any Channel, info: TLSConnectionInfo) {
        self.channel = ObjectIdentifier(channel)
        self.info = info
    }

    /// The bound connection's summary when `channel` is its channel or a child of it; `nil` otherwise.
    static func info(for channel: any Channel) -> TLSConnectionInfo? {
        guard let bound = Self.current else { return nil }
        if bound.channel == ObjectIdentifier(channel) { return bound.info }
        if let parent = channel.parent, bound.channel == ObjectIdentifier(parent) { return bound.info }
        return nil
    }
}
