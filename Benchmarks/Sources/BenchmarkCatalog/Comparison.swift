/// One row of bench-compare's table: SaMDKit's figure against a reference's, measured in the same run.
public struct Comparison: Sendable {
    /// The part of the table a row belongs to (a saved run made before the store benchmarks has no
    /// ``Section/store`` rows).
    public enum Section: Sendable, Hashable, CaseIterable {
        case aead
        case rewrap
        case store
        /// Key custody and the key store's data path (added after the first saved runs).
        case keys
        /// The PostgreSQL store against raw postgres-nio, the SQLite store beside it (the `Store` target; added
        /// after the key rows).
        case postgres
        case tls
    }

    /// The row's name in the table and the JSON (`"name"`), unchanged across runs.
    public let name: String
    public let section: Section
    public let ours: Figure
    public let reference: Figure
    /// The unit both figures are in: "MiB/s", "µs", "headers/s", "s", "records/s", "puts/s", "gets/s",
    /// "handshakes/s", "bytes".
    public let unit: String
    /// The condition the ratio ours / reference must meet, or `nil` for a row measured without a goal.
    public let goal: Goal?

    public init(
        _ name: String, section: Section, ours: Figure, reference: Figure, unit: String, goal: Goal? = nil
    ) {
        self.name = name
        self.section = section
        self.ours = ours
        self.reference = reference
        self.unit = unit
        self.goal = goal
    }
}

/// How a figure comes out of a benchmark's medians (p50).
public enum Figure: Sendable, Hashable {
    /// Items per second times `unitsPerItem` (MiB per message, say): the benchmark's
    /// ``BenchmarkName/itemsPerIteration`` over its wall-clock median.
    case rate(BenchmarkName, unitsPerItem: Double = 1)
    /// Microseconds per item: the wall-clock median over ``BenchmarkName/itemsPerIteration``.
    case microsecondsEach(BenchmarkName)
    /// Seconds per item.
    case secondsEach(BenchmarkName)
    /// The median of one of the benchmark's custom metrics.
    case metric(BenchmarkName, String)
    /// A fixed target, not measured (the rewrap rate the key-rotation issue asks for).
    case target(Double)

    /// The benchmark the figure is read from, `nil` for a target.
    public var benchmark: BenchmarkName? {
        switch self {
        case .rate(let name, _), .microsecondsEach(let name), .secondsEach(let name), .metric(let name, _): name
        case .target: nil
        }
    }
}

/// A bound on a row's ratio: at least or at most a number, written as in the JSON (`">=0.90"`, `"<=3"`).
public struct Goal: Sendable, Hashable, CustomStringConvertible {
    public enum Relation: String, Sendable {
        case atLeast = ">="
        case atMost = "<="
    }

    public let relation: Relation
    public let bound: Double
    /// As written in the JSON and the table: `">=0.90"`.
    public let description: String

    /// `bound` as it is to be written ("0.90"); it must be a decimal number.
    public init(_ relation: Relation, _ bound: String) {
        guard let value = Double(bound) else { preconditionFailure("goal bound \(bound) is not a number") }
        self.relation = relation
        self.bound = value
        self.description = relation.rawValue + bound
    }

    public static func atLeast(_ bound: String) -> Goal { Goal(.atLeast, bound) }
    public static func atMost(_ bound: String) -> Goal { Goal(.atMost, bound) }

    /// Whether `ratio` meets the bound; a missing ratio meets none.
    public func isMet(by ratio: Double?) -> Bool {
        guard let ratio else { return false }
        return self.relation == .atLeast ? ratio >= self.bound : ratio <= self.bound
    }
}
