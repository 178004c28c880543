import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys
import SaMDLocalPostgres
import SaMDStore
import Testing

@testable import SaMDPostgres

/// PostgresFormat.md against the code and the committed fixtures (`Fixtures/`, README.md there): the DDL is one
/// text in the code, the fixture and the document; the catalog it makes is the fixture's; and a store written by
/// version 1 (a `pg_dump`) is read back by this code, byte for byte, tampering refused, a newer schema refused.
@Suite("PostgreSQL formats: the document, the fixtures and the code agree")
struct PostgresFormatTests {
    @Test("the DDL the migrations run is schema-v1.sql's and PostgresFormat.md's, statement for statement")
    func ddlIsOneText() throws {
        let fixture = FormatFixture.statements(
            try String(
                contentsOf: try FormatFixture.bundled.appendingPathComponent("schema-v1.sql"), encoding: .utf8))
        let document = FormatFixture.statements(
            FormatFixture.sqlBlocks(try String(contentsOf: FormatFixture.formatDocument, encoding: .utf8)))
        #expect(FormatFixture.codeStatements.count == 11)
        #expect(fixture == FormatFixture.codeStatements)
        #expect(document == FormatFixture.codeStatements)
    }

    @Test("a database migrated by this code has catalog-v1.txt's catalog, and so has one made by schema-v1.sql alone")
    func catalogIsTheFixtures() async throws {
        let expected = try Self.expectedCatalog()
        #expect(expected.count > 40)

        let migrated = try PostgresTestServer.database()
        let pool = try PostgresTestServer.pool(migrated.location, server: migrated.server)
        do {
            try await migrateBoth(pool)
            // Opening again changes nothing (the versions are recorded).
            try await migrateBoth(pool)
        } catch {
            await pool.close()
            throw error
        }
        await pool.close()
        #expect(try FormatFixture.catalog(migrated.server, database: migrated.location.database) == expected)
        #expect(
            try FormatFixture.schemaVersions(migrated.server, database: migrated.location.database) == [
                "keys 1", "records 1",
            ])

        let byHand = try PostgresTestServer.database()
        let ddl = try String(
            contentsOf: try FormatFixture.bundled.appendingPathComponent("schema-v1.sql"), encoding: .utf8)
        try FormatFixture.runAsApplication(byHand.server, ddl, database: byHand.location.database)
        #expect(try FormatFixture.catalog(byHand.server, database: byHand.location.database) == expected)
    }

    @Test("the version 1 store (store-v1/dump.sql) loads into a fresh database and reads back byte for byte")
    func fixtureStoreReadsBack() async throws {
        let manifest = try Self.manifest()
        try await Self.withFixtureStore { opened in
            #expect(
                try FormatFixture.catalog(opened.server, database: opened.database) == Self.expectedCatalog())
            for record in manifest.records {
                let stored = try await opened.store.get(subject: record.subject, recordID: record.recordID)
                #expect(stored.payload == Array(Data(base64Encoded: record.payload) ?? Data()), "\(record.recordID)")
                #expect(stored.recordType == record.recordType)
                #expect(stored.revision == record.revision)
            }
            for shredded in manifest.shredded {
                let error = await #expect(throws: RecordStoreError.self) {
                    try await opened.store.get(subject: shredded.subject, recordID: shredded.recordID)
                }
                #expect(error?.code == .shredded)
                #expect(error.flatMap(\.receipt).map { "\($0.key)" } == shredded.key)
            }
            let statistics = try await opened.store.statistics()
            #expect(statistics.recordCount == manifest.records.count)
            #expect(statistics.subjectCount == Set(manifest.records.map(\.subject)).count)
            #expect(statistics.shreddedSubjectCount == manifest.shredded.count)
            let keys: FileKeyStore = opened.keys
            #expect(
                try await offPool { try keys.list() }.map { "\($0.identifier) \($0.state)" } == manifest.kekVersions)
            // Opening did not migrate anything.
            #expect(
                try FormatFixture.schemaVersions(opened.server, database: opened.database) == ["keys 1", "records 1"])
            // Written by this code into the loaded store, read back too.
            try await opened.store.put(
                Array("after loading".utf8), subject: "MRN-0002", recordID: "new-0003", recordType: "text/plain",
                expectedRevision: 0)
            #expect(
                try await opened.store.get(subject: "MRN-0002", recordID: "new-0003").payload
                    == Array("after loading".utf8))
        }
    }

    @Test("a row of the loaded store tampered with is refused: an envelope byte, a record type, an envelope moved")
    func tamperedRowsRefused() async throws {
        let manifest = try Self.manifest()
        let scan = try #require(manifest.records.first { $0.recordID == "scan-0002" })
        let observation = try #require(manifest.records.first { $0.recordID == "obs-0001" })
        let message = try #require(manifest.records.first { $0.recordID == "msg-0001" })
        try await Self.withFixtureStore { opened in
            // Indexes of the rows, computed as the store computes them (off the cooperative pool: the key store blocks).
            let addressing: RecordAddressing = opened.store.addressing
            let indexes = try await offPool {
                try [scan, observation, message].map { record in
                    try addressing.address(subject: record.subject, recordID: record.recordID, recordType: nil)
                        .recordIndex.map { String(format: "%02x", $0) }.joined()
                }
            }
            let (scanIndex, observationIndex, messageIndex) = (indexes[0], indexes[1], indexes[2])
            func refused(_ record: FormatFixture.Manifest.Record, after sql: String) async throws {
                try opened.server.administer(sql, database: opened.database)
                let error = await #expect(throws: RecordStoreError.self, "\(sql)") {
                    try await opened.store.get(subject: record.subject, recordID: record.recordID)
                }
                #expect(error?.code == .authenticationFailed, "\(sql)")
            }
            // A payload byte (past the header and the salt and commitment), then the header's key version.
            try await refused(
                scan,
                after: """
                    UPDATE samd_record SET envelope = set_byte(envelope, 1000, get_byte(envelope, 1000) # 1) \
                    WHERE record_index = '\\x\(scanIndex)';
                    """)
            try await refused(
                observation,
                after: """
                    UPDATE samd_record SET record_type = 'application/json' WHERE record_index = '\\x\(observationIndex)';
                    """)
            // Another patient's envelope, copied onto this patient's row (it names the other's subject key).
            try await refused(
                message,
                after: """
                    UPDATE samd_record SET envelope = (SELECT envelope FROM samd_record WHERE record_index = '\\x\(scanIndex)') \
                    WHERE record_index = '\\x\(messageIndex)';
                    """)
        }
    }

    @Test("the key store's metadata row tampered with does not open; a subject row must be named s- and 32 hex")
    func tamperedKeyRowsRefused() async throws {
        try await Self.withFixtureStore(open: false) { opened in
            let error = #expect(throws: (any Error).self) {
                try opened.server.administer(
                    "UPDATE samd_subject_key SET name = 'S-' || substr(name, 3);", database: opened.database)
            }
            #expect("\(error.map { "\($0)" } ?? "")".contains("samd_subject_key_name_check"))
            try opened.server.administer(
                "UPDATE samd_key_metadata SET document = set_byte(document, 200, get_byte(document, 200) # 1);",
                database: opened.database)
            let pool = try PostgresTestServer.pool(try PostgresLocation(opened.url), server: opened.server)
            let persistence = try await PostgresKeyPersistence(pool: pool, logger: KeyStoreInstances.quiet)
            let passphrase = try SecureBytes(copying: Array(try Self.manifest().passphrase.utf8))
            let opening = await #expect(throws: EnvelopeError.self) {
                try await offPool {
                    _ = try FileKeyStore(
                        opening: persistence, custody: { try PassphraseCustody(opening: $0, passphrase: passphrase) },
                        logger: KeyStoreInstances.quiet)
                }
            }
            #expect(opening?.code == .keyStore)
            await persistence.close()
            await pool.close()
        }
    }

    @Test("the schema version check: version 1 is opened as it is, a newer version of either component is refused")
    func newerSchemaRefused() async throws {
        try await Self.withFixtureStore(open: false) { opened in
            let pool = try PostgresTestServer.pool(try PostgresLocation(opened.url), server: opened.server)
            do {
                try await Self.newerSchemaRefused(opened, pool: pool)
            } catch {
                await pool.close()
                throw error
            }
            await pool.close()
        }
    }

    static func newerSchemaRefused(_ opened: Opened, pool: PostgresConnectionPool) async throws {
        try opened.server.administer(
            "UPDATE samd_schema_version SET version = 2 WHERE component = 'keys';", database: opened.database)
        let keys = await #expect(throws: PostgresStoreError.self) {
            _ = try await PostgresKeyPersistence(pool: pool, logger: KeyStoreInstances.quiet)
        }
        #expect(keys?.code == .schema)
        try opened.server.administer(
            "UPDATE samd_schema_version SET version = 1 WHERE component = 'keys'; "
                + "UPDATE samd_schema_version SET version = 2 WHERE component = 'records';",
            database: opened.database)
        let persistence = try await PostgresKeyPersistence(pool: pool, logger: KeyStoreInstances.quiet)
        let passphrase = try SecureBytes(copying: Array(try Self.manifest().passphrase.utf8))
        let keyStore = try await offPool {
            try FileKeyStore(
                opening: persistence, custody: { try PassphraseCustody(opening: $0, passphrase: passphrase) },
                logger: KeyStoreInstances.quiet)
        }
        let records = await #expect(throws: RecordStoreError.self) {
            _ = try await PostgresRecordStore(pool: pool, keyStore: keyStore, logger: KeyStoreInstances.quiet)
        }
        #expect(records?.code == .storage)
        #expect(records?.reason.contains("version 2") == true)
        // Refused, not migrated down or touched.
        #expect(try FormatFixture.schemaVersions(opened.server, database: opened.database) == ["keys 1", "records 2"])
        await persistence.close()
    }

    // MARK: The fixture store

    static func expectedCatalog() throws -> [String] {
        try String(contentsOf: try FormatFixture.bundled.appendingPathComponent("catalog-v1.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
    }

    static func manifest() throws -> FormatFixture.Manifest {
        try JSONDecoder().decode(
            FormatFixture.Manifest.self,
            from: Data(contentsOf: try FormatFixture.bundled.appendingPathComponent("store-v1/records.json")))
    }

    /// The fixture store loaded into a fresh database, and (with `open`) opened by this code.
    struct Opened {
        let server: LocalPostgresServer
        let database: String
        let url: String
        let store: PostgresRecordStore!
        let keys: FileKeyStore!
    }

    /// Loads `store-v1/dump.sql` into a fresh database as the application role, opens it (the keys with the
    /// manifest's passphrase) unless `open` is false, runs `body`, and closes everything.
    static func withFixtureStore(open: Bool = true, _ body: (Opened) async throws -> Void) async throws {
        let (server, url, location) = try PostgresTestServer.database()
        let dump = try String(
            contentsOf: try FormatFixture.bundled.appendingPathComponent("store-v1/dump.sql"), encoding: .utf8)
        try FormatFixture.runAsApplication(server, dump, database: location.database)
        guard open else {
            try await body(Opened(server: server, database: location.database, url: url, store: nil, keys: nil))
            return
        }
        let pool = try PostgresTestServer.pool(location, server: server)
        var persistence: PostgresKeyPersistence?
        var store: PostgresRecordStore?
        do {
            persistence = try await PostgresKeyPersistence(pool: pool, logger: KeyStoreInstances.quiet)
            let opened = persistence!
            let passphrase = try SecureBytes(copying: Array(try Self.manifest().passphrase.utf8))
            let keys = try await offPool {
                try FileKeyStore(
                    opening: opened, custody: { try PassphraseCustody(opening: $0, passphrase: passphrase) },
                    logger: KeyStoreInstances.quiet)
            }
            store = try await PostgresRecordStore(pool: pool, keyStore: keys, logger: KeyStoreInstances.quiet)
            #expect(store!.checksKeyGenerationAtCommit)
            try await body(Opened(server: server, database: location.database, url: url, store: store, keys: keys))
        } catch {
            try? await store?.close()
            await persistence?.close()
            await pool.close()
            throw error
        }
        try await store?.close()
        await persistence?.close()
        await pool.close()
    }
}
