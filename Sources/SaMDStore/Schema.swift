import GRDB

/// The database schema, versioned through GRDB's migrator (each migration runs once, in a transaction).
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            // One row per record. record_index = HMAC-SHA-256(index key, subject ‖ record id), 32 bytes;
            // subject_index = the subject key's blind name suffix (32 hex digits). No identifier in clear.
            try db.execute(sql: """
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
        return migrator
    }
}
