import ArgumentParser
import BenchComparison
import Foundation

/// `Scripts/bench-compare`'s program: the options of ``BenchCompare`` on the command line.
@main
struct BenchCompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-compare",
        abstract: "Runs SaMDKit's benchmarks side by side with their references and prints one table.",
        discussion: """
            Every row is SaMDKit ("ours") against a reference measured in the same run: raw OpenSSL EVP or raw \
            libsodium for the envelope, swift-nio-ssl for TLS, the issue's target rate for rewrap, a raw floor \
            for rotation and for re-key, SQLite's synchronous NORMAL for a durable put, raw postgres-nio \
            statements over the same SaMDTLS connections for the PostgreSQL store, the same \
            Hummingbird routes on HummingbirdTLS (swift-nio-ssl) for samd-gateway under load. Figures are medians \
            (p50) of the benchmark's iterations; `ratio` is ours / reference. The JSON is a list of {"name", \
            "ours", "reference", "unit", "ratio", "goal"}. Exit status: 0 every goal met, 1 a goal missed, 2 a \
            benchmark or bench-compare failed, or a row is missing. Docs/Performance.md explains the rows.
            """
    )

    @Flag(help: "short runs, small fixtures, no device section, a shorter gateway load")
    var quick = false

    @Option(name: .customLong("json"), help: ArgumentHelp("write the rows as JSON", valueName: "FILE"))
    var json: String?

    @Option(help: ArgumentHelp("write the table as Markdown", valueName: "FILE"))
    var markdown: String?

    @Option(help: ArgumentHelp("write an SVG chart of seal throughput by record size", valueName: "FILE"))
    var chart: String?

    @Flag(help: "skip the static samd-agent size and memory")
    var noDevice = false

    @Flag(help: "skip the gateway load section (samd-gateway vs the same routes on HummingbirdTLS)")
    var noGateway = false

    @Flag(help: "skip the PostgreSQL store section (the Store target, which starts a PostgreSQL server)")
    var noPostgres = false

    @Flag(help: "run only the PostgreSQL store section (with --runs, --quick, --json, --markdown, --from-results)")
    var onlyPostgres = false

    @Flag(help: "run only the gateway load section (with --runs, --quick, --json, --markdown)")
    var onlyGateway = false

    @Option(
        help: ArgumentHelp(
            "run the benchmarks N times and report each row's median (ours, reference and ratio)", valueName: "N"))
    var runs = 1

    @Option(help: ArgumentHelp("read a saved run (DIR/*.jmh.json) instead of running", valueName: "DIR"))
    var fromResults: String?

    @Option(help: ArgumentHelp("keep this run's package-benchmark export in DIR", valueName: "DIR"))
    var saveResults: String?

    /// The SaMDKit checkout; by default the one this program was built from.
    @Option(help: .hidden)
    var packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// Usage errors exit 2, as every other failure of bench-compare; `--help` exits 0.
    static func main() {
        let command: Self
        do {
            command = try Self.parse()
        } catch {
            guard Self.exitCode(for: error) != .success else { Self.exit(withError: error) }
            FileHandle.standardError.write(Data((Self.fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        }
        do {
            Foundation.exit(try command.compare().run { Swift.print($0) })
        } catch {
            FileHandle.standardError.write(Data("bench-compare: \(error)\n".utf8))
            Foundation.exit(2)
        }
    }

    func compare() -> BenchCompare {
        let file = { (path: String?) in path.map { URL(fileURLWithPath: $0) } }
        var compare = BenchCompare(packageRoot: URL(fileURLWithPath: self.packageRoot))
        compare.quick = self.quick
        compare.json = file(self.json)
        compare.markdown = file(self.markdown)
        compare.chart = file(self.chart)
        compare.noDevice = self.noDevice
        compare.noGateway = self.noGateway
        compare.noPostgres = self.noPostgres
        compare.onlyPostgres = self.onlyPostgres
        compare.onlyGateway = self.onlyGateway
        compare.runs = self.runs
        compare.fromResults = file(self.fromResults)
        compare.saveResults = file(self.saveResults)
        return compare
    }
}
