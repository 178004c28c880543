import BenchmarkSupport
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import SaMDCrypto
import SaMDEnvelope
import SaMDPostgres

// Where the PostgreSQL store's time goes, measured as two more references between it and raw postgres-nio
// (registered with SAMD_BENCH_STORE_BREAKDOWN=1 only; no row reads them): the raw statements made the way the
// store made its own before it awaited them from the caller's task (from a thread of a thread pool, blocking on
// the connection pool: the cost of that hop), and the store's own statements made directly.

/// The raw statements, each called as the store called its database before it awaited its statements: the
/// caller's task hands the work to a thread of a `NIOThreadPool`, which blocks on
/// `PostgresConnectionPool.blockingWithConnection` (a task on another executor) until the statement is done.
struct BlockingRawSide: RecordSide {
    let raw: RawPostgresSide
    let threads: NIOThreadPool

    func put(task: Int, record: Int, generation: Int) async throws {
        let raw = self.raw
        try await self.threads.runIfActive {
            try raw.pool.blockingWithConnection { connection in
                try await raw.upsert(connection, task: task, record: record, generation: generation)
            }
        }
    }

    func get(task: Int, record: Int) async throws -> [UInt8] {
        let raw = self.raw
        return try await self.threads.runIfActive {
            try raw.pool.blockingWithConnection { connection in
                try await raw.select(connection, task: task, record: record)
            }
        }
    }
}

/// The store's own statements (Sources/SaMDPostgres/PostgresRecordRows.swift: the upsert that inserts from the
/// subject key's row selected `FOR SHARE` at its generation and returns the revision; the select that bounds the
/// envelope's size), on the store's tables, made directly from the caller's task with an envelope-sized value
/// (the payload, padded): the database's share of a put or get, without sealing, addressing or thread hops.
struct StoreStatementSide: RecordSide {
    static let schema = [
        """
        CREATE TABLE samd_subject_key (name text PRIMARY KEY CHECK (name ~ '^s-[0-9a-f]{32}$'), \
        document bytea NOT NULL, generation bigint NOT NULL)
        """,
        """
        CREATE TABLE samd_record (record_index bytea PRIMARY KEY CHECK (octet_length(record_index) = 32), \
        subject_index text NOT NULL CHECK (subject_index ~ '^[0-9a-f]{32}$'), record_type text NOT NULL, \
        wrapping_key text NOT NULL, revision bigint NOT NULL CHECK (revision >= 1), \
        created_at double precision NOT NULL, updated_at double precision NOT NULL, envelope bytea NOT NULL)
        """,
        "ALTER TABLE samd_record ALTER COLUMN envelope SET STORAGE EXTERNAL",
        "CREATE INDEX samd_record_by_subject ON samd_record (subject_index)",
    ]

    let pool: PostgresConnectionPool
    let records: RecordSet
    let logger: Logger
    /// The size of a sealed record of the set's payload size.
    let envelopeByteCount: Int

    /// Makes the tables and one subject key row per subject of the set.
    static func make(pool: PostgresConnectionPool, records: RecordSet, logger: Logger) async throws -> Self {
        let identifier = try KeyIdentifier(name: "records-kek", version: 1)
        let context = try EncryptionContext([("subject", "s"), ("record", "r"), ("type", RecordSet.recordType)])
        let sealed = try Envelope.seal(
            [UInt8](repeating: 0, count: records.shape.recordByteCount), context: context,
            to: .keyEncryptionKey(identifier, try SecureBytes(randomByteCount: 32)))
        let side = Self(pool: pool, records: records, logger: logger, envelopeByteCount: sealed.count)
        try await pool.withConnection { connection in
            for statement in Self.schema {
                _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            for task in 0..<records.shape.tasks {
                for subject in 0..<records.shape.subjectsPerTask {
                    let name = "s-" + side.subjectIndex(task: task, record: subject)
                    let document = ByteBuffer(repeating: 0x5A, count: 200)
                    _ = try await connection.query(
                        "INSERT INTO samd_subject_key (name, document, generation) VALUES (\(name), \(document), 1)",
                        logger: logger)
                }
            }
        }
        return side
    }

    /// 32 hexadecimal digits per subject, as the store's blind indexes.
    func subjectIndex(task: Int, record: Int) -> String {
        let subject = record % self.records.shape.subjectsPerTask
        return String(repeating: "0", count: 24) + String(format: "%04x%04x", task, subject)
    }

    func put(task: Int, record: Int, generation: Int) async throws {
        let payload = self.records.payload(task: task, record: record, generation: generation)
        let envelope = ByteBuffer(
            bytes: payload + [UInt8](repeating: 0, count: self.envelopeByteCount - payload.count))
        let recordIndex = self.records.key(task: task, record: record)
        let subjectIndex = self.subjectIndex(task: task, record: record)
        let keyName = "s-" + subjectIndex
        let wrappingKey = keyName + ":1"
        let generation: Int64 = 1
        let recordType = RecordSet.recordType
        let now = Date().timeIntervalSince1970
        let logger = self.logger
        var bindings = PostgresBindings()
        bindings.append(recordIndex)
        bindings.append(subjectIndex)
        bindings.append(recordType)
        bindings.append(wrappingKey)
        bindings.append(now)
        bindings.append(now)
        bindings.append(envelope)
        bindings.append(keyName)
        bindings.append(generation)
        let statement = Statement<UpsertText>(bindings: bindings)
        let revision = try await self.pool.withConnection { connection in
            var revision: Int64?
            for try await row in try await connection.execute(statement, logger: logger) {
                revision = try row.decode(Int64.self)
            }
            return revision
        }
        try BenchmarkCheck.that(revision != nil, "the store's statement wrote nothing")
    }

    func get(task: Int, record: Int) async throws -> [UInt8] {
        let recordIndex = self.records.key(task: task, record: record)
        let limit = Int64(self.envelopeByteCount)
        let logger = self.logger
        let count = self.records.shape.recordByteCount
        var bindings = PostgresBindings()
        bindings.append(limit)
        bindings.append(recordIndex)
        let statement = Statement<SelectText>(bindings: bindings)
        return try await self.pool.withConnection { connection in
            var value: [UInt8]?
            for try await row in try await connection.execute(statement, logger: logger) {
                let (_, _, _, _, _, envelope) = try row.decode((String, Int64, Double, Double, Int64, ByteBuffer?).self)
                value = envelope.map { Array($0.readableBytesView.prefix(count)) }
            }
            guard let value else {
                throw BenchmarkCheckFailure(description: "no row for task \(task) record \(record)")
            }
            return value
        }
    }

    /// The store's statements' text (`PostgresRecordRows.writeQuery` for an upsert that checks the key, and
    /// `PostgresRecordRows.ReadText`), prepared once per connection as the store prepares them.
    protocol StatementText {
        static var name: String { get }
        static var sql: String { get }
    }

    struct Statement<Text: StatementText>: PostgresPreparedStatement {
        typealias Row = PostgresRow
        static var name: String { Text.name }
        static var sql: String { Text.sql }
        let bindings: PostgresBindings
        func makeBindings() -> PostgresBindings { self.bindings }
        func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
    }

    enum UpsertText: StatementText {
        static let name = "bench_store_upsert"
        static let sql = """
            INSERT INTO samd_record (record_index, subject_index, record_type, wrapping_key, revision, created_at, \
            updated_at, envelope) SELECT $1, $2, $3, $4, 1, $5, $6, $7 FROM samd_subject_key \
            WHERE name = $8 AND generation = $9 FOR SHARE ON CONFLICT (record_index) DO UPDATE SET \
            record_type = EXCLUDED.record_type, wrapping_key = EXCLUDED.wrapping_key, \
            revision = samd_record.revision + 1, updated_at = EXCLUDED.updated_at, envelope = EXCLUDED.envelope \
            RETURNING revision
            """
    }

    enum SelectText: StatementText {
        static let name = "bench_store_select"
        static let sql = """
            SELECT record_type, revision, created_at, updated_at, octet_length(envelope)::bigint, \
            CASE WHEN octet_length(envelope) <= $1 THEN envelope END \
            FROM samd_record WHERE record_index = $2
            """
    }
}
