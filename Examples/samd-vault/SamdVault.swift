public import ArgumentParser
import Foundation
public import SaMDCrypto

/// `samd-vault`: envelope encryption of patient records on the command line.
/// This release carries the `info` subcommand; sealing, opening and key management follow.
@main
struct SamdVault: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samd-vault",
        abstract: "Encrypt patient records at rest with SaMDKit.",
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
            throw ExitCode(Self.exitCode(for: error))
        }
    }

    /// Exit codes: 0 success, 2 usage (ArgumentParser), 3 the requested profile is unavailable,
    /// 4 the loaded libraries are unsupported, 1 anything else.
    static func exitCode(for error: CryptoError) -> Int32 {
        switch error.code {
        case .fipsProviderUnavailable: 3
        case .unsupportedLibraryVersion: 4
        default: 1
        }
    }

    static func renderJSON(_ report: RuntimeReport) throws -> String {
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
