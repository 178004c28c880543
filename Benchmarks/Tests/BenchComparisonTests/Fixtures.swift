import BenchComparison
import Foundation

/// The checked-in package-benchmark exports and what the Python bench-compare made of them.
enum Fixtures {
    static let root = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    /// The JMH exports of the three full runs quoted in Docs/Performance.md (`run-1` … `run-3`, raw samples
    /// dropped; made before the store benchmarks existed).
    static let savedRuns = root.appendingPathComponent("performance-md-runs")
    /// The JMH export of a `Scripts/bench-compare --quick` run on 2026-12-07, with the store benchmarks
    /// (raw samples dropped).
    static let quickRun = root.appendingPathComponent("quick-run")
    /// The JMH exports of the three runs of the PostgreSQL store section quoted in Docs/Performance.md
    /// (`SAMD_BENCH_STORE_BREAKDOWN=1 Scripts/bench-compare --only-postgres --runs 3`, 2026-12-07; raw samples
    /// dropped): the `Store` target alone, with the breakdown's references.
    static let postgresRuns = root.appendingPathComponent("postgres-runs")
    /// The Python script's `--json`, `--markdown` and `--chart` outputs for ``savedRuns`` and ``quickRun``.
    static let expected = root.appendingPathComponent("expected")

    static func scratch() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bench-compare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Runs bench-compare on a saved run, writing JSON, Markdown and the chart into `directory`.
    /// - Returns: the exit status, the decoded JSON rows, the Markdown and the printed lines.
    static func render(_ results: URL, in directory: URL) throws -> (
        status: Int32, rows: [[String: Any]], markdown: String, printed: [String]
    ) {
        var compare = BenchCompare(packageRoot: root)
        compare.fromResults = results
        compare.json = directory.appendingPathComponent("rows.json")
        compare.markdown = directory.appendingPathComponent("rows.md")
        compare.chart = directory.appendingPathComponent("chart.svg")
        var printed: [String] = []
        let status = try compare.run { printed.append($0) }
        let rows = try JSONSerialization.jsonObject(
            with: Data(contentsOf: directory.appendingPathComponent("rows.json")))
        return (
            status, rows as? [[String: Any]] ?? [],
            try String(contentsOf: directory.appendingPathComponent("rows.md"), encoding: .utf8), printed
        )
    }
}
