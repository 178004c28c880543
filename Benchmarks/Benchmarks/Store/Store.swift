// The PostgreSQL record store (issue 18): put and get of a 1 KiB record through `PostgresRecordStore` (its key
// store in the same database, the KEK in a SoftHSM2 token, the subject keys cached as in steady state) against the
// same bytes upserted and selected with raw postgres-nio statements (prepared, as the store's) in a plain table,
// over the same kind of connection (a `PostgresConnectionPool` on SaMDTLS), durable commits on both sides; and the
// SQLite store (`EncryptedRecordStore`, durable commits) beside them. Each with 8 requests in flight (throughput)
// and one at a time (latency), on one PostgreSQL server for the run (RunServer). Each benchmark checks after its
// measured region that every record it put or got reads back as the bytes last put.
//
// SAMD_BENCH_STORE_BREAKDOWN=1 adds two references between the store and raw postgres-nio, to see where the store's
// time goes (BreakdownSides): the raw statements made from a thread pool blocking on the connection pool, as the store
// made its own before it awaited them from the caller's task; and the store's own statements made directly, without
// sealing, addressing or thread hops.

import Benchmark
import BenchmarkCatalog
import BenchmarkSupport
import Foundation

let benchmarks: @Sendable () -> Void = {
    let plan = BenchmarkSettings.plan
    let tasks = plan.recordSet.tasks
    // Quick: 10 iterations at most, for CI (most of a quick run is each benchmark process's set-up: a database, a
    // token, a key store, every record put once).
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput],
        warmupIterations: 1,
        maxDuration: .seconds(BenchmarkSettings.quick ? 1 : 5),
        maxIterations: BenchmarkSettings.quick ? 10 : 1_000
    )

    // SAMD_BENCH_STORE_BREAKDOWN=1: two more references, between the store and raw postgres-nio (BreakdownSides).
    let breakdown = getenv("SAMD_BENCH_STORE_BREAKDOWN").map { String(cString: $0) == "1" } ?? false
    let sides: [BenchmarkSide] =
        [.postgresStore, .rawPostgresNIO, .sqliteStore]
        + (breakdown ? [.blockingRawPostgresNIO, .storeStatements] : [])

    for side in sides {
        for load in RecordLoad.allCases {
            // In flight: every task's records, the tasks at once; one at a time: the first task's.
            let working = load == .inFlight ? 0..<tasks : 0..<1
            Benchmark(
                plan.records(.put, load, side).description,
                configuration: configuration,
                closure: { benchmark in
                    let fixture = try await StoreFixture.shared(side)
                    benchmark.startMeasurement()
                    try await fixture.put(tasks: working)
                    benchmark.stopMeasurement()
                    try await fixture.checkWritten(tasks: working)
                },
                setup: { _ = try await StoreFixture.shared(side) }
            )
            Benchmark(
                plan.records(.get, load, side).description,
                configuration: configuration,
                closure: { benchmark in
                    let fixture = try await StoreFixture.shared(side)
                    benchmark.startMeasurement()
                    let got = try await fixture.get(tasks: working)
                    benchmark.stopMeasurement()
                    try fixture.check(got: got, tasks: working)
                },
                setup: { _ = try await StoreFixture.shared(side) }
            )
        }
    }
}
