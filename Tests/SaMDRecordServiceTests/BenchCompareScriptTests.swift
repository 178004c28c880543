import Foundation
import SaMDTestSupport
import Testing

/// `Scripts/bench-compare` on a saved run (`--from-results`, nothing is benchmarked): the JSON the issue
/// specifies, ratios that are ours / reference, goals judged the same way in JSON, Markdown and exit status,
/// and a missing benchmark reported as an error rather than dropped.
@Suite("Scripts/bench-compare")
struct BenchCompareScriptTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let script = root.appendingPathComponent("Scripts/bench-compare").path
    /// The package-benchmark exports of the three full runs quoted in Docs/Performance.md (`run-1` … `run-3`,
    /// raw samples dropped).
    static let fixture = root.appendingPathComponent("Tests/Fixtures/bench-compare")

    static func render(_ results: URL, in directory: URL) async throws -> (ChildProcess.Run, [[String: Any]]?, String) {
        let json = directory.appendingPathComponent("rows.json")
        let markdown = directory.appendingPathComponent("rows.md")
        let run = try await ChildProcess.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "python3", Self.script, "--from-results", results.path, "--json", json.path, "--markdown",
                markdown.path,
                "--chart", directory.appendingPathComponent("chart.svg").path,
            ],
            timeout: .seconds(60)
        )
        let rows = (try? Data(contentsOf: json)).flatMap {
            try? JSONSerialization.jsonObject(with: $0) as? [[String: Any]]
        }
        return (run, rows, (try? String(contentsOf: markdown, encoding: .utf8)) ?? "")
    }

    static func scratch() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bench-compare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func aSavedRunBecomesTheIssuesJSONWithEveryGoalJudged() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        // One run: every ratio is ours / reference.
        let (run, decoded, markdown) = try await Self.render(
            Self.fixture.appendingPathComponent("run-1"), in: directory)
        let rows = try #require(decoded, "\(run)")
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
        #expect(run.status == (missed == 0 ? 0 : 1), "\(run)")
        // Envelope and raw seal lines for both suites (a saved run has no openssl speed figures to draw).
        let chart = try String(contentsOf: directory.appendingPathComponent("chart.svg"), encoding: .utf8)
        #expect(chart.hasPrefix("<svg") && chart.components(separatedBy: "<path ").count - 1 == 4)
    }

    /// Several runs: each row's ratio is the median of the runs' ratios (pairs measured close together), and
    /// ours and the reference the medians of theirs.
    @Test func severalRunsGiveTheMedianOfEachRowsRatios() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        var perRun: [[String: Double]] = []
        for index in 1...3 {
            let (run, rows, _) = try await Self.render(
                Self.fixture.appendingPathComponent("run-\(index)"), in: directory)
            let decoded = try #require(rows, "\(run)")
            perRun.append(
                Dictionary(
                    uniqueKeysWithValues: decoded.compactMap { row in
                        (row["name"] as? String).flatMap { name in (row["ratio"] as? Double).map { (name, $0) } }
                    }))
        }
        let (run, rows, _) = try await Self.render(Self.fixture, in: directory)
        let merged = try #require(rows, "\(run)")
        #expect(merged.count == perRun[0].count)
        for row in merged {
            let name = try #require(row["name"] as? String)
            let ratios = try perRun.map { try #require($0[name], "\(name)") }.sorted()
            #expect(
                row["ratio"] as? Double == ratios[1],
                "\(name): \(String(describing: row["ratio"])) is not the median of \(ratios)")
        }
    }

    @Test func aMissingBenchmarkIsAnErrorNotAMissingRow() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let results = directory.appendingPathComponent("results")
        try FileManager.default.createDirectory(at: results, withIntermediateDirectories: true)
        let firstRun = Self.fixture.appendingPathComponent("run-1")
        for file in try FileManager.default.contentsOfDirectory(at: firstRun, includingPropertiesForKeys: nil)
        where file.lastPathComponent.hasSuffix(".jmh.json") {
            let elements = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [[String: Any]])
            let kept = elements.filter { !(($0["benchmark"] as? String) ?? "").contains("TLS_bulk") }
            #expect(kept.count < elements.count)
            try JSONSerialization.data(withJSONObject: kept).write(
                to: results.appendingPathComponent(file.lastPathComponent))
        }
        let (run, _, _) = try await Self.render(results, in: directory)
        #expect(run.status == 2, "\(run)")
        #expect(run.standardError.contains("missing benchmark results: TLS bulk"), "\(run)")
    }
}
