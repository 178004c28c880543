import Foundation
import GRDB
import Logging
import SaMDKeys
import SaMDKeysTestSupport
import SaMDLocalPostgres
import SaMDPostgres
import SaMDStore
import Testing

/// The record stores every conformance test runs against (`@Test(arguments: RecordStoreBackend.allCases)`):
/// the SQLite store and the PostgreSQL store on a real server, each with a fresh key store.
enum RecordStoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// `EncryptedRecordStore` in a temporary directory.
    case sqlite
    /// `PostgresRecordStore` in a fresh database of the test process's PostgreSQL server; its key store in a
    /// directory (the commit guarded by the key store's lock).
    case postgres
    /// `PostgresRecordStore` with its key store in the same database (`PostgresKeyStore`, KEKs in a SoftHSM2
    /// token): the commit checks the subject key's generation itself.
    case postgresWithKeys

    var testDescription: String { self.rawValue }

    /// A fresh store of this backend.
    func make(maximumRecordByteCount: Int = 64 << 20) async throws -> ConformanceStore {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("samd-conformance-\(UUID())").path
        try FileManager.default.createDirectory(
            atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        switch self {
        case .sqlite:
            let keyStore = try KeyStoreCustodian.passphraseCustodian().create(at: root + "/keys")
            let store = try EncryptedRecordStore(
                directory: root + "/records", keyStore: keyStore,
                configuration: .init(maximumRecordByteCount: maximumRecordByteCount))
            let database = root + "/records/" + EncryptedRecordStore.databaseFileName
            return ConformanceStore(
                store: store, keyStore: keyStore, recordTable: "record", root: root,
                execute: { sql in
                    let queue = try DatabaseQueue(path: database)
                    try queue.write { try $0.execute(sql: sql) }
                },
                close: {})
        case .postgres:
            let keyStore = try KeyStoreCustodian.passphraseCustodian().create(at: root + "/keys")
            let (server, _, location) = try PostgresTestServer.database()
            let pool = try PostgresTestServer.pool(location, server: server)
            let store = try await PostgresRecordStore(
                pool: pool, keyStore: keyStore,
                configuration: .init(maximumRecordByteCount: maximumRecordByteCount, spoolDirectory: root))
            return ConformanceStore(
                store: store, keyStore: keyStore, recordTable: "samd_record", root: root,
                execute: { sql in try server.administer(sql, database: location.database) },
                close: {
                    try? await store.close()
                    await pool.close()
                })
        case .postgresWithKeys:
            let (server, _, location) = try PostgresTestServer.database()
            let pool = try PostgresTestServer.pool(location, server: server)
            let custodian = try KeyStoreCustody.token.makeCustodian()
            let keys = try await PostgresKeyStore.create(pool: pool, custody: custodian.custody)
            let store = try await PostgresRecordStore(
                pool: pool, keyStore: keys.keys,
                configuration: .init(maximumRecordByteCount: maximumRecordByteCount, spoolDirectory: root))
            #expect(store.checksKeyGenerationAtCommit)
            return ConformanceStore(
                store: store, keyStore: keys.keys, recordTable: "samd_record", root: root,
                execute: { sql in try server.administer(sql, database: location.database) },
                close: {
                    try? await store.close()
                    await keys.close()
                    await pool.close()
                    custodian.remove()
                })
        }
    }
}

/// A record store under test, with raw access to its database for the tampering tests.
final class ConformanceStore: Sendable {
    let store: any RecordStore
    let keyStore: FileKeyStore
    /// The records table's name in this backend.
    let recordTable: String
    let root: String
    /// Runs SQL on the store's database directly (as an attacker with write access to it would).
    let execute: @Sendable (String) throws -> Void
    private let closing: @Sendable () async -> Void

    init(
        store: any RecordStore, keyStore: FileKeyStore, recordTable: String, root: String,
        execute: @escaping @Sendable (String) throws -> Void, close: @escaping @Sendable () async -> Void
    ) {
        self.store = store
        self.keyStore = keyStore
        self.recordTable = recordTable
        self.root = root
        self.execute = execute
        self.closing = close
    }

    /// Closes the store and deletes its directory.
    func close() async {
        await self.closing()
        try? FileManager.default.removeItem(atPath: self.root)
    }
}
