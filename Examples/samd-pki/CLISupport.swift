import ArgumentParser
import Foundation
import SaMDDevPKI
import SaMDExampleSupport

extension ExitStatus {
    /// The exit code for a failure of the library.
    static func code(for error: DevelopmentPKIError) -> Int32 {
        switch error.code {
        case .invalidIdentifier, .invalidSubjectAlternativeName, .invalidValidity: usage
        case .outputExists, .cannotWrite: cannotCreate
        case .cannotRead, .invalidAuthority: noInput
        default: software
        }
    }
}

/// Runs `body`; a failure is reported on standard error (never with key material: the library's errors
/// carry none) and becomes the matching exit code.
func reportingFailure<Result>(_ body: () throws -> Result) throws -> Result {
    do {
        return try body()
    } catch let error as DevelopmentPKIError {
        var message = error.reason
        if error.code == .outputExists { message += " (use --force to replace)" }
        printError(message)
        throw ExitCode(ExitStatus.code(for: error))
    } catch {
        printError("\(error)")
        throw ExitCode(ExitStatus.software)
    }
}

/// One line per file on standard output: path, mode, and for certificates subject, SANs, EKUs and notAfter.
/// Private keys are named, never printed.
func printSummary(_ files: [DevelopmentPKIDirectory.WrittenFile], heading: String) {
    var lines = [heading]
    for file in files {
        var line = "  \(file.path)  \(String(file.mode, radix: 8).leftPadded(to: 4))"
        switch file.kind {
        case .privateKey:
            line += "  private key (unencrypted PKCS#8; keep it private)"
        case .readme:
            line += "  README"
        case .certificate:
            if let subject = file.subject { line += "  subject \(subject)" }
            if !file.subjectAlternativeNames.isEmpty {
                line += "  SAN " + file.subjectAlternativeNames.map(\.description).joined(separator: ", ")
            }
            if !file.extendedKeyUsages.isEmpty {
                line += "  EKU " + file.extendedKeyUsages.map(\.description).joined(separator: ", ")
            }
            if let notAfter = file.notAfter { line += "  notAfter \(notAfter.formatted(.iso8601))" }
        }
        lines.append(line)
    }
    // Paths and names come from the command line: each line escaped (printLine).
    lines.forEach(printLine)
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - self.count)) + self
    }
}
