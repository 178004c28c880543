public import BenchmarkCatalog
public import Foundation

/// One element of package-benchmark's JMH export (`swift package benchmark --format jmh`), as much of it as
/// bench-compare reads: the benchmark's name and the percentiles of each metric.
public struct JMHElement: Decodable, Sendable {
    /// "package.benchmark.<target>.<name with _ for spaces>".
    public let benchmark: String
    /// By metric name ("Time (wall clock)", "Malloc (total)", a custom metric's name).
    public let secondaryMetrics: [String: JMHMetric]
}

public struct JMHMetric: Decodable, Sendable {
    /// By percentile as package-benchmark writes it: "0.0", "50.0", "99.9", "100.0".
    public let scorePercentiles: [String: Double]
    /// The percentiles written as integers (a custom metric's bytes): the rows keep them integers.
    public let integerPercentiles: Set<String>
    /// "μs" for the wall clock, "#" for counts.
    public let scoreUnit: String

    /// The median.
    public var p50: Double? { self.scorePercentiles["50.0"] }

    private enum CodingKeys: String, CodingKey {
        case scorePercentiles
        case scoreUnit
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let percentiles = try container.decode([String: JSONNumber].self, forKey: .scorePercentiles)
        self.scorePercentiles = percentiles.mapValues(\.value)
        self.integerPercentiles = Set(percentiles.filter(\.value.isInteger).keys)
        self.scoreUnit = try container.decode(String.self, forKey: .scoreUnit)
    }
}

/// A JSON number, and whether it was written as an integer.
private struct JSONNumber: Decodable {
    let value: Double
    let isInteger: Bool

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let integer = try? container.decode(Int.self) {
            (self.value, self.isInteger) = (Double(integer), true)
        } else {
            (self.value, self.isInteger) = (try container.decode(Double.self), false)
        }
    }
}

/// The medians (p50) of one run's benchmarks, by benchmark name.
public struct BenchmarkResults: Sendable {
    public struct Result: Sendable {
        /// The wall-clock median of one iteration, in microseconds.
        public let wallClockMicroseconds: Double?
        /// Every metric's median, by metric name.
        public let metrics: [String: Double]
        /// The metrics whose median the export wrote as an integer.
        public let integerMetrics: Set<String>
    }

    /// The metric package-benchmark names the wall clock, in microseconds in its JMH export.
    public static let wallClockMetric = "Time (wall clock)"

    /// By the name given to `Benchmark(_:)` (the export's `_` turned back into spaces).
    public let byName: [String: Result]

    public init(byName: [String: Result]) {
        self.byName = byName
    }

    /// Decodes the JMH export `elements` (later elements of the same name win, as in a merged directory).
    public init(decoding elements: [JMHElement]) {
        var byName: [String: Result] = [:]
        for element in elements {
            // "package.benchmark.AEAD.AES-256-GCM_seal_1_KiB_×64_—_envelope": the name after the target.
            let name =
                element.benchmark.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false)
                .last.map { $0.replacingOccurrences(of: "_", with: " ") } ?? element.benchmark
            let metrics = element.secondaryMetrics.compactMapValues(\.p50)
            byName[name] = Result(
                wallClockMicroseconds: metrics[Self.wallClockMetric], metrics: metrics,
                integerMetrics: Set(
                    element.secondaryMetrics.filter { $0.value.integerPercentiles.contains("50.0") }.keys))
        }
        self.byName = byName
    }

    /// Reads every `*.jmh.json` in `directory`, in name order.
    /// - Throws: ``BenchCompareError`` when a file is not a JMH export or the directory holds none.
    public init(directory: URL) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".jmh.json") }.sorted()
        var elements: [JMHElement] = []
        for file in files {
            let path = directory.appendingPathComponent(file).path
            do {
                elements += try JSONDecoder().decode(
                    [JMHElement].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
            } catch {
                throw BenchCompareError("\(path) is not package-benchmark's JMH export: \(error)")
            }
        }
        self.init(decoding: elements)
        if self.byName.isEmpty {
            throw BenchCompareError("no benchmark results (*.jmh.json) in \(directory.path)")
        }
    }

    /// The result of `name` when it measured a wall-clock time; `nil` when it is absent or measured none.
    public func result(_ name: BenchmarkName) -> Result? {
        guard let result = self.byName[name.description], let time = result.wallClockMicroseconds, time != 0 else {
            return nil
        }
        return result
    }

    /// The plan (full or quick) whose benchmark names this run holds most of: a saved run says nothing else
    /// of how it was made.
    public var plan: BenchmarkPlan {
        let full = BenchmarkPlan(quick: false)
        let quick = BenchmarkPlan(quick: true)
        let held = { (plan: BenchmarkPlan) in
            plan.comparedBenchmarks.filter { self.byName[$0.description] != nil }.count
        }
        return held(quick) > held(full) ? quick : full
    }
}

/// A failure bench-compare reports on standard error ("bench-compare: …") and exits 2 for.
public struct BenchCompareError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
