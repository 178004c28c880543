// The gateway load benchmark's client, the same for both servers (samd-gateway serve and GatewayReference):
// `--connections` kept-alive mutual-TLS connections (TLS 1.3, swift-nio-ssl, the device certificate), each
// looping PUT of a record of `--record-bytes` then GET of it, checking every answer (201 or 200 with
// {"revision":N}; the GET's bytes equal to what was put). After `--warmup` seconds it measures for `--duration`
// seconds and prints a GatewayLoadReport as JSON on standard output. Every wait is bounded: connecting, and each
// request (handshake included) within `--timeout`. Any failure exits 1 with the reason on standard error.

import ArgumentParser
import BenchmarkCatalog
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

@main
struct GatewayLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "GatewayLoad",
        abstract: "PUT and GET of records over kept-alive mutual TLS against a records gateway; prints JSON."
    )

    @Option(help: "The server's port on 127.0.0.1.")
    var port: Int

    @Option(help: ArgumentHelp("The root the server's certificate chains to (PEM).", valueName: "file"))
    var ca: String

    @Option(help: ArgumentHelp("The client certificate chain (PEM).", valueName: "file"))
    var cert: String

    @Option(help: ArgumentHelp("The client's private key (PEM).", valueName: "file"))
    var key: String

    @Option(help: "The name the server's certificate must hold (SNI and verification).")
    var serverName = "localhost"

    @Option(help: "Kept-alive connections, each with its own subject and record.")
    var connections = 8

    @Option(help: "The record's size, bytes.")
    var recordBytes = 1024

    @Option(help: "Seconds of load before measuring.")
    var warmup: Double = 3

    @Option(help: "Seconds measured.")
    var duration: Double = 15

    @Option(help: "Seconds a connection or a request (its handshake included) may take.")
    var timeout: Double = 10

    func validate() throws {
        guard (1...65_535).contains(self.port) else { throw ValidationError("--port is 1 to 65535") }
        guard (1...1024).contains(self.connections) else { throw ValidationError("--connections is 1 to 1024") }
        guard (8...(16 << 20)).contains(self.recordBytes) else {
            throw ValidationError("--record-bytes is 8 to 16 MiB")
        }
        for (name, value) in [("--warmup", self.warmup), ("--duration", self.duration), ("--timeout", self.timeout)] {
            guard value.isFinite, value >= 0, value <= 3600 else { throw ValidationError("\(name) is 0 to 3600") }
        }
        guard self.duration > 0, self.timeout > 0 else { throw ValidationError("--duration and --timeout above 0") }
    }

    func run() async throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.trustRoots = .file(self.ca)
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(self.cert).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: self.key, format: .pem))
        let context = try NIOSSLContext(configuration: tls)
        let group = MultiThreadedEventLoopGroup.singleton
        let timeout = TimeAmount.nanoseconds(Int64(self.timeout * 1e9))

        // Connect every connection first (bounded), then start the clock: the warm-up covers first writes.
        var channels: [Connection.Channel] = []
        for _ in 0..<self.connections {
            channels.append(
                try await Connection.connect(
                    port: self.port, context: context, serverName: self.serverName,
                    group: group, timeout: timeout))
        }
        let start = ContinuousClock.now
        let window = Window(
            from: start + .seconds(self.warmup), to: start + .seconds(self.warmup) + .seconds(self.duration))
        let results = try await withThrowingTaskGroup(of: Connection.Samples.self) { tasks in
            for (index, channel) in channels.enumerated() {
                let connection = Connection(
                    channel: channel, subject: "LOAD-\(index)", recordID: "record-\(index)",
                    recordBytes: self.recordBytes, timeout: .seconds(self.timeout))
                tasks.addTask { try await connection.run(window: window) }
            }
            var all: [Connection.Samples] = []
            for try await samples in tasks { all.append(samples) }
            return all
        }
        let puts = results.flatMap(\.put)
        let gets = results.flatMap(\.get)
        func figures(_ latencies: [Double]) -> GatewayLoadReport.Method {
            let sorted = latencies.sorted()
            return .init(
                requests: sorted.count, perSecond: Double(sorted.count) / self.duration,
                p50Milliseconds: percentile(sorted, 0.50), p99Milliseconds: percentile(sorted, 0.99))
        }
        let report = GatewayLoadReport(
            connections: self.connections, recordBytes: self.recordBytes, warmupSeconds: self.warmup,
            durationSeconds: self.duration, put: figures(puts), get: figures(gets), total: figures(puts + gets))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(report), as: UTF8.self))
    }
}

/// The measured window: requests that start at or after `from` and end by `to` count.
struct Window: Sendable {
    let from: ContinuousClock.Instant
    let to: ContinuousClock.Instant
}

/// The nearest-rank percentile of `sorted` (0 when empty), rounded to microseconds.
func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = max(1, Int((fraction * Double(sorted.count)).rounded(.up)))
    return (sorted[min(rank, sorted.count) - 1] * 1000).rounded() / 1000
}

/// A failure of the load: a refused or broken connection, an unexpected answer, a deadline missed.
struct LoadFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
