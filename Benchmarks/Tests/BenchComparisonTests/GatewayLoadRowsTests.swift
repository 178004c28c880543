import BenchmarkCatalog
import Foundation
import Testing

@testable import BenchComparison

/// The gateway section's rows come from the load client's JSON (``GatewayLoadReport``), one report per server
/// per run: saved reports of a real `--runs 3` section (Fixtures/gateway-load), nothing benchmarked here.
@Suite("bench-compare gateway section")
struct GatewayLoadRowsTests {
    static let saved = Fixtures.root.appendingPathComponent("gateway-load")

    static func report(_ side: String, run: Int) throws -> GatewayLoadReport {
        try GatewayLoadRows.report(
            Data(contentsOf: saved.appendingPathComponent("run-\(run)/\(side).json")), side: side)
    }

    @Test func theClientsReportIsDecoded() throws {
        let report = try Self.report("ours", run: 1)
        #expect(report.connections == 8)
        #expect(report.recordBytes == 1024)
        #expect(report.put.requests > 0 && report.get.requests > 0)
        // PUT and GET alternate on every connection: as many of each, give or take one per connection and slice
        // (a slice's last PUT may count and its GET, ending after the slice, not).
        let plan = GatewayLoadPlan(quick: false)
        let slices = Int((plan.durationSeconds / plan.sliceSeconds).rounded())
        #expect(abs(report.put.requests - report.get.requests) <= report.connections * slices)
        #expect(report.durationSeconds == plan.durationSeconds)
        #expect(report.total.requests == report.put.requests + report.get.requests)
        #expect(abs(report.total.perSecond - Double(report.total.requests) / report.durationSeconds) < 1e-6)
        #expect(report.put.p50Milliseconds <= report.put.p99Milliseconds)
    }

    @Test func oneRunsRows() throws {
        let ours = try Self.report("ours", run: 1)
        let reference = try Self.report("reference", run: 1)
        let rows = GatewayLoadRows.rows(ours: ours, reference: reference)
        #expect(
            rows.map(\.name) == [
                "gateway PUT+GET 1 KiB req/s vs Hummingbird on swift-nio-ssl",
                "gateway PUT 1 KiB p50 latency vs Hummingbird on swift-nio-ssl",
                "gateway PUT 1 KiB p99 latency vs Hummingbird on swift-nio-ssl",
                "gateway GET 1 KiB p50 latency vs Hummingbird on swift-nio-ssl",
                "gateway GET 1 KiB p99 latency vs Hummingbird on swift-nio-ssl",
            ])
        #expect(rows.map(\.unit) == ["req/s", "ms", "ms", "ms", "ms"])
        #expect(rows.map(\.goal) == [">=0.80", nil, nil, nil, nil])
        let throughput = try #require(rows.first)
        #expect(throughput.ours == rounded(ours.total.perSecond))
        #expect(throughput.ratio == rounded(ours.total.perSecond / reference.total.perSecond))
        #expect(try throughput.meetsGoal() == (ours.total.perSecond / reference.total.perSecond >= 0.80))
        #expect(rows[2].ours == ours.put.p99Milliseconds && rows[2].reference == reference.put.p99Milliseconds)
        #expect(rows[4].ours == ours.get.p99Milliseconds && rows[4].reference == reference.get.p99Milliseconds)
    }

    @Test func threeRunsGiveMedians() throws {
        let ours = try (1...3).map { try Self.report("ours", run: $0) }
        let reference = try (1...3).map { try Self.report("reference", run: $0) }
        let rows = try GatewayLoadRows.rows(ours: ours, reference: reference)
        func middle(_ values: [Double]) -> Double { values.sorted()[1] }
        #expect(rows[0].ours == rounded(middle(ours.map(\.total.perSecond))))
        #expect(rows[0].reference == rounded(middle(reference.map(\.total.perSecond))))
        #expect(
            rows[0].ratio == middle(zip(ours, reference).map { rounded($0.total.perSecond / $1.total.perSecond) }))
        #expect(rows[4].reference == middle(reference.map(\.get.p99Milliseconds)))
        // As the table shows them: requests per second without decimals, milliseconds with two.
        let table = try Rendering.table(rows)
        #expect(table.contains(Rendering.number(rows[0].ours, unit: "req/s")))
        #expect(Rendering.number(4321.56, unit: "req/s") == "4,322")
        #expect(Rendering.number(1.234, unit: "ms") == "1.23")
        #expect(throws: BenchCompareError.self) { try GatewayLoadRows.rows(ours: ours, reference: []) }
    }

    @Test func theClientsListHasOneReportPerServer() throws {
        let ours = try Self.report("ours", run: 2)
        let reference = try Self.report("reference", run: 2)
        let printed = try JSONEncoder().encode([reference, ours])
        #expect(try GatewayLoadRows.reports(printed, sides: ["reference", "ours"]) == [reference, ours])
        let short = #expect(throws: BenchCompareError.self) {
            try GatewayLoadRows.reports(printed, sides: ["ours", "reference", "a third"])
        }
        #expect(short?.description.contains("reported on 2 servers, not 3") == true)
        let single = try JSONEncoder().encode(ours)
        #expect(throws: BenchCompareError.self) { try GatewayLoadRows.reports(single, sides: ["ours"]) }
    }

    @Test func aReportThatMeasuredNothingOrIsNotOneIsAnError() throws {
        let garbled = #expect(throws: BenchCompareError.self) {
            try GatewayLoadRows.report(Data("not json".utf8), side: "samd-gateway")
        }
        #expect(garbled?.description.contains("on samd-gateway is not a report") == true)
        var empty = try Self.report("ours", run: 1)
        empty.get = .init(requests: 0, perSecond: 0, p50Milliseconds: 0, p99Milliseconds: 0)
        let encoded = try JSONEncoder().encode(empty)
        let nothing = #expect(throws: BenchCompareError.self) {
            try GatewayLoadRows.report(encoded, side: "samd-gateway")
        }
        #expect(nothing?.description.contains("measured no PUT or no GET") == true)
    }

    @Test func onlyTheGatewayIsNotASavedRunsRendering() throws {
        var compare = BenchCompare(packageRoot: Fixtures.root)
        compare.onlyGateway = true
        compare.fromResults = Fixtures.quickRun
        let error = #expect(throws: BenchCompareError.self) { try compare.run { _ in } }
        #expect(error?.description.hasPrefix("--only-gateway runs the gateway section") == true)
    }
}
