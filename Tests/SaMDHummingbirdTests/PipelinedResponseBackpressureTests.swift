// A client that pipelines requests and reads nothing, against a server whose event loop runs late (as on a busy
// machine): the responses the server holds for it must stay bounded.

import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import SaMDHummingbird
import SaMDTLS
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Hummingbird over SaMDTLS: pipelined responses")
struct PipelinedResponseBackpressureTests {
    /// A request context that keeps its connection's channel, for the route to hold that channel's event loop.
    struct ChannelRequestContext: RequestContext {
        var coreContext: CoreRequestContextStorage
        let channel: any Channel

        init(source: ApplicationRequestContextSource) {
            self.coreContext = .init(source: source)
            self.channel = source.channel
        }
    }

    final class Counter: Sendable {
        let value = Atomic(0)
    }

    /// Hummingbird's writer hands each response to the connection's event loop and goes on at once; the
    /// channel's writability reaches it only once that loop has run the write. While the loop runs late, the
    /// route must not answer the next pipelined request: else every response of the pipeline is encrypted
    /// and buffered, for a client that reads none of them (a server-side memory exhaustion).
    ///
    /// The first request holds the connection's event loop — until every request was answered, or a second
    /// passed — as a loaded machine would; the server's pending output is then measured on that loop.
    @Test func aClientThatPipelinesWithoutReadingIsNotAnsweredWhileTheEventLoopLags() async throws {
        let requests = 16
        let bodyBytes = 1 << 20
        let body = ByteBuffer(repeating: 0x41, count: bodyBytes)
        let answered = Counter()
        let (held, heldEnded) = AsyncStream.makeStream(of: (any Channel).self)
        let router = Router(context: ChannelRequestContext.self)
        router.get("big") { _, context in
            if answered.value.add(1, ordering: .relaxed).newValue == 1 {
                let channel = context.channel
                channel.eventLoop.execute {
                    let clock = ContinuousClock()
                    let deadline = clock.now + .seconds(1)
                    while answered.value.load(ordering: .relaxed) < requests && clock.now < deadline {
                        usleep(1_000)
                    }
                    heldEnded.yield(channel)
                }
            }
            return Response(status: .ok, body: ResponseBody(byteBuffer: body))
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var pendingBytes = 0
        var answeredWhileHeld = 0
        try await HummingbirdTLSTests.serving { onServerRunning in
            Application(
                router: router, server: try .samdTLS(context: try HummingbirdTLSTests.serverContext()),
                configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: onServerRunning,
                eventLoopGroupProvider: .shared(group))
        } _: { port in
            let connection = try await TLSClient.connect(
                host: "127.0.0.1", port: port, context: try HummingbirdTLSTests.clientContext("device"))
            try await connection.executeThenClose { _, outbound in
                let get = "GET /big HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
                try await outbound.write(ByteBuffer(string: String(repeating: get, count: requests)))
                var iterator = held.makeAsyncIterator()
                let channel = try #require(await iterator.next())
                answeredWhileHeld = answered.value.load(ordering: .relaxed)
                // Runs after every write queued on the loop while it was held.
                pendingBytes = try await channel.eventLoop.submit {
                    try channel.syncOptions?.getOption(.bufferedWritableBytes) ?? 0
                }.get()
            }
        }
        try await group.shutdownGracefully()
        #expect(answeredWhileHeld == 1, "\(answeredWhileHeld) of \(requests) requests answered while the loop lagged")
        #expect(
            pendingBytes < 3 * bodyBytes,
            "\(pendingBytes) bytes buffered for a client that reads nothing (\(pendingBytes / bodyBytes) responses)")
    }
}
