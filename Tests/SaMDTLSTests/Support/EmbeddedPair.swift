import NIOCore
import NIOEmbedded
import SaMDTLS

/// A TLS client and server on two `EmbeddedChannel`s wired back to back, with the byte stream between them
/// cut into pieces as a test chooses: no sockets, every step under the test's control.
final class EmbeddedPair {
    /// How the bytes of one transfer are cut before delivery.
    enum Splitting {
        case whole
        case oneByte
        case random(seed: UInt64)
    }

    let client: EmbeddedChannel
    let server: EmbeddedChannel
    let clientHandler: TLSHandler
    let serverHandler: TLSHandler
    let clientInbound = Collector()
    let serverInbound = Collector()
    var splitting: Splitting
    private var generator: SplitMix

    /// Collects what the TLS handler fires inbound.
    final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var bytes: [UInt8] = []
        var errors: [any Error] = []
        var events: [Any] = []
        var inactive = false

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.bytes += Self.unwrapInboundIn(data).readableBytesView
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            self.errors.append(error)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            self.events.append(event)
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.inactive = true
        }

        var tlsErrors: [TLSError] { self.errors.compactMap { $0 as? TLSError } }
    }

    init(
        client clientContext: TLSContext,
        server serverContext: TLSContext,
        serverName: TLSServerName = .dns("gateway.test"),
        splitting: Splitting = .whole,
        halfClosure: Bool = false
    ) throws {
        self.client = EmbeddedChannel()
        self.server = EmbeddedChannel()
        self.clientHandler = TLSHandler(clientContext: clientContext, serverName: serverName, port: 443)
        self.serverHandler = TLSHandler(serverContext: serverContext)
        self.splitting = splitting
        if case .random(let seed) = splitting {
            self.generator = SplitMix(seed: seed)
        } else {
            self.generator = SplitMix(seed: 1)
        }
        if halfClosure {
            try self.client.setOption(.allowRemoteHalfClosure, value: true).wait()
            try self.server.setOption(.allowRemoteHalfClosure, value: true).wait()
        }
        if halfClosure {
            // EmbeddedChannel cannot half-close (it closes completely); stand in for the socket's shutdown(WR).
            try self.client.pipeline.syncOperations.addHandler(OutputShutdownStandIn())
            try self.server.pipeline.syncOperations.addHandler(OutputShutdownStandIn())
        }
        try self.client.pipeline.syncOperations.addHandlers(self.clientHandler, self.clientInbound)
        try self.server.pipeline.syncOperations.addHandlers(self.serverHandler, self.serverInbound)
    }

    /// Connects both channels (each handler starts its handshake) and shuttles bytes until neither side has
    /// more to say.
    func connect() throws {
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
        try self.server.connect(to: address).wait()
        try self.client.connect(to: address).wait()
        try self.run()
    }

    /// Moves bytes both ways until quiet (bounded).
    @discardableResult
    func run(maximumRounds: Int = 10_000) throws -> Int {
        var moved = 0
        for _ in 0..<maximumRounds {
            let fromClient = try self.transfer(from: self.client, to: self.server)
            let fromServer = try self.transfer(from: self.server, to: self.client)
            moved += fromClient + fromServer
            if fromClient == 0 && fromServer == 0 { return moved }
        }
        throw EmbeddedPairError.didNotSettle
    }

    /// Moves what `source` wrote to `destination`, cut per ``splitting``. Returns the bytes moved.
    @discardableResult
    func transfer(from source: EmbeddedChannel, to destination: EmbeddedChannel) throws -> Int {
        var moved = 0
        while var buffer = try source.readOutbound(as: ByteBuffer.self) {
            moved += buffer.readableBytes
            guard destination.isActive else { continue }
            while buffer.readableBytes > 0 {
                let length: Int =
                    switch self.splitting {
                    case .whole: buffer.readableBytes
                    case .oneByte: 1
                    case .random: Int(self.generator.next() % UInt64(buffer.readableBytes)) + 1
                    }
                let piece = buffer.readSlice(length: length)!
                try destination.writeInbound(piece)
            }
        }
        return moved
    }

    /// Plaintext that arrived at `channel`'s application side (the collector keeps it; this drains the
    /// embedded inbound buffer, which is empty because the collector consumes).
    func bytes(at side: Collector) -> [UInt8] { side.bytes }
}

/// Sits next to the (embedded) socket and succeeds `close(mode: .output)` as a TCP half-close would,
/// instead of closing the whole channel as EmbeddedChannel does.
final class OutputShutdownStandIn: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var outputClosed = false

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .output {
            self.outputClosed = true
            promise?.succeed(())
        } else {
            context.close(mode: mode, promise: promise)
        }
    }
}

enum EmbeddedPairError: Error {
    case didNotSettle
}

/// A small deterministic generator for reproducible random splitting (SplitMix64).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { self.state = seed }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
