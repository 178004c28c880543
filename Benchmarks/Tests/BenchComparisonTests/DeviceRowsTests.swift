import Foundation
import Testing

@testable import BenchComparison

/// The device section's rows come from `Scripts/bench-device` as JSON; bench-compare appends them, or fails
/// naming the script.
@Suite("bench-compare device section")
struct DeviceRowsTests {
    /// A checkout whose `Scripts/bench-device` prints `output` and exits `status`.
    static func root(printing output: String, status: Int32) throws -> URL {
        let root = try Fixtures.scratch()
        let scripts = root.appendingPathComponent("Scripts")
        try FileManager.default.createDirectory(at: scripts, withIntermediateDirectories: true)
        let script = scripts.appendingPathComponent("bench-device")
        try "#!/bin/sh\ncat <<'ROWS'\n\(output)\nROWS\nexit \(status)\n".write(
            to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        return root
    }

    @Test func theScriptsRowsAreDecoded() throws {
        // As Scripts/bench-device prints them (json.dump, no ratio goal).
        let printed = """
            [{"name": "samd-agent size, release, static Swift stdlib, stripped vs a static \\"hello\\"", \
            "ours": 66.012, "reference": 5.9, "unit": "MiB", "ratio": 11.189, "goal": null}]
            """
        let root = try Self.root(printing: printed, status: 0)
        defer { try? FileManager.default.removeItem(at: root) }
        let rows = try BenchmarkRunner.deviceRows(packageRoot: root)
        #expect(
            rows == [
                ComparedRow(
                    name: "samd-agent size, release, static Swift stdlib, stripped vs a static \"hello\"",
                    ours: 66.012, reference: 5.9, unit: "MiB", ratio: 11.189, goal: nil)
            ])
        #expect(Rendering.json(rows).contains("\"ours\": 66.012,\n    \"reference\": 5.9,"))
    }

    @Test func aFailedScriptOrNoRowsIsAnError() throws {
        let failed = try Self.root(printing: "", status: 2)
        defer { try? FileManager.default.removeItem(at: failed) }
        let error = #expect(throws: BenchCompareError.self) { try BenchmarkRunner.deviceRows(packageRoot: failed) }
        #expect(error?.description.hasPrefix("the device section failed:") == true)
        #expect(error?.description.hasSuffix("exited 2 (--no-device skips it)") == true)
        let garbled = try Self.root(printing: "not json", status: 0)
        defer { try? FileManager.default.removeItem(at: garbled) }
        #expect(throws: BenchCompareError.self) { try BenchmarkRunner.deviceRows(packageRoot: garbled) }
    }

    @Test func absoluteGoalsCheckOurFigure() throws {
        let size = ComparedRow(name: "size", ours: 12.5, reference: 1.5, unit: "MiB", ratio: 8.333, goal: "ours<=20")
        #expect(try size.meetsGoal())
        let big = ComparedRow(name: "size", ours: 66.0, reference: 1.5, unit: "MiB", ratio: 44.0, goal: "ours<=20")
        #expect(try !big.meetsGoal())
        let floor = ComparedRow(name: "f", ours: 2, reference: 1, unit: "x", ratio: 2, goal: "ours>=2")
        #expect(try floor.meetsGoal())
        let missing = ComparedRow(name: "m", ours: nil, reference: 1, unit: "x", ratio: nil, goal: "ours<=1")
        #expect(try !missing.meetsGoal())
        // The ratio goals are unchanged.
        #expect(
            try ComparedRow(name: "r", ours: 66, reference: 1, unit: "x", ratio: 66, goal: "<=20").meetsGoal() == false)
        #expect(throws: BenchCompareError.self) {
            try ComparedRow(name: "g", ours: 1, reference: 1, unit: "x", ratio: 1, goal: "ours=1").meetsGoal()
        }
    }

    @Test func theScriptIsAskedForTheRuns() throws {
        // A script that prints its arguments as a row's name.
        let root = try Fixtures.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let scripts = root.appendingPathComponent("Scripts")
        try FileManager.default.createDirectory(at: scripts, withIntermediateDirectories: true)
        let script = scripts.appendingPathComponent("bench-device")
        try
            "#!/bin/sh\nprintf '[{\"name\": \"%s\", \"ours\": 1, \"reference\": 1, \"unit\": \"MiB\", \"ratio\": 1, \"goal\": \"ours<=20\"}]' \"$*\"\n"
            .write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        let rows = try BenchmarkRunner.deviceRows(packageRoot: root, runs: 3)
        #expect(rows.map(\.name) == ["--runs 3"])
        #expect(try rows.allSatisfy { try $0.meetsGoal() })
    }
}
