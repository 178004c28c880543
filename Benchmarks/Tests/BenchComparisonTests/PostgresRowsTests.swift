import BenchComparison
import BenchmarkCatalog
import Foundation
import Testing

/// The PostgreSQL store section's rows, computed from the saved runs Docs/Performance.md quotes; the section left
/// out when it was not run.
@Suite("bench-compare PostgreSQL store rows")
struct PostgresRowsTests {
    static let plan = BenchmarkPlan(quick: false)
    static var everyOtherSection: Set<Comparison.Section> {
        Set(Comparison.Section.allCases).subtracting([.postgres])
    }

    /// Each run has every benchmark the section's rows read, under the catalog's names; the rows are ours /
    /// reference, the throughput rows with the goal.
    @Test(arguments: 1...3)
    func eachSavedRunHasTheSectionsRows(_ index: Int) throws {
        let results = try BenchmarkResults(
            directory: Fixtures.postgresRuns.appendingPathComponent("run-\(index)"))
        let run = RunComparison(results, plan: Self.plan, saved: true, skipped: Self.everyOtherSection)
        #expect(run.missing.isEmpty, "\(run.missing)")
        #expect(run.rows.map(\.name) == Self.plan.comparisons.filter { $0.section == .postgres }.map(\.name))
        for row in run.rows {
            let ours = try #require(row.ours, "\(row.name)")
            let reference = try #require(row.reference, "\(row.name)")
            #expect(abs(try #require(row.ratio) - ours / reference) <= 0.001, "\(row.name)")
        }
        let goals = run.rows.filter { $0.goal != nil }
        #expect(goals.count == 2 && goals.allSatisfy { $0.goal == ">=0.7" && $0.unit.hasSuffix("s/s") })
        // A throughput figure is the iteration's records over its wall-clock median.
        let put = try #require(run.rows.first)
        let time = try #require(results.byName[Self.plan.records(.put, .inFlight, .postgresStore).description])
        #expect(put.ours == (256 / (try #require(time.wallClockMicroseconds) / 1e6) * 1000).rounded() / 1000)
        // The breakdown's references were run beside them, under the catalog's names.
        for operation in RecordOperation.allCases {
            for load in RecordLoad.allCases {
                for side in [BenchmarkSide.blockingRawPostgresNIO, .storeStatements] {
                    #expect(results.result(Self.plan.records(operation, load, side)) != nil)
                }
            }
        }
    }

    /// `--only-postgres --from-results` on the three runs: the table Docs/Performance.md shows, both goals missed.
    @Test func theThreeRunsGiveTheDocumentedMedians() throws {
        let directory = try Fixtures.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        var compare = BenchCompare(packageRoot: Fixtures.root)
        compare.fromResults = Fixtures.postgresRuns
        compare.onlyPostgres = true
        compare.json = directory.appendingPathComponent("rows.json")
        var printed: [String] = []
        #expect(try compare.run { printed.append($0) } == 1)
        let rows = try JSONDecoder().decode(
            [ComparedRow].self, from: Data(contentsOf: directory.appendingPathComponent("rows.json")))
        #expect(rows.count == 8)
        let byName = Dictionary(uniqueKeysWithValues: rows.map { ($0.name, $0) })
        let put = try #require(
            byName["PostgreSQL store put vs raw postgres-nio insert (1 KiB, 8 in flight: throughput)"])
        #expect(put.ours == 3399.695 && put.reference == 5289.438 && put.ratio == 0.663)
        let get = try #require(
            byName["PostgreSQL store get vs raw postgres-nio select (1 KiB, 8 in flight: throughput)"])
        #expect(get.ours == 3341.531 && get.reference == 4998.401 && get.ratio == 0.669)
        #expect(printed.contains("\n0 of 2 goals met (8 rows)."), "\(printed)")
    }

    /// `--no-postgres`: a fresh run without the `Store` target misses none of its benchmarks; `--only-postgres` and
    /// `--no-postgres` together are refused.
    @Test func aRunWithoutTheSectionLeavesItOut() throws {
        let results = try BenchmarkResults(directory: Fixtures.savedRuns.appendingPathComponent("run-1"))
        let run = RunComparison(results, plan: Self.plan, saved: false, skipped: [.postgres])
        #expect(run.leftOut == [.postgres])
        #expect(!run.missing.contains { $0.hasPrefix("Records ") })
        #expect(!run.rows.contains { $0.name.contains("PostgreSQL store") })
        var compare = BenchCompare(packageRoot: Fixtures.root)
        compare.onlyPostgres = true
        compare.noPostgres = true
        #expect(throws: BenchCompareError.self) { try compare.run { _ in } }
    }
}
