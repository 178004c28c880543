import Foundation
import NIOCore
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

/// The gateway and device code of Sources/SaMDTLS/SaMDTLS.docc/TLS.md ("Async API"), compiled and run against each other — including
/// the case the gateway's per-connection `catch` is there for: a device that vanishes without close_notify
/// must not stop the gateway from serving the next one.
@Suite("Sources/SaMDTLS/SaMDTLS.docc/TLS.md snippets")
struct DocSnippetTests {
    /// The gateway loop of TLS.md, as written there (the context and listener are the test's).
    static func gateway(_ server: TLSServer, devices: ManagedStrings) async throws {
        try await server.executeThenClose { connections in
            try await withThrowingDiscardingTaskGroup { group in
                for try await connection in connections { // only authenticated connections arrive here
                    group.addTask {
                        let device = connection.peer?.uris.first // "urn:uuid:…" from the verified certificate
                        devices.append(device ?? "?")
                        do {
                            try await connection.executeThenClose { inbound, outbound in
                                for try await bytes in inbound { try await outbound.write(bytes) }
                            }
                        } catch {
                            // A TLSError: uncleanShutdown (truncated), a refusal after the handshake, …
                        }
                    }
                }
            }
        }
    }

    /// The device agent of TLS.md, as written there (returning the reply instead of eliding it).
    static func device(port: Int, pki: PKIDirectory, record: [UInt8]) async throws -> [UInt8] {
        let device = try TLSContext(
            configuration: .deviceClient(
                identity: .files(certificateChain: pki.cert("device"), privateKey: pki.key("device")),
                trustRoots: .file(pki.root)
            ))
        let connection = try await TLSClient.connect(host: "localhost", port: port, context: device)
        return try await connection.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: record))
            outbound.finish() // close_notify + TCP half-close
            var reply: [UInt8] = []
            for try await bytes in inbound { reply += bytes.readableBytesView } // ends on the server's close_notify
            return reply
        }
    }

    @Test func theGatewayKeepsServingAfterADeviceVanishesWithoutCloseNotify() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let pki = try PKIDirectory()
        let context = try TLSContext(
            configuration: .gatewayServer(
                identity: .files(certificateChain: pki.cert("server"), privateKey: pki.key("server")),
                clientTrustRoots: .file(pki.root)
            ))
        let server = try await TLSServer.bind(host: "127.0.0.1", port: 0, context: context)
        let port = try #require(server.localAddress.port)
        let devices = ManagedStrings()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await Self.gateway(server, devices: devices) }

            #expect(try await Self.device(port: port, pki: pki, record: Array("first".utf8)) == Array("first".utf8))

            // A device killed mid-connection: TCP ends without close_notify (uncleanShutdown at the gateway).
            let vanishing = try ChildProcess(
                openssl,
                [
                    "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "gateway.test", "-CAfile", pki.root,
                    "-cert", pki.cert("device"), "-cert_chain", pki.cert("device"), "-key", pki.key("device"),
                    "-tls1_3",
                ], standardInput: .open)
            #expect(
                await vanishing.waitForStandardOutput(containing: "Verify return code: 0"),
                "\(vanishing.standardError.text)")
            vanishing.send(Data("half a record".utf8))
            // Bounded generously: the whole suite runs beside this test on two cores.
            #expect(await vanishing.wait(timeout: .seconds(30)) { devices.values.count == 2 })
            vanishing.signal(SIGKILL)
            _ = await vanishing.waitForExit(timeout: .seconds(5))

            // The next device is still served.
            #expect(try await Self.device(port: port, pki: pki, record: Array("second".utf8)) == Array("second".utf8))
            #expect(devices.values.count == 3)
            group.cancelAll()
        }
    }
}

/// Strings appended from several tasks.
final class ManagedStrings: @unchecked Sendable { // guarded by `lock`
    private let lock = NSLock()
    private var storage: [String] = []
    var values: [String] { self.lock.withLock { self.storage } }
    func append(_ value: String) { self.lock.withLock { self.storage.append(value) } }
}
