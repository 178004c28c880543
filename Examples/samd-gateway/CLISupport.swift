public import ArgumentParser
import Foundation
import Logging
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys
public import SaMDRecordService
import SaMDStore
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

/// Ends the process now with `status`.
func terminate(_ status: Int32) -> Never {
    exit(status)
}

/// Writes one line to standard error.
func printError(_ message: String) {
    try? FileHandle.standardError.write(contentsOf: Data("samd-gateway: \(message)\n".utf8))
}

/// Writes one line to standard output at once (unbuffered), so a script reading it sees it now.
func printLine(_ line: String) {
    try? FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8))
}

/// Routes swift-log to standard error, one line per event, from `level` up. Standard output stays for the
/// lines scripts read.
func bootstrapLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

/// Checks that each file can be opened for reading; exit 66 otherwise.
func requireReadable(_ paths: [String]) throws {
    for path in paths {
        var info = stat()
        if stat(path, &info) != 0 || access(path, R_OK) != 0 {
            printError("\(path): \(String(cString: strerror(errno)))")
            throw ExitCode(ExitStatus.noInput)
        }
        if info.st_mode & S_IFMT == S_IFDIR {
            printError("\(path) is a directory")
            throw ExitCode(ExitStatus.noInput)
        }
    }
}

/// `--key-passphrase-file`: the passphrase of an encrypted TLS private key.
struct KeyPassphraseOption: ParsableArguments {
    @Option(
        name: .customLong("key-passphrase-file"),
        help: ArgumentHelp(
            "A file holding the passphrase of an encrypted TLS private key (one line; a regular file others cannot read).",
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

/// The record store and the key store under it, opened as `samd-vault` opens a key store: the passphrase
/// from `--passphrase-file` or the `SAMD_PASSPHRASE` environment variable, never from the command line.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The record store directory (created 0700 if missing).", valueName: "dir"))
    var store: String

    @Option(name: .long, help: ArgumentHelp("The key store directory, made by `samd-vault keys init`.", valueName: "dir"))
    var keystore: String

    @Option(
        name: .long,
        help: ArgumentHelp("A file holding the key store's passphrase (mode 0600). Default: the SAMD_PASSPHRASE environment variable.", valueName: "file")
    )
    var passphraseFile: String?

    /// Opens both stores; exit 78 for a key store that cannot be opened (no or wrong passphrase, modified,
    /// mis-permissioned), 74 for I/O and storage failures.
    func open(maximumRecordByteCount: Int = 64 << 20) throws -> EncryptedRecordStore {
        let keys: FileKeyStore
        do {
            let passphrase = try self.passphraseFile.map(Passphrase.fromFile) ?? Passphrase.fromEnvironment()
            keys = try FileKeyStore(opening: self.keystore, passphrase: passphrase, logger: Logger(label: "samdkit.keys"))
        } catch let error as EnvelopeError {
            printError("key store \(self.keystore): \(error.code): \(error.reason)")
            throw ExitCode(ExitStatus.code(forKeyStore: error))
        }
        do {
            return try EncryptedRecordStore(
                directory: self.store,
                keyStore: keys,
                configuration: .init(maximumRecordByteCount: maximumRecordByteCount),
                logger: Logger(label: "samdkit.store")
            )
        } catch let error as RecordStoreError {
            printError("record store \(self.store): \(error.code): \(error.reason)")
            throw ExitCode(ExitStatus.code(forStore: error))
        }
    }
}
