public import BenchmarkCatalog
public import Foundation

/// The gateway section's rows: `samd-gateway serve` against the same routes on HummingbirdTLS, from the load
/// client's reports (``GatewayLoadReport``), one pair per run.
///
/// The goal is on requests per second of PUT and GET together (the issue's: at least 0.80 of the reference).
/// PUT and GET alternate on every connection, so each method's own rate is half the total and would repeat the
/// same ratio; each method's rows are its latencies instead (p50 and p99, milliseconds, no goal).
public enum GatewayLoadRows {
    /// The rows of one run: ours and the reference measured under the same load.
    public static func rows(ours: GatewayLoadReport, reference: GatewayLoadReport) -> [ComparedRow] {
        let size = BenchmarkPlan.sizeLabel(ours.recordBytes)
        let versus = "vs Hummingbird on swift-nio-ssl"
        func latency(_ method: String, _ percentile: String, _ figure: (GatewayLoadReport) -> Double) -> ComparedRow {
            ComparedRow(
                name: "gateway \(method) \(size) \(percentile) latency \(versus)", ours: figure(ours),
                reference: figure(reference), unit: "ms", goal: nil, integerFigures: false)
        }
        return [
            ComparedRow(
                name: "gateway PUT+GET \(size) req/s \(versus)", ours: ours.total.perSecond,
                reference: reference.total.perSecond, unit: "req/s", goal: Goal.atLeast("0.80").description,
                integerFigures: false),
            latency("PUT", "p50", \.put.p50Milliseconds),
            latency("PUT", "p99", \.put.p99Milliseconds),
            latency("GET", "p50", \.get.p50Milliseconds),
            latency("GET", "p99", \.get.p99Milliseconds),
        ]
    }

    /// The rows of several runs: each figure the median over the runs, each ratio the median of the runs' ratios.
    /// - Throws: ``BenchCompareError`` when `ours` and `reference` hold different numbers of runs or none.
    public static func rows(ours: [GatewayLoadReport], reference: [GatewayLoadReport]) throws -> [ComparedRow] {
        guard !ours.isEmpty, ours.count == reference.count else {
            throw BenchCompareError("the gateway section needs one report of each side per run")
        }
        return try RunComparison.medians(zip(ours, reference).map { self.rows(ours: $0, reference: $1) })
    }

    /// Reads the load client's JSON list: one report per server, in the order of `sides` (their names, for
    /// messages).
    /// - Throws: ``BenchCompareError`` when it is not a list of as many reports, or one measured nothing.
    public static func reports(_ data: Data, sides: [String]) throws -> [GatewayLoadReport] {
        let list: [GatewayLoadReport]
        do {
            list = try JSONDecoder().decode([GatewayLoadReport].self, from: data)
        } catch {
            throw BenchCompareError("the gateway load client's output is not a list of reports: \(error)")
        }
        guard list.count == sides.count else {
            throw BenchCompareError("the gateway load client reported on \(list.count) servers, not \(sides.count)")
        }
        let encoder = JSONEncoder()
        return try zip(list, sides).map { try self.report(try encoder.encode($0), side: $1) }
    }

    /// Reads one report of the load client's JSON (as `--save-results` keeps it).
    /// - Throws: ``BenchCompareError`` naming the side when it is not a report, or when the report measured no
    ///   request of a method.
    public static func report(_ data: Data, side: String) throws -> GatewayLoadReport {
        let report: GatewayLoadReport
        do {
            report = try JSONDecoder().decode(GatewayLoadReport.self, from: data)
        } catch {
            throw BenchCompareError("the gateway load client's report on \(side) is not a report: \(error)")
        }
        guard report.put.requests > 0, report.get.requests > 0, report.durationSeconds > 0 else {
            throw BenchCompareError("the gateway load client measured no PUT or no GET on \(side)")
        }
        return report
    }
}
