public import Benchmark

#if canImport(Glibc)
    import Glibc
#endif

/// What every benchmark target shares: the sizes, and the quick mode of `Scripts/bench-compare --quick`.
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

    /// Record sizes, in bytes: 64 B, 1 KiB, 16 KiB (one chunk), 1 MiB.
    public static let messageSizes = [64, 1024, 16 * 1024, 1 << 20]

    /// The streaming size (64 MiB), written in ``streamPieceByteCount`` pieces.
    public static let streamByteCount = 64 << 20
    public static let streamPieceByteCount = 64 * 1024

    /// How many messages of `size` bytes one benchmark iteration seals or opens: about 64 KiB of input, so
    /// that the clock's own cost disappears for small messages.
    public static func messagesPerIteration(_ size: Int) -> Int {
        max(1, (64 * 1024) / size)
    }

    /// "64 B", "1 KiB", "16 KiB", "1 MiB", "64 MiB".
    public static func sizeLabel(_ size: Int) -> String {
        if size >= 1 << 20, size % (1 << 20) == 0 { return "\(size >> 20) MiB" }
        if size >= 1024, size % 1024 == 0 { return "\(size >> 10) KiB" }
        return "\(size) B"
    }
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
