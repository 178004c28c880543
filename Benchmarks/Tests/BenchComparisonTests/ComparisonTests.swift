import BenchComparison
import BenchmarkCatalog
import Foundation
import Testing

/// The JMH export decoded with `Codable`, the rows computed from BenchmarkCatalog's pairs, the medians.
@Suite("bench-compare rows")
struct ComparisonTests {
    static func savedRun(_ index: Int) throws -> BenchmarkResults {
        try BenchmarkResults(directory: Fixtures.savedRuns.appendingPathComponent("run-\(index)"))
    }

    @Test func theJMHExportDecodesToMediansByBenchmarkName() throws {
        let results = try Self.savedRun(1)
        #expect(results.byName.count == 50)
        // package-benchmark writes "package.benchmark.AEAD.AES-256-GCM_stream_64_MiB_×1_seal_—_raw_EVP".
        let stream = try #require(results.byName["AES-256-GCM stream 64 MiB ×1 seal — raw EVP"])
        #expect(stream.wallClockMicroseconds == 19283.967)
        #expect(stream.metrics["Malloc (total)"] == 1)
        let idle = try #require(results.byName["TLS idle memory ×250 — SaMDKit"])
        #expect(idle.metrics[BenchmarkPlan.heapPerIdleConnectionMetric] == 87039)
        #expect(idle.integerMetrics.contains(BenchmarkPlan.heapPerIdleConnectionMetric))
        #expect(!stream.integerMetrics.contains(BenchmarkResults.wallClockMetric))
    }

    @Test func aFileThatIsNotAnExportOrNoExportIsAnError() throws {
        let directory = try Fixtures.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let empty = #expect(throws: BenchCompareError.self) { try BenchmarkResults(directory: directory) }
        #expect(empty?.description.hasPrefix("no benchmark results (*.jmh.json) in") == true)
        try Data("{\"benchmark\": 1}".utf8).write(to: directory.appendingPathComponent("Current_run.jmh.json"))
        let wrong = #expect(throws: BenchCompareError.self) { try BenchmarkResults(directory: directory) }
        #expect(wrong?.description.contains("is not package-benchmark's JMH export") == true)
    }

    /// The catalog names every benchmark as the benchmark targets registered them when these runs were made:
    /// every pair of the full plan but the store's, the keys' and the PostgreSQL store's (which came later) is in the
    /// export.
    @Test func theCatalogsNamesAreTheExportsNames() throws {
        let results = try Self.savedRun(1)
        let plan = BenchmarkPlan(quick: false)
        #expect(results.plan == plan)
        let store = Set(
            plan.comparisons.filter { [.store, .keys, .postgres].contains($0.section) }.flatMap {
                [$0.ours.benchmark, $0.reference.benchmark]
            }
            .compactMap { $0 })
        for name in plan.comparedBenchmarks where !store.contains(name) {
            #expect(results.byName[name.description] != nil, "\(name) is not in the export")
        }
        #expect(plan.comparedBenchmarks.count - store.count == results.byName.count)
        // The quick plan's names differ where its shapes do, and a saved run is read with the one it holds.
        let quick = BenchmarkPlan(quick: true)
        #expect(quick.tlsHandshakes(.samdkit).description == "TLS full handshake ×20 — SaMDKit")
        #expect(quick.rotation(.rawFloor).description == "Rotate store 10000 records 25 patients ×1 — raw floor")
        let renamed = BenchmarkResults(
            byName: Dictionary(
                uniqueKeysWithValues: quick.comparedBenchmarks.map { ($0.description, results.byName.first!.value) }))
        #expect(renamed.plan == quick)
    }

    /// Each figure from the wall-clock median: a rate is items × units over the iteration's time, a time each
    /// is the iteration's time over its items; rounded to three decimals, the ratio ours / reference.
    @Test func figuresAndRatiosComeFromTheMedians() throws {
        let results = try Self.savedRun(1)
        let plan = BenchmarkPlan(quick: false)
        let rows = RunComparison(results, plan: plan, saved: true)
        #expect(rows.missing.isEmpty)
        #expect(rows.leftOut == [.store, .keys, .postgres])
        #expect(
            rows.rows.map(\.name)
                == plan.comparisons.filter { ![.store, .keys, .postgres].contains($0.section) }.map(\.name))
        func time(_ name: BenchmarkName) throws -> Double {
            try #require(results.byName[name.description]?.wallClockMicroseconds)
        }
        func row(_ prefix: String) throws -> ComparedRow {
            try #require(rows.rows.first { $0.name.hasPrefix(prefix) }, "\(prefix)")
        }
        // 64 messages of 1 KiB per iteration, in MiB/s.
        let seal = try row("envelope seal 1 KiB (AES-256-GCM)")
        let envelope = try time(plan.aead(.aes256GCM, .seal, size: 1024, .envelope))
        let raw = try time(plan.aead(.aes256GCM, .seal, size: 1024, .rawEVP))
        #expect(seal.ours == round(64 * (1024 / 1_048_576) / (envelope / 1e6) * 1000) / 1000)
        #expect(seal.reference == round(64 * (1024 / 1_048_576) / (raw / 1e6) * 1000) / 1000)
        #expect(seal.ratio == round((64.0 / 1024 / (envelope / 1e6)) / (64.0 / 1024 / (raw / 1e6)) * 1000) / 1000)
        #expect(seal.unit == "MiB/s" && seal.goal == nil)
        // Microseconds per record, goal at most 3.
        let one = try row("envelope seal of one 1 KiB record")
        #expect(one.ours == round(envelope / 64 * 1000) / 1000)
        #expect(one.reference == round(try time(plan.aeadOneShot) / 64 * 1000) / 1000)
        #expect(one.goal == "<=3")
        // Seconds per rotation; a fixed target; a custom metric kept an integer.
        let rotation = try row("rotation of 100,000 records (250 patients)")
        #expect(rotation.ours == round(try time(plan.rotation(.keyRotationJob)) / 1e6 * 1000) / 1000)
        #expect(try row("rewrap rate on one core").reference == 200_000)
        let idle = try row("heap per idle mTLS connection, both ends (250 open)")
        #expect(idle.ours == 87039 && idle.integerFigures && idle.goal == "<=1")
        #expect(try idle.meetsGoal())
        #expect(try !row("TLS 1.3 mTLS full handshakes vs swift-nio-ssl").meetsGoal())
    }

    /// A quick run is read with the quick plan's names and shapes, and has the store rows; it predates the key and
    /// the PostgreSQL store benchmarks, whose rows are left out.
    @Test func aQuickRunWithTheStoreBenchmarks() throws {
        let results = try BenchmarkResults(directory: Fixtures.quickRun)
        #expect(results.plan == BenchmarkPlan(quick: true))
        #expect(results.byName.count == 54)
        let run = RunComparison(results, plan: results.plan, saved: true)
        #expect(run.missing.isEmpty && run.leftOut == [.keys, .postgres])
        #expect(
            run.rows.map(\.name)
                == BenchmarkPlan(quick: true).comparisons.filter { $0.section != .keys && $0.section != .postgres }
                .map(\.name))
        let rekey = try #require(run.rows.first { $0.name.hasPrefix("re-key of 2,000 records (20 patients") })
        let floor = try #require(results.byName["Rekey store 2000 records 20 patients ×2000 — raw floor"])
        #expect(rekey.reference == round(2000 / (try #require(floor.wallClockMicroseconds) / 1e6) * 1000) / 1000)
        #expect(rekey.goal == ">=0.5")
        #expect(run.rows.contains { $0.name == "TLS bulk transfer over loopback (16 MiB) vs swift-nio-ssl" })
        // Read with the full plan, the quick run lacks every benchmark whose shape differs.
        let full = RunComparison(results, plan: BenchmarkPlan(quick: false), saved: false)
        #expect(full.missing.contains("TLS full handshake ×50 — SaMDKit"))
        #expect(!full.missing.contains { $0.hasPrefix("AES-256-GCM") })
    }

    /// The median of each figure over the runs (the mean of the middle two for an even count); a figure
    /// missing from any run is missing; the runs must have the same rows.
    @Test func mediansOverRuns() throws {
        func row(_ ours: Double?, _ ratio: Double?, integer: Bool = false) -> ComparedRow {
            ComparedRow(
                name: "r", ours: ours, reference: 2, unit: "bytes", ratio: ratio, goal: ">=1", integerFigures: integer)
        }
        let odd = try RunComparison.medians([[row(5, 1.5)], [row(1, 0.5)], [row(3, 3)]])
        #expect(odd == [row(3, 1.5)])
        let even = try RunComparison.medians([[row(1, 0.5, integer: true)], [row(4, 2, integer: true)]])
        #expect(even.first?.ours == 2.5 && even.first?.ratio == 1.25 && even.first?.integerFigures == false)
        let integers = try RunComparison.medians([
            [row(1, 0.5, integer: true)], [row(4, 2, integer: true)], [row(2, 1, integer: true)],
        ])
        #expect(integers.first?.integerFigures == true)
        #expect(try RunComparison.medians([[row(nil, nil)], [row(1, 1)]]).first?.ours == nil)
        #expect(throws: BenchCompareError.self) {
            try RunComparison.medians([
                [row(1, 1)], [ComparedRow(name: "other", ours: 1, reference: 1, unit: "", ratio: 1, goal: nil)],
            ])
        }
        // Goals: a missing ratio meets none; a goal that is not >=X or <=X is an error.
        #expect(try !row(nil, nil).meetsGoal())
        #expect(throws: BenchCompareError.self) {
            try ComparedRow(name: "r", ours: 1, reference: 1, unit: "", ratio: 1, goal: "=1").meetsGoal()
        }
    }
}
