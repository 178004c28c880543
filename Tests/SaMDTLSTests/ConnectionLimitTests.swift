import Foundation
import NIOCore
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

/// `TLSServer`'s bound on open connections, over loopback with real TLS clients.
@Suite("TLSServer connection bound")
struct ConnectionLimitTests {
    @Test func connectionsOverTheBoundAreClosedBeforeTLSAndLoggedOncePerInterval() async throws {
        let recorder = RecordingLogHandler()
        let context = try Fixtures.context(Fixtures.serverConfiguration(), logger: recorder.logger)
        try await AsyncLoopbackTests.withEchoServer(context: context, maximumConnections: 2) { port in
            let client = try Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device))
            let first = try await TLSClient.connect(host: "127.0.0.1", port: port, context: client)
            let second = try await TLSClient.connect(host: "127.0.0.1", port: port, context: client)
            for _ in 0..<3 {
                await #expect(throws: TLSError.self, "a third connection is closed before its handshake") {
                    _ = try await TLSClient.connect(host: "127.0.0.1", port: port, context: client)
                }
            }
            #expect(try await OpenConnectionRevalidationTests.echoes(second), "the admitted connections are served")
            // `second` is closed now: a new connection is admitted once the server has seen it close.
            var admitted: TLSConnection?
            for _ in 0..<50 where admitted == nil {
                admitted = try? await TLSClient.connect(host: "127.0.0.1", port: port, context: client)
                if admitted == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            let third = try #require(admitted, "no connection admitted after one closed")
            #expect(try await OpenConnectionRevalidationTests.echoes(third))
            #expect(try await OpenConnectionRevalidationTests.echoes(first))
        }
        // At least 3 refusals (more while the test waits for a slot), logged once per 10 s interval: one event,
        // or two when the test took over 10 s on a busy machine — never one per refused connection (3 or more).
        let events = recorder.events("samd.tls.connections-refused")
        #expect((1...2).contains(events.count), "refusals are logged once per interval, not once per connection")
        #expect(events.first?.metadata["maximum_connections"] == "2")
    }

    @Test func aBoundBelowOneIsRefused() async throws {
        let context = try Fixtures.context(Fixtures.serverConfiguration())
        await #expect(throws: TLSError(.invalidConfiguration, "")) {
            _ = try await TLSServer.bind(host: "127.0.0.1", port: 0, context: context, maximumConnections: 0)
        }
    }
}
