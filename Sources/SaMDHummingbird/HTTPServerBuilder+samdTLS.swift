public import HummingbirdCore
public import SaMDTLS

extension HTTPServerBuilder {
    /// HTTP/1.1 over SaMDTLS (TLS 1.3 / mutual TLS on the system OpenSSL): the counterpart of HummingbirdTLS's
    /// `.tls(.http1(), tlsConfiguration:)`.
    ///
    /// ```swift
    /// let app = Application(
    ///     router: router,
    ///     server: try .samdTLS(context: TLSContext(.server(identity: identity, clientTrustRoots: roots))),
    ///     configuration: .init(address: .hostname("127.0.0.1", port: 8443))
    /// )
    /// ```
    ///
    /// It takes the HTTP/1.1 channel's configuration rather than a base `HTTPServerBuilder` because
    /// Hummingbird 2.28 keeps the builder's child-channel factory `package`-internal: only HummingbirdTLS
    /// can wrap an arbitrary builder. Another base channel is wrapped with ``SaMDTLSChannel`` directly:
    /// `HTTPServerBuilder { responder in try SaMDTLSChannel(MyChannel(responder: responder), context: context) }`.
    /// HTTP/2 is not offered: HummingbirdHTTP2's `HTTP2UpgradeChannel` adds swift-nio-ssl's handler itself and
    /// takes no other (Docs/Hummingbird.md).
    /// - Parameters:
    ///   - http1: the HTTP/1.1 channel's configuration (idle timeout, header limits, additional handlers).
    ///   - context: a server TLS context.
    ///   - configuration: maximum connection age, shutdown deadline, connection bound.
    /// - Throws: `TLSError` (`invalidConfiguration`) as ``SaMDTLSChannel/init(_:context:configuration:)``.
    public static func samdTLS(
        http1: HTTP1Channel.Configuration = .init(),
        context: TLSContext,
        configuration: SaMDTLSChannelConfiguration = .init()
    ) throws -> HTTPServerBuilder {
        // Checked now rather than when the application starts.
        _ = try SaMDTLSChannel(
            HTTP1Channel(responder: { _, _, _ in }, configuration: http1), context: context,
            configuration: configuration)
        return HTTPServerBuilder { responder in
            try SaMDTLSChannel(
                HTTP1Channel(responder: responder, configuration: http1), context: context,
                configuration: configuration)
        }
    }
}
