import ArgumentParser
import Foundation
import SaMDCrypto
import SaMDExampleSupport
import SaMDSBOM

/// `samd-sbom`: the SBOM (CycloneDX 1.6 with CBOM, or SPDX 2.3) of this process, and an offline
/// check of its components against advisories and VEX statements. Thin over SaMDSBOM.
@main
struct SamdSBOM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samd-sbom",
        abstract: "Print the SBOM of what this process runs, or check it against advisories.",
        discussion: """
            Exit codes (sysexits): 0 ok (no finding); 64 usage; 65 an advisories or VEX file is malformed \
            (or over 64 MiB), or names no running component for a CSAF VEX document; \
            66 an input file is missing or not a regular file (a FIFO, device or directory); 69 the cryptographic runtime is unavailable; 70 internal error; \
            73 cannot create the output file; 74 I/O error; \
            78 --check found an affected version, an expired end of support, or an enabled algorithm past its NIST \
            deprecation or disallowance date (each finding is printed). --check with an empty advisories array \
            ([]) checks only end of support and the dated algorithm transitions. \
            With --vex-format, --check also writes every advisory that names a running component, assessed, as \
            CycloneDX 1.6 VEX or CSAF 2.0 VEX \
            (written, atomically with --output, whatever the findings; the exit code is the same).
            """,
        version: SaMDKit.version
    )

    @Option(name: .long, help: "Document format: cyclonedx (1.6, with CBOM) or spdx (2.3).")
    var format: Format = .cyclonedx

    @Option(
        name: .long,
        help: "The organisation that makes this SBOM (the device manufacturer; the CSAF publisher); default: the tool.")
    var author: String?

    @Option(name: .long, help: "Write the document to FILE instead of standard output.")
    var output: String?

    @Option(
        name: .long, help: "Check the running components against this OSV advisories file instead of printing the SBOM."
    )
    var check: String?

    @Option(name: .long, help: "An OpenVEX file whose not_affected/fixed statements suppress matches (repeatable).")
    var vex: [String] = []

    @Option(
        name: .customLong("as-of"),
        help: "The day (YYYY-MM-DD, UTC) to judge end of support and NIST algorithm transitions on; default today.")
    var asOf: String?

    @Option(
        name: .customLong("vex-format"),
        help: """
            With --check: write every advisory that names a running component, assessed (affected, not_affected, \
            fixed, under_investigation), as a VEX \
            document to --output or standard output: cyclonedx (the CycloneDX 1.6 SBOM with its vulnerabilities) or \
            csaf (CSAF 2.0, profile csaf_vex). The finding lines then go to standard error; the exit code is the same.
            """)
    var vexFormat: VEXFormatOption?

    @Option(
        name: .customLong("publisher-namespace"),
        help: """
            With --vex-format csaf: the URL of the publisher's trust domain (CSAF document.publisher.namespace); \
            required with --author, default \(SBOMInventory.defaultPublisherNamespace) for the tool.
            """)
    var publisherNamespace: String?

    enum VEXFormatOption: String, ExpressibleByArgument, CaseIterable {
        case cyclonedx, csaf
    }

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case cyclonedx, spdx
    }

    /// ArgumentParser's `main()`, but its messages quote what was typed (a bad value, an unknown option, the
    /// values ``validate()`` refuses): the message is escaped (``escapingControlCharacters(_:)``) so that a
    /// value cannot forge or hide a line of standard error.
    static func main() {
        do {
            var command = try Self.parseAsRoot()
            try command.run()
        } catch {
            let code = Self.exitCode(for: error)
            let message = Self.message(for: error)
            var text = Self.fullMessage(for: error)
            if code != .success, !message.isEmpty, let range = text.range(of: message) {
                text.replaceSubrange(range, with: escapingControlCharacters(message))
            }
            if !text.isEmpty {
                if code == .success {
                    print(text)
                } else {
                    try? FileHandle.standardError.write(contentsOf: Data((text + "\n").utf8))
                }
            }
            Self.exit(withError: ExitCode(code.rawValue))
        }
    }

    func validate() throws {
        if let asOf, !VulnerabilityCheck.isDay(asOf) {
            throw ValidationError("--as-of must be a real date, YYYY-MM-DD (ISO 8601 full date, UTC): \(asOf)")
        }
        if !self.vex.isEmpty && self.check == nil {
            throw ValidationError("--vex needs --check")
        }
        if self.vexFormat != nil && self.check == nil {
            throw ValidationError("--vex-format needs --check")
        }
        if let publisherNamespace {
            guard self.vexFormat == .csaf else {
                throw ValidationError("--publisher-namespace needs --vex-format csaf")
            }
            guard SBOMInventory.isAbsoluteHTTPURL(publisherNamespace) else {
                throw ValidationError("--publisher-namespace must be an absolute http(s) URL: \(publisherNamespace)")
            }
        } else if self.vexFormat == .csaf && self.author != nil {
            throw ValidationError(
                "--vex-format csaf with --author needs --publisher-namespace (a URL the manufacturer controls)")
        }
    }

    func run() throws {
        do {
            var inventory = try SBOMInventory.current()
            inventory.author = self.author
            if let check {
                try self.runCheck(inventory, advisoriesPath: check)
            } else {
                let data = try inventory.document(self.format == .spdx ? .spdx : .cycloneDX)
                try self.write(data)
            }
        } catch let error as SBOMError {
            printError("\(error)")
            throw ExitCode(Self.exitCode(for: error))
        }
    }

    private func runCheck(_ inventory: SBOMInventory, advisoriesPath: String) throws {
        let advisories = try Self.read(advisoriesPath)
        let statements = try self.vex.map(Self.read)
        let assessments = try VulnerabilityCheck.assessments(for: inventory, advisories: advisories, vex: statements)
        let findings = try VulnerabilityCheck.findings(for: inventory, assessments: assessments, on: self.asOf)
        // The document is written whatever the findings; the lines then go to standard error, beside it.
        let lines: (String) throws -> Void
        if let vexFormat {
            let format: VEXFormat = vexFormat == .csaf ? .csaf : .cycloneDX
            try self.write(
                try inventory.vexDocument(format, assessments: assessments, publisherNamespace: self.publisherNamespace)
            )
            lines = { printError($0) }
        } else {
            lines = { try Self.standardOutput($0 + "\n") }
        }
        // A finding quotes the advisories file (ids, summaries): one line each, escaped.
        for finding in findings { try lines(escapingControlCharacters("\(finding)")) }
        guard findings.isEmpty else {
            printError("\(findings.count) finding(s)")
            throw ExitCode(ExitStatus.configuration)
        }
        try lines(
            "ok: no advisory affects the running components, none is past its end of support and no enabled algorithm is past a NIST transition date"
        )
    }

    private func write(_ data: Data) throws {
        guard let output else {
            try Self.standardOutput(data + Data("\n".utf8))
            return
        }
        do {
            try OutputFile.replace(output, with: data + Data("\n".utf8))
        } catch {
            printError("cannot create \(output): \(error.reason)")
            throw ExitCode(ExitStatus.cannotCreate)
        }
    }

    /// The most an advisories or VEX file may hold: 64 MiB (the OSV records of one ecosystem fit many times).
    static let inputLimitBytes = 64 << 20

    /// The file at `path`, read up to ``inputLimitBytes`` + 1 bytes: a larger file is refused before it is held.
    /// Only a regular file is read: a FIFO, device, directory or socket is refused (66) once opened without
    /// blocking and before anything is read from it, so that neither a FIFO nor `/dev/zero` holds the check up.
    static func read(_ path: String) throws -> Data {
        let shown = escapingControlCharacters(path)
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            let number = errno
            throw SBOMError(
                .inputMissing,
                number == ENOENT
                    ? "\(shown) does not exist" : "cannot open \(shown): \(String(cString: strerror(number)))")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw SBOMError(.inputMissing, "\(shown) is not a regular file (a FIFO, device, directory or socket)")
        }
        let data: Data
        do {
            data = try handle.read(upToCount: Self.inputLimitBytes + 1) ?? Data()
        } catch {
            throw SBOMError(.ioFailure, "cannot read \(shown)")
        }
        guard data.count <= Self.inputLimitBytes else {
            throw SBOMError(.malformedInput, "\(shown) is larger than \(Self.inputLimitBytes >> 20) MiB")
        }
        return data
    }

    /// Writes to standard output; a failed write (a full disk, a closed pipe) is exit 74, not a crash.
    static func standardOutput(_ text: String) throws {
        try self.standardOutput(Data(text.utf8))
    }

    static func standardOutput(_ data: Data) throws {
        do {
            try FileHandle.standardOutput.write(contentsOf: data)
        } catch {
            printError("cannot write standard output: \(error.localizedDescription)")
            throw ExitCode(ExitStatus.ioError)
        }
    }

    static func exitCode(for error: SBOMError) -> Int32 {
        switch error.code {
        case .malformedInput, .nothingToState: ExitStatus.dataError
        case .inputMissing: ExitStatus.noInput
        case .runtimeUnavailable: ExitStatus.unavailable
        case .ioFailure: ExitStatus.ioError
        default: ExitStatus.software
        }
    }
}
