import Logging
import PostgresNIO

/// SaMDKit's tables in a database: each component (`keys` for ``PostgresKeyPersistence``) records the version of
/// its tables in `samd_schema_version(component text PRIMARY KEY, version integer NOT NULL)`, and makes or
/// upgrades them in one transaction holding a transaction-level advisory lock
/// (`pg_advisory_xact_lock(0x53414D44, 0)`, ``migrationLockClass``), so that instances starting together do not race:
/// the second waits, then finds the version recorded and does nothing. A database whose recorded version is newer
/// than the program's is refused (``PostgresStoreError/Code/schema``): an older program must not write rows a newer
/// one reads differently.
enum PostgresSchema {
    /// The classid of the migration lock: 0x53414D44, ASCII `SAMD` (objid 0).
    static let migrationLockClass: Int32 = 0x5341_4D44

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
            try await connection.query(
                "SELECT pg_advisory_xact_lock(\(Self.migrationLockClass), 0)", logger: logger
            ).drain()
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS samd_schema_version (component text PRIMARY KEY, version integer NOT NULL)",
                logger: logger)
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
}

extension PostgresRowSequence {
    /// Reads every row, for a statement whose rows do not matter (or whose values PostgreSQL gives as `void`):
    /// the statement has run to its end, or thrown.
    func drain() async throws {
        for try await _ in self {}
    }
}
