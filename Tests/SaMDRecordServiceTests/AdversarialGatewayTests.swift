// The gateway and the agent against hostile peers: HTTP parser edge cases and smuggling attempts, pipelining,
// slow clients, resource exhaustion, path and method tricks, role confusion by SAN, and a hostile server for
// the agent. Loopback only, bounded waits only.

import Foundation
import NIOCore
import SaMDRecordGateway
import SaMDRecordService
import SaMDStore
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Synchronization
import Testing

/// A client that writes raw bytes over mutual TLS and collects the raw answer.
enum RawClient {
    struct Answer: Sendable, CustomStringConvertible {
        let text: String
        /// The gateway closed the connection (rather than the wait running out or `until` holding).
        let closed: Bool

        /// The status codes of the final and informational responses, in order.
        var statuses: [Int] {
            self.text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
        }

        var description: String { "closed: \(self.closed); \(self.text.prefix(3000))" }
    }

    /// One connection: writes, and bounded reads.
    final class Session {
        let channel: any Channel
        let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
        var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        var received = ""

        init(
            _ channel: any Channel, _ inbound: NIOAsyncChannelInboundStream<ByteBuffer>,
            _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
        ) {
            self.channel = channel
            self.inbound = inbound.makeAsyncIterator()
            self.outbound = outbound
        }

        func write(_ text: String) async throws {
            try await self.outbound.write(ByteBuffer(string: text))
        }

        /// Reads until the gateway closes, `until` holds for all that arrived, or `timeout` seconds passed
        /// (then the connection is closed: the wait is bounded).
        func read(timeout: Double = 20, until: (String) -> Bool = { _ in false }) async -> Answer {
            let channel = self.channel
            let timedOut = Mutex(false)
            let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout * 1e9))) {
                timedOut.withLock { $0 = true }
                channel.close(promise: nil)
            }
            defer { timer.cancel() }
            if until(self.received) { return Answer(text: self.received, closed: false) }
            do {
                while let buffer = try await self.inbound.next() {
                    self.received += String(decoding: buffer.readableBytesView, as: UTF8.self)
                    if until(self.received) { return Answer(text: self.received, closed: false) }
                }
            } catch {}
            return Answer(text: self.received, closed: !timedOut.withLock { $0 })
        }
    }

    /// Connects to 127.0.0.1:`port` presenting `context` and runs `body` with the connection.
    static func session<Result>(port: Int, context: TLSContext, _ body: (Session) async throws -> Result) async throws
        -> Result
    {
        let connection = try await TLSClient.connect(host: "127.0.0.1", port: port, context: context)
        return try await connection.executeThenClose { inbound, outbound in
            try await body(Session(connection.underlyingChannel, inbound, outbound))
        }
    }

    /// Connects, writes `chunks` in order, and reads until the gateway closes, `until` holds for what arrived,
    /// or `timeout` seconds passed.
    static func exchange(
        port: Int,
        context: TLSContext,
        _ chunks: [[UInt8]],
        timeout: Double = 20,
        until: @escaping @Sendable (String) -> Bool = { _ in false }
    ) async throws -> Answer {
        try await self.session(port: port, context: context) { session in
            for chunk in chunks {
                try await session.outbound.write(ByteBuffer(bytes: chunk))
            }
            return await session.read(timeout: timeout, until: until)
        }
    }

    static func exchange(
        port: Int,
        as name: String = "device",
        _ chunks: [String],
        timeout: Double = 20,
        until: @escaping @Sendable (String) -> Bool = { _ in false }
    ) async throws -> Answer {
        try await self.exchange(
            port: port, context: try Harness.clientContext(name), chunks.map { Array($0.utf8) }, timeout: timeout,
            until: until)
    }

    /// `until` that holds once `count` final responses (with their bodies' ends, as JSON) arrived.
    static func responses(_ count: Int) -> @Sendable (String) -> Bool {
        { text in text.components(separatedBy: "HTTP/1.1 ").count - 1 >= count && text.hasSuffix("}") }
    }
}

@Suite("Records gateway against hostile clients")
struct AdversarialGatewayTests {
    static let host = "host: 127.0.0.1\r\n"

    // MARK: Framing

    @Test func pipelinedRequestsAreAllAnsweredInOrder() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let put = { (id: String, body: String) in
            "PUT /records/p/\(id) HTTP/1.1\r\n\(Self.host)content-length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        // Three requests in one write: each reaches the store only after the previous one was answered.
        let request = put("one", "first") + put("two", "second") + "GET /healthz HTTP/1.1\r\n\(Self.host)\r\n"
        let answer = try await RawClient.exchange(port: gateway.port, [request], until: RawClient.responses(3))
        #expect(answer.statuses == [201, 201, 200], "\(answer)")
        #expect(!answer.closed, "\(answer)")
        let reader = try gateway.client("reader")
        #expect(try await reader.get(subject: "p", recordID: "two").body == Array("second".utf8))
        await gateway.stop()
    }

    @Test func smugglingAndMalformedFramingAre400AndStoreNothing() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let smuggled = "GET /healthz HTTP/1.1\r\n\(Self.host)\r\n"
        let cases: [(String, String)] = [
            (
                "CL+TE",
                "PUT /records/p/a HTTP/1.1\r\n\(Self.host)content-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n\(smuggled)"
            ),
            (
                "TE+CL",
                "PUT /records/p/b HTTP/1.1\r\n\(Self.host)transfer-encoding: chunked\r\ncontent-length: 40\r\n\r\n0\r\n\r\n\(smuggled)"
            ),
            (
                "two CL",
                "PUT /records/p/c HTTP/1.1\r\n\(Self.host)content-length: 1\r\ncontent-length: 30\r\n\r\nx\(smuggled)"
            ),
            ("CL list", "PUT /records/p/d HTTP/1.1\r\n\(Self.host)content-length: 1, 30\r\n\r\nx\(smuggled)"),
            ("negative CL", "PUT /records/p/e HTTP/1.1\r\n\(Self.host)content-length: -1\r\n\r\nx"),
            ("plus CL", "PUT /records/p/f HTTP/1.1\r\n\(Self.host)content-length: +1\r\n\r\nx"),
            ("huge CL", "PUT /records/p/g HTTP/1.1\r\n\(Self.host)content-length: 99999999999999999999999\r\n\r\nx"),
            (
                "bad chunk size",
                "PUT /records/p/h HTTP/1.1\r\n\(Self.host)transfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
            ),
            (
                "overflowing chunk size",
                "PUT /records/p/i HTTP/1.1\r\n\(Self.host)transfer-encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n0\r\n\r\n"
            ),
            ("TE not chunked", "PUT /records/p/j HTTP/1.1\r\n\(Self.host)transfer-encoding: gzip\r\n\r\nabc"),
            (
                "TE chunked twice",
                "PUT /records/p/k HTTP/1.1\r\n\(Self.host)transfer-encoding: chunked, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            ),
            (
                "obs-fold",
                "PUT /records/p/l HTTP/1.1\r\n\(Self.host)content-type: text/plain\r\n  ; x=y\r\ncontent-length: 1\r\n\r\nx"
            ),
            ("bare LF", "PUT /records/p/m HTTP/1.1\n\(Self.host)content-length: 1\n\nx"),
            ("space before colon", "PUT /records/p/n HTTP/1.1\r\n\(Self.host)content-length : 1\r\n\r\nx"),
            ("HTTP/2 version", "PUT /records/p/o HTTP/2.0\r\n\(Self.host)content-length: 1\r\n\r\nx"),
            ("no version", "GET /healthz\r\n\r\n"),
        ]
        for (name, request) in cases {
            let answer = try await RawClient.exchange(port: gateway.port, [request], timeout: 15)
            #expect(answer.statuses.first == 400, "\(name): \(answer)")
            #expect(answer.statuses.count == 1, "\(name): a smuggled request was answered: \(answer)")
            #expect(answer.closed, "\(name): \(answer)")
        }
        let reader = try gateway.client("reader")
        for id in "abcdefghijklmno" {
            #expect(try await reader.get(subject: "p", recordID: String(id)).status == 404, "\(id) was stored")
        }
        await gateway.stop()
    }

    @Test func absurdHeadsAreRefusedWithinNIOsBounds() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let manyHeaders = String(repeating: "x-a: b\r\n", count: 30_000)
        let longValue = "x-a: " + String(repeating: "b", count: 100_000) + "\r\n"
        let longTarget = "/healthz?" + String(repeating: "q", count: 100_000)
        for request in [
            "GET /healthz HTTP/1.1\r\n\(Self.host)\(manyHeaders)\r\n",
            "GET /healthz HTTP/1.1\r\n\(Self.host)\(longValue)\r\n",
            "GET \(longTarget) HTTP/1.1\r\n\(Self.host)\r\n",
        ] {
            let answer = try await RawClient.exchange(port: gateway.port, [request], timeout: 15)
            #expect(answer.statuses == [400], "\(answer)")
            #expect(answer.closed)
        }
        await gateway.stop()
    }

    // MARK: Slow clients

    @Test func aHeadThatNeverEndsIsClosedByTheIdleTimeout() async throws {
        let gateway = try await Harness.InProcessGateway.start(idleTimeout: 1, requestTimeout: 60)
        let answer = try await RawClient.exchange(port: gateway.port, ["GET /heal"], timeout: 20)
        #expect(answer.closed, "\(answer)")
        #expect(answer.statuses.isEmpty, "\(answer)")
        await gateway.stop()
    }

    @Test func aBodyThatNeverEndsIs408() async throws {
        let gateway = try await Harness.InProcessGateway.start(idleTimeout: 60, requestTimeout: 1)
        for head in [
            "PUT /records/p/slow HTTP/1.1\r\n\(Self.host)content-length: 100\r\n\r\nhalf",
            "PUT /records/p/slow HTTP/1.1\r\n\(Self.host)transfer-encoding: chunked\r\n\r\n4\r\nhalf\r\n",
        ] {
            let answer = try await RawClient.exchange(port: gateway.port, [head], timeout: 20)
            #expect(answer.statuses == [408], "\(answer)")
            #expect(answer.closed)
        }
        #expect(gateway.events.events("samd.gateway.request-timeout").count == 2)
        #expect(try await gateway.client("reader").get(subject: "p", recordID: "slow").status == 404)
        await gateway.stop()
    }

    @Test func aClientThatClosesMidBodyStoresNothing() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let secret = "patient-secret-4711"
        let answer = try await RawClient.exchange(
            port: gateway.port,
            ["PUT /records/\(secret)/r HTTP/1.1\r\n\(Self.host)content-length: 100\r\n\r\n{\"resourceType\":"],
            timeout: 0.5
        )
        #expect(answer.statuses.isEmpty, "\(answer)")
        #expect(await eventually { gateway.gateway.statistics.openConnections == 0 })
        #expect(try await gateway.client("reader").get(subject: secret, recordID: "r").status == 404)
        #expect(!gateway.events.allText.contains(secret) && !gateway.events.allText.contains("resourceType"))
        await gateway.stop()
    }

    @Test func aClientThatPipelinesWithoutReadingIsNotAnsweredFasterThanItReads() async throws {
        let stores = try Harness.Stores()
        let events = LogRecorder()
        let gateway = try await RecordGateway.start(
            host: "127.0.0.1",
            port: 0,
            configuration: RecordGatewayConfiguration(
                tls: try Harness.serverContext(), readers: [TestPKI.readerURI], idleTimeout: .seconds(5)),
            store: stores.store,
            logger: events.logger
        )
        let port = gateway.localAddress.port!
        // Stored directly, not through the gateway: with a short idle timeout a loaded machine could cut a
        // 2 MiB upload, and the upload is not what this test is about.
        let record = [UInt8](repeating: 0x41, count: 2 << 20)
        try await stores.store.put(record, subject: "p", recordID: "big", recordType: "application/octet-stream")

        // Thirty reads of a 2 MiB record in one write, and not a byte read back.
        let get = "GET /records/p/big HTTP/1.1\r\n\(Self.host)\r\n"
        try await RawClient.session(port: port, context: try Harness.clientContext("reader")) { session in
            try await session.write(String(repeating: get, count: 30))
            #expect(
                await eventually(timeout: 20) { gateway.statistics.openConnections == 0 },
                "the stalled connection was not closed")
        }
        let sent = gateway.statistics.bytesOut
        #expect(sent < 15 * record.count, "the gateway answered \(sent / record.count) reads nobody read")
        // Whether the next read was already parked behind the unread answer (logged as response-unread) or
        // still in buffers when the idle timeout closed the connection depends on socket buffers and timing;
        // either way the stalled connection is closed and the gateway stopped answering.
        #expect(events.events("samd.gateway.response-unread").count <= 1)
        await gateway.stop()
    }

    @Test func bodiesInMemoryHaveAGatewayWideBound() async throws {
        let stores = try Harness.Stores()
        let events = LogRecorder()
        let gateway = try await RecordGateway.start(
            host: "127.0.0.1",
            port: 0,
            configuration: RecordGatewayConfiguration(
                tls: try Harness.serverContext(),
                readers: [TestPKI.readerURI],
                maximumBodyByteCount: 1024,
                maximumBufferedBodyByteCount: 1536,
                // The budget is under test, not the rate: the holder sends a few bytes and waits for as long as
                // a busy machine makes it wait, so the rate check (which would drop it after 10 s) is off.
                minimumBodyBytesPerSecond: 0
            ),
            store: stores.store,
            logger: events.logger
        )
        let port = gateway.localAddress.port!
        let device = RecordClient(host: "127.0.0.1", port: port, context: try Harness.clientContext("device"))
        try await RawClient.session(port: port, context: try Harness.clientContext("device")) { holder in
            // 1000 of the 1536 bytes held by a body that has not finished arriving: bytes are reserved as they
            // arrive, so the holder must send them (announcing them holds nothing).
            try await holder.write(
                "PUT /records/p/held HTTP/1.1\r\n\(Self.host)content-length: 1024\r\nexpect: 100-continue\r\n\r\n")
            let continued = await holder.read { $0.contains("\r\n\r\n") }
            #expect(continued.statuses == [100], "\(continued)")
            try await holder.write(String(repeating: "h", count: 1000))
            #expect(await eventually { gateway.statistics.bytesIn >= 1000 }, "the held bytes did not arrive")

            let declared = try await device.put(
                subject: "p", recordID: "declared", body: [UInt8](repeating: 1, count: 1025))
            #expect(declared.status == 413)
            let over = try await RawClient.exchange(
                port: port,
                as: "device",
                ["PUT /records/p/over HTTP/1.1\r\n\(Self.host)content-length: 1000\r\nexpect: 100-continue\r\n\r\n"]
            )
            #expect(over.statuses == [503], "\(over)")
            #expect(over.text.lowercased().contains("retry-after: 1"), "\(over)")
            #expect(over.closed)
            let chunked = try await device.send(
                method: "PUT", path: "/records/p/chunked", headers: [("transfer-encoding", "chunked")],
                body: [UInt8](repeating: 2, count: 1000)
            )
            #expect(chunked.status == 503, "\(chunked)")
            #expect(
                try await device.put(subject: "p", recordID: "fits", body: [UInt8](repeating: 3, count: 512)).status
                    == 201)

            try await holder.write(String(repeating: "h", count: 24))
            let stored = await holder.read(until: RawClient.responses(2))
            #expect(stored.statuses == [100, 201], "\(stored)")
        }
        // Everything given back: a whole body fits again, twice in a row.
        for id in ["a", "b"] {
            #expect(
                try await device.put(subject: "p", recordID: id, body: [UInt8](repeating: 4, count: 1024)).status == 201
            )
        }
        #expect(events.events("samd.gateway.bodies-over-budget").count == 2)
        let reader = RecordClient(host: "127.0.0.1", port: port, context: try Harness.clientContext("reader"))
        #expect(
            try await reader.get(subject: "p", recordID: "held").body == Array(String(repeating: "h", count: 1024).utf8)
        )
        #expect(try await reader.get(subject: "p", recordID: "over").status == 404)
        await device.close()
        await reader.close()
        await gateway.stop()
    }

    /// Four connections announce the largest body and send a byte every half second: they hold what they
    /// sent, not what they announced, so the other devices' PUTs of the largest body are stored meanwhile;
    /// the slow bodies are dropped by the rate check (408, `body-too-slow`) after its first window, well
    /// before the request timeout.
    @Test(.timeLimit(.minutes(3)))
    func slowUploadsDoNotLockOutTheOthersAndAreDroppedByTheRateCheck() async throws {
        let largest = 256 << 10
        let gateway = try await Harness.InProcessGateway.start { tls in
            RecordGatewayConfiguration(
                tls: tls,
                readers: [TestPKI.readerURI],
                maximumBodyByteCount: largest,
                maximumBufferedBodyByteCount: 4 * largest,
                minimumBodyBytesPerSecond: 1024,
                bodyRateWindow: .seconds(10),
                requestTimeout: .seconds(600)
            )
        }
        let port = gateway.port
        let events = gateway.events
        let started = ContinuousClock.now
        let announced = Attempts()
        let answers = try await withThrowingTaskGroup(of: RawClient.Answer.self) { group in
            for index in 0..<4 {
                group.addTask {
                    try await RawClient.session(port: port, context: try Harness.clientContext("device")) { slow in
                        try await slow.write(
                            "PUT /records/p/slow-\(index) HTTP/1.1\r\n\(Self.host)content-length: \(largest)\r\nexpect: 100-continue\r\n\r\n"
                        )
                        let continued = await slow.read { $0.contains("\r\n\r\n") }
                        #expect(continued.statuses == [100], "\(continued)")
                        announced.increment()
                        // A byte every half second until the gateway answers (bounded: 120 bytes, a minute).
                        let channel = slow.channel
                        let sender = Task {
                            for _ in 0..<120 where channel.isActive {
                                channel.writeAndFlush(ByteBuffer(string: "s"), promise: nil)
                                try? await Task.sleep(for: .milliseconds(500))
                            }
                        }
                        _ = await slow.read(timeout: 90) {
                            $0.components(separatedBy: "HTTP/1.1 ").count > 2 && $0.hasSuffix("}")
                        }
                        sender.cancel()
                        // And then the gateway closes the connection.
                        return await slow.read(timeout: 30)
                    }
                }
            }
            #expect(await eventually(timeout: 60) { announced.count == 4 }, "the slow uploads did not start")
            // Beside them, devices store the largest body, one after another.
            let device = RecordClient(host: "127.0.0.1", port: port, context: try Harness.clientContext("device"))
            for index in 0..<3 {
                let stored = try await device.put(
                    subject: "p", recordID: "normal-\(index)", body: [UInt8](repeating: UInt8(index), count: largest))
                #expect(
                    stored.status == 201,
                    "normal PUT \(index): \(stored.status) \(String(decoding: stored.body, as: UTF8.self))")
            }
            await device.close()
            // Stored while all four slow uploads still held their connections (their first window is 10 s).
            #expect(events.events("samd.gateway.body-too-slow").isEmpty, "the slow uploads had already been dropped")
            var answers: [RawClient.Answer] = []
            for try await answer in group { answers.append(answer) }
            return answers
        }
        let elapsed = ContinuousClock.now - started
        for answer in answers {
            #expect(answer.statuses == [100, 408], "\(answer)")
            #expect(answer.text.contains("body-too-slow"), "\(answer)")
            #expect(answer.closed, "\(answer)")
        }
        let slow = events.events("samd.gateway.body-too-slow")
        #expect(slow.count == 4)
        #expect(
            slow.allSatisfy {
                $0.metadata["minimum_bytes_per_second"] == "1024" && Int($0.metadata["bytes"] ?? "") ?? .max < 10_240
            })
        #expect(elapsed < .seconds(120), "dropped after \(elapsed), not by the rate check's first window")
        #expect(events.events("samd.gateway.bodies-over-budget").isEmpty)
        let reader = RecordClient(host: "127.0.0.1", port: port, context: try Harness.clientContext("reader"))
        #expect(try await reader.get(subject: "p", recordID: "slow-0").status == 404)
        #expect(try await reader.get(subject: "p", recordID: "normal-2").body.count == largest)
        await reader.close()
        // The slow connections are closed, not left open.
        #expect(await eventually { gateway.gateway.statistics.openConnections == 0 })
        await gateway.stop()
    }

    /// With the rate check off, announcing still holds nothing: the slow uploads end only at the request
    /// timeout, and the others are stored meanwhile.
    @Test func announcedBodiesHoldNoBudgetWithoutTheRateCheck() async throws {
        let largest = 64 << 10
        let gateway = try await Harness.InProcessGateway.start { tls in
            RecordGatewayConfiguration(
                tls: tls,
                maximumBodyByteCount: largest,
                maximumBufferedBodyByteCount: 2 * largest,
                minimumBodyBytesPerSecond: 0,
                requestTimeout: .seconds(30)
            )
        }
        let port = gateway.port
        let events = gateway.events
        try await RawClient.session(port: port, context: try Harness.clientContext("device")) { first in
            try await RawClient.session(port: port, context: try Harness.clientContext("device")) { second in
                for (index, slow) in [first, second].enumerated() {
                    try await slow.write(
                        "PUT /records/p/slow-\(index) HTTP/1.1\r\n\(Self.host)content-length: \(largest)\r\nexpect: 100-continue\r\n\r\nx"
                    )
                    let continued = await slow.read { $0.contains("\r\n\r\n") }
                    #expect(continued.statuses == [100], "\(continued)")
                }
                let device = RecordClient(host: "127.0.0.1", port: port, context: try Harness.clientContext("device"))
                let stored = try await device.put(
                    subject: "p", recordID: "normal", body: [UInt8](repeating: 1, count: largest))
                #expect(stored.status == 201, "\(stored.status) \(String(decoding: stored.body, as: UTF8.self))")
                await device.close()
            }
        }
        #expect(events.events("samd.gateway.bodies-over-budget").isEmpty)
        await gateway.stop()
    }

    @Test func aRefusedRequestThatExpects100IsRefusedBeforeItsBody() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        for (request, status) in [
            ("PUT /subjects/p HTTP/1.1\r\n\(Self.host)content-length: 50000000\r\nexpect: 100-continue\r\n\r\n", 405),
            ("PUT /records/p HTTP/1.1\r\n\(Self.host)content-length: 50000000\r\nexpect: 100-continue\r\n\r\n", 404),
            (
                "PUT /records/p/r HTTP/1.1\r\n\(Self.host)content-type: a b\r\ncontent-length: 50000000\r\nexpect: 100-continue\r\n\r\n",
                400
            ),
        ] {
            let answer = try await RawClient.exchange(port: gateway.port, [request], timeout: 15)
            #expect(answer.statuses == [status], "\(answer)")
            #expect(answer.closed, "\(answer)")
        }
        await gateway.stop()
    }

    // MARK: Targets and methods

    /// A client that asks to end its connection gets `Connection: close` and the end at once, not the idle
    /// timeout: HTTP/1.0 without keep-alive, and `Connection: close` in any case or in a list (RFC 9112 §9.3).
    /// HTTP/1.0 with keep-alive, and HTTP/1.1 without the header, stay open.
    @Test func aClientsCloseIsHonouredAtOnce() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let start = ContinuousClock.now
        for request in [
            "GET /healthz HTTP/1.0\r\n\r\n",
            "GET /healthz HTTP/1.1\r\n\(Self.host)Connection: Close\r\n\r\n",
            "GET /healthz HTTP/1.1\r\n\(Self.host)connection: keep-alive, CLOSE\r\n\r\n",
        ] {
            let answer = try await RawClient.exchange(port: gateway.port, [request], timeout: 10)
            #expect(answer.statuses == [200], "\(request): \(answer)")
            #expect(answer.text.lowercased().contains("connection: close"), "\(request): \(answer)")
            #expect(answer.closed, "\(request): \(answer)")
        }
        #expect(ContinuousClock.now - start < .seconds(20), "a connection waited for the idle timeout")
        for request in [
            "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET /healthz HTTP/1.1\r\n\(Self.host)\r\n",
        ] {
            let answer = try await RawClient.exchange(port: gateway.port, [request], timeout: 2)
            #expect(answer.statuses == [200], "\(request): \(answer)")
            #expect(!answer.closed, "\(request): \(answer)")
        }
        await gateway.stop()
    }

    /// A client may send its body without waiting for `100 Continue` (RFC 9110 §10.1.1; curl does after a
    /// second): the record is stored and the connection kept, with no stray `100`.
    @Test func aBodySentWithoutWaitingForTheContinueKeepsTheConnection() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let put = "PUT /records/p/r HTTP/1.1\r\n\(Self.host)expect: 100-continue\r\ncontent-length: 5\r\n\r\nhello"
        let health = "GET /healthz HTTP/1.1\r\n\(Self.host)\r\n"
        let answer = try await RawClient.exchange(
            port: gateway.port, [put + health], timeout: 15, until: RawClient.responses(2))
        #expect(answer.statuses == [201, 200], "\(answer)")
        #expect(!answer.text.lowercased().contains("connection: close"), "\(answer)")
        #expect(try await gateway.client("reader").get(subject: "p", recordID: "r").body == Array("hello".utf8))
        await gateway.stop()
    }

    @Test func pathTricksStayInsideTheirRoute() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let device = try gateway.client("device")
        let reader = try gateway.client("reader")
        #expect(try await device.put(subject: "p", recordID: "r", body: [1]).status == 201)
        let cases: [(String, Int)] = [
            ("/records/p/r", 200),
            ("/records/p/r?x=1", 200),
            ("/records/p/r#frag", 404), // a fragment is not part of a request target (RFC 9112 §3.2)
            ("/records/p/%72", 200), // "r", percent-encoded
            ("/records/p/../r", 404), // four segments
            ("/records/p/..", 400), // a dot segment is never an id (the store's rule)
            ("/records/p%2Fr/x", 404),
            ("/records/p/r%00", 400),
            ("/records/p/%C0%AF", 400), // overlong "/"
            ("/records/p/%ED%A0%80", 400), // a UTF-16 surrogate
            ("/records//r", 404), // an empty segment: no route has one (refused before routing)
            ("/records/p/r/", 404),
            ("//records/p/r", 404),
            ("http://127.0.0.1/records/p/r", 200), // absolute-form: servers accept it (RFC 9112 §3.2.2)
            ("*", 404),
        ]
        for (path, status) in cases {
            let response = try await reader.send(method: "GET", path: path)
            #expect(response.status == status, "\(path): \(response.status)")
        }
        await gateway.stop()
    }

    @Test func otherMethodsAreRefusedAndTheConnectionStaysSane() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let health = "GET /healthz HTTP/1.1\r\n\(Self.host)\r\n"
        let cases: [(String, [Int])] = [
            ("HEAD /healthz HTTP/1.1\r\n\(Self.host)\r\n", [405, 200]),
            ("OPTIONS * HTTP/1.1\r\n\(Self.host)\r\n", [404, 200]),
            ("TRACE /healthz HTTP/1.1\r\n\(Self.host)\r\n", [405, 200]),
        ]
        for (request, statuses) in cases {
            let answer = try await RawClient.exchange(
                port: gateway.port, [request + health], timeout: 15, until: RawClient.responses(2))
            #expect(answer.statuses == statuses, "\(request): \(answer)")
        }
        // NIO's parser reads nothing after a CONNECT or Upgrade head: answered, then closed (not left hanging).
        for request in [
            "CONNECT 127.0.0.1:443 HTTP/1.1\r\n\(Self.host)\r\n",
            "GET /healthz HTTP/1.1\r\n\(Self.host)connection: upgrade\r\nupgrade: websocket\r\n\r\n",
        ] {
            let answer = try await RawClient.exchange(port: gateway.port, [request + health], timeout: 15)
            #expect(answer.statuses.count == 1, "\(request): \(answer)")
            #expect(answer.closed, "\(request): \(answer)")
        }
        #expect(try await gateway.client("device").health().status == 200)
        await gateway.stop()
    }

    // MARK: Roles

    @Test func aSANThatOnlyResemblesAReadersGetsNoRole() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        #expect(try await gateway.client("device").put(subject: "p", recordID: "r", body: [1]).status == 201)
        let work = try Harness.TemporaryDirectory()
        let lookalikes: [String] = [
            "SPIFFE://samd.test/reader", "spiffe://SAMD.TEST/reader", "spiffe://samd.test/Reader",
            "spiffe://samd.test/reader/",
            "spiffe://samd.test/readers", "spiffe://samd.test/reade", "spiffe://samd.test/reader?",
            "spiffe://samd.test/reader#x",
        ]
        for (index, uri) in lookalikes.enumerated() {
            let leaf = try Harness.pki.pki.intermediate.issueLeaf(
                commonName: TestPKI.readerURI, sans: [.uri(uri), .dns("reader")], ekus: [.clientAuth])
            let (cert, key) = (work.file("c\(index).pem"), work.file("k\(index).pem"))
            try Harness.writePrivate(leaf.chainPEM, to: cert)
            try Harness.writePrivate(leaf.privateKeyPEM, to: key)
            let context = try TLSContext(
                configuration: .deviceClient(
                    identity: .files(certificateChain: cert, privateKey: key), trustRoots: .file(Harness.pki.root)),
                logger: Harness.quiet
            )
            let client = RecordClient(host: "127.0.0.1", port: gateway.port, context: context)
            let read = try await client.get(subject: "p", recordID: "r")
            #expect(read.status == 403, "\(uri.debugDescription): \(read.status)")
            await client.close()
        }
        await gateway.stop()
    }
}

/// A TLS server (the test PKI's gateway certificate, device certificates required) that answers every request
/// with what `answer` writes: the agent's hostile gateway.
final class HostileServer: Sendable {
    let port: Int
    private let requests = Attempts()
    private let task: Task<Void, Never>

    var requestCount: Int { self.requests.count }

    init(answer: @escaping @Sendable (NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws -> Void) async throws {
        let server = try await TLSServer.bind(host: "127.0.0.1", port: 0, context: try Harness.serverContext())
        let requests = self.requests
        self.port = server.localAddress.port!
        self.task = Task {
            try? await server.executeThenClose { connections in
                for await connection in connections {
                    try? await connection.executeThenClose { inbound, outbound in
                        var head = ""
                        for try await buffer in inbound {
                            head += String(decoding: buffer.readableBytesView, as: UTF8.self)
                            if head.contains("\r\n\r\n") { break }
                        }
                        requests.increment()
                        try await answer(outbound)
                    }
                }
            }
        }
    }

    func stop() {
        self.task.cancel()
    }
}

@Suite("samd-agent against a hostile gateway")
struct AdversarialAgentTests {
    /// Runs the agent with small files against `server`, no retries, an answer timeout of `requestTimeout` s.
    static func runAgent(_ server: HostileServer, files: Int = 1, requestTimeout: Double = 20) async throws
        -> ChildProcess.Run
    {
        let work = try Harness.TemporaryDirectory()
        var paths: [String] = []
        for index in 0..<files {
            paths.append(work.file("record-\(index).json"))
            try Data(#"{"resourceType":"Observation"}"#.utf8).write(to: URL(fileURLWithPath: paths.last!))
        }
        let arguments =
            AgentCLITests.arguments("device", port: server.port) + [
                "--retries", "0", "--request-timeout", "\(requestTimeout)",
            ] + paths
        return try await ChildProcess.run(
            try ProgramLocations.binary("samd-agent"), arguments, timeout: .seconds(Int(requestTimeout) + 40))
    }

    static func write(_ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, _ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }

    @Test func aHugeDeclaredBodyIs76WithoutReadingIt() async throws {
        let server = try await HostileServer { outbound in
            try await Self.write(outbound, "HTTP/1.1 200 OK\r\ncontent-length: 100000000000\r\n\r\n")
            let chunk = String(repeating: "x", count: 64 << 10)
            while true { try await Self.write(outbound, chunk) }
        }
        // 64 MiB must arrive before the agent gives up on the size rather than the clock: allow a loaded
        // machine (a full test run beside a build) minutes, not the default 20 s.
        let run = try await Self.runAgent(server, requestTimeout: 180)
        #expect(run.status == 76, "\(run)")
        #expect(run.standardError.contains("responseTooLarge"), "\(run)")
        server.stop()
    }

    @Test func aNeverEndingChunkedBodyIs76() async throws {
        let server = try await HostileServer { outbound in
            try await Self.write(outbound, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            let chunk = "10000\r\n" + String(repeating: "x", count: 0x10000) + "\r\n"
            while true { try await Self.write(outbound, chunk) }
        }
        // 64 MiB must arrive before the agent gives up on the size rather than the clock: allow a loaded
        // machine (a full test run beside a build) minutes, not the default 20 s.
        let run = try await Self.runAgent(server, requestTimeout: 180)
        #expect(run.status == 76, "\(run)")
        #expect(run.standardError.contains("responseTooLarge"), "\(run)")
        server.stop()
    }

    @Test func aBogusStatusLineIs76() async throws {
        for answer in [
            "HTTX/1.1 200 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n", "\r\n\r\n\r\n",
            "HTTP/9.9 200 OK\r\n\r\n",
        ] {
            let server = try await HostileServer { outbound in try await Self.write(outbound, answer) }
            let run = try await Self.runAgent(server)
            #expect(run.status == 76, "\(answer.debugDescription): \(run)")
            server.stop()
        }
    }

    @Test func endlessInformationalAnswersTimeOut() async throws {
        let server = try await HostileServer { outbound in
            while true {
                try await Self.write(outbound, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n")
            }
        }
        let run = try await Self.runAgent(server, requestTimeout: 3)
        #expect(run.status == 76, "\(run)")
        #expect(run.standardError.contains("timedOut"), "\(run)")
        #expect(run.standardError.contains("no complete answer within 3 s"), "\(run)")
        // A fraction of a second is said as it is (it read "within 0 s").
        let quick = try await Self.runAgent(server, requestTimeout: 0.5)
        #expect(quick.standardError.contains("no complete answer within 0.5 s"), "\(quick)")
        server.stop()
    }

    /// What the gateway sends is untrusted text: an error code with a newline, a carriage return, an escape
    /// sequence or a bidirectional override is printed escaped, on its file's one line.
    @Test func controlCharactersInTheGatewaysAnswerArePrintedEscaped() async throws {
        let body = #"{"error":"x\n\rforged.json: 2 bytes, 201 Created, revision 1\u001b[2J\u202e"}"#
        let server = try await HostileServer { outbound in
            try await Self.write(
                outbound,
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
            )
        }
        let run = try await Self.runAgent(server)
        #expect(run.status == 65, "\(run)")
        let lines = run.output.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(
            lines.count == 3 && lines[2].isEmpty, "one line per file and the summary: \(run.output.debugDescription)")
        #expect(
            lines.first?.hasPrefix("record-0.json: ") == true && lines.first?.contains("(x\\n\\rforged.json") == true,
            "\(run.output.debugDescription)")
        for scalar: Unicode.Scalar in ["\r", "\u{1B}", "\u{202E}"] {
            #expect(
                !run.output.unicodeScalars.contains(scalar) && !run.standardError.unicodeScalars.contains(scalar),
                "\(scalar.escaped(asASCII: true)) printed raw")
        }
        server.stop()
    }

    @Test func aRedirectIsNotFollowed() async throws {
        let server = try await HostileServer { outbound in
            try await Self.write(
                outbound,
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: https://127.0.0.1:1/records/x/y\r\ncontent-length: 0\r\n\r\n"
            )
        }
        let run = try await Self.runAgent(server)
        #expect(run.status == 76, "\(run)")
        #expect(run.output.contains("307"), "\(run)")
        #expect(server.requestCount == 1)
        server.stop()
    }

    @Test func aSwitchOfProtocolsIsAProtocolFailure() async throws {
        let server = try await HostileServer { outbound in
            try await Self.write(
                outbound,
                "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n"
            )
        }
        let run = try await Self.runAgent(server, files: 2)
        #expect(run.status == 76, "\(run)")
        // No file reported stored (the bare "201" also matched an ephemeral port such as 44201).
        #expect(!run.output.contains("bytes, 201"), "\(run)")
        #expect(run.output.contains("uploaded 0 of 2 files"), "\(run)")
        server.stop()
    }
}
