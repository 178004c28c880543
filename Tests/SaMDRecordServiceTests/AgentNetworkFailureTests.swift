// How the agent and the TLS client report network failures: in plain words, each attempt with its own cause
// (an upload cut by a killed gateway is reported as cut), and a handshake bounded by --connect-timeout.

import Foundation
import NIOCore
import SaMDRecordGateway
import SaMDRecordService
import SaMDTLS
import SaMDTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("samd-agent network failures")
struct AgentNetworkFailureTests {
    static func file(in work: Harness.TemporaryDirectory, _ name: String, bytes: Int) throws -> String {
        let path = work.file(name)
        try Data(repeating: 0x2a, count: bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func aClosedPortIsConnectionRefusedInPlainWords() async throws {
        let port = try LoopbackPort.unused()
        let work = try Harness.TemporaryDirectory()
        let run = try await ChildProcess.run(
            try ProgramLocations.binary("samd-agent"),
            AgentCLITests.arguments("device", port: port) + [
                "--retries", "1", "--retry-delay", "0.01", try Self.file(in: work, "a.json", bytes: 2),
            ]
        )
        #expect(run.status == 69, "\(run)")
        #expect(
            run.standardError.contains(
                "a.json: attempt 1 failed: unreachable (local): cannot reach 127.0.0.1:\(port): connection refused;"),
            "\(run)")
        #expect(
            run.standardError.contains(
                "a.json: not stored: unreachable (local): cannot reach 127.0.0.1:\(port): connection refused\n"),
            "\(run)")
        #expect(!run.standardError.contains("SingleConnectionFailure"), "\(run)")
        #expect(!run.standardError.contains("errno"), "\(run)")
    }

    @Test func tlsClientSaysConnectionRefused() async throws {
        let port = try LoopbackPort.unused()
        do {
            _ = try await TLSClient.connect(host: "127.0.0.1", port: port, context: try Harness.clientContext("device"))
            Issue.record("connected to a closed port")
        } catch let error as TLSError {
            #expect(error.code == .unreachable)
            #expect(error.reason == "cannot reach 127.0.0.1:\(port): connection refused", "\(error)")
        }
    }

    /// A gateway killed mid-upload: the attempt is reported as a cut connection — not as the failure of a
    /// silent second try against a gateway that is gone.
    @Test func anUploadCutMidwayIsReportedAsCut() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let proxy = try CuttingProxy(target: gateway.port, cutAfter: 1 << 20)
        let work = try Harness.TemporaryDirectory()
        // The second file goes over the kept-alive connection of the first, and is cut.
        let files = [
            try Self.file(in: work, "note.json", bytes: 100), try Self.file(in: work, "scan.dcm", bytes: 4 << 20),
        ]
        let run = try await ChildProcess.run(
            try ProgramLocations.binary("samd-agent"),
            AgentCLITests.arguments("device", port: proxy.port) + ["--retries", "0"] + files
        )
        #expect(proxy.connections == 1)
        #expect(run.output.hasPrefix("note.json: 100 bytes, 201 Created, revision 1\n"), "\(run)")
        #expect(run.standardError.contains("scan.dcm: not stored: "), "\(run)")
        #expect(run.standardError.contains("the connection closed before the answer"), "\(run)")
        #expect(!run.standardError.contains("unreachable"), "a silent second try hid the cut: \(run)")
        #expect(run.status == 76, "\(run)")
        await gateway.stop()
    }

    /// The keep-alive race the client's one silent resend is for: the server closed a kept-alive connection
    /// cleanly (close_notify) under a request it never answered.
    @Test func aKeptAliveConnectionClosedCleanlyBeforeAnAnswerIsSentAgainOnce() async throws {
        let server = try await TLSServer.bind(host: "127.0.0.1", port: 0, context: try Harness.serverContext())
        let (connections, requests) = (Attempts(), Attempts())
        let task = Task {
            try? await server.executeThenClose { accepted in
                for await connection in accepted {
                    connections.increment()
                    let first = connections.count == 1
                    try? await connection.executeThenClose { inbound, outbound in
                        var text = ""
                        var answered = 0
                        for try await buffer in inbound {
                            text += String(decoding: buffer.readableBytesView, as: UTF8.self)
                            while let end = text.range(of: "\r\n\r\n") {
                                text = String(text[end.upperBound...])
                                requests.increment()
                                // The first connection's second request meets the idle close: close_notify, no answer.
                                if first && answered == 1 { return }
                                try await outbound.write(
                                    ByteBuffer(
                                        string:
                                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}"
                                    )
                                )
                                answered += 1
                            }
                        }
                    }
                }
            }
        }
        defer { task.cancel() }
        let client = RecordClient(
            host: "127.0.0.1", port: server.localAddress.port!, context: try Harness.clientContext("device"))
        #expect(try await client.health().status == 200)
        #expect(try await client.health().status == 200)
        #expect(connections.count == 2)
        #expect(requests.count == 3)
        await client.close()
    }

    /// --connect-timeout bounds the handshake too: against a port that accepts TCP and never answers TLS, a
    /// 1 s connect timeout is a 1 s handshake timeout, not the fixed 10 s.
    @Test func theHandshakeIsBoundedByTheConnectTimeout() async throws {
        let silent = try SilentListener()
        let work = try Harness.TemporaryDirectory()
        let run = try await ChildProcess.run(
            try ProgramLocations.binary("samd-agent"),
            AgentCLITests.arguments("device", port: silent.port) + [
                "--retries", "0", "--connect-timeout", "0.5", try Self.file(in: work, "a.json", bytes: 2),
            ]
        )
        #expect(run.status == 76, "\(run)")
        #expect(
            run.standardError.contains("handshakeTimeout (local): the handshake did not finish within 1 s"), "\(run)")
        withExtendedLifetime(silent) {}
    }
}

/// A listening socket on 127.0.0.1 that never accepts: the kernel completes TCP connections, nobody answers.
final class SilentListener: Sendable {
    let port: Int
    private let descriptor: Int32

    init() throws {
        (self.descriptor, self.port) = try CuttingProxy.listen()
    }

    deinit {
        close(self.descriptor)
    }
}

/// A TCP proxy on 127.0.0.1 for one connection, as the gateway's host behaves when the gateway is killed
/// mid-upload: it forwards both ways to `target` until `cutAfter` bytes went toward the target, then ends both
/// TCP connections (no TLS close_notify). It stops listening once it accepted, so a second try is refused.
final class CuttingProxy: Sendable {
    let port: Int
    private let counter = Counter()

    /// Connections accepted (at most one).
    var connections: Int { self.counter.value.withLock { $0 } }

    private final class Counter: Sendable {
        let value = Mutex(0)
    }

    init(target: Int, cutAfter: Int) throws {
        let (listener, port) = try Self.listen()
        self.port = port
        let counter = self.counter
        Thread {
            let client = accept(listener, nil, nil)
            close(listener)
            guard client >= 0 else { return }
            counter.value.withLock { $0 += 1 }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: target)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            guard connected else {
                close(client)
                close(upstream)
                return
            }
            let downstreamDone = DispatchSemaphore(value: 0)
            Thread {
                _ = Self.pump(from: upstream, to: client, limit: Int.max)
                downstreamDone.signal()
            }.start()
            _ = Self.pump(from: client, to: upstream, limit: cutAfter)
            shutdown(client, Int32(SHUT_RDWR))
            shutdown(upstream, Int32(SHUT_RDWR))
            downstreamDone.wait()
            close(client)
            close(upstream)
        }.start()
    }

    /// Copies until end of input, an error, or `limit` bytes; returns the bytes copied.
    static func pump(from source: Int32, to destination: Int32, limit: Int) -> Int {
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        var copied = 0
        while copied < limit {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBytes {
                    send(destination, $0.baseAddress! + offset, count - offset, Int32(MSG_NOSIGNAL))
                }
                guard written > 0 else { return copied }
                offset += written
            }
            copied += count
        }
        return copied
    }

    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// A listening socket on 127.0.0.1, any free port.
    static func listen() throws -> (Int32, Int) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw SetupFailure("socket: \(errno)") }
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ready = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && Glibc.listen(descriptor, 8) == 0
                    && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard ready else {
            close(descriptor)
            throw SetupFailure("bind or listen: \(errno)")
        }
        return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
    }
}
