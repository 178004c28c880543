import NIOCore
import NIOEmbedded
@_spi(Testing) import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

/// The TLS handler with both ends in memory: no sockets, the byte stream cut as each test chooses.
@Suite("TLSHandler in memory")
struct HandlerInMemoryTests {
    static func mutualPair(splitting: EmbeddedPair.Splitting = .whole, halfClosure: Bool = false) throws -> EmbeddedPair
    {
        try EmbeddedPair(
            client: Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device)),
            server: Fixtures.context(Fixtures.serverConfiguration()),
            splitting: splitting,
            halfClosure: halfClosure
        )
    }

    @Test func handshakeCompletesAndIdentifiesBothSides() throws {
        let pair = try Self.mutualPair()
        try pair.connect()
        let clientInfo = try pair.clientHandler.handshakeFuture.wait()
        let serverInfo = try pair.serverHandler.handshakeFuture.wait()
        #expect(clientInfo.protocolVersion == "TLSv1.3")
        #expect(clientInfo.peer?.dnsNames.contains("gateway.test") == true)
        #expect(serverInfo.peer?.uris == [TestPKI.deviceURI])
        #expect(serverInfo.serverName == "gateway.test")
    }
}

extension HandlerInMemoryTests {
    /// Exchanges data both ways over a pair whose byte stream is cut as `splitting` says.
    static func roundTrip(_ splitting: EmbeddedPair.Splitting, size: Int = 40_000) throws {
        let pair = try Self.mutualPair(splitting: splitting)
        try pair.connect()
        _ = try pair.clientHandler.handshakeFuture.wait()
        _ = try pair.serverHandler.handshakeFuture.wait()
        let upstream = Fixtures.randomBytes(size)
        let downstream = Fixtures.randomBytes(size / 2 + 7)
        try pair.client.writeAndFlush(ByteBuffer(bytes: upstream)).wait()
        try pair.server.writeAndFlush(ByteBuffer(bytes: downstream)).wait()
        try pair.run()
        #expect(pair.serverInbound.bytes == upstream)
        #expect(pair.clientInbound.bytes == downstream)
        #expect(pair.clientInbound.errors.isEmpty && pair.serverInbound.errors.isEmpty)
    }

    @Test func bytesDeliveredOneAtATime() throws {
        try Self.roundTrip(.oneByte, size: 3_000)
    }

    @Test(arguments: [1, 2, 3, 42, 2026] as [UInt64])
    func bytesCutAtRandomPlaces(seed: UInt64) throws {
        try Self.roundTrip(.random(seed: seed))
    }

    @Test func writesBeforeTheHandshakeAreBufferedAndSentInOrder() throws {
        let pair = try Self.mutualPair()
        let first = Fixtures.randomBytes(1000)
        let second = Fixtures.randomBytes(70_000)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
        try pair.server.connect(to: address).wait()
        try pair.client.connect(to: address).wait()
        // The client has sent only its ClientHello; these wait in the handler.
        let firstWrite = pair.client.write(ByteBuffer(bytes: first))
        let secondWrite = pair.client.writeAndFlush(ByteBuffer(bytes: second))
        #expect(pair.serverInbound.bytes.isEmpty)
        try pair.run()
        try firstWrite.wait()
        try secondWrite.wait()
        #expect(pair.serverInbound.bytes == first + second)
    }

    @Test func applicationDataInTheLastHandshakeFlightIsDeliveredAtOnce() throws {
        let pair = try Self.mutualPair()
        let message = Array("first record, sent with the client's Finished".utf8)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
        try pair.server.connect(to: address).wait()
        try pair.client.connect(to: address).wait()
        _ = pair.client.writeAndFlush(ByteBuffer(bytes: message))
        try pair.transfer(from: pair.client, to: pair.server) // ClientHello
        try pair.transfer(from: pair.server, to: pair.client) // ServerHello … Finished
        #expect(try pair.clientHandler.handshakeFuture.wait().protocolVersion == "TLSv1.3")
        // One delivery: the client's Certificate, CertificateVerify, Finished and the buffered record.
        try pair.transfer(from: pair.client, to: pair.server)
        #expect(pair.serverInbound.bytes == message)
        #expect(try pair.serverHandler.handshakeFuture.wait().peer != nil)
    }

    @Test func sessionTicketsAfterTheHandshakeAreConsumedAndResumeTheNextConnection() throws {
        let clientContext = try Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device))
        let serverContext = try Fixtures.context(Fixtures.serverConfiguration())
        let first = try EmbeddedPair(client: clientContext, server: serverContext)
        try first.connect()
        // TLS 1.3 tickets travel after the handshake; they are not application data and raise no error.
        #expect(first.clientInbound.bytes.isEmpty)
        #expect(first.clientInbound.errors.isEmpty)
        #expect(try first.clientHandler.handshakeFuture.wait().sessionResumed == false)

        let second = try EmbeddedPair(client: clientContext, server: serverContext)
        try second.connect()
        let clientInfo = try second.clientHandler.handshakeFuture.wait()
        let serverInfo = try second.serverHandler.handshakeFuture.wait()
        #expect(clientInfo.sessionResumed)
        #expect(serverInfo.sessionResumed)
        // The peer is still known on a resumed session.
        #expect(serverInfo.peer?.uris == [TestPKI.deviceURI])
        #expect(clientInfo.peer?.dnsNames.contains("gateway.test") == true)
        try second.client.writeAndFlush(ByteBuffer(bytes: [1, 2, 3])).wait()
        try second.run()
        #expect(second.serverInbound.bytes == [1, 2, 3])
    }

    /// The server keeps sessions in its own bounded cache (stateful TLS 1.3 tickets): a ticket is a reference
    /// into it, every handshake adds the session behind its fresh ticket, and a reload empties it.
    @Test func theServerResumesFromItsBoundedSessionCache() throws {
        let clientContext = try Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device))
        let serverContext = try Fixtures.context(Fixtures.serverConfiguration())
        #expect(serverContext.serverSessionCache.limit == 1024)
        #expect(serverContext.serverSessionCache.count == 0)
        for round in 0..<4 {
            let pair = try EmbeddedPair(client: clientContext, server: serverContext)
            try pair.connect()
            _ = try pair.run()
            let info = try pair.serverHandler.handshakeFuture.wait()
            #expect(info.sessionResumed == (round > 0), "round \(round)")
            #expect(info.peer?.uris == [TestPKI.deviceURI])
            // One session (one ticket) per handshake.
            #expect(serverContext.serverSessionCache.count == round + 1, "round \(round)")
        }
        // A reload starts from an empty cache: nothing issued before it resumes after it.
        try serverContext.reload()
        #expect(serverContext.serverSessionCache.count == 0)
        let after = try EmbeddedPair(client: clientContext, server: serverContext)
        try after.connect()
        #expect(try after.serverHandler.handshakeFuture.wait().sessionResumed == false)
    }

    @Test func aServerWithoutResumptionKeepsNoSessions() throws {
        var serverConfiguration = Fixtures.serverConfiguration()
        serverConfiguration.sessionResumption = false
        let serverContext = try Fixtures.context(serverConfiguration)
        let clientContext = try Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device))
        for _ in 0..<2 {
            let pair = try EmbeddedPair(client: clientContext, server: serverContext)
            try pair.connect()
            _ = try pair.run()
            #expect(try pair.serverHandler.handshakeFuture.wait().sessionResumed == false)
        }
        #expect(serverContext.serverSessionCache.count == 0)
    }

    @Test func resumptionIsOffWhenConfiguredOff() throws {
        var clientConfiguration = Fixtures.clientConfiguration(Fixtures.pki.device)
        clientConfiguration.sessionResumption = false
        let clientContext = try Fixtures.context(clientConfiguration)
        let serverContext = try Fixtures.context(Fixtures.serverConfiguration())
        for _ in 0..<2 {
            let pair = try EmbeddedPair(client: clientContext, server: serverContext)
            try pair.connect()
            #expect(try pair.clientHandler.handshakeFuture.wait().sessionResumed == false)
        }
    }

    @Test func aClientThatWritesAndClosesWithoutReadingDeliversEverything() throws {
        let pair = try Self.mutualPair()
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
        try pair.server.connect(to: address).wait()
        try pair.client.connect(to: address).wait()
        let payload = Fixtures.randomBytes(5000)
        _ = pair.client.writeAndFlush(ByteBuffer(bytes: payload))
        try pair.transfer(from: pair.client, to: pair.server)
        try pair.transfer(from: pair.server, to: pair.client)
        // The client closes at once: close_notify goes out right behind its data, before it reads the
        // server's tickets.
        let closed = pair.client.close()
        try pair.transfer(from: pair.client, to: pair.server)
        #expect(pair.serverInbound.bytes == payload)
        #expect(
            pair.serverInbound.tlsErrors.isEmpty,
            "a clean close_notify, not a truncation: \(pair.serverInbound.tlsErrors)")
        try pair.run()
        try closed.wait()
        #expect(pair.clientInbound.errors.isEmpty)
    }

    @Test func closeSendsCloseNotifyAndThePeerSeesACleanEnd() throws {
        let pair = try Self.mutualPair()
        try pair.connect()
        let closed = pair.server.close()
        try pair.run()
        try closed.wait()
        #expect(pair.clientInbound.errors.isEmpty)
        #expect(pair.serverInbound.errors.isEmpty)
        #expect(pair.clientInbound.inactive)
    }

    @Test func closeGivesUpWaitingForThePeerAfterTheTimeout() throws {
        var serverConfiguration = Fixtures.serverConfiguration()
        serverConfiguration.closeTimeout = .seconds(3)
        let pair = try EmbeddedPair(
            client: Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device)),
            server: Fixtures.context(serverConfiguration)
        )
        try pair.connect()
        let closed = pair.server.close()
        // The client never answers.
        _ = try pair.server.readOutbound(as: ByteBuffer.self)
        #expect(pair.server.isActive)
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(pair.server.isActive)
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(2))
        try closed.wait()
        #expect(!pair.server.isActive)
    }

    @Test func endOfStreamWithoutCloseNotifyIsAnUncleanShutdown() throws {
        let pair = try Self.mutualPair()
        try pair.connect()
        try pair.client.writeAndFlush(ByteBuffer(bytes: [9, 9, 9])).wait()
        try pair.run()
        // TCP ends without close_notify (a truncation attack, or a crash).
        pair.server.pipeline.fireChannelInactive()
        #expect(pair.serverInbound.bytes == [9, 9, 9])
        #expect(pair.serverInbound.tlsErrors.map(\.code) == [.uncleanShutdown])
        // Judged by OpenSSL 3, which reports an end of input without close_notify as SSL_ERROR_SSL with
        // reason UNEXPECTED_EOF_WHILE_READING (not as a clean SSL_ERROR_ZERO_RETURN).
        #expect(pair.serverInbound.tlsErrors.first?.reason.contains("unexpected eof while reading") == true)
    }

    @Test func halfClosedInputWithoutCloseNotifyIsAnUncleanShutdown() throws {
        let pair = try Self.mutualPair(halfClosure: true)
        try pair.connect()
        pair.server.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(pair.serverInbound.tlsErrors.map(\.code) == [.uncleanShutdown])
        #expect(!pair.serverInbound.events.contains { ($0 as? ChannelEvent) == .inputClosed })
    }

    @Test func halfCloseLetsThePeerKeepSending() throws {
        let pair = try Self.mutualPair(halfClosure: true)
        try pair.connect()
        try pair.client.writeAndFlush(ByteBuffer(bytes: Array("request".utf8))).wait()
        try pair.client.close(mode: .output).wait()
        try pair.run()
        #expect(pair.serverInbound.bytes == Array("request".utf8))
        #expect(pair.serverInbound.events.contains { ($0 as? ChannelEvent) == .inputClosed })
        #expect(pair.serverInbound.errors.isEmpty)
        // The server answers after the client finished sending.
        try pair.server.writeAndFlush(ByteBuffer(bytes: Array("response".utf8))).wait()
        try pair.server.close(mode: .output).wait()
        try pair.run()
        #expect(pair.clientInbound.bytes == Array("response".utf8))
        #expect(pair.clientInbound.errors.isEmpty)
    }

    @Test func largeWritesAreEncryptedInBoundedSlices() throws {
        let pair = try Self.mutualPair()
        try pair.connect()
        let payload = Fixtures.randomBytes(5 << 20)
        try pair.client.writeAndFlush(ByteBuffer(bytes: payload)).wait()
        var largest = 0
        var total: [UInt8] = []
        while let buffer = try pair.client.readOutbound(as: ByteBuffer.self) {
            largest = max(largest, buffer.readableBytes)
            try pair.server.writeInbound(buffer)
        }
        total = pair.serverInbound.bytes
        #expect(total == payload)
        // One slice of 1 MiB plaintext plus record overhead (22 bytes per 16 KiB record).
        #expect(largest <= (1 << 20) + 64 * 22)
    }

    @Test func aPlaintextClientIsRefusedOnItsFirstBytes() throws {
        let server = EmbeddedChannel()
        let handler = TLSHandler(serverContext: try Fixtures.context(Fixtures.serverConfiguration()))
        let collector = EmbeddedPair.Collector()
        try server.pipeline.syncOperations.addHandlers(handler, collector)
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        try server.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: gateway.test\r\n\r\n"))
        #expect(collector.tlsErrors.map(\.code) == [.notTLS])
        #expect(throws: TLSError(.notTLS, "")) { try handler.handshakeFuture.wait() }
        #expect(!server.isActive)
    }

    @Test func aTLSClientAgainstAPlaintextServerIsTold() throws {
        let client = EmbeddedChannel()
        let handler = TLSHandler(
            clientContext: try Fixtures.context(Fixtures.clientConfiguration()),
            serverName: .dns("gateway.test")
        )
        let collector = EmbeddedPair.Collector()
        try client.pipeline.syncOperations.addHandlers(handler, collector)
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        _ = try client.readOutbound(as: ByteBuffer.self) // ClientHello
        try client.writeInbound(ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
        #expect(collector.tlsErrors.map(\.code) == [.notTLS])
    }

    @Test func aHandshakeThatStallsTimesOut() throws {
        var configuration = Fixtures.serverConfiguration()
        configuration.handshakeTimeout = .seconds(2)
        let server = EmbeddedChannel()
        let handler = TLSHandler(serverContext: try Fixtures.context(configuration))
        let collector = EmbeddedPair.Collector()
        try server.pipeline.syncOperations.addHandlers(handler, collector)
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        try server.writeInbound(ByteBuffer(bytes: [22, 3, 1])) // a record header, then nothing
        server.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(collector.tlsErrors.map(\.code) == [.handshakeTimeout])
        #expect(!server.isActive)
    }

    @Test func aConnectionIsClosedAtItsMaximumAge() throws {
        var configuration = Fixtures.serverConfiguration()
        configuration.maximumConnectionAge = .seconds(60)
        let pair = try EmbeddedPair(
            client: Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device)),
            server: Fixtures.context(configuration)
        )
        try pair.connect()
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(59))
        try pair.run()
        #expect(pair.server.isActive)
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(2))
        try pair.run()
        #expect(!pair.server.isActive)
        #expect(!pair.client.isActive)
        #expect(pair.clientInbound.errors.isEmpty, "closed with close_notify")
    }
}

extension HandlerInMemoryTests {
    @Test func anIdleConnectionIsClosedAndTrafficKeepsItOpen() throws {
        var configuration = Fixtures.serverConfiguration()
        configuration.idleTimeout = .seconds(30)
        let recorder = RecordingLogHandler()
        let pair = try EmbeddedPair(
            client: Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device)),
            server: Fixtures.context(configuration, logger: recorder.logger)
        )
        try pair.connect()
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(20))
        try pair.client.writeAndFlush(ByteBuffer(bytes: [1])).wait()
        try pair.run()
        // 40 s after the handshake, 20 s after the last byte: still open.
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(20))
        try pair.run()
        #expect(pair.server.isActive)
        // 31 s after the last byte: closed with close_notify.
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(11))
        try pair.run()
        #expect(!pair.server.isActive && !pair.client.isActive)
        #expect(pair.clientInbound.errors.isEmpty && pair.serverInbound.errors.isEmpty)
        #expect(recorder.events("samd.tls.connection-idle").count == 1)
    }
}
