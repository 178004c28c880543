import Foundation
import SaMDSBOM
import SaMDTestSupport
import Testing

/// Input a newcomer tried: malformed OSV fields must be refused (65), not read as "nothing affected";
/// `--output` never replaces a special file; a failed write of standard output is an I/O error, not a crash.
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

    @Test func outputNeverReplacesASpecialFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("samd-sbom-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
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
