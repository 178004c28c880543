public import ArgumentParser
import Foundation
public import SaMDCrypto
import SaMDExampleSupport

/// `samd-vault`: envelope encryption of patient records on the command line, over SaMDEnvelope and
/// SaMDKeys. Each subcommand is a thin layer over the library.
@main
struct SamdVault: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samd-vault",
        abstract: "Encrypt patient records at rest: envelopes, key rotation, rewrap, crypto-shredding.",
        discussion: """
            A key store keeps its KEKs under a passphrase (the default) or in a PKCS #11 token \
            (keys init --kek pkcs11:token=LABEL;object=records?module-path=/path/module.so). Every command finds \
            which in the store itself and reads only that secret: the passphrase from SAMD_PASSPHRASE or \
            --passphrase-file, or the token's user PIN from SAMD_PKCS11_PIN or --pin-file (mode 0600) — never \
            from the command line (--pin, or pin-value in the URI: exit 64). A token never exports a KEK: a \
            store in a token seals only with --subject (without it, seal exits 64), and rewrap has nothing to \
            do there (keys rotate rewraps the subject keys in the token); keys destroy destroys the token object.
            Exit codes (sysexits): 0 ok; 64 usage; 65 data not authentic or malformed; 66 input missing (a record, \
            or the PIN: no --pin-file or SAMD_PKCS11_PIN, or an unsafe PIN file); 69 key unavailable (a wrong or \
            missing passphrase; a token that is absent, refused the PIN, or whose module cannot be loaded — nothing \
            is written then); 70 internal error; 73 cannot create output; 74 I/O error; \
            75 a file changed while rewrap worked on it, or the key store stayed locked past its timeout (try again).
            """,
        version: SaMDKit.version,
        subcommands: [Keys.self, Seal.self, Open.self, Rewrap.self, Inspect.self, Shred.self, Info.self]
    )
}

struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the cryptographic runtime report: library versions and paths, AES instructions, FIPS state."
    )

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    @Option(
        name: .long, help: "Request a cryptographic profile first (default, nist); nist fails without a FIPS provider.")
    var profile: CryptoProfile = .default

    func run() async throws {
        do {
            try CryptoProfile.activate(self.profile)
            let report = try RuntimeReport.current()
            print(self.json ? try Self.renderJSON(report) : Self.renderText(report))
        } catch let error as CryptoError {
            printError("\(error)")
            if self.json {
                // JSON consumers get a machine-readable failure on standard output too.
                print(try Self.renderJSON(ErrorReport(error: .init(code: "\(error.code)", reason: error.reason))))
            }
            throw ExitCode(Self.exitCode(for: error))
        }
    }

    /// Exit codes (sysexits): 69 the requested profile is unavailable (no FIPS provider), 78 the loaded
    /// libraries are unsupported (configuration), 70 anything else.
    static func exitCode(for error: CryptoError) -> Int32 {
        switch error.code {
        case .fipsProviderUnavailable: ExitStatus.unavailable
        case .unsupportedLibraryVersion: ExitStatus.configuration
        default: ExitStatus.software
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
