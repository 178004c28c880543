public import ArgumentParser
import Foundation
public import SaMDCrypto

/// `samd-vault`: SaMDKit's vault tool. This release has one subcommand, `info`, the
/// cryptographic runtime report.
@main
struct SamdVault: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samd-vault",
        abstract: "SaMDKit's vault tool. This release: the cryptographic runtime report (info).",
        version: SaMDKit.version,
        subcommands: [Info.self]
    )
}

struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the cryptographic runtime report: library versions and paths, AES instructions, FIPS state."
    )

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    @Option(name: .long, help: "Request a cryptographic profile first (default, nist); nist fails without a FIPS provider.")
    var profile: CryptoProfile = .default

    func run() async throws {
        do {
            try CryptoProfile.activate(self.profile)
            let report = try RuntimeReport.current()
            print(self.json ? try Self.renderJSON(report) : Self.renderText(report))
        } catch let error as CryptoError {
            FileHandle.standardError.write(Data("samd-vault: \(error)\n".utf8))
            if self.json {
                // JSON consumers get a machine-readable failure on standard output too.
                print(try Self.renderJSON(ErrorReport(error: .init(code: "\(error.code)", reason: error.reason))))
            }
            throw ExitCode(Self.exitCode(for: error))
        }
    }

    /// Exit codes: 0 success, 64 usage (ArgumentParser), 3 the requested profile is unavailable,
    /// 4 the loaded libraries are unsupported, 1 anything else.
    static func exitCode(for error: CryptoError) -> Int32 {
        switch error.code {
        case .fipsProviderUnavailable: 3
        case .unsupportedLibraryVersion: 4
        default: 1
        }
    }

    /// `{"error": {"code": …, "reason": …}}`, printed with `--json` when the report cannot be made.
    struct ErrorReport: Encodable {
        struct Detail: Encodable {
            let code: String
            let reason: String
        }
        let error: Detail
    }

    static func renderJSON(_ report: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }

    static func renderText(_ report: RuntimeReport) -> String {
        func show(_ value: String?) -> String { value ?? "unknown" }
        func show(_ value: Bool?) -> String { value.map { $0 ? "yes" : "no" } ?? "unknown" }
        let aes = report.aesInstructions
        var lines = [
            "SaMDKit \(report.samdKitVersion) — profile \(report.profile)",
            "OpenSSL:   \(report.openSSL.version) (\(report.openSSL.versionNumberHex); headers \(report.openSSL.headerVersionNumberHex))",
            "  libssl:    \(show(report.openSSL.libsslPath))",
            "  libcrypto: \(show(report.openSSL.libcryptoPath))",
            "  modules:   \(show(report.openSSL.modulesDirectory))",
            "  FIPS provider available: \(show(report.openSSL.fipsProviderAvailable)), active: \(show(report.openSSL.fipsProviderActive))",
            "libsodium: \(report.sodium.version) (library \(report.sodium.libraryVersion))",
            "  path:      \(show(report.sodium.path))",
            "AES instructions: CPU \(show(aes.cpuHasAESInstructions)), used by OpenSSL \(show(aes.usedByOpenSSL))",
        ]
        if let variable = aes.capabilityOverrideVariable {
            lines.append("  (\(variable) is set: OpenSSL's use of them cannot be told)")
        }
        return lines.joined(separator: "\n")
    }
}

extension CryptoProfile: ExpressibleByArgument {}
