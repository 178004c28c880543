import Foundation
import NIOCore
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

/// Certificate and key rotation without restart.
@Suite("Identity reload")
struct ReloadTests {
    /// A server context reading its identity from files in a fresh directory.
    static func fileBackedServer(_ certificate: TestCertificate, logger: RecordingLogHandler) throws -> (
        TLSContext, URL
    ) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.install(certificate, in: directory)
        let configuration = TLSConfiguration.gatewayServer(
            identity: .files(
                certificateChain: directory.appendingPathComponent("chain.pem").path,
                privateKey: directory.appendingPathComponent("key.pem").path
            ),
            clientTrustRoots: Fixtures.roots
        )
        return (try TLSContext(configuration: configuration, logger: logger.logger), directory)
    }

    /// Replaces chain.pem and key.pem atomically, one after the other.
    static func install(_ certificate: TestCertificate, in directory: URL, only: String? = nil) throws {
        if only == nil || only == "chain" {
            try Data(certificate.chainPEM.utf8).write(
                to: directory.appendingPathComponent("chain.pem"), options: .atomic)
        }
        if only == nil || only == "key" {
            try Data(certificate.privateKeyPEM.utf8).write(
                to: directory.appendingPathComponent("key.pem"), options: .atomic)
        }
    }

    /// A second server certificate for the same names, as a renewal would issue.
    static let renewed: TestCertificate = {
        do {
            return try Fixtures.pki.intermediate.issueLeaf(
                commonName: "gateway.test",
                sans: TestPKI.serverSANs,
                ekus: [.serverAuth]
            )
        } catch {
            fatalError("\(error)")
        }
    }()

    @Test func reloadSwapsTheIdentityForNewHandshakesAndOpenConnectionsGoOn() throws {
        let recorder = RecordingLogHandler()
        let (server, directory) = try Self.fileBackedServer(Fixtures.pki.server, logger: recorder)
        defer { try? FileManager.default.removeItem(at: directory) }
        let client = try Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device))

        let before = try EmbeddedPair(client: client, server: server)
        try before.connect()
        let oldSPKI = try before.clientHandler.handshakeFuture.wait().peer?.spkiSHA256

        try Self.install(Self.renewed, in: directory)
        try server.reload()
        #expect(server.certificate?.spkiSHA256 == Self.renewed.spkiSHA256())
        #expect(recorder.events("samd.tls.identity-reloaded").count == 1)

        // The connection made before the reload still works.
        try before.client.writeAndFlush(ByteBuffer(bytes: [1, 2, 3])).wait()
        try before.run()
        #expect(before.serverInbound.bytes == [1, 2, 3])

        let after = try EmbeddedPair(client: client, server: server)
        try after.connect()
        let info = try after.clientHandler.handshakeFuture.wait()
        #expect(info.peer?.spkiSHA256 == Self.renewed.spkiSHA256())
        #expect(info.peer?.spkiSHA256 != oldSPKI)
        #expect(info.sessionResumed == false, "tickets of the old context are not resumed")
    }

    @Test func aBadNewIdentityIsRefusedLoggedAndTheOldOneStays() throws {
        let recorder = RecordingLogHandler()
        let (server, directory) = try Self.fileBackedServer(Fixtures.pki.server, logger: recorder)
        defer { try? FileManager.default.removeItem(at: directory) }
        let original = server.certificate?.spkiSHA256

        // Only the certificate replaced: the key no longer matches.
        try Self.install(Self.renewed, in: directory, only: "chain")
        #expect(throws: TLSError(.invalidIdentity, "")) { try server.reload() }
        // An expired certificate with its own key.
        try Self.install(Fixtures.pki.expiredServer, in: directory)
        #expect(throws: TLSError(.invalidIdentity, "")) { try server.reload() }
        // Garbage.
        try Data("not a certificate".utf8).write(to: directory.appendingPathComponent("chain.pem"))
        #expect(throws: TLSError.self) { try server.reload() }

        #expect(server.certificate?.spkiSHA256 == original)
        let refusals = recorder.events("samd.tls.identity-reload-refused")
        #expect(refusals.count == 3)
        #expect(refusals.first?.metadata["error"] == "invalidIdentity")
        let pair = try EmbeddedPair(
            client: Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device)), server: server)
        try pair.connect()
        #expect(try pair.clientHandler.handshakeFuture.wait().peer?.spkiSHA256 == original)
    }

    @Test func theReloaderFollowsFileChangesAndNeverServesAMismatchedPair() async throws {
        let recorder = RecordingLogHandler()
        let (server, directory) = try Self.fileBackedServer(Fixtures.pki.server, logger: recorder)
        defer { try? FileManager.default.removeItem(at: directory) }
        let reloader = TLSIdentityReloader(context: server, interval: .milliseconds(50))
        #expect(reloader.watchedFiles.count == 2)
        let watcher = Task { await reloader.run() }
        defer { watcher.cancel() }

        // The certificate first: the pair does not match, the reload is refused, the old identity serves.
        try Self.install(Self.renewed, in: directory, only: "chain")
        for _ in 0..<1000 where recorder.events("samd.tls.identity-reload-refused").isEmpty {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(recorder.events("samd.tls.identity-reload-refused").count >= 1)
        #expect(server.certificate?.spkiSHA256 == Fixtures.pki.server.spkiSHA256())

        // Then the key: now the pair matches and is swapped in.
        try Self.install(Self.renewed, in: directory, only: "key")
        for _ in 0..<1000 where server.certificate?.spkiSHA256 != Self.renewed.spkiSHA256() {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(server.certificate?.spkiSHA256 == Self.renewed.spkiSHA256())
        #expect(recorder.events("samd.tls.identity-reloaded").count >= 1)
    }

    /// `Task.sleep` traps on a duration past its clock's range (`samd-tls serve --identity-reload-interval 1e20`
    /// died with SIGILL once listening): the interval is at most a day, and a reloader given 10^20 s runs and stops.
    @Test func anIntervalPastADayIsLoweredToADayAndTheWatcherRuns() async throws {
        let (server, directory) = try Self.fileBackedServer(Fixtures.pki.server, logger: RecordingLogHandler())
        defer { try? FileManager.default.removeItem(at: directory) }
        let reloader = TLSIdentityReloader(context: server, interval: .seconds(1e20))
        #expect(reloader.interval == TLSIdentityReloader.longestInterval)
        #expect(TLSIdentityReloader(context: server, interval: .microseconds(1)).interval == .milliseconds(50))
        let watcher = Task { await reloader.run() }
        try await Task.sleep(for: .milliseconds(200))
        watcher.cancel()
        await watcher.value
    }

    @Test func anExplicitReloadThroughTheReloaderIsNotRepeatedByItsWatcher() async throws {
        let recorder = RecordingLogHandler()
        let (server, directory) = try Self.fileBackedServer(Fixtures.pki.server, logger: recorder)
        defer { try? FileManager.default.removeItem(at: directory) }
        let reloader = TLSIdentityReloader(context: server, interval: .milliseconds(50))
        try Self.install(Self.renewed, in: directory)
        // As on SIGHUP: reload at once.
        try reloader.reload()
        let watcher = Task { await reloader.run() }
        try await Task.sleep(for: .milliseconds(400))
        watcher.cancel()
        await watcher.value
        #expect(recorder.events("samd.tls.identity-reloaded").count == 1)
        #expect(server.certificate?.spkiSHA256 == Self.renewed.spkiSHA256())
    }
}
