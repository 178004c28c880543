import Foundation
import SaMDCrypto
import Testing

/// The `samd-vault` binary, run as a user runs it.
@Suite("samd-vault info")
struct SamdVaultCLITests {
    struct Run {
        let status: Int32
        let standardOutput: String
        let standardError: String
    }

    static func executable() throws -> URL {
        // The test bundle and the product sit in the same build directory.
        var directory = Bundle.module.bundleURL.deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("samd-vault")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw CocoaError(
            .fileNoSuchFile, userInfo: [NSFilePathErrorKey: "samd-vault next to \(Bundle.module.bundleURL.path)"])
    }

    static func run(_ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = try self.executable()
        process.arguments = arguments
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus,
            standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData, as: UTF8.self)
        )
    }

    @Test func jsonReportMatchesTheLibrary() throws {
        let run = try Self.run(["info", "--json"])
        #expect(run.status == 0, "\(run.standardError)")
        let printed = try JSONDecoder().decode(RuntimeReport.self, from: Data(run.standardOutput.utf8))
        let here = try RuntimeReport.current()
        #expect(printed.openSSL.version == here.openSSL.version)
        #expect(printed.openSSL.versionNumber == here.openSSL.versionNumber)
        #expect(printed.openSSL.libcryptoPath == here.openSSL.libcryptoPath)
        #expect(printed.sodium.version == here.sodium.version)
        #expect(printed.openSSL.fipsProviderAvailable == here.openSSL.fipsProviderAvailable)
        #expect(printed.profile == .default)
    }

    @Test func textReportNamesEveryComponent() throws {
        let run = try Self.run(["info"])
        #expect(run.status == 0)
        let report = try RuntimeReport.current()
        for needle in [
            report.openSSL.version, report.sodium.version, "FIPS provider available", "AES instructions",
            try #require(report.openSSL.libcryptoPath),
        ] {
            #expect(run.standardOutput.contains(needle), "missing \(needle)")
        }
    }

    @Test func nistProfileFailsClosedWithExitCode69() throws {
        let report = try RuntimeReport.current()
        guard !report.openSSL.fipsProviderAvailable else {
            #expect(try Self.run(["info", "--profile", "nist"]).status == 0)
            return
        }
        let run = try Self.run(["info", "--profile", "nist", "--json"])
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
        let failure = try JSONDecoder().decode(Failure.self, from: Data(run.standardOutput.utf8))
        #expect(failure.error.code == "fipsProviderUnavailable")
        #expect(failure.error.reason.contains("FIPS provider"))
        let text = try Self.run(["info", "--profile", "nist"])
        #expect(text.status == 69)
        #expect(text.standardOutput.isEmpty)
    }

    @Test func unknownArgumentsAreUsageErrors() throws {
        #expect(try Self.run(["info", "--profile", "fips140-99"]).status == 64)
        #expect(try Self.run(["info", "--no-such-flag"]).status == 64)
    }
}
