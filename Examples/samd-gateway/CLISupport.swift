public import ArgumentParser
import Foundation
import Logging
import SaMDCrypto
import SaMDEnvelope
import SaMDExampleSupport
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
