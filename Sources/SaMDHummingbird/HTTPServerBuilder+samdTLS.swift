public import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypesHTTP1
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
    /// A client's `Connection: close` (any case, in a list) and an HTTP/1.0 request without keep-alive close the
    /// connection after their response, which says so (Hummingbird's HTTP/1.1 channel alone leaves them open until
    /// its idle timeout).
    ///
    /// A connection answers its next request only once its event loop has handed the previous response to the
    /// channel: for a client that pipelines requests and reads none of the answers, the server holds, beyond
    /// what the socket took, the response that filled the channel's write buffer and at most one more, however
    /// late the loop runs.
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
        try SaMDTLSChannel<SaMDHTTP1Channel>.validate(context: context, configuration: configuration)
        return HTTPServerBuilder { responder in
            try SaMDTLSChannel(
                SaMDHTTP1Channel(
                    HTTP1Channel(responder: SaMDHTTP1Channel.answeringInTurn(responder), configuration: http1)),
                context: context, configuration: configuration)
        }
    }
}

/// Hummingbird's HTTP/1.1 channel with ``HTTP1ConnectionCloseHandler`` between NIO's codec and Hummingbird's.
struct SaMDHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    let base: HTTP1Channel

    init(_ base: HTTP1Channel) {
        self.base = base
    }

    var responder: HTTPChannelHandler.Responder { self.base.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        self.base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let codec = try operations.handler(type: HTTP1ToHTTPServerCodec.self)
            try operations.addHandler(HTTP1ConnectionCloseHandler(), position: .before(codec))
            return value
        }
    }

    func handle(value: HTTP1Channel.Value, logger: Logger) async {
        await self.base.handle(value: value, logger: logger)
    }

    /// `responder`, returning once the channel's event loop has run the writes of its response.
    ///
    /// Hummingbird's writer (`NIOAsyncChannelOutboundWriter`) hands each write to the event loop and returns at
    /// once; it waits only while the channel is unwritable, and learns that the channel is from the loop, after
    /// the loop ran the write. A loop that runs late (a busy machine, a loop shared by many connections) thus
    /// lets the next pipelined requests be answered before any of their responses reached the channel, and
    /// then all of them are encrypted and buffered for a client that may read none (30 responses of 2 MiB:
    /// 60 MiB held for one connection). Waiting here for the loop to have run the writes keeps the writer's
    /// view of the channel's writability current before the next request is answered. It costs one hop to the
    /// event loop per request.
    static func answeringInTurn(_ responder: @escaping HTTPChannelHandler.Responder) -> HTTPChannelHandler.Responder {
        { request, writer, channel in
            try await responder(request, writer, channel)
            // The loop runs its tasks in order: this one runs after the response's writes.
            try await channel.eventLoop.submit {}.get()
        }
    }
}
