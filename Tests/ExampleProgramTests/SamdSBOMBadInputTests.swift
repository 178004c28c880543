import Foundation
import SaMDSBOM
import SaMDTestSupport
import Testing

/// Input a newcomer tried: malformed OSV fields must be refused (65), not read as "nothing affected";
/// `--output` never replaces a special file and keeps the mode of the file it replaces; an input that is not a
/// regular file is refused; values quoted in usage errors are escaped; a failed write of standard output is an
/// I/O error, not a crash.
@Suite("samd-sbom bad input")
struct SBOMBadInputTests {
    static func record(_ affected: String) -> String {
        #"{"id": "X-1", "modified": "2026-11-30T00:00:00Z", "affected": "# + affected + "}"
    }

    static let package = #"{"ecosystem": "OSS-Fuzz", "name": "openssl"}"#

    @Test(arguments: [
        #""nope""#,
        #"[{"package": \#(package), "versions": "3.0.19"}]"#,
        #"[{"package": \#(package), "ranges": "nope"}]"#,
        #"[{"package": \#(package), "ranges": [{"type": "ECOSYSTEM", "events": []}]}]"#,
        #"[{"package": \#(package), "ranges": [{"type": "ECOSYSTEM", "events": [{"bogus": "1"}]}]}]"#,
        #"[{"package": \#(package), "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": 0}]}]}]"#,
        #"[{"package": \#(package), "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": {"oops": 1}}]}]}]"#,
    ])
    func malformedAdvisoryFieldsAreRefused(affected: String) throws {
        #expect(throws: SBOMError.self) {
            _ = try VulnerabilityCheck.findings(
                for: try SBOMInventory.current(), advisories: Data(Self.record(affected).utf8))
        }
    }

    /// A new empty directory under the temporary directory (the caller removes it).
    static func makeDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("samd-sbom-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func outputNeverReplacesASpecialFile() async throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let fifo = directory.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let link = directory.appendingPathComponent("link").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/null")
        for target in [fifo, link, directory.path] {
            let run = try await SBOMHarness.sbom(["--output", target])
            #expect(run.status == 73, "\(target): \(run.standardError)")
        }
        var status = stat()
        #expect(stat(fifo, &status) == 0 && status.st_mode & S_IFMT == S_IFIFO, "the FIFO is still a FIFO")
        #expect(
            (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == "/dev/null", "the link is untouched")
    }

    /// A FIFO would block the check forever and a device never ends: an input that is not a regular file is
    /// refused (66) once opened without blocking, before anything is read.
    @Test func anInputThatIsNoRegularFileIsRefusedWithoutBlocking() async throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let fifo = directory.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let advisories = try SBOMHarness.resource("matching")
        for input in [fifo, "/dev/zero", directory.path] {
            for arguments in [["--check", input], ["--check", advisories, "--vex", input]] {
                let started = ContinuousClock.now
                let run = try await SBOMHarness.sbom(arguments)
                #expect(run.status == 66, "\(arguments): \(run.standardError)")
                #expect(run.standardError.contains("is not a regular file"), "\(arguments)")
                #expect(ContinuousClock.now - started < .seconds(60), "\(arguments): refused, not read")
            }
        }
    }

    /// Usage errors quote what was typed (ArgumentParser's and samd-sbom's own): a value cannot forge a line
    /// (`ok: …`) nor send a terminal escape.
    @Test(arguments: [
        ["--check", "ADVISORIES", "--as-of", "2031-01-01\n\u{1B}[2Jok: fake"],
        ["--check", "ADVISORIES", "--vex-format", "csaf", "--publisher-namespace", "https://a.example/\nok: fake"],
        ["--check", "ADVISORIES", "--vex-format", "csaf", "--publisher-namespace", "https://a.example/\u{1B}[2J"],
        ["--format", "x\nok: fake\u{1B}[2J"],
        ["--unknown\u{1B}[2J\nok: fake"],
        ["--check", "ADVISORIES", "--vex-format", "csaf\u{202E}\nok: fake"],
    ])
    func valuesQuotedInUsageErrorsAreEscaped(arguments: [String]) async throws {
        let advisories = try SBOMHarness.resource("matching")
        let run = try await SBOMHarness.sbom(arguments.map { $0 == "ADVISORIES" ? advisories : $0 })
        #expect(run.status == 64, "\(arguments): \(run.standardError)")
        #expect(
            !run.standardError.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{202E}" || $0 == "\r" },
            "\(arguments)")
        let lines = run.standardError.split(separator: "\n")
        #expect(!lines.contains { $0.hasPrefix("ok") }, "\(arguments): \(run.standardError)")
        let first = String(lines.first ?? "")
        #expect(first.contains("\\n") || first.contains("\\u{1B}"), "shown escaped: \(run.standardError)")
        #expect(run.output.isEmpty)
    }

    /// `--output` replaces a file atomically and keeps its permission bits: an SBOM a manufacturer keeps 0600
    /// stays 0600; no temporary file is left beside it.
    @Test(arguments: [0o600, 0o640, 0o644])
    func outputKeepsTheModeOfTheFileItReplaces(mode: Int) async throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("sbom.json")
        try Data("earlier\n".utf8).write(to: file)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file.path)
        let run = try await SBOMHarness.sbom(["--output", file.path])
        #expect(run.status == 0, "\(run.standardError)")
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        #expect((attributes[.posixPermissions] as? Int) == mode)
        #expect(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) is [String: Any])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["sbom.json"])
    }

    @Test func aFullStandardOutputIsAnIOErrorNotACrash() throws {
        let process = Process()
        process.executableURL = try SBOMHarness.executable()
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: "/dev/full"))
        process.standardError = Pipe()
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 74)
    }
}
