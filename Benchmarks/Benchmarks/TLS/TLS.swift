// TLS 1.3 mutual TLS over loopback: SaMDKit's TLSHandler (system OpenSSL) against swift-nio-ssl's
// NIOSSLHandler (its vendored BoringSSL), in the same run, with the same certificates (ECDSA P-256 leaf,
// intermediate, root, generated at start), the same event loop (one thread: client and server share a
// core, as on a device-side agent or a small gateway) and the same sizes.
//
// - full handshakes: connect, handshake both ways (the client certificate is verified before the server
//   answers), one byte from the server, close;
// - resumed handshakes (SaMDKit only: swift-nio-ssl has no client session cache): the same with the
//   client's TLS 1.3 ticket from the previous connection; the run fails unless every one resumed;
// - bulk: one connection, 64 MiB (quick: 16 MiB) from client to server, acknowledged;
// - idle memory: heap bytes held per established, idle connection (both ends, as both are in this process);
// - and OpenSSL's own full handshake, called directly over an in-memory BIO pair: the floor under SaMDKit.

import Benchmark
import BenchmarkCatalog
import BenchmarkSupport
import NIOCore
import NIOPosix
import SaMDDevPKI
import TLSReference

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput],
        warmupIterations: 2,
        maxDuration: .seconds(BenchmarkSettings.quick ? 2 : 5),
        maxIterations: 100_000
    )

    let plan = BenchmarkSettings.plan
    let handshakes = plan.handshakes
    let bulkBytes = plan.bulkBytes
    let idleConnections = plan.idleConnections

    for stack in TLSStackKind.allCases {
        Benchmark(
            plan.tlsHandshakes(stack.side).description,
            closure: { benchmark in
                let bench = try TLSBench.shared(stack)
                benchmark.startMeasurement()
                let resumed = try bench.handshakes(handshakes, resuming: false)
                benchmark.stopMeasurement()
                try BenchmarkCheck.that(resumed == 0, "\(resumed) of \(handshakes) full handshakes resumed")
            },
            setup: { _ = try TLSBench.shared(stack) }
        )

        Benchmark(
            plan.tlsBulk(stack.side).description,
            closure: { benchmark in
                let bench = try TLSBench.shared(stack)
                let connection = try bench.connect(resuming: false)
                benchmark.startMeasurement()
                try bench.send(bulkBytes, over: connection)
                benchmark.stopMeasurement()
                try bench.close(connection)
            },
            setup: { _ = try TLSBench.shared(stack) }
        )

        Benchmark(
            plan.tlsIdleMemory(stack.side).description,
            configuration: .init(
                metrics: [.wallClock, .throughput, TLSBench.bytesPerIdleConnection],
                warmupIterations: 1,
                maxDuration: .seconds(BenchmarkSettings.quick ? 5 : 20),
                maxIterations: BenchmarkSettings.quick ? 3 : 7
            ),
            closure: { benchmark in
                let bench = try TLSBench.shared(stack)
                let perConnection = try bench.idleMemory(connections: idleConnections)
                benchmark.measurement(TLSBench.bytesPerIdleConnection, perConnection)
            },
            setup: { _ = try TLSBench.shared(stack) }
        )
    }

    // What the system OpenSSL itself costs: both ends in this thread over an in-memory BIO pair.
    Benchmark(plan.tlsHandshakes(.rawOpenSSLInMemory).description) { benchmark in
        let pki = try DevelopmentPKI()
        let raw = try RawOpenSSLHandshake(
            serverChain: pki.server.chainPEM, serverKey: pki.server.privateKeyPEM,
            clientChain: pki.device.chainPEM, clientKey: pki.device.privateKeyPEM,
            root: pki.root.certificate.certificatePEM
        )
        benchmark.startMeasurement()
        for _ in 0..<handshakes {
            try raw.handshake()
        }
        benchmark.stopMeasurement()
    }

    Benchmark(
        plan.tlsHandshakes(TLSStackKind.samdkit.side, resumed: true).description,
        closure: { benchmark in
            let bench = try TLSBench.shared(.samdkit)
            // A first connection leaves a ticket for the next one.
            try bench.close(try bench.connect(resuming: true))
            benchmark.startMeasurement()
            let resumed = try bench.handshakes(handshakes, resuming: true)
            benchmark.stopMeasurement()
            try BenchmarkCheck.that(resumed == handshakes, "only \(resumed) of \(handshakes) handshakes resumed")
        },
        setup: { _ = try TLSBench.shared(.samdkit) }
    )
}
