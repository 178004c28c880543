import Foundation
import SaMDTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `samd-demo --postgres`: two gateway instances over one PostgreSQL server (Debian's postgresql-15) that the demo
/// starts in its work directory — as root, `initdb` as the `postgres` user — with the KEK in a SoftHSM2 token; and
/// no server left running after it, whether it ends or is interrupted.
@Suite("samd-demo --postgres", .timeLimit(.minutes(5)))
struct DemoPostgresTests {
    /// Every process working in `directory` or naming it on its command line, as "PID: COMMAND LINE (in CWD)":
    /// PostgreSQL's postmaster runs with `-D DIR/postgres/data`, and it and every `postgres:` process it starts
    /// (whose command line is then only its title) work in that data directory.
    static func processes(in directory: String) -> [String] {
        var found: [String] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != getpid() else { continue }
            let workingDirectory =
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/cwd")) ?? ""
            let commandLine =
                (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline"))).map {
                    String(decoding: $0.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
                } ?? ""
            if workingDirectory.hasPrefix(directory) || commandLine.contains(directory) {
                found.append("\(pid): \(commandLine) (in \(workingDirectory))")
            }
        }
        return found
    }

    @Test func twoGatewaysOverOneDatabasePassEveryCheckAndTheServerIsStoppedAndKept() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-demo-postgres-test-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let run = try await ChildProcess.run(
            try ProgramLocations.binary("samd-demo"), ["--postgres", "--work-directory", work],
            timeout: .seconds(240))
        #expect(run.status == 0, "\(run)")
        #expect(run.output.contains("samd-demo: all 12 checks passed"), "\(run)")
        for shown in [
            "gateway A: listening on 127.0.0.1:", "gateway B: listening on 127.0.0.1:",
            "key store: opened by instance B from the database's custody record",
            "PASS  device uploads 4 records over mutual TLS through gateway A (201 each)",
            "PASS  a device certificate may not read (403)",
            "PASS  reader reads every record back byte for byte through gateway B",
            "PASS  KEK rotated records:1 → records:2, 3 subject keys rewrapped with both gateways serving",
            "PASS  after destroying records:1, every record still opens byte for byte through both gateways",
            "4 identical through gateway A, 4 identical through gateway B",
            "PASS  records:1 is destroyed in the token (C_DestroyObject)",
            "PASS  every subject re-keyed (fresh subject keys, every record rewrapped, old versions destroyed) with both gateways serving",
            "PASS  shredding one subject through gateway A: its 2 records answer 410 Gone through gateway B, the other 2 still open",
            "PASS  a client without a certificate is refused (certificateRequired)",
            "PASS  a device certificate from an unknown CA is refused",
            "PASS  PostgreSQL's data files and log hold no plaintext and no subject or record id",
            "files scanned after CHECKPOINT",
            // Where everything is, and that the server is stopped with its files kept.
            "records stored in", "PostgreSQL: database samd on 127.0.0.1:",
            "key store (metadata, wrapped subject keys)",
            "KEK custody", "PKCS #11 token samd-demo", "TLS handshakes at the gateways", "subject re-key",
            "PostgreSQL stopped; its files are kept in \(work)/postgres",
        ] {
            #expect(run.output.contains(shown), "missing: \(shown)\n\(run)")
        }
        // Reads went through both gateways while each job ran.
        let served = run.output.split(separator: "\n").filter { $0.contains("reads answered meanwhile:") }
        #expect(served.count == 2, "\(run)")
        for line in served {
            #expect(line.contains(" through A, ") && line.contains(" through B, all identical"), "\(line)")
        }
        #expect(!run.output.contains("FAIL"))

        // No server left: no process in the work directory, no pid file; the cluster and its log are kept.
        #expect(Self.processes(in: work).isEmpty, "\(Self.processes(in: work))")
        #expect(!FileManager.default.fileExists(atPath: work + "/postgres/data/postmaster.pid"))
        #expect(FileManager.default.fileExists(atPath: work + "/postgres/data/PG_VERSION"))
        #expect(FileManager.default.fileExists(atPath: work + "/postgres/server.log"))
        // The PIN, kept 0600, was never printed; the database's password file is private too.
        let userPIN = try String(contentsOfFile: work + "/token-user-pin", encoding: .utf8)
            .trimmingCharacters(in: .newlines)
        #expect(!run.output.contains(userPIN) && !run.standardError.contains(userPIN))
        #expect(fileMode(work + "/postgres/pgpass") == 0o600)
    }

    @Test func anInterruptedDemoStopsItsServerAndRemovesItsTemporaryWorkDirectory() async throws {
        let help = try await ChildProcess.run(
            try ProgramLocations.binary("samd-demo"), ["--help"], timeout: .seconds(60))
        for said in ["--postgres", "PostgreSQL", "SIGINT", "130", "/usr/lib/softhsm/libsofthsm2.so"] {
            #expect(help.output.contains(said), "--help does not say \(said)\n\(help)")
        }

        let demo = try ChildProcess(try ProgramLocations.binary("samd-demo"), ["--postgres"])
        defer { demo.kill() }
        // The server is up and both gateways serve once B listens.
        let listening = await demo.waitForStandardOutput(containing: "gateway B: listening", timeout: .seconds(180))
        #expect(listening, "\(demo.standardOutput.text)\n\(demo.standardError.text)")
        let output = demo.standardOutput.text
        let work = try #require(
            output.split(separator: "\n").first { $0.hasPrefix("work directory: ") && $0.hasSuffix(" (temporary)") }
                .map { String($0.dropFirst("work directory: ".count).dropLast(" (temporary)".count)) },
            "\(output)")
        #expect(!Self.processes(in: work).isEmpty, "the server should be running in \(work)")

        demo.signal(SIGINT)
        let status = await demo.waitForExit(timeout: .seconds(90))
        // It exits by itself (exit(130)), having stopped the server: not killed by the signal.
        #expect(status == 130, "\(demo.standardOutput.text)\n\(demo.standardError.text)")
        #expect(demo.process.terminationReason == .exit)
        let said = demo.standardOutput.text
        #expect(said.contains("interrupted (SIGINT): stopping PostgreSQL"), "\(said)")
        #expect(said.contains("PostgreSQL stopped and removed"), "\(said)")
        #expect(Self.processes(in: work).isEmpty, "\(Self.processes(in: work))")
        #expect(!FileManager.default.fileExists(atPath: work))
    }
}
