public import BenchmarkCatalog
import Foundation

/// One row of the output, as the JSON writes it: `{"name", "ours", "reference", "unit", "ratio", "goal"}`.
/// Figures are rounded to three decimals; `ratio` is ours / reference (with several runs, the median of the
/// runs' ratios), `nil` when either figure is missing or the reference is zero.
public struct ComparedRow: Codable, Sendable, Hashable {
    public let name: String
    public let ours: Double?
    public let reference: Double?
    public let unit: String
    public let ratio: Double?
    /// `">=0.90"`, `"<=3"`, or `nil` for a row without a goal.
    public let goal: String?
    /// Ours and the reference are integers as read (a custom metric's bytes): the JSON writes `87039`, not
    /// `87039.0`.
    public var integerFigures = false

    private enum CodingKeys: String, CodingKey {
        case name, ours, reference, unit, ratio, goal
    }

    public init(
        name: String, ours: Double?, reference: Double?, unit: String, ratio: Double?, goal: String?,
        integerFigures: Bool = false
    ) {
        self.name = name
        self.ours = ours
        self.reference = reference
        self.unit = unit
        self.ratio = ratio
        self.goal = goal
        self.integerFigures = integerFigures
    }

    /// A row from its two figures: rounded, with their ratio.
    public init(name: String, ours: Double?, reference: Double?, unit: String, goal: String?, integerFigures: Bool) {
        guard let ours, let reference, reference != 0 else {
            self.init(
                name: name, ours: ours, reference: reference, unit: unit, ratio: nil, goal: goal,
                integerFigures: integerFigures)
            return
        }
        self.init(
            name: name, ours: rounded(ours), reference: rounded(reference), unit: unit,
            ratio: rounded(ours / reference), goal: goal, integerFigures: integerFigures)
    }

    /// Whether the ratio meets the goal (`>=X`, `<=X`), or ours does (`ours<=X`, `ours>=X`: an absolute bound in the
    /// row's unit, as the device section's goals are); a row without a goal always does, a missing figure meets
    /// none.
    /// - Throws: ``BenchCompareError`` when the goal is none of these.
    public func meetsGoal() throws -> Bool {
        guard var goal else { return true }
        var figure = self.ratio
        if goal.hasPrefix("ours") {
            goal.removeFirst(4)
            figure = self.ours
        }
        let relation = Goal.Relation(rawValue: String(goal.prefix(2)))
        let bound = Double(goal.dropFirst(2).trimmingCharacters(in: .whitespaces))
        guard let relation, let bound else {
            throw BenchCompareError("goal \(self.goal ?? "") is not >=X, <=X, ours>=X or ours<=X")
        }
        guard let figure else { return false }
        return relation == .atLeast ? figure >= bound : figure <= bound
    }

    // The JSON keeps `null` for a missing figure, ratio or goal.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.name, forKey: .name)
        try container.encode(self.ours, forKey: .ours)
        try container.encode(self.reference, forKey: .reference)
        try container.encode(self.unit, forKey: .unit)
        try container.encode(self.ratio, forKey: .ratio)
        try container.encode(self.goal, forKey: .goal)
    }
}

/// The rows of one run: every comparison of `plan` computed from `results`.
public struct RunComparison: Sendable {
    public let rows: [ComparedRow]
    /// The benchmarks some row needed and the run lacks (or that measured no time), each once.
    public let missing: [String]
    /// Sections left out because the saved run predates their benchmarks, or they were not run.
    public let leftOut: [Comparison.Section]

    /// - Parameters:
    ///   - saved: a saved run (`--from-results`), which may predate the store, the key or the PostgreSQL
    ///     benchmarks: when it holds none of a section's, that section's rows are left out; a fresh run must have
    ///     them all.
    ///   - skipped: sections not run or not asked for (`--no-postgres`, `--only-postgres`): their rows are left out,
    ///     from a fresh run or a saved one.
    public init(
        _ results: BenchmarkResults, plan: BenchmarkPlan, saved: Bool, skipped: Set<Comparison.Section> = []
    ) {
        var missing: [String] = []
        var integerFigures = true
        func figure(_ figure: Figure) -> Double? {
            if case .target(let value) = figure { return value }
            guard let name = figure.benchmark else { return nil }
            guard let result = results.result(name), let time = result.wallClockMicroseconds else {
                if !missing.contains(name.description) { missing.append(name.description) }
                return nil
            }
            if case .metric(_, let metric) = figure, result.integerMetrics.contains(metric) {
            } else {
                integerFigures = false
            }
            let items = Double(name.itemsPerIteration)
            switch figure {
            case .rate(_, let unitsPerItem): return items * unitsPerItem / (time / 1e6)
            case .microsecondsEach: return time / items
            case .secondsEach: return time / items / 1e6
            case .metric(_, let metric): return result.metrics[metric]
            case .target(let value): return value
            }
        }
        // Sections added after the first saved runs: a saved run with none of a section's benchmarks predates it,
        // and its rows are left out (any other benchmark missing is an error).
        let leftOut = Comparison.Section.allCases.filter { section in
            if skipped.contains(section) { return true }
            guard [.store, .keys, .postgres].contains(section) else { return false }
            let names = Set(
                [BenchmarkPlan(quick: false), BenchmarkPlan(quick: true)].flatMap { plan in
                    plan.comparisons.filter { $0.section == section }.flatMap {
                        [$0.ours.benchmark, $0.reference.benchmark]
                    }
                    .compactMap { $0?.description }
                })
            return saved && !results.byName.keys.contains(where: names.contains)
        }
        self.rows = plan.comparisons.filter { !leftOut.contains($0.section) }.map { comparison in
            integerFigures = true
            let (ours, reference) = (figure(comparison.ours), figure(comparison.reference))
            return ComparedRow(
                name: comparison.name, ours: ours, reference: reference, unit: comparison.unit,
                goal: comparison.goal?.description, integerFigures: integerFigures)
        }
        self.missing = missing
        self.leftOut = leftOut
    }

    /// One row per name: the median of ours, of the reference and of the ratio over the runs (each `nil`
    /// when any run's is).
    /// - Throws: ``BenchCompareError`` when the runs do not have the same rows.
    public static func medians(_ runs: [[ComparedRow]]) throws -> [ComparedRow] {
        guard let first = runs.first else { return [] }
        return try first.indices.map { index in
            let same = runs.map { $0.indices.contains(index) ? $0[index] : nil }
            guard same.allSatisfy({ $0?.name == first[index].name }) else {
                throw BenchCompareError("the runs do not have the same rows")
            }
            let rows = same.compactMap { $0 }
            func pick(_ value: (ComparedRow) -> Double?) -> Double? {
                let values = rows.map(value)
                guard values.allSatisfy({ $0 != nil }) else { return nil }
                return rounded(median(values.compactMap { $0 }))
            }
            // The median of an odd number of integers is one of them; of an even number, a mean.
            return ComparedRow(
                name: first[index].name, ours: pick(\.ours), reference: pick(\.reference), unit: first[index].unit,
                ratio: pick(\.ratio), goal: first[index].goal,
                integerFigures: rows.count % 2 == 1 && rows.allSatisfy(\.integerFigures))
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count).
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// `value` to three decimals, rounded as its exact binary value is (Python's `round(value, 3)`).
func rounded(_ value: Double) -> Double {
    Double(String(format: "%.3f", value)) ?? value
}
