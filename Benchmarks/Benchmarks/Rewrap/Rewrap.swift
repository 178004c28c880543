// Rewrap of one record header (a new KEK version, the payload untouched) with EnvelopeRewrapper (each KEK
// keyed once per batch) and with Envelope.rewrapHeader (keyed per header), against the same two AES-256-GCM
// operations on raw OpenSSL EVP with keyed contexts; and the rotation of a whole record store (KeyRotationJob) against the
// floor its durability needs: per subject key, one read, one raw unwrap and wrap, and one atomic write
// (temporary file, fsync, rename, directory fsync). The re-key of a whole store (SubjectRekeyJob) against its
// floor (per record: read the row, rewrap its header on raw EVP, update the row, on SQLite's C API), and a
// record store's put with SQLite's synchronous = FULL (durable before it returns) beside NORMAL.

import Benchmark
import BenchmarkCatalog
import BenchmarkSupport
import CReference
import SaMDCrypto
import SaMDEnvelope
import SaMDStore

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = BenchmarkSettings.cryptoConfiguration
    let plan = BenchmarkSettings.plan
    let headers = plan.rewrapHeaders

    Benchmark(plan.rewrap(.envelope).description) { benchmark in
        // A batch, as a rotation over files or rows runs it: each KEK keyed once.
        let fixture = try RewrapFixture()
        let rewrapper = try EnvelopeRewrapper(keys: fixture.keys, to: fixture.newKey)
        var last: EnvelopeHeader?
        benchmark.startMeasurement()
        for _ in 0..<headers {
            last = try rewrapper.rewrap(fixture.header)
        }
        benchmark.stopMeasurement()
        try fixture.check(last)
    }

    Benchmark(plan.rewrap(.envelope, oneByOne: true).description) { benchmark in
        // Envelope.rewrapHeader: both KEKs keyed again for every header.
        let fixture = try RewrapFixture()
        var last: EnvelopeHeader?
        benchmark.startMeasurement()
        for _ in 0..<headers {
            last = try Envelope.rewrapHeader(fixture.header, keys: fixture.keys, to: fixture.newKey)
        }
        benchmark.stopMeasurement()
        try fixture.check(last)
    }

    Benchmark(plan.rewrap(.rawEVP).description) { benchmark in
        let raw = RawRewrap()
        var wrapped = raw.wrappedDEK
        benchmark.startMeasurement()
        for _ in 0..<headers {
            wrapped = raw.rewrap(raw.wrappedDEK)
        }
        benchmark.stopMeasurement()
        try BenchmarkCheck.that(raw.unwrapsUnderNewKEK(wrapped), "the raw rewrap does not open under the new KEK")
    }

    let rotation = plan.rotation
    // Filling the full store (100 000 puts, 1 000 new subject keys) takes minutes before the first iteration.
    let rotationConfiguration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput],
        warmupIterations: 1,
        maxDuration: .seconds(BenchmarkSettings.quick ? 60 : 900),
        maxIterations: 5
    )

    Benchmark(
        plan.rotation(.keyRotationJob).description,
        configuration: rotationConfiguration,
        closure: { benchmark in
            let store = try RotationFixture.shared()
            benchmark.startMeasurement()
            let report = try KeyRotationJob(store: store.records, batchSize: 256).run(newKEKVersion: true)
            benchmark.stopMeasurement()
            try BenchmarkCheck.that(
                report.finished && report.subjectKeyCount == rotation.patients,
                "rotation unfinished: \(report.failed.count) failed")
            try store.checkASample()
        },
        setup: { _ = try RotationFixture.shared() }
    )

    let rekey = plan.rekey
    Benchmark(
        plan.rekey(.subjectRekeyJob).description,
        configuration: rotationConfiguration,
        closure: { benchmark in
            let store = try RekeyFixture.shared()
            benchmark.startMeasurement()
            let report = try SubjectRekeyJob(store: store.records, batchSize: 64).run()
            benchmark.stopMeasurement()
            try BenchmarkCheck.that(
                report.finished && report.recordsRewrapped == rekey.records,
                "re-key: \(report.recordsRewrapped) records, \(report.failed.count) failed")
            try store.checkASample()
        },
        setup: { _ = try RekeyFixture.shared() }
    )

    Benchmark(
        plan.rekey(.rawFloor).description,
        configuration: rotationConfiguration,
        closure: { benchmark in
            let floor = try RawRekeyFloor.shared()
            try floor.reset()
            benchmark.startMeasurement()
            let rewrapped = try floor.run()
            benchmark.stopMeasurement()
            try BenchmarkCheck.that(rewrapped == rekey.records, "the floor rewrapped \(rewrapped) of \(rekey.records)")
        },
        setup: { _ = try RawRekeyFloor.shared() }
    )

    let puts = plan.storePuts
    for (durable, side) in [(true, BenchmarkSide.synchronousFull), (false, .synchronousNormal)] {
        Benchmark(
            plan.storePut(side).description,
            configuration: .init(
                metrics: [.wallClock, .throughput], warmupIterations: 1,
                maxDuration: .seconds(BenchmarkSettings.quick ? 10 : 60), maxIterations: 20),
            closure: { benchmark in
                let fixture = try PutFixture.shared(durable: durable)
                benchmark.startMeasurement()
                let revision = try fixture.put(puts)
                benchmark.stopMeasurement()
                try BenchmarkCheck.that(revision == 1, "a put replaced a record")
            },
            setup: { _ = try PutFixture.shared(durable: durable) }
        )
    }

    Benchmark(
        plan.rotation(.rawFloor).description,
        configuration: rotationConfiguration,
        closure: { benchmark in
            let floor = try RawRotationFloor.shared()
            benchmark.startMeasurement()
            let rewrapped = try floor.run()
            benchmark.stopMeasurement()
            try BenchmarkCheck.that(
                rewrapped == rotation.patients, "the floor rewrapped \(rewrapped) of \(rotation.patients)")
        },
        setup: { _ = try RawRotationFloor.shared() }
    )
}
