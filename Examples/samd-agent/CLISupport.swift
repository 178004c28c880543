public import ArgumentParser
import Foundation
import Logging
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys
public import SaMDRecordService
import SaMDTLS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

typealias ExitStatus = RecordServiceExitStatus

extension RecordServiceEndpoint: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(parsing: argument)
    }
}

/// Writes one line to standard error.
func printError(_ message: String) {
    try? FileHandle.standardError.write(contentsOf: Data("samd-agent: \(message)\n".utf8))
}

/// Writes one line to standard output at once.
func printLine(_ line: String) {
    try? FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8))
}

/// Routes swift-log to standard error, one line per event, from `level` up.
func bootstrapLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

/// A failure in words, with its code when it is a TLS error: `certificateRequired (from the peer, alert 116): …`.
func describe(_ error: any Error) -> String {
    guard let error = error as? TLSError else { return "\(error)" }
    var text = "\(error.code)"
    text += error.origin == .peer ? " (from the peer" : " (local"
    if let alert = error.alert { text += ", alert \(alert)" }
    return text + "): \(error.reason)"
}

/// Checks that each path is a regular file that can be read; exit 66 otherwise.
func requireReadable(_ paths: [String]) throws {
    for path in paths {
        var info = stat()
        if stat(path, &info) != 0 || access(path, R_OK) != 0 {
            printError("\(path): \(String(cString: strerror(errno)))")
            throw ExitCode(ExitStatus.noInput)
        }
        if info.st_mode & S_IFMT != S_IFREG {
            printError("\(path) is not a regular file")
            throw ExitCode(ExitStatus.noInput)
        }
    }
}

/// `--key-passphrase-file`: the passphrase of an encrypted TLS private key.
struct KeyPassphraseOption: ParsableArguments {
    @Option(
        name: .customLong("key-passphrase-file"),
        help: ArgumentHelp(
            "A file holding the passphrase of an encrypted private key (one line; a regular file others cannot read).",
            valueName: "file"
        )
    )
    var file: String?

    /// The passphrase, or `nil` without a file. Exit 66 when the file cannot be used.
    func read() throws -> SecureBytes? {
        guard let file else { return nil }
        do {
            return try Passphrase.fromFile(file)
        } catch let error as EnvelopeError {
            printError("--key-passphrase-file: \(error.reason)")
            throw ExitCode(ExitStatus.noInput)
        }
    }
}
