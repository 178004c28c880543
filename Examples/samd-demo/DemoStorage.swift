import Foundation
import Logging
import SaMDCrypto
import SaMDExampleStorage
import SaMDExampleSupport
import SaMDKeys
import SaMDLocalPostgres
import SaMDPostgres
import SaMDStore

/// A record store over its key store, as one instance of the service opens them, and what closes them.
struct DemoStore: Sendable {
    /// The key store: the KEK's versions (rotated, destroyed by the demo) and the subject keys.
    let keys: FileKeyStore
    /// The record store the instance's gateway serves, and the key jobs run over.
    let records: any RecordStore & KeyJobStore
    /// Closes the record store, the key store and their pool (nothing to do for directories).
    let close: @Sendable () async -> Void
}

extension Demo {
    /// One instance over the work directory: the key store in `keys/` — its KEK under a random passphrase, or
    /// in the token — and the SQLite record store in `records/`.
    func openDirectoryStore(in work: WorkDirectory, token: DemoToken?, say: (String) -> Void) throws -> DemoStore {
        let keyStore: FileKeyStore
        if let token {
            keyStore = try FileKeyStore.create(
                at: work.path + "/keys", custody: token.custody, logger: Logger(label: "samdkit.keys"))
            say(
                "key store: KEK records:1 generated in PKCS #11 token \(DemoToken.label) (\(escapingControlCharacters(token.modulePath))); its PINs in \(work.path)/\(DemoToken.userPINFileName) and token-so-pin (0600)"
            )
        } else {
            // A random passphrase; kept beside the store (0600) only when the work directory is kept, so that the
            // store can be opened again (`samd-vault --passphrase-file`, `samd-gateway --passphrase-file`).
            let passphraseText = try SecureRandom.bytes(count: 24).map { String(format: "%02x", $0) }.joined()
            let passphrase = try SecureBytes(copying: Array(passphraseText.utf8))
            if !work.isTemporary { try work.writePrivate(passphraseText + "\n", to: "passphrase") }
            keyStore = try FileKeyStore.create(
                at: work.path + "/keys", passphrase: passphrase, kdf: .interactive,
                logger: Logger(label: "samdkit.keys"))
        }
        let records = try EncryptedRecordStore(
            directory: work.path + "/records", keyStore: keyStore, logger: Logger(label: "samdkit.store"))
        return DemoStore(keys: keyStore, records: records, close: {})
    }

    /// Two instances over the demo's database, as two gateway processes would open it, each with a pool, a
    /// `PostgresKeyStore` and a `PostgresRecordStore` of its own: A creates the key store in the database (its
    /// KEK generated in the token); B opens it as another process would (`openKeys`, as `samd-gateway serve
    /// --keystore postgresql://…` does), the custody made again from the record the database keeps and the PIN
    /// in `token-user-pin`.
    /// - Throws: `DemoSetupError` with the programs' exit codes for the database's and the token's errors.
    func openDatabaseStores(
        _ database: DemoDatabase, token: DemoToken, in work: WorkDirectory, say: (String) -> Void
    ) async throws -> [DemoStore] {
        let location = try PostgresLocation(database.server.url)
        let environment = ["PGPASSFILE": database.server.passwordFile]
        let pinFile = work.path + "/" + DemoToken.userPINFileName
        var stores: [DemoStore] = []
        do {
            stores.append(
                try await Self.openDatabaseStore(location, environment: environment) { pool in
                    let keys = try await PostgresKeyStore.create(
                        pool: pool, custody: token.custody, logger: Logger(label: "samdkit.keys"))
                    return (keys.keys, { await keys.close() })
                })
            say(
                "key store: in PostgreSQL (\(location)), made by instance A; KEK records:1 generated in PKCS #11 token \(DemoToken.label) (\(escapingControlCharacters(token.modulePath))); its PINs in \(pinFile) and token-so-pin (0600)"
            )
            stores.append(
                try await Self.openDatabaseStore(location, environment: environment) { pool in
                    let keys = try await openKeys(
                        at: .postgres(location), passphraseFile: nil, pinFile: pinFile, pool: pool)
                    return (keys.store, { await keys.close() })
                })
            say("key store: opened by instance B from the database's custody record (the token's URI) and the PIN file")
        } catch {
            for store in stores { await store.close() }
            throw Self.setupError(error)
        }
        return stores
    }

    /// A pool on `location`, the key store `keyStore` makes or opens on it (and what closes that), and a record
    /// store over both.
    private static func openDatabaseStore(
        _ location: PostgresLocation, environment: [String: String],
        keyStore: (PostgresConnectionPool) async throws -> (FileKeyStore, @Sendable () async -> Void)
    ) async throws -> DemoStore {
        let pool = try makePool(location, environment: environment)
        var closeKeys: (@Sendable () async -> Void)?
        do {
            let (keys, close) = try await keyStore(pool)
            closeKeys = close
            let records = try await PostgresRecordStore(
                pool: pool, keyStore: keys, logger: Logger(label: "samdkit.store"))
            return DemoStore(
                keys: keys, records: records,
                close: {
                    try? await records.close()
                    await close()
                    await pool.close()
                })
        } catch {
            await closeKeys?()
            await pool.close()
            throw error
        }
    }

    /// The database's and the token's errors with the exit codes the other programs give them.
    private static func setupError(_ error: any Error) -> any Error {
        switch error {
        case let error as PostgresStoreError:
            let access = StorageAccessError.postgres(error, "the demo's database")
            return DemoSetupError(description: access.reason, exitCode: access.exitStatus)
        case let error as StorageAccessError:
            return DemoSetupError(description: error.reason, exitCode: error.exitStatus)
        case let error as KeyStoreAccessError:
            return DemoSetupError(description: error.description, exitCode: error.exitStatus)
        default:
            return error
        }
    }
}
