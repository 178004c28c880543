import ArgumentParser
import Foundation
import Logging
import SaMDCrypto
import SaMDEnvelope
import SaMDExampleStorage
import SaMDExampleSupport
import SaMDKeys
import SaMDRecordGateway
import SaMDRecordService
import SaMDStore
import SaMDTLS

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The exit codes of each subcommand, in the words its `--help` uses — the one list the help texts are built
/// from (Examples/RecordGateway/SaMDRecordGateway.docc/Gateway.md repeats it; `GatewayOptionTests` checks that the three agree).
enum GatewayExitCodes {
    static let serve: [(code: Int32, meaning: String)] = [
        (ExitStatus.ok, "stopped by SIGINT or SIGTERM"),
        (
            ExitStatus.usage,
            "usage (an option missing, malformed or out of range; a refused PostgreSQL URL; --store and --keystore not both directories or not one database)"
        ),
        (ExitStatus.noInput, "an input file (certificate, key, CA, CRL, passphrase or PIN file) cannot be read"),
        (
            ExitStatus.unavailable,
            "cannot listen on the address, or the token of a pkcs11: --key or of the key store is absent, refused the PIN, or its module cannot be loaded, or PostgreSQL cannot be reached"
        ),
        (ExitStatus.software, "internal error"),
        (ExitStatus.ioError, "the record store or the key store cannot be read or written"),
        (
            ExitStatus.configuration,
            "invalid configuration or identity (an expired or wrong-purpose server certificate, or one whose keyUsage lacks digitalSignature), or the key store cannot be opened (wrong or no passphrase, modified or mis-permissioned; in a database: its KEKs not in a token), or PostgreSQL refused its certificate or the login, or its schema is newer"
        ),
    ]

    static let rotate: [(code: Int32, meaning: String)] = [
        (ExitStatus.ok, "rotation finished"),
        (
            ExitStatus.usage,
            "usage (an option missing, malformed or out of range; a refused PostgreSQL URL; --store and --keystore not both directories or not one database)"
        ),
        (
            ExitStatus.dataError,
            "some subject keys could not be rewrapped (listed by blind name on standard error; run again to retry them)"
        ),
        (
            ExitStatus.noInput,
            "--store holds no record store (a directory without records.sqlite; a database without SaMDKit's record and key tables: nothing is made in it), or the passphrase or PIN file cannot be read"
        ),
        (
            ExitStatus.unavailable,
            "the key store's PKCS #11 token is absent, refused the PIN, or its module cannot be loaded (nothing is written), or PostgreSQL cannot be reached"
        ),
        (ExitStatus.software, "internal error"),
        (ExitStatus.ioError, "the record store or the key store cannot be read or written"),
        (
            ExitStatus.temporaryFailure,
            "another rotation job is running on this store, or the key store stayed locked past its timeout"
        ),
        (
            ExitStatus.configuration,
            "the key store cannot be opened, or the KEK has no active version, or PostgreSQL refused its certificate or the login"
        ),
    ]

    /// `0 meaning; 64 meaning; …`
    static func text(_ codes: [(code: Int32, meaning: String)]) -> String {
        codes.map { "\($0.code) \($0.meaning)" }.joined(separator: "; ") + "."
    }
}

/// The record store and the key store under it — two directories (SQLite and files, one machine) or two
/// PostgreSQL URLs (several instances over one database; the key store's KEKs in a PKCS #11 token) — opened as
/// `samd-vault` opens a key store: with the custody the key store records — its passphrase from `--passphrase-file`
/// or the `SAMD_PASSPHRASE` environment variable, or, for a key store whose KEKs are in a PKCS #11 token, the token's
/// user PIN from `--pin-file` or `SAMD_PKCS11_PIN` (the command's own PIN option: `serve`'s is the one of its TLS
/// options) — never from the command line. A database's password comes from `PGPASSWORD` or the password file
/// (`PGPASSFILE`, `~/.pgpass`), never from the URL.
struct StoreOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The record store: a directory (serve creates it 0700 if missing; rotate never does), or a PostgreSQL URL postgresql://ROLE@HOST:PORT/DB?sslrootcert=CA.pem (TLS verify-full; password from PGPASSWORD or PGPASSFILE).",
            valueName: "dir|url"))
    var store: String

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The key store: a directory made by `samd-vault keys init` (its KEKs under a passphrase or in a PKCS #11 token), or the PostgreSQL URL of the record store's database (KEKs in a PKCS #11 token).",
            valueName: "dir|url"))
    var keystore: String

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A file holding the passphrase of a key store under a passphrase (mode 0600). Default: the SAMD_PASSPHRASE environment variable.",
            valueName: "file")
    )
    var passphraseFile: String?

    /// The two locations; exit 64 for a URL refused.
    func locations() throws -> (store: StorageLocation, keystore: StorageLocation) {
        do {
            return (try StorageLocation(self.store), try StorageLocation(self.keystore))
        } catch let error as StorageAccessError {
            printError(error.reason)
            throw ExitCode(error.exitStatus)
        }
    }

    /// Exit 66 unless a directory `--store` holds a record store (its database file): for commands that must not
    /// create one from a mistyped path. A database is judged when opened (`open(requireExisting: true)`).
    func requireExistingStore() throws {
        guard case .directory(let directory) = try self.locations().store else { return }
        let path = directory + "/" + EncryptedRecordStore.databaseFileName
        var info = stat()
        guard lstat(path, &info) != 0 else { return } // anything there is judged by the store itself
        let reason =
            errno == ENOENT || errno == ENOTDIR
            ? "no record store here (no \(EncryptedRecordStore.databaseFileName))" : String(cString: strerror(errno))
        printError("--store \(directory): \(reason); rotate never creates a store: check the path")
        throw ExitCode(ExitStatus.noInput)
    }

    /// Opens both stores, the key store with the custody it records, its PIN — for a key store in a token — from
    /// `pinFile` or `SAMD_PKCS11_PIN`. Exit 64 for a secret option that does not fit the key store (`--passphrase-file`
    /// for a token store; `--pin-file` for a passphrase store unless `pinFileHasOtherUse`, the PIN of a `pkcs11:` TLS
    /// key), a refused URL, or a directory with a database; 66 for a passphrase or PIN that cannot be read; 69 for a
    /// token that is absent, refused the PIN or whose module cannot be loaded (nothing is written then), or a
    /// database that cannot be reached; 78 for a key store that cannot be opened (no or wrong passphrase, modified,
    /// mis-permissioned; in a database: KEKs not in a token), a database whose certificate or login is refused or
    /// whose schema is newer; 74 for I/O and storage failures. Two different databases are refused (64); with
    /// `requireExisting`, a database that holds no record store and key store is 66, and nothing is made in it.
    func open(
        maximumRecordByteCount: Int = RecordGatewayConfiguration.defaultMaximumBodyByteCount, pinFile: String?,
        pinFileHasOtherUse: Bool = false, requireExisting: Bool = false
    ) async throws -> OpenedStorage {
        let (store, keystore) = try self.locations()
        if case .directory = keystore { try requireReadable([self.passphraseFile]) }
        do {
            return try await openStorage(
                store: store, keystore: keystore, maximumRecordByteCount: maximumRecordByteCount,
                passphraseFile: self.passphraseFile, pinFile: pinFile, pinFileHasOtherUse: pinFileHasOtherUse,
                requireExisting: requireExisting, logger: Logger(label: "samdkit.store"))
        } catch let error as StorageAccessError {
            printError(error.reason)
            throw ExitCode(error.exitStatus)
        } catch let error as KeyStoreAccessError {
            printError(error.reason)
            throw ExitCode(error.exitStatus)
        } catch let error as EnvelopeError {
            printError("key store \(keystore): \(error.code): \(error.reason)")
            throw ExitCode(RecordServiceExitStatus.code(forKeyStore: error))
        } catch let error as RecordStoreError {
            printError("record store \(store): \(error.code): \(error.reason)")
            throw ExitCode(RecordServiceExitStatus.code(forStore: error))
        }
    }
}
