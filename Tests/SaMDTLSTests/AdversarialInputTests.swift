// Hostile input to the TLS handler: random bytes, mutated and truncated ClientHellos, oversized length fields,
// floods of tiny records, alerts at every stage, data after close_notify, and (through `openssl s_client`)
// KeyUpdate, TLS 1.2 renegotiation and 0-RTT early data. Every case must end with a typed TLSError or a clean
// close, the channel closed, the handshake future completed, and nothing delivered that the peer did not
// send as authenticated application data. Seeded generators and bounded loops: deterministic and quick.

import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
@_spi(Testing) import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Synchronization
import Testing

@Suite("Adversarial input")
struct AdversarialInputTests {
    // MARK: - A server handler alone, fed by the test

    /// One server-side TLSHandler on an EmbeddedChannel, fed whatever a test likes.
    final class Target {
        let channel = EmbeddedChannel()
        let handler: TLSHandler
        let collector = EmbeddedPair.Collector()
        var handshakeResult: Result<TLSConnectionInfo, any Error>?

        init(_ context: TLSContext) throws {
            self.handler = TLSHandler(serverContext: context)
            try self.channel.pipeline.syncOperations.addHandlers(self.handler, self.collector)
            self.handler.handshakeFuture.assumeIsolated().whenComplete { self.handshakeResult = $0 }
            try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        }

        /// Delivers `bytes` cut into pieces by `generator` (while the channel is open).
        func feed(_ bytes: [UInt8], using generator: inout SplitMix) {
            var offset = 0
            while offset < bytes.count, self.channel.isActive {
                let length = min(bytes.count - offset, Int(generator.next() % 512) + 1)
                _ = try? self.channel.writeInbound(ByteBuffer(bytes: bytes[offset..<(offset + length)]))
                offset += length
            }
        }

        /// What must hold once the peer has given up, whatever it sent: the handshake timed out or failed with
        /// a typed error, the channel is closed, every error is typed, and no plaintext was delivered.
        func expectEndedCleanly(_ note: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) {
            // A peer that went quiet mid-handshake is ended by the handshake timeout.
            self.channel.embeddedEventLoop.advanceTime(by: .seconds(11))
            if self.channel.isActive { self.channel.pipeline.fireChannelInactive() }
            #expect(!self.channel.isActive, "\(note())", sourceLocation: sourceLocation)
            switch self.handshakeResult {
            case .failure(let error):
                #expect(error is TLSError, "\(note()): \(error)", sourceLocation: sourceLocation)
            case .success:
                Issue.record("\(note()): a handshake completed from hostile input", sourceLocation: sourceLocation)
            case nil:
                Issue.record("\(note()): the handshake future never completed", sourceLocation: sourceLocation)
            }
            #expect(
                self.collector.errors.allSatisfy { $0 is TLSError }, "\(note()): \(self.collector.errors)",
                sourceLocation: sourceLocation)
            #expect(
                self.collector.errors.count <= 1, "\(note()): \(self.collector.errors)", sourceLocation: sourceLocation)
            #expect(self.collector.bytes.isEmpty, "\(note())", sourceLocation: sourceLocation)
        }
    }

    static let serverContext: TLSContext = {
        var configuration = Fixtures.serverConfiguration()
        configuration.allowsTLS12 = true
        return try! Fixtures.context(configuration, logger: quiet)
    }()

    static let clientContext: TLSContext = try! Fixtures.context(
        Fixtures.clientConfiguration(Fixtures.pki.device), logger: quiet)

    /// Thousands of refused handshakes: their security events would flood the test log.
    static let quiet = Logger(label: "test.adversarial") { _ in SwiftLogNoOpLogHandler() }

    /// A real ClientHello from our own client handler (one record).
    static let clientHello: [UInt8] = {
        let channel = EmbeddedChannel()
        let handler = TLSHandler(clientContext: clientContext, serverName: .dns("gateway.test"), port: 443)
        try! channel.pipeline.syncOperations.addHandler(handler)
        try! channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        let hello = try! channel.readOutbound(as: ByteBuffer.self)!
        _ = try? channel.finish()
        return Array(hello.readableBytesView)
    }()

    @Test func randomBytesEndInATypedErrorAndAClosedChannel() throws {
        var generator = SplitMix(seed: 0x5eed_0001)
        for iteration in 0..<150 {
            let target = try Target(Self.serverContext)
            var bytes = (0..<Int(generator.next() % 3000)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            // Half the time, a plausible record header so OpenSSL parses what follows.
            if iteration % 2 == 0 { bytes = [22, 3, UInt8(generator.next() % 5)] + bytes }
            target.feed(bytes, using: &generator)
            target.expectEndedCleanly("random input \(iteration)")
        }
    }

    @Test func mutatedAndTruncatedClientHellosEndInATypedError() throws {
        #expect(Self.clientHello.count > 100 && Self.clientHello[0] == 22)
        var generator = SplitMix(seed: 0x5eed_0002)
        for iteration in 0..<300 {
            var hello = Self.clientHello
            switch iteration % 3 {
            case 0: // flip a few bytes
                for _ in 0...(generator.next() % 8) {
                    hello[Int(generator.next() % UInt64(hello.count))] ^= UInt8(
                        truncatingIfNeeded: generator.next() | 1)
                }
            case 1: // truncate
                hello = Array(hello.prefix(Int(generator.next() % UInt64(hello.count))))
            default: // overwrite a length-looking pair of bytes with an extreme value
                let index = Int(generator.next() % UInt64(hello.count - 1))
                let extreme: [[UInt8]] = [[0xff, 0xff], [0, 0], [0x40, 0x01], [0x80, 0]]
                hello.replaceSubrange(index...(index + 1), with: extreme[Int(generator.next() % 4)])
            }
            let target = try Target(Self.serverContext)
            target.feed(hello, using: &generator)
            target.expectEndedCleanly("mutated ClientHello \(iteration)")
        }
    }

    /// A peer that trickles its ClientHello one byte a second: the handshake timeout counts from the start,
    /// not from the last byte, so it still fires.
    @Test func aTricklingPeerStillHitsTheHandshakeTimeout() throws {
        let target = try Target(Self.serverContext)
        var sent = 0
        while target.channel.isActive, sent < 60 {
            try target.channel.writeInbound(ByteBuffer(bytes: [Self.clientHello[sent]]))
            sent += 1
            target.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        }
        #expect(sent == 10, "closed after \(sent) s")
        #expect(target.collector.tlsErrors.map(\.code) == [.handshakeTimeout])
        target.expectEndedCleanly("trickle")
    }

    /// A peer that never reads (a zero TCP window: our writes never complete) and then sends a bad record:
    /// the connection is still closed, not kept open waiting for the alert to be written.
    @Test func aPeerThatNeverReadsCannotKeepAFailedConnectionOpen() throws {
        let channel = EmbeddedChannel()
        let stuck = StuckWrites()
        let handler = TLSHandler(serverContext: Self.serverContext)
        try channel.pipeline.syncOperations.addHandlers(stuck, handler, EmbeddedPair.Collector())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        try channel.writeInbound(ByteBuffer(bytes: Self.clientHello))
        #expect(stuck.held > 0, "the server flight is stuck")
        _ = try? channel.writeInbound(ByteBuffer(bytes: [23, 3, 3, 0, 20] + [UInt8](repeating: 7, count: 20)))
        #expect(throws: TLSError.self) { try handler.handshakeFuture.wait() }
        #expect(!channel.isActive)
    }

    @Test func theUnmutatedClientHelloIsAnsweredAndThenTimesOut() throws {
        var generator = SplitMix(seed: 3)
        let target = try Target(Self.serverContext)
        target.feed(Self.clientHello, using: &generator)
        #expect(try target.channel.readOutbound(as: ByteBuffer.self) != nil, "ServerHello…")
        target.expectEndedCleanly("a client that stops after its ClientHello")
        #expect(target.collector.tlsErrors.map(\.code) == [.handshakeTimeout])
    }

    /// A length field promising far more than arrives is refused on the header: nothing waits for (or
    /// reserves room for) the announced body.
    @Test(arguments: [
        [22, 3, 1, 0xff, 0xff] as [UInt8], // record length 65 535 (> 2^14 + 2 048)
        [22, 3, 3, 0x48, 0x01], // 18 433: just over the TLS 1.2 ciphertext limit
        [22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff], // a ClientHello announcing 16 MiB
        [22, 3, 1, 0, 4, 11, 0x10, 0, 0], // a Certificate announcing 1 MiB, out of order
    ])
    func hugeLengthFieldsAreRefusedOnTheHeader(header: [UInt8]) throws {
        let target = try Target(Self.serverContext)
        try target.channel.writeInbound(ByteBuffer(bytes: header + [1, 2, 3]))
        #expect(!target.channel.isActive, "refused before the body arrived")
        #expect(target.collector.tlsErrors.count == 1)
        target.expectEndedCleanly("length field \(header)")
    }

    @Test func aHugeRecordLengthAfterTheHandshakeIsRefusedOnTheHeader() throws {
        let pair = try HandlerInMemoryTests.mutualPair()
        try pair.connect()
        try pair.server.writeInbound(ByteBuffer(bytes: [23, 3, 3, 0xff, 0xff, 0, 0, 0]))
        #expect(pair.serverInbound.tlsErrors.count == 1)
        #expect(!pair.server.isActive)
    }

    /// 4 000 one-byte records in one read: delivered in buffers whose size follows the plaintext, not one
    /// 16 KiB buffer per record (which would turn 92 KB of input into 64 MiB of memory).
    @Test func aFloodOfTinyRecordsIsDeliveredWithoutAmplification() throws {
        let pair = try HandlerInMemoryTests.mutualPair()
        try pair.connect()
        let counter = DeliveryCounter()
        try pair.server.pipeline.syncOperations.addHandler(counter, position: .after(pair.serverHandler))
        let count = 4_000
        for index in 0..<count {
            pair.client.write(ByteBuffer(bytes: [UInt8(truncatingIfNeeded: index)]), promise: nil)
        }
        pair.client.flush()
        var wire = ByteBuffer()
        while var buffer = try pair.client.readOutbound(as: ByteBuffer.self) { wire.writeBuffer(&buffer) }
        #expect(wire.readableBytes >= count * 22, "one record per write")
        try pair.server.writeInbound(wire)
        #expect(pair.serverInbound.bytes == (0..<count).map { UInt8(truncatingIfNeeded: $0) })
        #expect(counter.reads <= 4, "\(counter.reads) buffers for \(count) bytes")
        #expect(counter.capacity <= 256 * 1024, "\(counter.capacity) bytes of buffers for \(count) bytes")
    }

    // MARK: - Established connections

    @Test func garbageAfterTheHandshakeEndsInATypedError() throws {
        var generator = SplitMix(seed: 0x5eed_0004)
        for iteration in 0..<40 {
            let pair = try HandlerInMemoryTests.mutualPair()
            try pair.connect()
            var bytes = (0..<Int(generator.next() % 2000 + 1)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            if iteration % 2 == 0 { bytes = [23, 3, 3, UInt8(bytes.count >> 8), UInt8(bytes.count & 0xff)] + bytes }
            _ = try? pair.server.writeInbound(ByteBuffer(bytes: bytes))
            if pair.server.isActive { pair.server.pipeline.fireChannelInactive() }
            #expect(!pair.server.isActive, "\(iteration)")
            #expect(pair.serverInbound.tlsErrors.count == 1, "\(iteration): \(pair.serverInbound.errors)")
            #expect(pair.serverInbound.errors.count == pair.serverInbound.tlsErrors.count)
            #expect(pair.serverInbound.bytes.isEmpty)
        }
    }

    /// Alerts (plaintext, as a peer that failed would send them) at each stage, both ends: a typed error,
    /// never a hang or a clean end before the handshake.
    @Test(arguments: [0, 10, 40, 42, 48, 70, 116, 255] as [UInt8])
    func alertsAtEveryStageEndTheConnectionTyped(description: UInt8) throws {
        for level in [1, 2] as [UInt8] {
            let alert: [UInt8] = [21, 3, 3, 0, 2, level, description]
            // Server, instead of a ClientHello (not a handshake record: refused as not TLS).
            var generator = SplitMix(seed: UInt64(description))
            let first = try Target(Self.serverContext)
            first.feed(alert, using: &generator)
            first.expectEndedCleanly("alert \(level)/\(description) first")

            // Server, after the ClientHello, instead of the client's second flight.
            let second = try Target(Self.serverContext)
            second.feed(Self.clientHello + alert, using: &generator)
            second.expectEndedCleanly("alert \(level)/\(description) after ClientHello")

            // Client, instead of the ServerHello.
            let client = EmbeddedChannel()
            let handler = TLSHandler(clientContext: Self.clientContext, serverName: .dns("gateway.test"))
            let collector = EmbeddedPair.Collector()
            try client.pipeline.syncOperations.addHandlers(handler, collector)
            var outcome: Result<TLSConnectionInfo, any Error>?
            handler.handshakeFuture.assumeIsolated().whenComplete { outcome = $0 }
            try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
            _ = try? client.writeInbound(ByteBuffer(bytes: alert))
            client.embeddedEventLoop.advanceTime(by: .seconds(11))
            #expect(!client.isActive)
            guard case .failure(let error as TLSError) = outcome else {
                Issue.record("client: \(String(describing: outcome))")
                continue
            }
            if level == 2, [40, 42, 48, 70, 116].contains(description) {
                #expect(error.alert == description && error.origin == .peer, "\(error)")
            }

            // Both ends, after the handshake (a plaintext alert where records are encrypted).
            let pair = try HandlerInMemoryTests.mutualPair()
            try pair.connect()
            _ = try? pair.server.writeInbound(ByteBuffer(bytes: alert))
            if pair.server.isActive { pair.server.pipeline.fireChannelInactive() }
            #expect(!pair.server.isActive)
            #expect(pair.serverInbound.tlsErrors.count == 1, "\(pair.serverInbound.errors)")
        }
    }

    @Test func dataAfterCloseNotifyIsIgnored() throws {
        let pair = try HandlerInMemoryTests.mutualPair()
        try pair.connect()
        try pair.client.writeAndFlush(ByteBuffer(bytes: [1, 2, 3])).wait()
        let closed = pair.client.close()
        try pair.transfer(from: pair.client, to: pair.server) // data, close_notify
        _ = try? pair.server.writeInbound(ByteBuffer(bytes: Fixtures.randomBytes(1000)))
        try pair.run()
        try closed.wait()
        #expect(pair.serverInbound.bytes == [1, 2, 3])
        #expect(pair.serverInbound.errors.isEmpty)
        #expect(!pair.server.isActive)
    }

    /// With half-closure the server keeps the connection after the peer's close_notify; whatever the peer
    /// sends after it must be dropped, not kept in OpenSSL's input buffer (which nothing reads any more),
    /// and the input is reported closed once.
    @Test func bytesAfterCloseNotifyAreNotBufferedWhileHalfClosed() throws {
        let pair = try HandlerInMemoryTests.mutualPair(halfClosure: true)
        try pair.connect()
        try pair.client.close(mode: .output).wait()
        try pair.run()
        #expect(pair.server.isActive)
        let chunk = ByteBuffer(bytes: Fixtures.randomBytes(64 * 1024))
        for _ in 0..<64 { try pair.server.writeInbound(chunk) } // 4 MiB
        #expect(
            pair.serverHandler.bufferedInputBytes < 64 * 1024, "\(pair.serverHandler.bufferedInputBytes) bytes kept")
        #expect(pair.serverInbound.events.filter { ($0 as? ChannelEvent) == .inputClosed }.count == 1)
        #expect(pair.serverInbound.errors.isEmpty)
        // The server may still answer.
        try pair.server.writeAndFlush(ByteBuffer(bytes: [4, 5])).wait()
        try pair.server.close(mode: .output).wait()
        try pair.run()
        #expect(pair.clientInbound.bytes == [4, 5])
    }

    /// The application closing from a callback of the handshake's future, with a write made during the
    /// handshake: the write goes out first (it was made first), then close_notify — no protocol error from
    /// encrypting after close_notify, and a clean end on both sides.
    @Test func closingFromTheHandshakeCallbackSendsBufferedWritesFirst() throws {
        let pair = try HandlerInMemoryTests.mutualPair()
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
        try pair.server.connect(to: address).wait()
        try pair.client.connect(to: address).wait()
        let write = pair.client.writeAndFlush(ByteBuffer(bytes: [1, 2, 3]))
        var writeResult: Result<Void, any Error>?
        write.assumeIsolated().whenComplete { writeResult = $0 }
        pair.clientHandler.handshakeFuture.assumeIsolated().whenSuccess { _ in pair.client.close(promise: nil) }
        try pair.run()
        #expect(pair.clientInbound.errors.isEmpty, "\(pair.clientInbound.errors)")
        #expect(pair.serverInbound.errors.isEmpty, "\(pair.serverInbound.errors)")
        #expect(pair.serverInbound.bytes == [1, 2, 3])
        guard case .success = writeResult else {
            Issue.record("the write was \(String(describing: writeResult))")
            return
        }
        #expect(!pair.client.isActive)
        #expect(!pair.server.isActive)
    }

    /// Every write promise completes exactly once whatever happens to the connection (NIO traps on a
    /// promise completed twice; a leaked one traps when released in debug builds).
    @Test func everyWritePromiseCompletesWhenTheConnectionFails() throws {
        var generator = SplitMix(seed: 0x5eed_0005)
        for iteration in 0..<20 {
            let pair = try HandlerInMemoryTests.mutualPair()
            let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
            try pair.server.connect(to: address).wait()
            try pair.client.connect(to: address).wait()
            var completed = 0
            let total = 10
            for index in 0..<total {
                let size = Int(generator.next() % 50_000)
                pair.client.write(ByteBuffer(bytes: [UInt8](repeating: UInt8(index), count: size))).assumeIsolated()
                    .whenComplete { _ in
                        completed += 1
                    }
                if index == iteration % total { try pair.run() }
            }
            pair.client.flush()
            _ = try? pair.client.writeInbound(ByteBuffer(bytes: [23, 3, 3, 0, 20] + Fixtures.randomBytes(20)))
            _ = try? pair.client.close().wait()
            #expect(completed == total, "\(iteration)")
        }
    }

    // MARK: - Against openssl s_client over loopback: KeyUpdate, renegotiation, 0-RTT

    /// A server on loopback whose connections record what they deliver and echo it.
    final class RecordingServer: Sendable {
        let channel: any Channel
        let port: Int
        private let state = Mutex<(bytes: [UInt8], errors: [TLSError], handshakes: Int, closed: Int)>(([], [], 0, 0))

        final class Recorder: ChannelInboundHandler, @unchecked Sendable { // event loop only
            typealias InboundIn = ByteBuffer
            typealias OutboundOut = ByteBuffer
            let server: RecordingServer
            init(_ server: RecordingServer) { self.server = server }

            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                let buffer = Self.unwrapInboundIn(data)
                self.server.state.withLock { $0.bytes += buffer.readableBytesView }
                context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
            }

            func errorCaught(context: ChannelHandlerContext, error: any Error) {
                if let error = error as? TLSError { self.server.state.withLock { $0.errors.append(error) } }
            }

            func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
                if event is TLSUserEvent { self.server.state.withLock { $0.handshakes += 1 } }
            }

            func channelInactive(context: ChannelHandlerContext) {
                self.server.state.withLock { $0.closed += 1 }
            }
        }

        init(_ context: TLSContext) throws {
            let box = Mutex<RecordingServer?>(nil)
            let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let server = box.withLock { $0 }!
                        try channel.pipeline.syncOperations.addHandlers(
                            TLSHandler(serverContext: context), Recorder(server))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).wait()
            self.channel = channel
            self.port = channel.localAddress!.port!
            box.withLock { $0 = self }
        }

        deinit { self.channel.close(promise: nil) }

        var bytes: [UInt8] { self.state.withLock { $0.bytes } }
        var errors: [TLSError] { self.state.withLock { $0.errors } }
        var handshakes: Int { self.state.withLock { $0.handshakes } }
        var closed: Int { self.state.withLock { $0.closed } }

        func waitUntil(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if condition() { return true }
                Thread.sleep(forTimeInterval: 0.02)
            }
            return condition()
        }
    }

    /// A server context over `pki`'s files (the s_client tests use a PKI written to disk), TLS 1.2 allowed.
    static func serverContext(_ pki: PKIDirectory) throws -> TLSContext {
        var configuration = TLSConfiguration.gatewayServer(
            identity: .files(certificateChain: pki.cert("server"), privateKey: pki.key("server")),
            clientTrustRoots: .file(pki.root)
        )
        configuration.allowsTLS12 = true
        return try Fixtures.context(configuration, logger: Self.quiet)
    }

    static func sClient(_ openssl: URL, _ pki: PKIDirectory, port: Int, _ extra: [String]) throws -> ChildProcess {
        try ChildProcess(
            openssl,
            [
                "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "gateway.test", "-CAfile", pki.root,
                "-verify_return_error", "-cert", pki.cert("device"), "-cert_chain", pki.cert("device"), "-key",
                pki.key("device"),
            ] + extra, standardInput: .open)
    }

    /// `K` makes s_client send a KeyUpdate that requests ours: the server keeps delivering and answers.
    @Test func aKeyUpdateFromThePeerIsHandled() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let pki = try PKIDirectory()
        let server = try RecordingServer(Self.serverContext(pki))
        let client = try Self.sClient(openssl, pki, port: server.port, ["-tls1_3"])
        defer { client.kill() }
        #expect(await client.waitForStandardOutput(containing: "Verify return code: 0"), "\(client.standardError.text)")
        client.send(Data("before\n".utf8))
        #expect(await client.waitForStandardOutput(containing: "before"))
        client.send(Data("K\n".utf8))
        #expect(await client.waitForStandardError(containing: "KEYUPDATE"), "\(client.standardError.text)")
        client.send(Data("after\n".utf8))
        #expect(await client.waitForStandardOutput(containing: "after"), "\(client.standardOutput.text)")
        #expect(server.bytes == Array("before\nafter\n".utf8))
        #expect(server.errors.isEmpty, "\(server.errors)")
    }

    /// TLS 1.2 (allowed) and a client that asks to renegotiate: refused (SSL_OP_NO_RENEGOTIATION), and
    /// the connection either goes on as it was or ends with a typed error — never a second handshake.
    @Test func tls12RenegotiationIsRefused() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let pki = try PKIDirectory()
        let server = try RecordingServer(Self.serverContext(pki))
        let client = try Self.sClient(openssl, pki, port: server.port, ["-tls1_2"])
        defer { client.kill() }
        #expect(await client.waitForStandardOutput(containing: "Verify return code: 0"), "\(client.standardError.text)")
        client.send(Data("R\n".utf8))
        #expect(await client.waitForStandardError(containing: "RENEGOTIATING"), "\(client.standardError.text)")
        client.send(Data("after\n".utf8))
        _ = await client.waitForExit(timeout: .seconds(3))
        #expect(server.waitUntil { server.closed == 1 || server.bytes.count > 0 })
        #expect(server.handshakes == 1)
        #expect(server.bytes.isEmpty || server.bytes == Array("after\n".utf8))
        #expect(server.errors.count <= 1, "\(server.errors)")
    }

    /// A client with a session that allows 0-RTT (from `openssl s_server -early_data`) sends early data to
    /// our server: it is never delivered as application data (our tickets do not allow it, and this ticket
    /// is not ours).
    @Test func earlyDataIsNeverDelivered() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let pki = try PKIDirectory()
        let session = pki.directory.appendingPathComponent("session.pem").path
        let earlyFile = try pki.write("early.txt", "EARLY-DATA-MUST-NOT-ARRIVE\n")
        // A real s_server that issues tickets allowing early data, to get such a session.
        let sServer = try await OpenSSLServer.start(
            openssl,
            [
                "-naccept", "1", "-cert", pki.cert("server"), "-cert_chain", pki.cert("server"), "-key",
                pki.key("server"),
                "-early_data", "-tls1_3",
            ])
        defer { sServer.child.kill() }
        let sServerPort = sServer.port
        let first = try ChildProcess(
            openssl,
            [
                "s_client", "-connect", "127.0.0.1:\(sServerPort)", "-servername", "gateway.test", "-CAfile", pki.root,
                "-sess_out", session, "-tls1_3",
            ], standardInput: .open)
        defer { first.kill() }
        #expect(await first.waitForStandardOutput(containing: "Verify return code: 0"), "\(first.standardError.text)")
        // The tickets arrive after the handshake, read with the echo.
        first.send(Data("x\n".utf8))
        try await Task.sleep(for: .milliseconds(500))
        first.closeStandardInput()
        _ = await first.waitForExit(timeout: .seconds(5))
        try #require(first.standardOutput.text.contains("Max Early Data: 16384"), "\(first.standardOutput.text)")
        try #require(FileManager.default.fileExists(atPath: session), "\(first.standardOutput.text)")

        let server = try RecordingServer(Self.serverContext(pki))
        let client = try ChildProcess(
            openssl,
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-servername", "gateway.test", "-CAfile", pki.root,
                "-cert", pki.cert("device"), "-cert_chain", pki.cert("device"), "-key", pki.key("device"), "-sess_in",
                session,
                "-early_data", earlyFile,
                "-tls1_3",
            ], standardInput: .open)
        defer { client.kill() }
        _ = await client.waitForStandardOutput(containing: "Verify return code")
        client.send(Data("late\n".utf8))
        _ = await client.waitForStandardOutput(containing: "late", timeout: .seconds(3))
        client.closeStandardInput()
        _ = await client.waitForExit(timeout: .seconds(5))
        #expect(server.waitUntil { server.closed == 1 })
        let output = client.standardOutput.text
        #expect(output.contains("Early data was rejected") || !server.errors.isEmpty, "\(output)")
        #expect(
            !String(decoding: server.bytes, as: UTF8.self).contains("EARLY"), "early data delivered: \(server.bytes)")
        #expect(
            server.bytes.isEmpty || server.bytes == Array("late\n".utf8),
            "\(String(decoding: server.bytes, as: UTF8.self))")
    }
}

/// Counts the buffers a handler delivers and their capacity.
final class DeliveryCounter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    var reads = 0
    var capacity = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        self.reads += 1
        self.capacity += buffer.capacity
        context.fireChannelRead(data)
    }
}

/// Stands in for a socket whose peer never reads: writes are held and their promises never completed
/// (until the channel closes, when they fail as NIO fails pending writes).
final class StuckWrites: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    private var promises: [EventLoopPromise<Void>] = []
    var held = 0

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        self.held += 1
        if let promise { self.promises.append(promise) }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        let promises = self.promises
        self.promises = []
        for promise in promises { promise.fail(ChannelError.ioOnClosedChannel) }
        context.close(mode: mode, promise: promise)
    }
}
