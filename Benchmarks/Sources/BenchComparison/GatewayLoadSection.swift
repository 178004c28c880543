import BenchmarkCatalog
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The gateway section of bench-compare: the real `samd-gateway serve` and `GatewayReference` (the same routes on
/// HummingbirdTLS), both running, loaded by one `GatewayLoad` from another process over kept-alive mutual TLS, in
/// turn slice by slice, so that a disturbance of a shared machine falls on both sides alike.
///
/// Everything is built in release in the Benchmarks package (the root package's `samd-gateway`, `samd-pki` and
/// `samd-vault` as its dependency's products, so the SaMDKit modules are compiled once for both servers). One
/// throw-away PKI (`samd-pki init`) and key store (`samd-vault keys init`, passphrase file) serve the whole
/// section; each server start gets a new record store. Stores live under `/dev/shm` when it exists, so that the
/// comparison measures HTTP and TLS rather than the disk's `fsync` (both sides commit durably, as deployed).
/// The device certificate is granted the read role (`--reader urn:samd:device:0001`) so one client can PUT and
/// GET; ours checks roles and logs a security event per request, the reference does neither.
enum GatewayLoadSection {
    static let products = ["samd-gateway", "samd-pki", "samd-vault", "GatewayReference", "GatewayLoad"]

    /// Builds the programs, then `runs` times starts both servers and loads them with one client, in turn slice by
    /// slice (``GatewayLoadPlan/sliceSeconds``, ours first in odd runs, the reference first in even ones), and
    /// returns the rows, each the median over the runs.
    /// - Parameter saveResults: where to keep the load client's reports (`gateway-load/run-N/ours.json`,
    ///   `reference.json`), as `--save-results` keeps package-benchmark's export.
    /// - Throws: ``BenchCompareError`` when a build, a server or the load client fails.
    static func rows(packageRoot: URL, runs: Int, quick: Bool, saveResults: URL? = nil) throws -> [ComparedRow] {
        let plan = GatewayLoadPlan(quick: quick)
        let binaries = try self.build(packageRoot: packageRoot)
        let shm = URL(fileURLWithPath: "/dev/shm")
        let inMemory = FileManager.default.isWritableFile(atPath: shm.path)
        let base = inMemory ? shm : FileManager.default.temporaryDirectory
        standardError(
            "bench-compare: gateway section: stores in \(base.path)"
                + (inMemory ? " (memory: HTTP and TLS measured, not the disk's fsync)" : " (no /dev/shm: on disk)"))
        let work = try ChildProcesses.makeDirectory(under: base, prefix: "samd-bench-gateway-")
        defer { ChildProcesses.removeDirectory(work) }
        try self.prepare(work: work, binaries: binaries)

        var ours: [GatewayLoadReport] = []
        var reference: [GatewayLoadReport] = []
        for run in 1...runs {
            let order = run % 2 == 1 ? [Side.ours, .reference] : [.reference, .ours]
            let measured = try self.measure(order, run: run, work: work, binaries: binaries, plan: plan)
            for (side, (report, data)) in zip(order, measured) {
                if let saveResults {
                    let directory = saveResults.appendingPathComponent("gateway-load/run-\(run)")
                    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                    try data.write(to: directory.appendingPathComponent(side == .ours ? "ours.json" : "reference.json"))
                }
                standardError(
                    "bench-compare: gateway run \(run), \(side.label): "
                        + String(
                            format: "%.0f req/s; p99 PUT %.2f ms, GET %.2f ms", report.total.perSecond,
                            report.put.p99Milliseconds, report.get.p99Milliseconds))
                if side == .ours { ours.append(report) } else { reference.append(report) }
            }
        }
        return try GatewayLoadRows.rows(ours: ours, reference: reference)
    }

    enum Side: Equatable {
        case ours, reference
        var label: String { self == .ours ? "samd-gateway" : "Hummingbird on swift-nio-ssl" }
        var name: String { self == .ours ? "gateway" : "reference" }
    }

    private static func build(packageRoot: URL) throws -> URL {
        let benchmarks = packageRoot.appendingPathComponent("Benchmarks").path
        for product in self.products {
            standardError("bench-compare: building \(product) (release)")
            let (status, output) = try Subprocess.run(
                ["swift", "build", "--package-path", benchmarks, "-c", "release", "--product", product])
            guard status == 0 else {
                standardError(String(output.suffix(4000)), newline: false)
                throw BenchCompareError("building \(product) failed (exit \(status))")
            }
        }
        let (_, path) = try Subprocess.run(
            ["swift", "build", "--package-path", benchmarks, "-c", "release", "--show-bin-path"],
            standardError: .discarded)
        return URL(fileURLWithPath: path.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The PKI (`pki/`) and the key store (`keys/`, its passphrase in `passphrase`, mode 0600).
    private static func prepare(work: URL, binaries: URL) throws {
        var random = [UInt8](repeating: 0, count: 24)
        guard getentropy(&random, random.count) == 0 else { throw BenchCompareError("no random bytes (getentropy)") }
        let passphrase = work.appendingPathComponent("passphrase")
        guard
            FileManager.default.createFile(
                atPath: passphrase.path, contents: Data(Data(random).base64EncodedString().utf8),
                attributes: [.posixPermissions: 0o600])
        else { throw BenchCompareError("cannot write \(passphrase.path)") }
        for (program, arguments) in [
            ("samd-pki", ["init", "--out", "pki", "--device", "0001", "--reader", "01"]),
            ("samd-vault", ["keys", "init", "--keystore", "keys", "--passphrase-file", "passphrase"]),
        ] {
            let process = try ChildProcesses.start(
                binaries.appendingPathComponent(program), arguments, directory: work,
                standardOutput: work.appendingPathComponent("\(program).out"),
                standardError: work.appendingPathComponent("\(program).err"))
            guard ChildProcesses.wait(process, timeout: .seconds(60)), process.terminationStatus == 0 else {
                throw BenchCompareError(
                    "\(program) \(arguments.joined(separator: " ")) failed: "
                        + self.tail(work.appendingPathComponent("\(program).err")))
            }
        }
    }

    /// Starts both servers, loads them in turn slice by slice with one client, stops them; returns the client's
    /// report on each side, in `order`, decoded and as JSON.
    private static func measure(
        _ order: [Side], run: Int, work: URL, binaries: URL, plan: GatewayLoadPlan
    ) throws -> [(GatewayLoadReport, Data)] {
        var servers: [(process: Process, log: URL, program: String)] = []
        var ports: [Int] = []
        defer {
            for server in servers { ChildProcesses.stop(server.process) }
            for side in order {
                try? FileManager.default.removeItem(at: work.appendingPathComponent("records-\(side.name)-\(run)"))
            }
        }
        for side in order {
            let name = "\(side.name)-\(run)"
            let tls = ["--cert", "pki/server.pem", "--key", "pki/server.key", "--ca", "pki/root.pem"]
            let stores = ["--store", "records-\(name)", "--keystore", "keys", "--passphrase-file", "passphrase"]
            let (program, arguments) =
                side == .ours
                ? (
                    "samd-gateway",
                    ["serve", "--listen", "127.0.0.1:0"] + tls + stores + ["--reader", "urn:samd:device:0001"]
                )
                : ("GatewayReference", ["--port", "0"] + tls + stores)
            let output = work.appendingPathComponent("\(name).out")
            let log = work.appendingPathComponent("\(name).log")
            let server = try ChildProcesses.start(
                binaries.appendingPathComponent(program), arguments, directory: work, standardOutput: output,
                standardError: log)
            servers.append((server, log, program))
            ports.append(try self.listeningPort(server, output: output, log: log, program: program))
        }

        let reportFile = work.appendingPathComponent("load-\(run).json")
        let clientLog = work.appendingPathComponent("load-\(run).log")
        let client = try ChildProcesses.start(
            binaries.appendingPathComponent("GatewayLoad"),
            ports.flatMap { ["--port", "\($0)"] } + [
                "--ca", "pki/root.pem", "--cert", "pki/device-0001.pem", "--key", "pki/device-0001.key",
                "--connections", "\(plan.connections)", "--record-bytes", "\(plan.recordBytes)",
                "--warmup", "\(plan.warmupSeconds)", "--duration", "\(plan.durationSeconds)",
                "--slice", "\(plan.sliceSeconds)", "--timeout", "10",
            ], directory: work, standardOutput: reportFile, standardError: clientLog)
        // The client bounds itself (warm-up, duration, 10 s per request); this is the bound on the bound.
        let limit = Duration.seconds(Double(order.count) * (plan.warmupSeconds + plan.durationSeconds) + 60)
        guard ChildProcesses.wait(client, timeout: limit) else {
            throw BenchCompareError("the gateway load client did not finish within \(limit)")
        }
        let logs = servers.map { "\($0.program) log: " + self.tail($0.log) }.joined(separator: "; ")
        guard client.terminationStatus == 0 else {
            throw BenchCompareError(
                "the gateway load client failed (exit \(client.terminationStatus)): " + self.tail(clientLog) + "; "
                    + logs)
        }
        for server in servers where !server.process.isRunning {
            throw BenchCompareError("\(server.program) exited during the load: " + self.tail(server.log))
        }
        let reports = try GatewayLoadRows.reports(try Data(contentsOf: reportFile), sides: order.map(\.label))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try reports.map { ($0, try encoder.encode($0)) }
    }

    /// The port of the server's first output line, `listening on 127.0.0.1:PORT`, waited for at most 30 s.
    private static func listeningPort(_ server: Process, output: URL, log: URL, program: String) throws -> Int {
        let deadline = ContinuousClock.now + .seconds(30)
        let prefix = "listening on 127.0.0.1:"
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first, text.contains("\n") {
                guard line.hasPrefix(prefix), let port = Int(line.dropFirst(prefix.count)), port > 0 else {
                    throw BenchCompareError("\(program) printed \(escaped(String(line))) instead of its port")
                }
                return port
            }
            guard server.isRunning else {
                throw BenchCompareError("\(program) exited \(server.terminationStatus) at start: " + self.tail(log))
            }
            usleep(50_000)
        }
        throw BenchCompareError("\(program) did not listen within 30 s: " + self.tail(log))
    }

    /// The end of a log, control characters escaped.
    private static func tail(_ file: URL) -> String {
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        return escaped(String(text.suffix(1500)))
    }
}

/// `text` with control characters written as `\u{…}` (newlines as `\n`), for messages.
func escaped(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\n": out += "\\n"
        case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += "\\u{\(String(scalar.value, radix: 16))}"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}
