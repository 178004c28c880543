public import Foundation
public import Logging
import SaMDEnvelope
import SaMDExampleSupport
public import SaMDKeys
public import SaMDPostgres
public import SaMDStore

/// A key store opened at a ``StorageLocation``, with what keeps it (a PostgreSQL pool and the key store's
/// listener): ``close()`` when done.
public final class OpenedKeys: Sendable {
    /// The key store.
    public let store: FileKeyStore
    /// Where its KEKs are.
    public let custody: KEKCustodyRecord
    /// The PostgreSQL key store and its pool, for a key store in a database.
    let postgres: (keys: PostgresKeyStore, pool: PostgresConnectionPool)?

    init(store: FileKeyStore, custody: KEKCustodyRecord, postgres: (PostgresKeyStore, PostgresConnectionPool)?) {
        self.store = store
        self.custody = custody
        self.postgres = postgres
    }

    /// Whether the KEKs are in a PKCS #11 token (a token store seals only with subject keys).
    public var isTokenCustody: Bool { self.custody.pkcs11URI != nil }

    /// The pool of a key store in a database.
    public var pool: PostgresConnectionPool? { self.postgres?.pool }

    /// ``close()`` from synchronous code (a command's main thread).
    public func closeNow() {
        _ = try? waitFor { await self.close() }
    }

    /// Stops the key store's listener and closes its pool.
    public func close() async {
        if let (keys, pool) = self.postgres {
            await keys.close()
            await pool.close()
        }
    }
}

/// The pool of a PostgreSQL location: its password from `PGPASSWORD` or the password file (`PGPASSFILE`, else
/// `~/.pgpass`), read in `environment`.
/// - Throws: ``StorageAccessError`` — 64 for a refused password file.
public func makePool(
    _ location: PostgresLocation, configuration: PostgresConnectionPool.Configuration = .init(),
    environment: [String: String] = ProcessInfo.processInfo.environment,
    logger: Logger = Logger(label: "samdkit.postgres")
) throws -> PostgresConnectionPool {
    do {
        let credentials = try PostgresCredentials.resolve(for: location, environment: environment)
        return try PostgresConnectionPool(
            connector: PostgresConnector(location: location, credentials: credentials, logger: logger),
            configuration: configuration, logger: logger)
    } catch let error as PostgresStoreError {
        throw StorageAccessError.postgres(error, "\(location)")
    }
}

/// Opens the key store at `location` with the custody it records (a directory: as
/// ``openKeyStore(at:passphraseFile:pinFile:pinFileHasOtherUse:lockTimeout:logger:)``; a database: its KEKs must be
/// in a PKCS #11 token — a key store under a passphrase cannot be shared by instances and is refused).
/// - Parameters:
///   - pool: for a database, the pool to use (the record store's, when both are in one database); one is made
///     otherwise, logging to `databaseLogger`.
///   - databaseLogger: the logger of a pool made here (its connections' TLS handshakes are logged at info: a
///     command-line tool that is not a service passes one at warning).
/// - Throws: ``StorageAccessError`` for the database's errors; ``KeyStoreAccessError``; `EnvelopeError`.
public func openKeys(
    at location: StorageLocation, passphraseFile: String?, pinFile: String?, pinFileHasOtherUse: Bool = false,
    pool: PostgresConnectionPool? = nil, logger: Logger = Logger(label: "samdkit.keys"),
    databaseLogger: Logger = Logger(label: "samdkit.postgres")
) async throws -> OpenedKeys {
    switch location {
    case .directory(let directory):
        let opened = try openKeyStore(
            at: directory, passphraseFile: passphraseFile, pinFile: pinFile, pinFileHasOtherUse: pinFileHasOtherUse,
            logger: logger)
        return OpenedKeys(store: opened.store, custody: opened.custody, postgres: nil)
    case .postgres(let database):
        let ownPool = pool == nil
        let pool = try pool ?? makePool(database, logger: databaseLogger)
        do {
            let recorded = RecordedCustody()
            let keys = try await PostgresKeyStore.open(
                pool: pool,
                custody: { record in
                    recorded.set(record)
                    return try custodyForOpening(
                        record, store: database.description, passphraseFile: passphraseFile, pinFile: pinFile,
                        pinFileHasOtherUse: pinFileHasOtherUse)
                }, logger: logger)
            guard let custody = recorded.get() else {
                throw EnvelopeError(.keyStore, "key store \(database): opened without its custody record")
            }
            return OpenedKeys(store: keys.keys, custody: custody, postgres: (keys, pool))
        } catch {
            if ownPool { await pool.close() }
            if let error = error as? PostgresStoreError {
                throw StorageAccessError.postgres(error, "key store \(database)")
            }
            throw error
        }
    }
}

/// The custody record a key store's opening saw (set once, from the opening's thread).
private final class RecordedCustody: @unchecked Sendable {
    private let lock = NSLock()
    private var record: KEKCustodyRecord?
    func set(_ record: KEKCustodyRecord) { self.lock.withLock { self.record = record } }
    func get() -> KEKCustodyRecord? { self.lock.withLock { self.record } }
}

/// A record store and its key store, opened at two locations of the same kind.
public final class OpenedStorage: Sendable {
    /// The record store: `EncryptedRecordStore` (a directory) or `PostgresRecordStore` (a database).
    public let store: any RecordStore & KeyJobStore
    /// The key store under it.
    public let keys: OpenedKeys

    init(store: any RecordStore & KeyJobStore, keys: OpenedKeys) {
        self.store = store
        self.keys = keys
    }

    /// Closes the PostgreSQL record store and pools (nothing to do for directories).
    public func close() async {
        if let store = self.store as? PostgresRecordStore { try? await store.close() }
        await self.keys.close()
    }
}

/// Opens the record store at `store` and its key store at `keystore`: both directories, or one PostgreSQL
/// database for both (one pool: a record's commit checks its subject key itself).
///
/// Two different databases are refused: a key job over one database's key store and another's records (a
/// mistyped `--store`) would find no record of any subject, and a re-key would then destroy every subject's old
/// key version — every record lost.
/// - Parameter requireExisting: for a database, whether it must hold a record store and a key store already
///   (`rotate`: it never creates one); checked before anything is made.
/// - Throws: ``StorageAccessError`` — 64 for a directory with a database, two databases, or a refused URL; 66 for
///   a database without a record store or key store when `requireExisting`; the database's errors;
///   ``KeyStoreAccessError``; `EnvelopeError`; `RecordStoreError`.
public func openStorage(
    store: StorageLocation, keystore: StorageLocation, maximumRecordByteCount: Int, passphraseFile: String?,
    pinFile: String?, pinFileHasOtherUse: Bool = false, requireExisting: Bool = false,
    logger: Logger = Logger(label: "samdkit.store")
) async throws -> OpenedStorage {
    switch (store, keystore) {
    case (.directory(let directory), .directory):
        let keys = try await openKeys(
            at: keystore, passphraseFile: passphraseFile, pinFile: pinFile, pinFileHasOtherUse: pinFileHasOtherUse)
        let records = try EncryptedRecordStore(
            directory: directory, keyStore: keys.store,
            configuration: .init(maximumRecordByteCount: maximumRecordByteCount), logger: logger)
        return OpenedStorage(store: records, keys: keys)
    case (.postgres(let database), .postgres(let keyDatabase)):
        guard database == keyDatabase else {
            throw StorageAccessError(
                .usage,
                "the record store and the key store are one PostgreSQL database (--store \(database), --keystore "
                    + "\(keyDatabase)): a key job over another database's records would find none of them")
        }
        let pool = try makePool(database)
        let keys: OpenedKeys
        do {
            if requireExisting {
                let installed: [String: Int]
                do {
                    installed = try await pool.installedComponents()
                } catch let error as PostgresStoreError {
                    throw StorageAccessError.postgres(error, "\(database)")
                }
                guard installed["records"] != nil, installed["keys"] != nil else {
                    throw StorageAccessError(
                        .noInput,
                        "\(database): no record store and key store in this database; rotate never creates one: "
                            + "check the URL")
                }
            }
            keys = try await openKeys(
                at: keystore, passphraseFile: passphraseFile, pinFile: pinFile, pinFileHasOtherUse: pinFileHasOtherUse,
                pool: pool)
        } catch {
            await pool.close()
            throw error
        }
        do {
            let records = try await PostgresRecordStore(
                pool: pool, keyStore: keys.store,
                configuration: .init(maximumRecordByteCount: maximumRecordByteCount), logger: logger)
            return OpenedStorage(store: records, keys: keys)
        } catch {
            await keys.close()
            await pool.close()
            throw error
        }
    default:
        throw StorageAccessError(
            .usage,
            "the record store and the key store are both directories or both PostgreSQL databases (--store \(store), --keystore \(keystore)): instances over one database must share one key store in it"
        )
    }
}
