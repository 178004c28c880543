public import Benchmark
public import BenchmarkCatalog

#if canImport(Glibc)
    import Glibc
#endif

/// What every benchmark target shares: the quick mode of `Scripts/bench-compare --quick` and the plan (names,
/// sizes, counts) it selects.
public enum BenchmarkSettings {
    /// `SAMD_BENCH_QUICK=1` (set by `Scripts/bench-compare --quick`): shorter runs and smaller fixtures,
    /// for a look in under three minutes; the full run is what Docs/Performance.md quotes.
    public static let quick: Bool = getenv("SAMD_BENCH_QUICK").map { String(cString: $0) == "1" } ?? false

    /// The crypto targets' configuration (AEAD, Rewrap): time, throughput and allocations, up to 3 s a
    /// benchmark (1 s quick).
    public static var cryptoConfiguration: Benchmark.Configuration {
        .init(
            metrics: [.wallClock, .throughput, .mallocCountTotal],
            warmupIterations: 3,
            maxDuration: .seconds(self.quick ? 1 : 3),
            maxIterations: 100_000
        )
    }

    /// The names and shapes of this run's benchmarks (full, or quick with `SAMD_BENCH_QUICK=1`).
    public static let plan = BenchmarkPlan(quick: quick)
}

/// A benchmark that measured something else than it claims fails: these checks run after the measured
/// region, on what it produced.
public struct BenchmarkCheckFailure: Error, CustomStringConvertible {
    public let description: String

    public init(description: String) {
        self.description = description
    }
}

public enum BenchmarkCheck {
    public static func that(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        guard condition else { throw BenchmarkCheckFailure(description: message()) }
    }

    public static func equal(_ lhs: [UInt8], _ rhs: [UInt8]) throws {
        try self.that(lhs == rhs, "the output (\(lhs.count) bytes) differs from the expected \(rhs.count) bytes")
    }
}
