import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One kept-alive mutual-TLS connection looping PUT then GET of its own record until the window ends.
struct Connection: Sendable {
    typealias Channel = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    /// Latencies, milliseconds, of the requests inside the window.
    struct Samples: Sendable {
        var put: [Double] = []
        var get: [Double] = []
    }

    let channel: Channel
    let subject: String
    let recordID: String
    let recordBytes: Int
    let timeout: Duration

    /// Connects to 127.0.0.1:`port` with TLS (SNI and verification against `serverName`) and HTTP/1.1 client
    /// handlers. The TCP connect is bounded by `timeout`; the handshake by the first request's deadline.
    static func connect(
        port: Int, context: NIOSSLContext, serverName: String, group: any EventLoopGroup, timeout: TimeAmount
    ) async throws -> Channel {
        try await ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(context: context, serverHostname: serverName))
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try Channel(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// Loops through `slices` (waiting between them, the connection kept alive); returns the latencies of the
    /// requests that started and ended inside a measured slice.
    /// - Throws: ``LoadFailure`` on an unexpected answer, a closed connection or a request past its deadline
    ///   (the watchdog closes the connection, which ends the wait).
    func run(slices: [Schedule.Slice]) async throws -> Samples {
        let inFlightSince = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
        let raw = self.channel.channel
        let timeout = self.timeout
        return try await withThrowingTaskGroup(of: Samples?.self) { tasks in
            // The watchdog: a request (the first one's handshake included) older than the timeout closes the
            // connection, so the loop's read fails instead of waiting for ever.
            tasks.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(100))
                    if let since = inFlightSince.withLockedValue({ $0 }), since.duration(to: .now) > timeout {
                        raw.close(promise: nil)
                        return nil
                    }
                }
                return nil
            }
            tasks.addTask {
                try await self.channel.executeThenClose { inbound, outbound in
                    try await self.loop(
                        slices: slices, inbound: inbound.makeAsyncIterator(), outbound: outbound,
                        inFlightSince: inFlightSince)
                }
            }
            defer { tasks.cancelAll() }
            do {
                while let result = try await tasks.next() {
                    if let samples = result { return samples }
                    // The watchdog returned: it closed the connection.
                    throw LoadFailure(
                        "\(self.subject): a request took more than \(self.timeout) (connection closed)")
                }
            } catch let failure as LoadFailure {
                throw failure
            } catch {
                // The server refused the handshake (a certificate it does not accept) or closed the connection.
                throw LoadFailure("\(self.subject): the connection failed or was closed by the server: \(error)")
            }
            throw LoadFailure("\(self.subject): the connection ended")
        }
    }

    private func loop(
        slices: [Schedule.Slice], inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>,
        inFlightSince: NIOLockedValueBox<ContinuousClock.Instant?>
    ) async throws -> Samples {
        var inbound = inbound
        var samples = Samples()
        let path = "/records/\(self.subject)/\(self.recordID)"
        var payload = (0..<self.recordBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var iteration: UInt64 = 0
        for window in slices {
            try await Task.sleep(until: window.from, clock: .continuous)
            while ContinuousClock.now < window.to {
                // Each iteration stores different bytes (its number first), so the GET proves it read this PUT.
                iteration += 1
                withUnsafeBytes(of: iteration.bigEndian) { payload.replaceSubrange(0..<8, with: $0) }
                var head = HTTPRequestHead(version: .http1_1, method: .PUT, uri: path)
                head.headers.add(name: "Host", value: "localhost")
                head.headers.add(name: "Content-Type", value: "application/octet-stream")
                head.headers.add(name: "Content-Length", value: "\(payload.count)")
                let putStart = ContinuousClock.now
                inFlightSince.withLockedValue { $0 = putStart }
                try await outbound.write(
                    contentsOf: [.head(head), .body(.byteBuffer(ByteBuffer(bytes: payload))), .end(nil)])
                let put = try await Self.response(&inbound)
                let putEnd = ContinuousClock.now
                guard put.status == .ok || put.status == .created,
                    String(decoding: put.body.readableBytesView, as: UTF8.self).contains("\"revision\":")
                else {
                    throw LoadFailure("\(self.subject): PUT answered \(put.status.code), not 200/201 with a revision")
                }
                if window.measured, putStart >= window.from, putEnd <= window.to {
                    samples.put.append(milliseconds(putStart, putEnd))
                }

                var getHead = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
                getHead.headers.add(name: "Host", value: "localhost")
                let getStart = ContinuousClock.now
                inFlightSince.withLockedValue { $0 = getStart }
                try await outbound.write(contentsOf: [.head(getHead), .end(nil)])
                let get = try await Self.response(&inbound)
                let getEnd = ContinuousClock.now
                inFlightSince.withLockedValue { $0 = nil }
                guard get.status == .ok else {
                    throw LoadFailure("\(self.subject): GET answered \(get.status.code), not 200")
                }
                guard get.body.readableBytesView.elementsEqual(payload) else {
                    throw LoadFailure("\(self.subject): GET answered other bytes than the PUT stored")
                }
                if window.measured, getStart >= window.from, getEnd <= window.to {
                    samples.get.append(milliseconds(getStart, getEnd))
                }
            }
        }
        return samples
    }

    /// Reads one response whole; a `Connection: close` answer is a failure (the load is over kept-alive
    /// connections).
    private static func response(
        _ inbound: inout NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    ) async throws -> (status: HTTPResponseStatus, body: ByteBuffer) {
        var status: HTTPResponseStatus?
        var body = ByteBuffer()
        while let part = try await inbound.next() {
            switch part {
            case .head(let head):
                guard head.isKeepAlive else {
                    throw LoadFailure("the server closes the connection after answering \(head.status.code)")
                }
                status = head.status
            case .body(var chunk):
                body.writeBuffer(&chunk)
            case .end:
                guard let status else { throw LoadFailure("a response ended before its head") }
                return (status, body)
            }
        }
        throw LoadFailure("the server closed the connection mid-response")
    }
}

private func milliseconds(_ from: ContinuousClock.Instant, _ to: ContinuousClock.Instant) -> Double {
    let duration = from.duration(to: to)
    return Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}
