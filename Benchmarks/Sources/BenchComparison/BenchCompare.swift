import BenchmarkCatalog
public import Foundation

/// bench-compare: runs SaMDKit's benchmarks side by side with their references (or reads a saved run) and
/// prints one table of ours / reference ratios against their goals.
///
/// Rows are ``BenchmarkPlan/comparisons``; figures are medians (p50) of each benchmark's iterations, and with
/// several runs each figure is the median over the runs and the ratio the median of the runs' ratios.
public struct BenchCompare: Sendable {
    /// Short runs and small fixtures (`SAMD_BENCH_QUICK=1`), no device section, a shorter gateway load.
    public var quick = false
    /// Where to write the rows as JSON, the table as Markdown, the seal-throughput SVG chart.
    public var json: URL?
    public var markdown: URL?
    public var chart: URL?
    /// Skip the static samd-agent's size and memory.
    public var noDevice = false
    /// Skip the gateway load section (samd-gateway against the same routes on HummingbirdTLS).
    public var noGateway = false
    /// Skip the PostgreSQL store section (the `Store` target, which starts a PostgreSQL server of its own).
    public var noPostgres = false
    /// Run (or read from a saved run) the PostgreSQL store section alone: the `Store` target only, no `openssl
    /// speed`, no device or gateway section.
    public var onlyPostgres = false
    /// Run the gateway load section alone: no package-benchmark, no `openssl speed`, no device section.
    public var onlyGateway = false
    /// Times to run the benchmarks; each row is the median over the runs. At least 1.
    public var runs = 1
    /// A saved run to read (`DIR/*.jmh.json`, or `DIR/run-*/` for several) instead of running anything.
    public var fromResults: URL?
    /// Where to keep this run's package-benchmark export (`run-1/`, …) and the gateway load client's reports
    /// (`gateway-load/run-1/`, …).
    public var saveResults: URL?
    /// The SaMDKit checkout: `Benchmarks/` and `Scripts/bench-device` are found under it.
    public var packageRoot: URL

    public init(packageRoot: URL) {
        self.packageRoot = packageRoot
    }

    /// Runs (or reads) the benchmarks, prints the table through `print` and writes the requested files.
    /// - Returns: the exit status: 0 when every goal is met, 1 when one is missed.
    /// - Throws: ``BenchCompareError`` (exit status 2) when an output is not writable, a benchmark failed to
    ///   run, or a row could not be computed.
    public func run(print: (String) -> Void) throws -> Int32 {
        let started = ContinuousClock.now
        // Before minutes of benchmarks: every output must be writable and every input readable.
        for (option, url) in [("--json", self.json), ("--markdown", self.markdown), ("--chart", self.chart)] {
            guard let url else { continue }
            guard FileManager.default.isWritableFile(atPath: url.deletingLastPathComponent().path) else {
                throw BenchCompareError("\(option) \(url.path): its directory does not exist or is not writable")
            }
        }
        var isDirectory: ObjCBool = false
        if let fromResults,
            !(FileManager.default.fileExists(atPath: fromResults.path, isDirectory: &isDirectory)
                && isDirectory.boolValue)
        {
            throw BenchCompareError("--from-results \(fromResults.path): not a directory")
        }
        guard self.runs >= 1 else { throw BenchCompareError("--runs must be at least 1") }
        guard !self.onlyGateway || (self.fromResults == nil && !self.noGateway) else {
            throw BenchCompareError("--only-gateway runs the gateway section: not with --from-results or --no-gateway")
        }
        guard !self.onlyPostgres || !(self.noPostgres || self.onlyGateway) else {
            throw BenchCompareError(
                "--only-postgres runs the PostgreSQL section: not with --no-postgres or --only-gateway")
        }
        // Removed on return, on a throw, and on SIGINT, SIGTERM or SIGHUP (ChildProcesses).
        let work = try ChildProcesses.makeDirectory(
            under: FileManager.default.temporaryDirectory, prefix: "samd-bench-")
        defer { ChildProcesses.removeDirectory(work) }

        var runs: [[ComparedRow]] = []
        for results in try self.resultDirectories(work: work) {
            let read = try BenchmarkResults(directory: results)
            let plan = self.fromResults == nil ? BenchmarkPlan(quick: self.quick) : read.plan
            let run = RunComparison(read, plan: plan, saved: self.fromResults != nil, skipped: self.skippedSections)
            if run.leftOut.contains(.store) && !self.skippedSections.contains(.store) {
                standardError(
                    "bench-compare: this saved run has no store benchmarks (Rekey store, Store put); their rows are "
                        + "left out")
            }
            if run.leftOut.contains(.keys) && !self.skippedSections.contains(.keys) {
                standardError(
                    "bench-compare: this saved run has no key benchmarks (Key store seal, Token operations, Store put "
                        + "on N threads); their rows are left out")
            }
            if run.leftOut.contains(.postgres) && !self.skippedSections.contains(.postgres) {
                standardError(
                    "bench-compare: this saved run has no PostgreSQL store benchmarks (Records put, Records get); "
                        + "their rows are left out")
            }
            guard run.missing.isEmpty else {
                throw BenchCompareError("missing benchmark results: " + run.missing.joined(separator: "; "))
            }
            runs.append(run.rows)
        }
        var rows = try RunComparison.medians(runs)
        let alone = self.onlyGateway || self.onlyPostgres
        let speeds = self.fromResults == nil && !alone ? OpenSSLSpeed.measure(quick: self.quick) : [:]
        if !(self.quick || self.noDevice || self.fromResults != nil || alone) {
            rows += try BenchmarkRunner.deviceRows(packageRoot: self.packageRoot, runs: self.runs)
        }
        if !(self.noGateway || self.fromResults != nil || self.onlyPostgres) {
            rows += try GatewayLoadSection.rows(
                packageRoot: self.packageRoot, runs: self.runs, quick: self.quick, saveResults: self.saveResults)
        }
        let saved = self.fromResults == nil ? "" : " (this one; the saved run may come from another)"
        print("Machine\(saved): \(BenchmarkRunner.machine())")
        print(
            "Medians (p50) of each benchmark's iterations"
                + (runs.count > 1 ? "; each row the median of \(runs.count) runs" : "")
                + (self.quick ? "; --quick run" : "") + ".\n")
        print(try Rendering.table(rows))
        if !speeds.isEmpty {
            print("")
            print(Rendering.speedTable(speeds, rows: rows))
        }
        if let json { try write(Rendering.json(rows), to: json) }
        if let markdown { try write(try Rendering.table(rows, markdown: true) + "\n", to: markdown) }
        if let chart { try write(SealChart.svg(rows: rows, speeds: speeds), to: chart) }
        let missed = try rows.filter { try !$0.meetsGoal() }.map(\.name)
        let goals = rows.filter { $0.goal != nil }.count
        let took = started.duration(to: .now) / .seconds(1)
        let tookText = self.fromResults == nil ? "; \(String(format: "%.0f", took)) s" : ""
        print("\n\(goals - missed.count) of \(goals) goals met (\(rows.count) rows)\(tookText).")
        guard missed.isEmpty else {
            print("Missed: " + missed.joined(separator: "; "))
            return 1
        }
        return 0
    }

    /// The sections whose rows are left out: `--no-postgres`'s, or every other with `--only-postgres`.
    var skippedSections: Set<Comparison.Section> {
        if self.onlyPostgres { return Set(Comparison.Section.allCases).subtracting([.postgres]) }
        return self.noPostgres ? [.postgres] : []
    }

    /// The directories of the runs to read: a saved run's `run-*` (or itself), or fresh runs under `work`.
    private func resultDirectories(work: URL) throws -> [URL] {
        if let fromResults {
            let runs = try FileManager.default.contentsOfDirectory(atPath: fromResults.path).sorted()
                .filter { name in
                    var isDirectory: ObjCBool = false
                    return name.hasPrefix("run-")
                        && FileManager.default.fileExists(
                            atPath: fromResults.appendingPathComponent(name).path, isDirectory: &isDirectory)
                        && isDirectory.boolValue
                }
            return runs.isEmpty ? [fromResults] : runs.map { fromResults.appendingPathComponent($0) }
        }
        guard !self.onlyGateway else { return [] }
        var directories: [URL] = []
        for run in 1...self.runs {
            let results = work.appendingPathComponent("results/run-\(run)")
            try FileManager.default.createDirectory(at: results, withIntermediateDirectories: true)
            try BenchmarkRunner.run(
                into: results, packageRoot: self.packageRoot, quick: self.quick,
                targets: self.onlyPostgres ? [BenchmarkRunner.postgresTarget] : [],
                skipTargets: self.noPostgres ? [BenchmarkRunner.postgresTarget] : [])
            directories.append(results)
        }
        if let saveResults {
            try copyTree(from: work.appendingPathComponent("results"), to: saveResults)
        }
        return directories
    }
}

private func write(_ text: String, to url: URL) throws {
    do {
        try text.write(to: url, atomically: false, encoding: .utf8)
    } catch {
        throw BenchCompareError("\(url.path): \(error)")
    }
}
