public import ArgumentParser
import Foundation
public import Logging
public import SaMDCrypto
import SaMDEnvelope
import SaMDKeys

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The program's name, as messages start with it (`samd-tls: …`).
let programName = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? Substring($0)) } ?? "samdkit"

/// Writes one line to standard error, prefixed with the program's name.
public func printError(_ message: String) {
    try? FileHandle.standardError.write(contentsOf: Data("\(programName): \(message)\n".utf8))
}

/// Writes one line to standard output at once (unbuffered), so a script reading it sees it now.
public func printLine(_ line: String) {
    try? FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8))
}

/// Routes swift-log to standard error, one line per event, from `level` up. Standard output stays for the
/// lines scripts read.
public func bootstrapLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

/// Checks that each path can be opened for reading — and is a regular file when `regularFilesOnly`, else
/// anything but a directory; exit 66 (EX_NOINPUT) otherwise, with the reason on standard error.
public func requireReadable(_ paths: [String?], regularFilesOnly: Bool = false) throws {
    for case let path? in paths {
        var info = stat()
        if stat(path, &info) != 0 || access(path, R_OK) != 0 {
            printError("\(path): \(String(cString: strerror(errno)))")
            throw ExitCode(66)
        }
        if regularFilesOnly, info.st_mode & S_IFMT != S_IFREG {
            printError("\(path) is not a regular file")
            throw ExitCode(66)
        }
        if info.st_mode & S_IFMT == S_IFDIR {
            printError("\(path) is a directory")
            throw ExitCode(66)
        }
    }
}

/// `--key-passphrase-file`: the passphrase of an encrypted TLS private key.
public struct KeyPassphraseOption: ParsableArguments {
    @Option(
        name: .customLong("key-passphrase-file"),
        help: ArgumentHelp(
            "A file holding the passphrase of an encrypted private key (one line; a regular file others cannot read).",
            valueName: "file"
        )
    )
    public var file: String?

    public init() {}

    /// The passphrase (one trailing newline dropped), or `nil` without a file. Exit 66 when the file cannot be used.
    public func read() throws -> SecureBytes? {
        guard let file else { return nil }
        do {
            return try Passphrase.fromFile(file)
        } catch let error as EnvelopeError {
            printError("--key-passphrase-file: \(error.reason)")
            throw ExitCode(66)
        }
    }
}

/// Runs a command's body so that every exit is one its `--help` lists: an error that is not already an exit
/// (`ExitCode`, ArgumentParser's `CleanExit`) is printed and ends the program with 70 (EX_SOFTWARE), not
/// ArgumentParser's 1.
public func withListedExitCodes<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        throw listedExit(error)
    }
}

/// ``withListedExitCodes(_:)`` for synchronous bodies.
public func withListedExitCodes<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        throw listedExit(error)
    }
}

private func listedExit(_ error: any Error) -> any Error {
    if error is ExitCode || error is CleanExit { return error }
    printError("internal error: \(error)")
    return ExitCode(70)
}
