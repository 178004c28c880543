import Foundation
import NIOCore
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Synchronization
import Testing

/// Revocation and expiry reach connections that are already open: a peer revoked by a CRL reload, or whose
/// certificate expires, is closed; the others stay open. Real TLS over loopback, `TLSServer` and `TLSClient`.
@Suite("Open connections after a trust reload or a certificate expiry")
struct OpenConnectionRevalidationTests {
    /// A server context whose CRLs are read from `crl.pem` in a fresh directory (the test PKI's CRLs).
    static func serverWithCRLFile(logger: RecordingLogHandler) throws -> (context: TLSContext, crl: URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-revalidate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let crl = directory.appendingPathComponent("crl.pem")
        try Data((Fixtures.pki.crlPEM + Fixtures.pki.rootCRLPEM).utf8).write(to: crl, options: .atomic)
        var configuration = Fixtures.serverConfiguration()
        configuration.certificateRevocationLists = [.file(crl.path)]
        return (try Fixtures.context(configuration, logger: logger.logger), crl)
    }

    /// Runs `operation`; `nil` when it has not finished within `limit`.
    static func within<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T)
        async throws -> T?
    {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    /// Echoes one byte over `connection`, then runs `trigger` and returns how long after it the server closed
    /// the connection (`nil`: not within `limit`).
    static func secondsUntilClosed(
        _ connection: TLSConnection,
        limit: Duration,
        after trigger: @escaping @Sendable () async throws -> Void
    ) async throws -> Double? {
        try await Self.within(limit) {
            try await connection.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                try await outbound.write(ByteBuffer(bytes: [7]))
                let echoed = try await iterator.next()
                #expect(echoed.map { Array($0.readableBytesView) } == [7])
                try await trigger()
                let start = ContinuousClock.now
                // The inbound stream ends (or fails) when the server closes the connection.
                while (try? await iterator.next()) != nil {}
                let elapsed = ContinuousClock.now - start
                return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            }
        }
    }

    /// A serial number as the security events print it (lowercase hexadecimal, whole bytes).
    static func hex(_ serial: UInt64) -> String {
        let digits = String(serial, radix: 16)
        return digits.count % 2 == 1 ? "0" + digits : digits
    }

    /// Echo round trip over an open connection: it still works.
    static func echoes(_ connection: TLSConnection) async throws -> Bool {
        let reply = try await Self.within(.seconds(30)) {
            try await connection.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                try await outbound.write(ByteBuffer(bytes: [1, 2, 3]))
                return try await iterator.next().map { Array($0.readableBytesView) }
            }
        }
        return reply == [1, 2, 3]
    }

    /// How the new CRL is loaded: `TLSContext.reload()` called directly, or `TLSIdentityReloader`'s file watcher.
    enum Trigger: String, CaseIterable, Sendable {
        case reload
        case fileWatcher
    }

    @Test(arguments: Trigger.allCases)
    func aPeerRevokedByACRLReloadIsClosedAndAnotherStaysOpen(trigger: Trigger) async throws {
        let recorder = RecordingLogHandler()
        let (context, crl) = try Self.serverWithCRLFile(logger: recorder)
        defer { try? FileManager.default.removeItem(at: crl.deletingLastPathComponent()) }
        let watcher =
            trigger == .fileWatcher
            ? Task { await TLSIdentityReloader(context: context, interval: .milliseconds(50)).run() } : nil
        defer { watcher?.cancel() }
        let victim = try Fixtures.pki.intermediate.issueDevice(id: "revoked-while-connected")
        try await AsyncLoopbackTests.withEchoServer(context: context, revalidationGracePeriod: .seconds(1)) { port in
            let victimConnection = try await TLSClient.connect(
                host: "127.0.0.1", port: port, context: Fixtures.context(Fixtures.clientConfiguration(victim)))
            // The bystander's connection is a resumed session (its chain is the one of the original handshake):
            // it must still verify after the reload.
            let bystanderContext = try Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device))
            let first = try await TLSClient.connect(host: "127.0.0.1", port: port, context: bystanderContext)
            #expect(try await Self.echoes(first))
            let bystander = try await TLSClient.connect(host: "127.0.0.1", port: port, context: bystanderContext)
            #expect(bystander.info.sessionResumed)

            let closedAfter = try await Self.secondsUntilClosed(victimConnection, limit: .seconds(30)) {
                // A newer CRL (higher CRL number) revoking the connected device replaces the file; reload.
                let revoking = try Fixtures.pki.intermediate.makeCRL(
                    revokingSerials: [Fixtures.pki.revokedDevice.serial, victim.serial], thisUpdate: Date() - 30)
                try Data((revoking + Fixtures.pki.rootCRLPEM).utf8).write(to: crl, options: .atomic)
                if trigger == .reload { try context.reload() }
            }
            let seconds = try #require(closedAfter, "the revoked peer's connection stayed open")
            #expect(seconds < 15, "closed \(seconds) s after the reload (grace 1 s)")
            #expect(try await Self.echoes(bystander), "the peer that is not revoked keeps its connection")
        }
        let events = recorder.events("samd.tls.connection-invalidated")
        #expect(events.count == 1)
        #expect(events.first?.metadata["reason"] == "trust-changed")
        #expect(events.first?.metadata["error"] == "certificateRevoked")
        #expect(events.first?.metadata["peer_serial"] == Self.hex(victim.serial))
        #expect(events.first?.metadata["peer"] == "urn:samd:device:revoked-while-connected")
    }

    @Test func aPeerWhoseCAIsRemovedFromTheTrustRootsIsClosed() async throws {
        let recorder = RecordingLogHandler()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-revalidate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let roots = directory.appendingPathComponent("roots.pem")
        try Data(Fixtures.pki.root.certificate.certificatePEM.utf8).write(to: roots, options: .atomic)
        let context = try Fixtures.context(
            .gatewayServer(identity: Fixtures.identity(Fixtures.pki.server), clientTrustRoots: .file(roots.path)),
            logger: recorder.logger
        )
        try await AsyncLoopbackTests.withEchoServer(context: context, revalidationGracePeriod: .seconds(1)) { port in
            let connection = try await TLSClient.connect(
                host: "127.0.0.1", port: port,
                context: Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device)))
            let closedAfter = try await Self.secondsUntilClosed(connection, limit: .seconds(30)) {
                // The CA bundle now holds another CA only: the device's chain no longer reaches a trust root.
                try Data(Fixtures.pki.otherRoot.certificate.certificatePEM.utf8).write(to: roots, options: .atomic)
                try context.reload()
            }
            #expect(try #require(closedAfter, "the connection outlived the removal of its CA") < 15)
        }
        let events = recorder.events("samd.tls.connection-invalidated")
        #expect(events.count == 1)
        #expect(events.first?.metadata["reason"] == "trust-changed")
        #expect(events.first?.metadata["error"] == "unknownCA")
    }

    @Test func aPeerIsClosedWhenItsCertificateExpires() async throws {
        let recorder = RecordingLogHandler()
        let context = try Fixtures.context(Fixtures.serverConfiguration(), logger: recorder.logger)
        let serial = try await AsyncLoopbackTests.withEchoServer(
            context: context, revalidationGracePeriod: .seconds(1)
        ) { port in
            // Issued once the server listens, and notAfter 20 s ahead: long enough for the certificate to be
            // issued, loaded and used in a handshake while the rest of the suite runs beside this test (6 s was
            // not, on a loaded machine; nor 20 s counted from before the server started, with three suites
            // building at once).
            let notAfter = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 20).rounded(.down))
            let shortLived = try Fixtures.pki.intermediate.issueDevice(id: "expires-soon", notAfter: notAfter)
            let connection = try await TLSClient.connect(
                host: "127.0.0.1", port: port, context: Fixtures.context(Fixtures.clientConfiguration(shortLived)))
            let bystander = try await TLSClient.connect(
                host: "127.0.0.1", port: port,
                context: Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device)))
            // The moment the server closed is taken on the client channel's event loop (the server's end of
            // stream, first in the pipeline), not when this task resumes: on a machine busy with the rest of the
            // suite a task may resume many seconds after the close.
            let endOfStream = EndOfStreamClock()
            try await connection.underlyingChannel.eventLoop.submit {
                try connection.underlyingChannel.pipeline.syncOperations.addHandler(endOfStream, position: .first)
            }.get()
            let closed = try await Self.within(.seconds(45)) {
                try await connection.executeThenClose { inbound, _ in
                    var iterator = inbound.makeAsyncIterator()
                    while (try? await iterator.next()) != nil {}
                    return endOfStream.time ?? Date()
                }
            }
            let closedAt = try #require(closed, "the connection outlived its peer's certificate")
            #expect(closedAt >= notAfter - 0.5, "closed at \(closedAt), before notAfter \(notAfter)")
            #expect(closedAt < notAfter + 15, "closed at \(closedAt), long after notAfter \(notAfter)")
            #expect(try await Self.echoes(bystander))
            return shortLived.serial
        }
        let events = recorder.events("samd.tls.connection-invalidated")
        #expect(events.count == 1)
        #expect(events.first?.metadata["reason"] == "certificate-expired")
        #expect(events.first?.metadata["error"] == "certificateExpired")
        #expect(events.first?.metadata["peer_serial"] == Self.hex(serial))
    }
}

/// Notes when a channel's peer ended the stream (TCP end of stream or the channel going inactive), on the
/// channel's event loop.
final class EndOfStreamClock: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    private let moment = Mutex<Date?>(nil)

    var time: Date? { self.moment.withLock { $0 } }

    private func note() {
        self.moment.withLock { if $0 == nil { $0 = Date() } }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent { self.note() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.note()
        context.fireChannelInactive()
    }
}
