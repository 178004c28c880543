import Benchmark
import BenchmarkCatalog
import BenchmarkSupport
import CReference
import NIOCore
import NIOPosix
import NIOSSL
import SaMDDevPKI
import SaMDTLS
import Synchronization

enum TLSStackKind: CaseIterable, Sendable {
    case samdkit
    case nioSSL

    /// The side its benchmarks' names end with.
    var side: BenchmarkSide {
        switch self {
        case .samdkit: .samdkit
        case .nioSSL: .swiftNIOSSL
        }
    }
}

/// One loopback server and its clients on one event loop, for one TLS stack.
final class TLSBench: Sendable {
    static let bytesPerIdleConnection = BenchmarkMetric.custom(
        BenchmarkPlan.heapPerIdleConnectionMetric, polarity: .prefersSmaller, useScalingFactor: false)
    /// The server acknowledges every this many bytes received with one byte.
    static let acknowledgementInterval = 1 << 20

    private let group: MultiThreadedEventLoopGroup
    private let server: any Channel
    private let port: Int
    private let stack: Stack

    private enum Stack: Sendable {
        case samdkit(server: SaMDTLS.TLSContext, fullClient: SaMDTLS.TLSContext, resumingClient: SaMDTLS.TLSContext)
        case nioSSL(server: NIOSSLContext, client: NIOSSLContext)
    }

    struct Connection {
        let channel: any Channel
        let probe: ClientProbe
        let resumed: Bool
    }

    private static let instances = Mutex<[TLSStackKind: TLSBench]>([:])

    static func shared(_ kind: TLSStackKind) throws -> TLSBench {
        try self.instances.withLock { instances in
            if let bench = instances[kind] { return bench }
            let bench = try TLSBench(kind)
            instances[kind] = bench
            return bench
        }
    }

    private init(_ kind: TLSStackKind) throws {
        // The same PKI shape for both stacks: ECDSA P-256 leaves under an intermediate, made now.
        let pki = try DevelopmentPKI()
        let root = pki.root.certificate.certificatePEM
        switch kind {
        case .samdkit:
            let server = TLSConfiguration.gatewayServer(
                identity: .pem(
                    certificateChain: Array(pki.server.chainPEM.utf8), privateKey: Array(pki.server.privateKeyPEM.utf8)),
                clientTrustRoots: .pem(Array(root.utf8))
            )
            var client = TLSConfiguration.deviceClient(
                identity: .pem(
                    certificateChain: Array(pki.device.chainPEM.utf8), privateKey: Array(pki.device.privateKeyPEM.utf8)),
                trustRoots: .pem(Array(root.utf8))
            )
            let resumingClient = try SaMDTLS.TLSContext(configuration: client)
            client.sessionResumption = false
            self.stack = .samdkit(
                server: try SaMDTLS.TLSContext(configuration: server),
                fullClient: try SaMDTLS.TLSContext(configuration: client),
                resumingClient: resumingClient
            )
        case .nioSSL:
            let trust = try NIOSSLCertificate.fromPEMBytes(Array(root.utf8))
            var server = NIOSSL.TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(pki.server.chainPEM.utf8)).map {
                    .certificate($0)
                },
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(pki.server.privateKeyPEM.utf8), format: .pem))
            )
            server.minimumTLSVersion = .tlsv13
            server.trustRoots = .certificates(trust)
            server.certificateVerification = .noHostnameVerification
            var client = NIOSSL.TLSConfiguration.makeClientConfiguration()
            client.minimumTLSVersion = .tlsv13
            client.trustRoots = .certificates(trust)
            client.certificateVerification = .fullVerification
            client.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(pki.device.chainPEM.utf8)).map {
                .certificate($0)
            }
            client.privateKey = .privateKey(
                try NIOSSLPrivateKey(bytes: Array(pki.device.privateKeyPEM.utf8), format: .pem))
            self.stack = .nioSSL(
                server: try NIOSSLContext(configuration: server), client: try NIOSSLContext(configuration: client))
        }

        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let stack = self.stack
        self.server = try ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    switch stack {
                    case .samdkit(let server, _, _):
                        try channel.pipeline.syncOperations.addHandler(TLSHandler(serverContext: server))
                    case .nioSSL(let server, _):
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: server))
                    }
                    try channel.pipeline.syncOperations.addHandler(ServerSink())
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .wait()
        self.port = self.server.localAddress!.port!
    }

    /// Connects, completes the handshake both ways and reads the server's first byte (sent once its side of
    /// the handshake, client certificate verification included, is done).
    func connect(resuming: Bool) throws -> Connection {
        let probe = ClientProbe()
        let stack = self.stack
        let port = self.port
        let channel = try ClientBootstrap(group: self.group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    switch stack {
                    case .samdkit(_, let fullClient, let resumingClient):
                        try channel.pipeline.syncOperations.addHandler(
                            TLSHandler(
                                clientContext: resuming ? resumingClient : fullClient, serverName: .dns("localhost"),
                                port: port)
                        )
                    case .nioSSL(_, let client):
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: client, serverHostname: "localhost"))
                    }
                    try channel.pipeline.syncOperations.addHandler(probe)
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .wait()
        try probe.received(atLeast: 1, on: channel).wait()
        return Connection(channel: channel, probe: probe, resumed: try probe.sessionResumed(on: channel).wait())
    }

    func close(_ connection: Connection) throws {
        connection.channel.close(promise: nil)
        try connection.channel.closeFuture.wait()
    }

    /// `count` connections one after another, each closed before the next; returns how many resumed.
    func handshakes(_ count: Int, resuming: Bool) throws -> Int {
        var resumed = 0
        for _ in 0..<count {
            let connection = try self.connect(resuming: resuming)
            if connection.resumed { resumed += 1 }
            try self.close(connection)
        }
        return resumed
    }

    /// Sends `byteCount` bytes (a multiple of 1 MiB) in 64 KiB writes, at most 16 in flight, and waits until
    /// the server has acknowledged all of them.
    func send(_ byteCount: Int, over connection: Connection) throws {
        precondition(byteCount % Self.acknowledgementInterval == 0)
        let channel = connection.channel
        let already = try connection.probe.receivedCount(on: channel).wait()
        let acknowledged = connection.probe.received(
            atLeast: already + byteCount / Self.acknowledgementInterval, on: channel)
        var buffer = channel.allocator.buffer(capacity: 64 * 1024)
        buffer.writeRepeatingByte(0x42, count: 64 * 1024)
        var inFlight: [EventLoopFuture<Void>] = []
        for _ in 0..<(byteCount / buffer.readableBytes) {
            inFlight.append(channel.writeAndFlush(buffer))
            if inFlight.count == 16 {
                try inFlight.removeFirst().wait()
            }
        }
        for write in inFlight { try write.wait() }
        try acknowledged.wait()
    }

    /// Heap bytes (glibc `mallinfo2`: in use from the arenas plus mapped blocks) per established connection,
    /// both ends, with `count` connections open and idle; then closes them.
    func idleMemory(connections count: Int) throws -> Int {
        // Let the previous iteration's closes finish, so their memory is not counted as released here.
        try self.group.next().submit {}.wait()
        let before = Self.heapInUse()
        var open: [Connection] = []
        open.reserveCapacity(count)
        for _ in 0..<count {
            open.append(try self.connect(resuming: false))
        }
        try self.group.next().submit {}.wait()
        let after = Self.heapInUse()
        for connection in open {
            try self.close(connection)
        }
        return max(0, after - before) / count
    }

    private static func heapInUse() -> Int {
        let info = mallinfo2()
        return Int(info.uordblks) + Int(info.hblkhd)
    }
}

/// Server side: one byte as soon as the handshake let it through, then one byte per
/// ``TLSBench/acknowledgementInterval`` bytes received.
final class ServerSink: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var received = 0

    func channelActive(context: ChannelHandlerContext) {
        self.acknowledge(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let before = self.received / TLSBench.acknowledgementInterval
        self.received += Self.unwrapInboundIn(data).readableBytes
        for _ in before..<(self.received / TLSBench.acknowledgementInterval) {
            self.acknowledge(context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func acknowledge(context: ChannelHandlerContext) {
        var byte = context.channel.allocator.buffer(capacity: 1)
        byte.writeInteger(UInt8(1))
        context.writeAndFlush(Self.wrapOutboundOut(byte), promise: nil)
    }
}

/// Client side: counts the bytes the server sent and whether the session was resumed.
/// `@unchecked Sendable`: its state is touched only on its channel's event loop (the methods below hop there).
final class ClientProbe: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private var count = 0
    private var resumed = false
    private var waiters: [(count: Int, promise: EventLoopPromise<Void>)] = []
    private var failure: (any Error)?

    func received(atLeast target: Int, on channel: any Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.flatSubmit {
            if let failure = self.failure { return channel.eventLoop.makeFailedFuture(failure) }
            if self.count >= target { return channel.eventLoop.makeSucceededVoidFuture() }
            let promise = channel.eventLoop.makePromise(of: Void.self)
            self.waiters.append((target, promise))
            return promise.futureResult
        }
    }

    func receivedCount(on channel: any Channel) -> EventLoopFuture<Int> {
        channel.eventLoop.submit { self.count }
    }

    func sessionResumed(on channel: any Channel) -> EventLoopFuture<Bool> {
        channel.eventLoop.submit { self.resumed }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let info) = event as? SaMDTLS.TLSUserEvent {
            self.resumed = info.sessionResumed
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.count += Self.unwrapInboundIn(data).readableBytes
        let ready = self.waiters.filter { $0.count <= self.count }
        self.waiters.removeAll { $0.count <= self.count }
        for waiter in ready { waiter.promise.succeed() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    private func fail(_ error: any Error) {
        if self.failure == nil { self.failure = error }
        let waiters = self.waiters
        self.waiters = []
        for waiter in waiters { waiter.promise.fail(error) }
    }
}
