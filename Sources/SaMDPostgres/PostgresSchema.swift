import Logging
import PostgresNIO

/// SaMDKit's tables in a database: each component (`keys` for ``PostgresKeyPersistence``) records the version of
/// its tables in `samd_schema_version(component text PRIMARY KEY, version integer NOT NULL)`, and makes or
/// upgrades them in one transaction holding a transaction-level advisory lock
/// (`pg_advisory_xact_lock(0x53414D44, 0)`, ``lockClass``), so that instances starting together do not race:
/// the second waits, then finds the version recorded and does nothing. A database whose recorded version is newer
/// than the program's is refused (``PostgresStoreError/Code/schema``): an older program must not write rows a newer
/// one reads differently.
enum PostgresSchema {
    /// The classid of SaMDKit's database-wide advisory locks: 0x53414D44, ASCII `SAMD`. Objects: 0 the migrations
    /// (transaction-level), 1 the key jobs' one-job lock (session-level, ``PostgresRecordStore``). The key store's
    /// locks have a class of their own (``PostgresKeyPersistence/lockClass``).
    static let lockClass: Int32 = 0x5341_4D44
    /// The object of the migrations' lock.
    static let migrationLock: Int32 = 0
    /// The object of the key jobs' lock.
    static let keyJobLock: Int32 = 1

    /// Brings `component`'s tables to `steps.count`: `steps[n]` are the statements that take version `n` to
    /// `n + 1` (so `steps[0]` makes the tables of version 1). Statements are constants, never built from input.
    /// - Throws: ``PostgresStoreError/Code/schema`` when the database records a newer version; PostgreSQL's
    ///   errors (the transaction is rolled back: nothing is half made).
    static func migrate(
        component: String, steps: [[String]], on connection: PostgresConnection, logger: Logger
    ) async throws {
        let target = Int32(steps.count)
        try await connection.query("BEGIN", logger: logger)
        do {
            // Instances starting together wait for the first one's migration, which can take longer than the
            // session's lock_timeout (5 s by default) on a loaded machine: its lock is waited for up to the
            // statement timeout instead (for this transaction only).
            try await connection.query("SET LOCAL lock_timeout = 0", logger: logger)
            try await connection.query(
                "SELECT pg_advisory_xact_lock(\(Self.lockClass), \(Self.migrationLock))", logger: logger
            ).drain()
            try await connection.query(PostgresQuery(unsafeSQL: Self.versionTable), logger: logger)
            var recorded: Int32 = 0
            for try await version in try await connection.query(
                "SELECT version FROM samd_schema_version WHERE component = \(component)", logger: logger
            ).decode(Int32.self) {
                recorded = version
            }
            guard recorded <= target else {
                throw PostgresStoreError(
                    .schema,
                    "the database's \(component) tables are at version \(recorded); this program knows version \(target) "
                        + "at most: run a newer SaMDKit")
            }
            if recorded < target {
                for step in steps[Int(recorded)...] {
                    for statement in step {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                }
                try await connection.query(
                    """
                    INSERT INTO samd_schema_version (component, version) VALUES (\(component), \(target))
                    ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version
                    """, logger: logger)
                logger.notice(
                    "database schema migrated",
                    metadata: [
                        "event": "samd.postgres.schema-migrated", "component": "\(component)", "from": "\(recorded)",
                        "to": "\(target)",
                    ])
            }
            try await connection.query("COMMIT", logger: logger)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    /// The components whose tables the database holds, with their versions (`samd_schema_version`); empty when
    /// it holds none (no version table). Reads only: nothing is made.
    static func installedVersions(on connection: PostgresConnection, logger: Logger) async throws -> [String: Int] {
        var exists = false
        for try await found in try await connection.query(
            "SELECT to_regclass('samd_schema_version') IS NOT NULL", logger: logger
        ).decode(Bool.self) {
            exists = found
        }
        guard exists else { return [:] }
        var versions: [String: Int] = [:]
        for try await (component, version) in try await connection.query(
            "SELECT component, version FROM samd_schema_version", logger: logger
        ).decode((String, Int32).self) {
            versions[component] = Int(version)
        }
        return versions
    }

    /// The table of every component's version, made if missing by every migration, under the lock
    /// (PostgresFormat.md quotes it; `PostgresFormatTests` checks the quote).
    static let versionTable =
        "CREATE TABLE IF NOT EXISTS samd_schema_version (component text PRIMARY KEY, version integer NOT NULL)"

    /// The record store's tables, version 1. No identifier in clear: `record_index` is the key store's blind index
    /// of (subject, record id) in the domain `samd-store-record` (HMAC-SHA-256 under the index key, 32 bytes),
    /// `subject_index` the subject key's blind name without `s-`. PostgresFormat.md gives every byte.
    static let recordsV1 = [
        """
        CREATE TABLE samd_record (
            record_index bytea PRIMARY KEY CHECK (octet_length(record_index) = 32),
            subject_index text NOT NULL CHECK (subject_index ~ '^[0-9a-f]{32}$'),
            record_type text NOT NULL,
            wrapping_key text NOT NULL,
            revision bigint NOT NULL CHECK (revision >= 1),
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL,
            envelope bytea NOT NULL
        )
        """,
        // Ciphertext does not compress: stored out of line without trying.
        "ALTER TABLE samd_record ALTER COLUMN envelope SET STORAGE EXTERNAL",
        "CREATE INDEX samd_record_by_subject ON samd_record (subject_index)",
        """
        CREATE TABLE samd_shred_receipt (
            subject_index text PRIMARY KEY CHECK (subject_index ~ '^[0-9a-f]{32}$'),
            key_name text NOT NULL,
            key_version bigint NOT NULL,
            destroyed_at double precision NOT NULL,
            record_count bigint NOT NULL DEFAULT 0
        )
        """,
        """
        CREATE TABLE samd_rotation_checkpoint (
            kek_name text PRIMARY KEY,
            from_version bigint NOT NULL,
            target_version bigint,
            cursor text,
            done bigint NOT NULL DEFAULT 0,
            rewrapped bigint NOT NULL DEFAULT 0,
            started_at double precision NOT NULL,
            finished_at double precision
        )
        """,
        """
        CREATE TABLE samd_rekey_checkpoint (
            id integer PRIMARY KEY CHECK (id = 1),
            not_before double precision NOT NULL,
            cursor text,
            done bigint NOT NULL DEFAULT 0,
            rewrapped bigint NOT NULL DEFAULT 0,
            started_at double precision NOT NULL,
            finished_at double precision
        )
        """,
    ]
}

extension PostgresRowSequence {
    /// Reads every row, for a statement whose rows do not matter (or whose values PostgreSQL gives as `void`):
    /// the statement has run to its end, or thrown.
    func drain() async throws {
        for try await _ in self {}
    }
}
