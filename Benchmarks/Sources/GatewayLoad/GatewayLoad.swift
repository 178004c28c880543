// The gateway load benchmark's client, the same for both servers (samd-gateway serve and GatewayReference):
// `--connections` kept-alive mutual-TLS connections per server (TLS 1.3, swift-nio-ssl, the device certificate),
// each looping PUT of a record of `--record-bytes` then GET of it, checking every answer (201 or 200 with
// {"revision":N}; the GET's bytes equal to what was put). Given several `--port`s, it loads them in turn, in
// slices of about `--slice` seconds (the order reversed every round), so that a disturbance of a shared machine
// falls on every server alike; each server gets `--warmup` seconds first, then `--duration` seconds measured in
// all. Prints a JSON list of GatewayLoadReport, one per port in the order given. Every wait is bounded:
// connecting, and each request (handshake included) within `--timeout`. Any failure exits 1 with the reason on
// standard error.

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

    @Option(help: "A server's port on 127.0.0.1 (repeatable: the servers are loaded in turn, slice by slice).")
    var port: [Int]

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

    @Option(help: "Seconds measured, per server.")
    var duration: Double = 15

    @Option(help: "Seconds of one slice of load on one server (the measured time is cut into equal slices).")
    var slice: Double = 1.5

    @Option(help: "Seconds a connection or a request (its handshake included) may take.")
    var timeout: Double = 10

    func validate() throws {
        guard !self.port.isEmpty, self.port.allSatisfy({ (1...65_535).contains($0) }) else {
            throw ValidationError("give at least one --port, each 1 to 65535")
        }
        guard (1...1024).contains(self.connections) else { throw ValidationError("--connections is 1 to 1024") }
        guard (8...(16 << 20)).contains(self.recordBytes) else {
            throw ValidationError("--record-bytes is 8 to 16 MiB")
        }
        for (name, value) in [
            ("--warmup", self.warmup), ("--duration", self.duration), ("--timeout", self.timeout),
            ("--slice", self.slice),
        ] {
            guard value.isFinite, value >= 0, value <= 3600 else { throw ValidationError("\(name) is 0 to 3600") }
        }
        guard self.duration > 0, self.timeout > 0, self.slice >= 0.1 else {
            throw ValidationError("--duration and --timeout above 0, --slice at least 0.1")
        }
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
        var channels: [[Connection.Channel]] = []
        for port in self.port {
            var connections: [Connection.Channel] = []
            for _ in 0..<self.connections {
                connections.append(
                    try await Connection.connect(
                        port: port, context: context, serverName: self.serverName, group: group, timeout: timeout))
            }
            channels.append(connections)
        }
        let schedule = Schedule(
            targets: self.port.count, start: .now, warmup: .seconds(self.warmup), duration: .seconds(self.duration),
            slice: .seconds(self.slice))
        let results = try await withThrowingTaskGroup(of: (Int, Connection.Samples).self) { tasks in
            for (target, connections) in channels.enumerated() {
                for (index, channel) in connections.enumerated() {
                    let connection = Connection(
                        channel: channel, subject: "LOAD-\(index)", recordID: "record-\(index)",
                        recordBytes: self.recordBytes, timeout: .seconds(self.timeout))
                    let slices = schedule.slices.filter { $0.target == target }
                    tasks.addTask { (target, try await connection.run(slices: slices)) }
                }
            }
            var all = Array(repeating: [Connection.Samples](), count: channels.count)
            for try await (target, samples) in tasks { all[target].append(samples) }
            return all
        }
        let measured = schedule.measuredSeconds
        func figures(_ latencies: [Double]) -> GatewayLoadReport.Method {
            let sorted = latencies.sorted()
            return .init(
                requests: sorted.count, perSecond: Double(sorted.count) / measured,
                p50Milliseconds: percentile(sorted, 0.50), p99Milliseconds: percentile(sorted, 0.99))
        }
        let reports = results.map { samples in
            let puts = samples.flatMap(\.put)
            let gets = samples.flatMap(\.get)
            return GatewayLoadReport(
                connections: self.connections, recordBytes: self.recordBytes, warmupSeconds: self.warmup,
                durationSeconds: measured, put: figures(puts), get: figures(gets), total: figures(puts + gets))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(reports), as: UTF8.self))
    }
}

/// When each server is loaded: a warm-up slice each, then the measured time cut into equal slices, one server
/// after the other, the order reversed every round; 50 ms between slices, so that the last requests of one
/// slice do not overlap the next.
struct Schedule: Sendable {
    struct Slice: Sendable {
        let target: Int
        let from: ContinuousClock.Instant
        let to: ContinuousClock.Instant
        /// Whether the requests of this slice count (not in the warm-up).
        let measured: Bool
    }

    let slices: [Slice]
    /// The measured time per server, seconds.
    let measuredSeconds: Double

    init(targets: Int, start: ContinuousClock.Instant, warmup: Duration, duration: Duration, slice: Duration) {
        let gap = Duration.milliseconds(50)
        let rounds = max(1, Int((duration / slice).rounded()))
        let length = duration / rounds
        var slices: [Slice] = []
        var next = start
        func add(_ target: Int, _ length: Duration, measured: Bool) {
            slices.append(Slice(target: target, from: next, to: next + length, measured: measured))
            next += length + gap
        }
        if warmup > .zero {
            for target in 0..<targets { add(target, warmup, measured: false) }
        }
        for round in 0..<rounds {
            let order = round % 2 == 0 ? Array((0..<targets).reversed()) : Array(0..<targets)
            for target in order { add(target, length, measured: true) }
        }
        self.slices = slices
        self.measuredSeconds = Double(rounds) * (length / .seconds(1))
    }
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
