// The key store's data path: sealing a 1 KiB record for one subject with the KEK in a PKCS#11 token (SoftHSM2) and
// the subject-key cache against the KEK in a passphrase file; how many token operations 10 000 such records cost;
// key-store seals from two threads against one (the data path takes no store-wide lock once a subject key is known),
// and record-store puts the same way (their SQLite commits go through one writer).

import Benchmark
import BenchmarkCatalog
import BenchmarkSupport
import SaMDEnvelope

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = BenchmarkSettings.cryptoConfiguration
    let plan = BenchmarkSettings.plan
    let seals = plan.keySeals

    for (token, side) in [(false, BenchmarkSide.fileCustody), (true, .tokenCustody)] {
        Benchmark(plan.keySeal(side).description) { benchmark in
            let fixture = try KeySealFixture.shared(token: token)
            benchmark.startMeasurement()
            let last = try fixture.seal(seals)
            benchmark.stopMeasurement()
            try BenchmarkCheck.that(!last.isEmpty, "no envelope sealed")
        }
    }

    let tokenOperations = BenchmarkMetric.custom(
        BenchmarkPlan.tokenOperationsMetric, polarity: .prefersSmaller, useScalingFactor: false)
    Benchmark(
        plan.tokenOperations.description,
        configuration: .init(
            metrics: [.wallClock, .throughput, tokenOperations], warmupIterations: 0, maxIterations: 3)
    ) { benchmark in
        // A fresh store each time: its subject key is made (wrapped in the token) by the first seal, and counted.
        let fixture = try KeySealFixture.fresh(token: true)
        let before = fixture.tokenOperations
        benchmark.startMeasurement()
        _ = try fixture.seal(10_000)
        benchmark.stopMeasurement()
        benchmark.measurement(tokenOperations, fixture.tokenOperations - before)
    }

    for threads in [1, 2] {
        Benchmark(plan.concurrentKeySeals(threads: threads).description) { benchmark in
            let fixture = try KeySealFixture.shared(token: false)
            benchmark.startMeasurement()
            try fixture.seal(seals, threads: threads)
            benchmark.stopMeasurement()
        }
    }

    for threads in [1, 2] {
        Benchmark(
            plan.concurrentPuts(threads: threads).description,
            configuration: .init(
                metrics: [.wallClock, .throughput], warmupIterations: 1,
                maxDuration: .seconds(BenchmarkSettings.quick ? 10 : 30), maxIterations: 20),
            closure: { benchmark in
                let fixture = try ConcurrentPutFixture.shared()
                benchmark.startMeasurement()
                try fixture.put(seals, threads: threads)
                benchmark.stopMeasurement()
            },
            setup: { _ = try ConcurrentPutFixture.shared() }
        )
    }
}
