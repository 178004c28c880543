import Foundation
import SaMDTestSupport
import Testing

/// `samd-demo`, the README's first quick-start command, run as a user runs it.
@Suite("samd-demo")
struct DemoTests {
    @Test(.timeLimit(.minutes(5)))
    func theDemoOnItsShippedRecordsPassesEveryCheck() async throws {
        let run = try await ChildProcess.run(try ProgramLocations.binary("samd-demo"), [], timeout: .seconds(240))
        #expect(run.status == 0, "\(run)")
        #expect(run.output.contains("samd-demo: all 9 checks passed"), "\(run)")
        for shown in [
            "PASS  device uploads 4 records over mutual TLS",
            "PASS  a device certificate may not read (403)",
            "PASS  reader reads every record back byte for byte",
            "PASS  the database holds no plaintext and no subject or record id",
            "PASS  KEK rotated records:1 → records:2",
            "PASS  after destroying records:1, every record still opens byte for byte",
            "PASS  shredding one subject",
            "PASS  a client without a certificate is refused (certificateRequired)",
            "PASS  a device certificate from an unknown CA is refused",
            "TLS handshakes at the gateway",
            "KEK rotation (subject keys rewrapped)",
            "envelope seal, in process",
        ] {
            #expect(run.output.contains(shown), "missing: \(shown)\n\(run)")
        }
        #expect(!run.output.contains("FAIL"))
    }

    /// Every shared medical record (FHIR, Synthea, HL7 v2, DICOM, as the tests carry them) must pass too.
    @Test(.timeLimit(.minutes(5)))
    func theDemoPassesOnTheSharedMedicalRecordsAndKeepsItsWorkDirectoryWhenAsked() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("samd-demo-test-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let run = try await ChildProcess.run(
            try ProgramLocations.binary("samd-demo"),
            ["--records", MedicalRecords.packageFolder.path, "--subjects", "2", "--work-directory", work],
            timeout: .seconds(240)
        )
        #expect(run.status == 0, "\(run)")
        #expect(run.output.contains("checks passed"), "\(run)")
        // Kept for inspection: the PKI, the key store and the database, all private.
        for sub in ["pki", "keys", "records"] {
            #expect(fileMode(work + "/" + sub).map { $0 & 0o077 } == 0, "\(sub)")
        }
        #expect(FileManager.default.fileExists(atPath: work + "/records/records.sqlite"))
        // The kept key store opens with the kept passphrase (0600): records:1 destroyed, records:2 active.
        #expect(fileMode(work + "/passphrase") == 0o600)
        let list = try await ChildProcess.run(
            try ProgramLocations.binary("samd-vault"),
            ["keys", "list", "--keystore", work + "/keys", "--passphrase-file", work + "/passphrase"],
            timeout: .seconds(60))
        #expect(list.status == 0, "\(list)")
        #expect(
            list.output.contains("records:1") && list.output.contains("destroyed") && list.output.contains("records:2"),
            "\(list)")
    }

    @Test func badInputIsRefusedWithItsExitCode() async throws {
        let demo = try ProgramLocations.binary("samd-demo")
        let missing = try await ChildProcess.run(demo, ["--records", "/nonexistent/records"], timeout: .seconds(60))
        #expect(missing.status == 66, "\(missing)")
        let existing = FileManager.default.temporaryDirectory.path
        let taken = try await ChildProcess.run(demo, ["--work-directory", existing], timeout: .seconds(60))
        #expect(taken.status == 73, "\(taken)")
        let usage = try await ChildProcess.run(demo, ["--subjects", "0"], timeout: .seconds(60))
        #expect(usage.status == 64, "\(usage)")
    }
}
