import Foundation
import SaMDCrypto
import SaMDTestSupport
import Testing

/// The `samd-vault` binary, run as a user runs it.
@Suite("samd-vault info")
struct SamdVaultCLITests {
    static func run(_ arguments: [String]) async throws -> ChildProcess.Run {
        try await ChildProcess.run(try ProgramLocations.binary("samd-vault"), arguments)
    }

    @Test func jsonReportMatchesTheLibrary() async throws {
        let run = try await Self.run(["info", "--json"])
        #expect(run.status == 0, "\(run.standardError)")
        let printed = try JSONDecoder().decode(RuntimeReport.self, from: Data(run.output.utf8))
        let here = try RuntimeReport.current()
        #expect(printed.openSSL.version == here.openSSL.version)
        #expect(printed.openSSL.versionNumber == here.openSSL.versionNumber)
        #expect(printed.openSSL.libcryptoPath == here.openSSL.libcryptoPath)
        #expect(printed.sodium.version == here.sodium.version)
        #expect(printed.openSSL.fipsProviderAvailable == here.openSSL.fipsProviderAvailable)
        #expect(printed.profile == .default)
    }

    @Test func textReportNamesEveryComponent() async throws {
        let run = try await Self.run(["info"])
        #expect(run.status == 0)
        let report = try RuntimeReport.current()
        for needle in [
            report.openSSL.version, report.sodium.version, "FIPS provider available", "AES instructions",
            try #require(report.openSSL.libcryptoPath),
        ] {
            #expect(run.output.contains(needle), "missing \(needle)")
        }
    }

    @Test func nistProfileFailsClosedWithExitCode69() async throws {
        let report = try RuntimeReport.current()
        guard !report.openSSL.fipsProviderAvailable else {
            #expect(try await Self.run(["info", "--profile", "nist"]).status == 0)
            return
        }
        let run = try await Self.run(["info", "--profile", "nist", "--json"])
        #expect(run.status == 69)
        #expect(run.standardError.contains("fipsProviderUnavailable"))
        // With --json, standard output carries the failure as JSON.
        struct Failure: Decodable {
            struct Detail: Decodable {
                let code: String
                let reason: String
            }
            let error: Detail
        }
        let failure = try JSONDecoder().decode(Failure.self, from: Data(run.output.utf8))
        #expect(failure.error.code == "fipsProviderUnavailable")
        #expect(failure.error.reason.contains("FIPS provider"))
        let text = try await Self.run(["info", "--profile", "nist"])
        #expect(text.status == 69)
        #expect(text.standardOutput.isEmpty)
    }

    @Test func unknownArgumentsAreUsageErrors() async throws {
        #expect(try await Self.run(["info", "--profile", "fips140-99"]).status == 64)
        #expect(try await Self.run(["info", "--no-such-flag"]).status == 64)
    }
}
