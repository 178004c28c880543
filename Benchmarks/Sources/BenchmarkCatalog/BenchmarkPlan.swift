/// The sizes and counts of one run of the benchmarks: the full run that Docs/Performance.md quotes, or the
/// quick one of `Scripts/bench-compare --quick` (`SAMD_BENCH_QUICK=1`: shorter runs, smaller fixtures).
///
/// The benchmark targets take their fixtures' shapes and their names from here, and bench-compare finds
/// their results by the same names (``BenchmarkPlan/comparisons``), so a name is written once.
public struct BenchmarkPlan: Sendable, Hashable {
    /// The quick run's shapes instead of the full run's.
    public let quick: Bool

    public init(quick: Bool) {
        self.quick = quick
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

    /// Record headers one rewrap iteration rewraps.
    public let rewrapHeaders = 1_000

    /// The store the rotation benchmarks: 100 000 records of 1 KiB over 250 patients (quick: 10 000 over 25).
    /// Rotation rewraps subject keys (one per patient), never record rows, so its cost follows the number of
    /// patients; the records are there to show it does not follow theirs. (One iteration must stay under 2 s:
    /// package-benchmark records no throughput for longer ones, and bench-compare reads its JMH export, which
    /// needs it.)
    public var rotation: StoreShape {
        self.quick ? StoreShape(records: 10_000, patients: 25) : StoreShape(records: 100_000, patients: 250)
    }

    /// The store the re-key benchmarks: records of 1 KiB over patients, re-keyed whole by every iteration
    /// (each run of the job starts afresh: every subject gets another version, every row is rewrapped): 5 000
    /// over 50 (quick: 2 000 over 20). 5 000 records, not more: an iteration must stay under 2 s, or
    /// package-benchmark records no throughput for it and the JMH export that bench-compare reads leaves the
    /// row out.
    public var rekey: StoreShape {
        self.quick ? StoreShape(records: 2_000, patients: 20) : StoreShape(records: 5_000, patients: 50)
    }

    /// Records of 1 KiB one store-put iteration puts.
    public let storePuts = 200

    /// Records per iteration of the key-store seal and concurrent put benchmarks.
    public let keySeals = 1_000

    /// The records of the PostgreSQL store benchmarks (the `Store` target), the same on every side.
    public let recordSet = RecordSetShape(tasks: 8, subjectsPerTask: 4, recordsPerTask: 32, recordByteCount: 1024)

    /// TLS handshakes per iteration: 50 (quick: 20).
    public var handshakes: Int { self.quick ? 20 : 50 }

    /// Bytes of one TLS bulk transfer: 64 MiB (quick: 16 MiB).
    public var bulkBytes: Int { (self.quick ? 16 : 64) << 20 }

    /// Connections held open for the idle-memory figure: 250 (quick: 100).
    public var idleConnections: Int { self.quick ? 100 : 250 }
}

/// The records and patients of a benchmark's record store.
public struct StoreShape: Sendable, Hashable {
    public let records: Int
    public let patients: Int

    public init(records: Int, patients: Int) {
        self.records = records
        self.patients = patients
    }

    /// "100000 records 250 patients", as benchmark names carry it.
    public var label: String { "\(self.records) records \(self.patients) patients" }
}

/// The records of the PostgreSQL store benchmarks: `tasks` tasks, each with `recordsPerTask` records of
/// `recordByteCount` bytes of its own, spread over `subjectsPerTask` subjects (patients) of its own. An iteration
/// puts or gets each record once, so the subject keys stay cached, as in steady state.
public struct RecordSetShape: Sendable, Hashable {
    public let tasks: Int
    public let subjectsPerTask: Int
    public let recordsPerTask: Int
    public let recordByteCount: Int

    public init(tasks: Int, subjectsPerTask: Int, recordsPerTask: Int, recordByteCount: Int) {
        self.tasks = tasks
        self.subjectsPerTask = subjectsPerTask
        self.recordsPerTask = recordsPerTask
        self.recordByteCount = recordByteCount
    }
}
