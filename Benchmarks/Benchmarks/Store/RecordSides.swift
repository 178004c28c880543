import BenchmarkCatalog
import BenchmarkSupport
import Logging
import NIOCore
import PostgresNIO
import SaMDPostgres
import SaMDStore

/// The records every side works on: for each task its own subjects and records, the two payloads each record
/// alternates between (1 KiB each, made before any measurement), and the 32-byte key the raw side stores it at.
struct RecordSet: Sendable {
    static let recordType = "application/fhir+json"

    let shape: RecordSetShape
    /// `payloads[generation % 2][task * recordsPerTask + record]`.
    private let payloads: [[[UInt8]]]
    /// `keys[task * recordsPerTask + record]`.
    private let keys: [ByteBuffer]

    init(_ shape: RecordSetShape) {
        self.shape = shape
        // Bytes that do not compress (a xorshift stream), as a record's would not once sealed.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt8 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
        var payloads: [[[UInt8]]] = []
        for _ in 0..<2 {
            var generation: [[UInt8]] = []
            for _ in 0..<shape.tasks {
                for _ in 0..<shape.recordsPerTask {
                    var payload = [UInt8](repeating: 0, count: shape.recordByteCount)
                    for index in payload.indices { payload[index] = next() }
                    generation.append(payload)
                }
            }
            payloads.append(generation)
        }
        var keys: [ByteBuffer] = []
        for task in 0..<shape.tasks {
            for record in 0..<shape.recordsPerTask {
                var key = [UInt8](repeating: 0, count: 32)
                key[0] = UInt8(task)
                key[1] = UInt8(record)
                for index in 2..<32 { key[index] = next() }
                keys.append(ByteBuffer(bytes: key))
            }
        }
        self.payloads = payloads
        self.keys = keys
    }

    func subject(task: Int, record: Int) -> String { "patient-\(task)-\(record % self.shape.subjectsPerTask)" }
    func recordID(task: Int, record: Int) -> String { "observation-\(record)" }
    func payload(task: Int, record: Int, generation: Int) -> [UInt8] {
        self.payloads[generation % 2][task * self.shape.recordsPerTask + record]
    }

    func key(task: Int, record: Int) -> ByteBuffer { self.keys[task * self.shape.recordsPerTask + record] }
}

/// One side of the comparison: a record put (replacing the one there) and a record got.
protocol RecordSide: Sendable {
    func put(task: Int, record: Int, generation: Int) async throws
    func get(task: Int, record: Int) async throws -> [UInt8]
}

/// A SaMDKit record store: `PostgresRecordStore` (ours) or `EncryptedRecordStore` (SQLite, beside it).
struct RecordStoreSide: RecordSide {
    let store: any RecordStore
    let records: RecordSet

    func put(task: Int, record: Int, generation: Int) async throws {
        try await self.store.put(
            self.records.payload(task: task, record: record, generation: generation),
            subject: self.records.subject(task: task, record: record),
            recordID: self.records.recordID(task: task, record: record), recordType: RecordSet.recordType)
    }

    func get(task: Int, record: Int) async throws -> [UInt8] {
        try await self.store.get(
            subject: self.records.subject(task: task, record: record),
            recordID: self.records.recordID(task: task, record: record)
        ).payload
    }
}

/// The reference: the same bytes upserted into and selected from a plain table (a 32-byte `bytea` key, a `bytea`
/// value) with raw postgres-nio statements, prepared once per connection as the store's own are, on a connection
/// of a `PostgresConnectionPool` (SaMDTLS), as ours.
struct RawPostgresSide: RecordSide {
    static let createTable =
        "CREATE TABLE IF NOT EXISTS bench_record (key bytea PRIMARY KEY, value bytea NOT NULL)"

    let pool: PostgresConnectionPool
    let records: RecordSet
    let logger: Logger

    func put(task: Int, record: Int, generation: Int) async throws {
        try await self.pool.withConnection { connection in
            try await self.upsert(connection, task: task, record: record, generation: generation)
        }
    }

    func get(task: Int, record: Int) async throws -> [UInt8] {
        try await self.pool.withConnection { connection in
            try await self.select(connection, task: task, record: record)
        }
    }

    /// `INSERT … ON CONFLICT DO UPDATE` of the record's bytes at its key (prepared once per connection, as the
    /// store's statements).
    func upsert(_ connection: PostgresConnection, task: Int, record: Int, generation: Int) async throws {
        let statement = Upsert(
            key: self.records.key(task: task, record: record),
            value: ByteBuffer(bytes: self.records.payload(task: task, record: record, generation: generation)))
        for try await _ in try await connection.execute(statement, logger: self.logger) {}
    }

    /// The record's bytes, selected by its key (prepared once per connection, as the store's statements).
    func select(_ connection: PostgresConnection, task: Int, record: Int) async throws -> [UInt8] {
        let rows = try await connection.execute(
            Select(key: self.records.key(task: task, record: record)), logger: self.logger)
        var value: [UInt8]?
        for try await row in rows {
            value = Array(row.readableBytesView)
        }
        guard let value else { throw BenchmarkCheckFailure(description: "no row for task \(task) record \(record)") }
        return value
    }

    struct Upsert: PostgresPreparedStatement {
        typealias Row = Void
        static let name = "bench_record_upsert"
        static let sql = """
            INSERT INTO bench_record (key, value) VALUES ($1, $2) \
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
            """

        let key: ByteBuffer
        let value: ByteBuffer

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(self.key)
            bindings.append(self.value)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws {}
    }

    struct Select: PostgresPreparedStatement {
        typealias Row = ByteBuffer
        static let name = "bench_record_select"
        static let sql = "SELECT value FROM bench_record WHERE key = $1"

        let key: ByteBuffer

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(self.key)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> ByteBuffer { try row.decode(ByteBuffer.self) }
    }
}
