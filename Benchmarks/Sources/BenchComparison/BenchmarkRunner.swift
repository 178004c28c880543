import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What bench-compare runs: package-benchmark over the Benchmarks package, the device script, and the
/// description of this machine.
enum BenchmarkRunner {
    /// The target of the PostgreSQL store benchmarks (`--no-postgres` skips it, `--only-postgres` runs it alone).
    static let postgresTarget = "Store"

    /// Runs `targets` (every target of the Benchmarks package when empty) but `skipTargets` (`SAMD_BENCH_QUICK=1`
    /// when `quick`) and leaves
    /// package-benchmark's JMH export and its log (`benchmark.log`) in `results`.
    /// - Throws: ``BenchCompareError`` when a benchmark failed; the results so far are then kept in a
    ///   temporary directory it names.
    static func run(
        into results: URL, packageRoot: URL, quick: Bool, targets: [String] = [], skipTargets: [String] = []
    ) throws {
        let command =
            [
                "swift", "package", "--package-path", packageRoot.appendingPathComponent("Benchmarks").path,
                "benchmark", "--no-progress", "--format", "jmh", "--path", results.path,
            ] + targets.flatMap { ["--target", $0] } + skipTargets.flatMap { ["--skip-target", $0] }
        standardError("bench-compare: \(command.joined(separator: " "))\(quick ? "  (quick)" : "")")
        let (status, output) = try Subprocess.run(command, environment: quick ? ["SAMD_BENCH_QUICK": "1"] : [:])
        try output.write(to: results.appendingPathComponent("benchmark.log"), atomically: false, encoding: .utf8)
        guard status != 0 || output.contains("failed with") || output.contains("must be present") else { return }
        standardError(String(output.suffix(4000)), newline: false)
        // Keep what was measured, for a look or --from-results.
        let kept = try temporaryDirectory("samd-bench-failed-")
        try copyTree(from: results.deletingLastPathComponent(), to: kept)
        throw BenchCompareError("the benchmarks failed (exit \(status)); the log and results are kept in \(kept.path)")
    }

    /// The device section (`Scripts/bench-device --runs N`): the static agent's size and memory, as rows (each the
    /// median of `runs` measurements).
    /// - Throws: ``BenchCompareError`` when the script fails or prints no rows.
    static func deviceRows(packageRoot: URL, runs: Int = 1) throws -> [ComparedRow] {
        let script = packageRoot.appendingPathComponent("Scripts/bench-device").path
        let (status, output) = try Subprocess.run([script, "--runs", String(runs)], standardError: .inherited)
        guard status == 0 else {
            throw BenchCompareError("the device section failed: \(script) exited \(status) (--no-device skips it)")
        }
        do {
            return try JSONDecoder().decode([ComparedRow].self, from: Data(output.utf8))
        } catch {
            throw BenchCompareError("the device section failed: \(script) printed no rows: \(error)")
        }
    }

    /// "<CPU model>, <n> CPUs, <system-release-machine-with-libc>; <swift --version>; <openssl version>".
    static func machine() -> String {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model =
            cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) }
            ?? ""
        let openssl = ((try? Subprocess.output(["openssl", "version"], standardError: .inherited)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let swift =
            ((try? Subprocess.output(["swift", "--version"])) ?? "").split(separator: "\n").first
            .map(String.init) ?? "swift ?"
        return "\(model), \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) CPUs, \(platform()); \(swift); \(openssl)"
    }

    /// As Python's `platform.platform()` writes it on Linux: "Linux-6.1.0-x86_64-with-glibc2.36".
    private static func platform() -> String {
        var names = utsname()
        uname(&names)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        // "glibc 2.36" → "-with-glibc2.36".
        var libc = [CChar](repeating: 0, count: 64)
        let libcVersion =
            confstr(Int32(_CS_GNU_LIBC_VERSION), &libc, libc.count) > 0
            ? "-with-"
                + String(decoding: libc.prefix { $0 != 0 }.map(UInt8.init), as: UTF8.self)
                .replacingOccurrences(of: " ", with: "") : ""
        return "\(field(names.sysname))-\(field(names.release))-\(field(names.machine))\(libcVersion)"
    }
}

/// Writes `text` to standard error.
func standardError(_ text: String, newline: Bool = true) {
    FileHandle.standardError.write(Data((text + (newline ? "\n" : "")).utf8))
}

/// A new directory in the temporary directory, its name starting with `prefix`.
func temporaryDirectory(_ prefix: String) throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(prefix + UUID().uuidString)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}

/// Copies the contents of `source` into `destination`, merging with what is there (a file replaces its
/// namesake).
func copyTree(from source: URL, to destination: URL) throws {
    let manager = FileManager.default
    try manager.createDirectory(at: destination, withIntermediateDirectories: true)
    for name in try manager.contentsOfDirectory(atPath: source.path) {
        let from = source.appendingPathComponent(name)
        let to = destination.appendingPathComponent(name)
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: from.path, isDirectory: &isDirectory), isDirectory.boolValue {
            try copyTree(from: from, to: to)
        } else {
            if manager.fileExists(atPath: to.path) { try manager.removeItem(at: to) }
            try manager.copyItem(at: from, to: to)
        }
    }
}
