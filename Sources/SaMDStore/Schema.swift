import GRDB

/// The database schema, versioned through GRDB's migrator (each migration runs once, in a transaction).
enum Schema {
    /// The subject key version a row's `wrapping_key` (`s-<32 hex>:<version>`) names, as an SQL expression.
    static let wrappingKeyVersion = "CAST(substr(record.wrapping_key, instr(record.wrapping_key, ':') + 1) AS INTEGER)"

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            // One row per record. record_index = HMAC-SHA-256(index key, subject ‖ record id), 32 bytes;
            // subject_index = the subject key's blind name suffix (32 hex digits). No identifier in clear.
            try db.execute(
                sql: """
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
                    """)
        }
        migrator.registerMigration("v2") { db in
            // Shredding deletes the subject's rows (their envelopes are sealed under the destroyed key) and
            // counts them in the receipt; rows of subjects shredded before this version are deleted now.
            try db.execute(
                sql: """
                    ALTER TABLE shred_receipt ADD COLUMN record_count INTEGER NOT NULL DEFAULT 0;
                    UPDATE shred_receipt SET record_count = (
                        SELECT count(*) FROM record
                        WHERE record.subject_index = shred_receipt.subject_index AND \(wrappingKeyVersion) <= shred_receipt.key_version
                    );
                    DELETE FROM record WHERE EXISTS (
                        SELECT 1 FROM shred_receipt
                        WHERE shred_receipt.subject_index = record.subject_index AND \(wrappingKeyVersion) <= shred_receipt.key_version
                    );
                    """)
        }
        migrator.registerMigration("v3") { db in
            // The re-key job's intent and progress (SubjectRekeyJob): one job per store.
            try db.execute(
                sql: """
                    CREATE TABLE rekey_checkpoint (
                        id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
                        not_before REAL NOT NULL,
                        cursor TEXT,
                        done INTEGER NOT NULL DEFAULT 0,
                        rewrapped INTEGER NOT NULL DEFAULT 0,
                        started_at REAL NOT NULL,
                        finished_at REAL
                    );
                    """)
        }
        migrator.registerMigration("v4") { db in
            // The envelope last: a row larger than about 1 000 bytes spills into an overflow page, and the
            // columns stored after the envelope went with it. A re-key changes a row's key and the envelope's
            // header: with the key after the envelope, every rewrap rewrote the overflow page too (three times
            // the cost of the update, measured); now both stay in the row's own page, and the payload's bytes
            // — the rest of the envelope — are not written again. The table is copied once, in this transaction.
            try db.execute(
                sql: """
                    CREATE TABLE record_v4 (
                        record_index BLOB PRIMARY KEY NOT NULL CHECK (length(record_index) = 32),
                        subject_index TEXT NOT NULL CHECK (length(subject_index) = 32),
                        record_type TEXT NOT NULL,
                        wrapping_key TEXT NOT NULL,
                        revision INTEGER NOT NULL CHECK (revision >= 1),
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL,
                        envelope BLOB NOT NULL
                    ) WITHOUT ROWID;
                    INSERT INTO record_v4 (record_index, subject_index, record_type, wrapping_key, revision, created_at, updated_at, envelope)
                        SELECT record_index, subject_index, record_type, wrapping_key, revision, created_at, updated_at, envelope FROM record;
                    DROP TABLE record;
                    ALTER TABLE record_v4 RENAME TO record;
                    CREATE INDEX record_by_subject ON record (subject_index);
                    """)
        }
        migrator.registerMigration("v5") { db in
            // A rowid table, so that a large envelope is written into its row in pieces (SQLite's incremental
            // blob I/O works on rowid tables only): `put(streaming:)` inserts `zeroblob(n)` and writes the
            // sealed chunks from its spool file, and neither SQLite nor the store holds the whole envelope in
            // memory. The blind index stays the key (UNIQUE); the columns keep v4's order, the envelope last.
            try db.execute(
                sql: """
                    CREATE TABLE record_v5 (
                        record_index BLOB NOT NULL UNIQUE CHECK (length(record_index) = 32),
                        subject_index TEXT NOT NULL CHECK (length(subject_index) = 32),
                        record_type TEXT NOT NULL,
                        wrapping_key TEXT NOT NULL,
                        revision INTEGER NOT NULL CHECK (revision >= 1),
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL,
                        envelope BLOB NOT NULL
                    );
                    INSERT INTO record_v5 (record_index, subject_index, record_type, wrapping_key, revision, created_at, updated_at, envelope)
                        SELECT record_index, subject_index, record_type, wrapping_key, revision, created_at, updated_at, envelope FROM record;
                    DROP TABLE record;
                    ALTER TABLE record_v5 RENAME TO record;
                    CREATE INDEX record_by_subject ON record (subject_index);
                    """)
        }
        return migrator
    }
}
