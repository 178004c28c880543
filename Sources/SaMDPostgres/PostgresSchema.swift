import Logging
import PostgresNIO

/// The tables of SaMDKit in a PostgreSQL database and their versions: `samd_schema_version` holds one row per
/// component (`records`, `keys`); each component's migrations run in one transaction under a transaction-level
/// advisory lock, so instances starting together migrate once. <doc:PostgresStore> gives the tables.
enum PostgresSchema {
    /// The advisory lock class of SaMDKit (`'SaMD'` as a 32-bit integer) and its object for migrations.
    static let lockClass: Int32 = 0x5361_4D44
    static let migrationLock: Int32 = 1

    /// Brings `component` to `version`, running `steps(v)` for each version `v` above the recorded one.
    /// - Throws: ``PostgresStoreError/Code/schema`` when the database records a newer version than `version`;
    ///   PostgreSQL's errors.
    static func migrate(
        _ connection: PostgresConnection, component: String, to version: Int, logger: Logger,
        steps: @escaping @Sendable (Int) -> [String]
    ) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.query(
                "SELECT pg_advisory_xact_lock(\(Self.lockClass), \(Self.migrationLock))", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS samd_schema_version (component text PRIMARY KEY, version integer NOT NULL)",
                logger: logger)
            var current = 0
            for try await stored in try await connection.query(
                "SELECT version FROM samd_schema_version WHERE component = \(component)", logger: logger
            ).decode(Int32.self) {
                current = Int(stored)
            }
            guard current <= version else {
                throw PostgresStoreError(
                    .schema,
                    "the database's \(component) tables are at version \(current); this program knows \(version) at most"
                )
            }
            guard current < version else { return }
            for step in (current + 1)...version {
                for statement in steps(step) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
            let recorded = Int32(version)
            try await connection.query(
                """
                INSERT INTO samd_schema_version (component, version) VALUES (\(component), \(recorded)) \
                ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version
                """, logger: logger)
        }
    }

    /// The record store's tables, version 1. No identifier in clear: `record_index` is HMAC-SHA-256(index key,
    /// subject ‖ record id), `subject_index` the subject key's blind name without `s-`.
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
