import Foundation
import GRDB
import SaMDCrypto
import SaMDKeys
import SaMDKeysTestSupport
import SaMDStore
import Testing

/// No test opened a database written by an earlier schema: version 2 counts each shredding's records in its
/// receipt and deletes the rows of shredded subjects (version 1 kept them), version 3 adds the re-key
/// checkpoint, version 4 moves the envelope to the end of the row, version 5 makes the table a rowid table. A store written at version 1 is made here — the tables as version 1 created them, GRDB's
/// migration record saying only `v1`, rows and a receipt as version 1 left them — and opened.
@Suite("A version 1 record database opens and migrates")
struct SchemaMigrationTests {
    /// The tables exactly as schema version 1 created them.
    static let version1 = """
        CREATE TABLE record (
            record_index BLOB PRIMARY KEY NOT NULL CHECK (length(record_index) = 32),
            subject_index TEXT NOT NULL CHECK (length(subject_index) = 32),
            record_type TEXT NOT NULL,
            envelope BLOB NOT NULL,
            wrapping_key TEXT NOT NULL,
            revision INTEGER NOT NULL CHECK (revision >= 1),
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX record_by_subject ON record (subject_index);
        CREATE TABLE shred_receipt (
            subject_index TEXT PRIMARY KEY NOT NULL,
            key_name TEXT NOT NULL,
            key_version INTEGER NOT NULL,
            destroyed_at REAL NOT NULL
        );
        CREATE TABLE rotation_checkpoint (
            kek_name TEXT PRIMARY KEY NOT NULL,
            from_version INTEGER NOT NULL,
            target_version INTEGER,
            cursor TEXT,
            done INTEGER NOT NULL DEFAULT 0,
            rewrapped INTEGER NOT NULL DEFAULT 0,
            started_at REAL NOT NULL,
            finished_at REAL
        );
        CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
        INSERT INTO grdb_migrations (identifier) VALUES ('v1');
        """

    @Test(arguments: KeyStoreCustody.allCases)
    func aVersion1DatabaseMigratesKeepsItsRecordsAndCountsItsShreddedOnes(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        // Records as the store writes them (the envelope format did not change), two patients: one kept, one
        // shredded — whose rows version 1 left in the table, under the destroyed key.
        let kept = [("r-1", Array("kept one".utf8)), ("r-2", try SecureRandom.bytes(count: 30_000))]
        for (recordID, payload) in kept {
            try fixture.store.put(payload, subject: "kept", recordID: recordID, recordType: "application/octet-stream")
        }
        for recordID in ["a", "b", "c"] {
            try fixture.store.put(
                Array("erased \(recordID)".utf8), subject: "erased", recordID: recordID, recordType: "text/plain")
        }
        let current = try DatabaseQueue(path: fixture.storeDirectory + "/" + EncryptedRecordStore.databaseFileName)
        let rows = try current.read { db in try Row.fetchAll(db, sql: "SELECT * FROM record") }
        let receipt = try fixture.store.shred(subject: "erased")
        let receiptRow = try #require(
            try current.read { db in try Row.fetchOne(db, sql: "SELECT * FROM shred_receipt") })
        try current.close()

        // The version 1 database, in a store directory of its own.
        let directory = fixture.root + "/records-v1"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let path = directory + "/" + EncryptedRecordStore.databaseFileName
        #expect(FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]))
        let old = try DatabaseQueue(path: path)
        try old.write { db in
            try db.execute(sql: Self.version1)
            for row in rows {
                try db.execute(
                    sql: """
                        INSERT INTO record (record_index, subject_index, record_type, envelope, wrapping_key, revision, created_at, updated_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        row["record_index"], row["subject_index"], row["record_type"], row["envelope"],
                        row["wrapping_key"],
                        row["revision"], row["created_at"], row["updated_at"],
                    ]
                )
            }
            try db.execute(
                sql:
                    "INSERT INTO shred_receipt (subject_index, key_name, key_version, destroyed_at) VALUES (?, ?, ?, ?)",
                arguments: [
                    receiptRow["subject_index"], receiptRow["key_name"], receiptRow["key_version"],
                    receiptRow["destroyed_at"],
                ]
            )
        }
        #expect(try old.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM record") } == 5)
        try old.close()

        // Opened by this version: migrated to the current schema.
        let store = try EncryptedRecordStore(directory: directory, keyStore: fixture.keyStore)
        for (recordID, payload) in kept {
            #expect(try store.get(subject: "kept", recordID: recordID).payload == payload)
        }
        #expect(storeCode { try store.get(subject: "erased", recordID: "a") } == .shredded)
        // Version 2: the shredded patient's rows are gone, and counted in its receipt; a retried shredding
        // answers with that receipt.
        let again = try store.shred(subject: "erased")
        #expect(again.recordCount == 3)
        #expect(again.receipt.key == receipt.receipt.key)
        let statistics = try store.statistics()
        #expect(statistics.recordCount == 2 && statistics.subjectCount == 1 && statistics.shreddedSubjectCount == 1)
        // Version 3: the re-key checkpoint exists, and a re-key runs on the migrated store.
        let rekey = try SubjectRekeyJob(store: store).run()
        #expect(rekey.finished && rekey.recordsRewrapped == 2)
        for (recordID, payload) in kept {
            #expect(try store.get(subject: "kept", recordID: recordID).payload == payload)
        }
        let migrated = try DatabaseQueue(path: path)
        defer { try? migrated.close() }
        let identifiers = try migrated.read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier")
        }
        #expect(identifiers == ["v1", "v2", "v3", "v4", "v5"])
        #expect(try migrated.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM record") } == 2)
        // Version 4: the envelope is the table's last column (its overflow pages hold nothing a re-key changes).
        let columns = try migrated.read { db in try db.columns(in: "record").map(\.name) }
        #expect(
            columns == [
                "record_index", "subject_index", "record_type", "wrapping_key", "revision", "created_at", "updated_at",
                "envelope",
            ])
        #expect(try migrated.read { db in try db.indexes(on: "record").map(\.name) }.contains("record_by_subject"))
        // Version 5: a rowid table (a large envelope is written into its row in pieces), the blind index unique.
        #expect(try migrated.read { db in try Int64.fetchOne(db, sql: "SELECT min(rowid) FROM record") } != nil)
        let unique = try migrated.read { db in try db.indexes(on: "record").filter(\.isUnique).map(\.columns) }
        #expect(unique == [["record_index"]])
    }
}
