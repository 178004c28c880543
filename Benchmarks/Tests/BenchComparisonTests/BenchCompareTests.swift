import BenchComparison
import Foundation
import Testing

/// bench-compare on a saved run (nothing is benchmarked): the JSON the issue specifies, ratios that are ours /
/// reference, goals judged the same way in JSON, Markdown and exit status, and a missing benchmark reported as
/// an error rather than dropped. (Moved from the main package's BenchCompareScriptTests, which ran the Python
/// script.)
@Suite("bench-compare")
struct BenchCompareTests {
    @Test func aSavedRunBecomesTheIssuesJSONWithEveryGoalJudged() throws {
        let directory = try Fixtures.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        // One run: every ratio is ours / reference.
        let (status, rows, markdown, _) = try Fixtures.render(
            Fixtures.savedRuns.appendingPathComponent("run-1"), in: directory)
        #expect(rows.count >= 25)
        var missed = 0
        for row in rows {
            #expect(Set(row.keys) == ["name", "ours", "reference", "unit", "ratio", "goal"], "\(row)")
            let name = try #require(row["name"] as? String)
            let ours = try #require(row["ours"] as? Double, "\(name)")
            let reference = try #require(row["reference"] as? Double, "\(name)")
            let ratio = try #require(row["ratio"] as? Double, "\(name)")
            #expect(
                abs(ratio - ours / reference) <= 0.005 * Swift.max(1.0, ratio),
                "\(name): \(ratio) is not \(ours) / \(reference)")
            guard let goal = row["goal"] as? String else {
                #expect(row["goal"] is NSNull, "\(name)")
                continue
            }
            let bound = try #require(Double(goal.dropFirst(2)), "\(name): goal \(goal)")
            #expect(goal.hasPrefix(">=") || goal.hasPrefix("<="), "\(name)")
            if goal.hasPrefix(">=") ? ratio < bound : ratio > bound { missed += 1 }
        }
        // The issue's goals are all there.
        let names = rows.compactMap { $0["name"] as? String }
        for required in [
            "envelope seal 1 MiB (AES-256-GCM)", "envelope open 1 MiB (AES-256-GCM)", "envelope stream seal",
            "envelope stream open", "one 1 KiB record", "rewrap rate", "rotation of",
            "full handshakes vs swift-nio-ssl",
            "resumed handshakes vs our full", "bulk transfer", "idle mTLS connection",
        ] {
            #expect(names.contains { $0.contains(required) }, "no row for \(required)")
        }
        // Judged alike in the Markdown and the exit status.
        #expect(markdown.components(separatedBy: "| NO |").count - 1 == missed, "\(markdown)")
        #expect(status == (missed == 0 ? 0 : 1))
        // Envelope and raw seal lines for both suites (a saved run has no openssl speed figures to draw).
        let chart = try String(contentsOf: directory.appendingPathComponent("chart.svg"), encoding: .utf8)
        #expect(chart.hasPrefix("<svg") && chart.components(separatedBy: "<path ").count - 1 == 4)
    }

    /// Several runs: each row's ratio is the median of the runs' ratios (pairs measured close together), and
    /// ours and the reference the medians of theirs.
    @Test func severalRunsGiveTheMedianOfEachRowsRatios() throws {
        let directory = try Fixtures.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        var perRun: [[String: Double]] = []
        for index in 1...3 {
            let rows = try Fixtures.render(Fixtures.savedRuns.appendingPathComponent("run-\(index)"), in: directory)
                .rows
            perRun.append(
                Dictionary(
                    uniqueKeysWithValues: rows.compactMap { row in
                        (row["name"] as? String).flatMap { name in (row["ratio"] as? Double).map { (name, $0) } }
                    }))
        }
        let (_, merged, _, printed) = try Fixtures.render(Fixtures.savedRuns, in: directory)
        #expect(merged.count == perRun[0].count)
        #expect(printed.contains { $0.contains("each row the median of 3 runs") }, "\(printed)")
        for row in merged {
            let name = try #require(row["name"] as? String)
            let ratios = try perRun.map { try #require($0[name], "\(name)") }.sorted()
            #expect(
                row["ratio"] as? Double == ratios[1],
                "\(name): \(String(describing: row["ratio"])) is not the median of \(ratios)")
        }
    }

    @Test func aMissingBenchmarkIsAnErrorNotAMissingRow() throws {
        let directory = try Fixtures.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let results = directory.appendingPathComponent("results")
        try FileManager.default.createDirectory(at: results, withIntermediateDirectories: true)
        let firstRun = Fixtures.savedRuns.appendingPathComponent("run-1")
        for file in try FileManager.default.contentsOfDirectory(at: firstRun, includingPropertiesForKeys: nil)
        where file.lastPathComponent.hasSuffix(".jmh.json") {
            let elements = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [[String: Any]])
            let kept = elements.filter { !(($0["benchmark"] as? String) ?? "").contains("TLS_bulk") }
            #expect(kept.count < elements.count)
            try JSONSerialization.data(withJSONObject: kept).write(
                to: results.appendingPathComponent(file.lastPathComponent))
        }
        let error = #expect(throws: BenchCompareError.self) {
            try Fixtures.render(results, in: directory)
        }
        #expect(
            error?.description.hasPrefix("missing benchmark results: TLS bulk") == true, "\(String(describing: error))")
    }

    /// The same bytes as the Python script wrote for the same saved runs: JSON (row names, fields, rounding,
    /// integers kept integers), Markdown and chart.
    @Test(arguments: ["performance-md-runs", "quick-run"])
    func theOutputIsThePythonScriptsForTheSameRuns(_ run: String) throws {
        let directory = try Fixtures.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (status, _, _, printed) = try Fixtures.render(Fixtures.root.appendingPathComponent(run), in: directory)
        #expect(status == 1)
        for (made, expected) in [("rows.json", "\(run).json"), ("rows.md", "\(run).md"), ("chart.svg", "\(run).svg")] {
            let ours = try String(contentsOf: directory.appendingPathComponent(made), encoding: .utf8)
            let python = try String(contentsOf: Fixtures.expected.appendingPathComponent(expected), encoding: .utf8)
            #expect(ours == python, "\(made) differs from the Python script's \(expected)")
        }
        #expect(printed.last?.hasPrefix("Missed: envelope seal 1 MiB (AES-256-GCM) vs raw EVP;") == true)
        let summary = run == "quick-run" ? "\n2 of 11 goals met (31 rows)." : "\n4 of 10 goals met (29 rows)."
        #expect(printed.contains(summary), "\(printed)")
    }

    @Test func unwritableOutputsAndAMissingRunFailBeforeAnythingRuns() throws {
        var compare = BenchCompare(packageRoot: Fixtures.root)
        compare.json = URL(fileURLWithPath: "/nonexistent-directory/rows.json")
        #expect(throws: BenchCompareError.self) { try compare.run { _ in } }
        compare.json = nil
        compare.fromResults = URL(fileURLWithPath: "/nonexistent-directory")
        let error = #expect(throws: BenchCompareError.self) { try compare.run { _ in } }
        #expect(error?.description.hasSuffix("not a directory") == true)
        compare.fromResults = nil
        compare.runs = 0
        #expect(throws: BenchCompareError.self) { try compare.run { _ in } }
    }
}
