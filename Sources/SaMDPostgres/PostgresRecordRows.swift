import Foundation
import Logging
import NIOCore
import PostgresNIO
import SaMDEnvelope
import SaMDKeys
import SaMDStore

/// The record store's statements (<doc:PostgresStore> gives the tables). Every value is a bound parameter;
/// every row read is checked for the types the store writes.
enum PostgresRecordRows {
    /// A record row's columns and envelope, as read.
    struct Row: Sendable {
        let recordType: String
        let revision: Int64
        let createdAt: Double
        let updatedAt: Double
        let envelope: [UInt8]
    }

    /// What reading a row found.
    enum Found: Sendable {
        case row(Row)
        /// The envelope is larger than any record may be (not transferred).
        case tooLarge
        /// A column is not of the type the store writes.
        case malformed
        /// The row is filed under another subject's index than its address's (moved or copied there).
        case misfiled
    }

    /// What a write did.
    enum WriteOutcome: Sendable {
        case written(Int64)
        /// The row is not at the revision expected (or exists, for `expectedRevision` 0).
        case conflict
        /// The subject key's generation is not the one the record was sealed under any more.
        case keyChanged
        /// The statement's answer is not what it returns: the table was altered.
        case malformed
    }

    /// A record's envelope on its way into a row: in memory, or in a spool file sent in pieces.
    enum EnvelopeSource: @unchecked Sendable {
        case bytes([UInt8])
        case spool(RecordSpool)
    }

    /// Writes a record's row in one statement (after the spool's pieces, in one transaction): inserted at
    /// revision 1 or replaced with a compare-and-set on its revision, only while the subject key's row is at
    /// `keyRevision`'s generation (locked `FOR SHARE` until the commit) when one is given.
    static func write(
        _ connection: PostgresConnection, envelope: EnvelopeSource, at address: RecordAddressing.Address,
        recordType: String, wrappingKey: KeyIdentifier, keyRevision: MetadataRevision?, expectedRevision: Int64?,
        logger: Logger
    ) async throws -> WriteOutcome {
        switch envelope {
        case .bytes(let bytes):
            return try await self.writeStatement(
                connection, envelope: ByteBuffer(bytes: bytes), at: address, recordType: recordType,
                wrappingKey: wrappingKey, keyRevision: keyRevision, expectedRevision: expectedRevision, logger: logger)
        case .spool(let spool):
            return try await connection.withTransaction(logger: logger) { connection in
                try await connection.query(
                    "CREATE TEMPORARY TABLE IF NOT EXISTS samd_upload (piece integer PRIMARY KEY, bytes bytea NOT NULL) ON COMMIT DELETE ROWS",
                    logger: logger)
                var buffer = ByteBufferAllocator().buffer(capacity: PostgresRecordStore.streamingPieceByteCount)
                var offset = 0
                var piece: Int32 = 0
                while offset < spool.byteCount {
                    buffer.clear()
                    let count = try buffer.writeWithUnsafeMutableBytes(
                        minimumWritableBytes: PostgresRecordStore.streamingPieceByteCount
                    ) { bytes in
                        try spool.read(
                            at: offset,
                            into: UnsafeMutableRawBufferPointer(
                                rebasing: bytes.prefix(PostgresRecordStore.streamingPieceByteCount)))
                    }
                    guard count > 0 else { break }
                    try await connection.query(
                        "INSERT INTO samd_upload (piece, bytes) VALUES (\(piece), \(buffer))", logger: logger)
                    offset += count
                    piece += 1
                }
                return try await self.writeStatement(
                    connection, envelope: nil, at: address, recordType: recordType, wrappingKey: wrappingKey,
                    keyRevision: keyRevision, expectedRevision: expectedRevision, logger: logger)
            }
        }
    }

    /// How a write treats the row already at the address.
    enum WriteMode: Sendable {
        /// Replaced with a compare-and-set on its revision (`expectedRevision` ≥ 1).
        case update
        /// Inserted only when there is none (`expectedRevision` 0).
        case insert
        /// Inserted at revision 1, or replaced whatever its revision (no `expectedRevision`).
        case upsert

        init(expectedRevision: Int64?) {
            switch expectedRevision {
            case .some(let expected) where expected >= 1: self = .update
            case .some(0): self = .insert
            default: self = .upsert
            }
        }
    }

    /// A write's values, in the order its statement binds them.
    struct WriteValues {
        /// The subject key's name and generation, when the statement checks them.
        var key: (name: String, generation: Int64)?
        var recordIndex: ByteBuffer
        var subjectIndex: String
        var recordType: String
        var wrappingKey: String
        var expectedRevision: Int64
        var now: Double
        /// The envelope, bound; `nil` takes it from the session's `samd_upload` pieces.
        var envelope: ByteBuffer?
    }

    /// The write itself; `envelope` `nil` takes it from the session's `samd_upload` pieces. A bound envelope's write
    /// is one of the prepared statements (``PreparedRecordStatement``, ``WriteText``).
    private static func writeStatement(
        _ connection: PostgresConnection, envelope: ByteBuffer?, at address: RecordAddressing.Address,
        recordType: String, wrappingKey: KeyIdentifier, keyRevision: MetadataRevision?, expectedRevision: Int64?,
        logger: Logger
    ) async throws -> WriteOutcome {
        var key: (name: String, generation: Int64)?
        if let keyRevision, keyRevision.components.count == 1 {
            key = (wrappingKey.name, keyRevision.components[0])
        }
        let mode = WriteMode(expectedRevision: expectedRevision)
        let values = WriteValues(
            key: key, recordIndex: ByteBuffer(bytes: address.recordIndex), subjectIndex: address.subjectIndex,
            recordType: recordType, wrappingKey: "\(wrappingKey)", expectedRevision: expectedRevision ?? 0,
            now: Date().timeIntervalSince1970, envelope: envelope)
        let query = Self.writeQuery(mode, values)
        let found: PostgresRow?
        if envelope != nil {
            found = try await Self.firstRow(
                WriteText.of(mode, checkingKey: key != nil), query.bindings, on: connection, logger: logger)
        } else {
            found = try await Self.first(connection.query(query.query, logger: logger))
        }
        if Self.answersRevisionOnly(mode, checkingKey: key != nil) {
            // No row: the key's row is not at the generation (an upsert that finds it always writes).
            guard let row = found else { return .keyChanged }
            guard let revision = try? row.decode(Int64.self), revision >= 1 else { return .malformed }
            return .written(revision)
        }
        guard let row = found else { return .malformed }
        guard let (keyCurrent, revision) = try? row.decode((Bool, Int64?).self) else { return .malformed }
        guard keyCurrent else { return .keyChanged }
        guard let revision else { return .conflict }
        guard revision >= 1 else { return .malformed }
        return .written(revision)
    }

    /// Whether a write's statement answers with the new revision alone (a row) or nothing (the key's row is not at
    /// the generation): an upsert that checks the key, the only write that writes whenever the key is current.
    static func answersRevisionOnly(_ mode: WriteMode, checkingKey: Bool) -> Bool {
        mode == .upsert && checkingKey
    }

    /// A write's statement: inserted at revision 1 or replaced (``WriteMode``), only while the subject key's row is
    /// at the generation given (locked `FOR SHARE` until the commit) when ``WriteValues/key`` is given; answers
    /// whether the key is current and the new revision (`NULL`: not written) — or, for an upsert that checks the
    /// key (``answersRevisionOnly(_:checkingKey:)``), the new revision, or no row when the key is not current.
    static func writeQuery(_ mode: WriteMode, _ values: WriteValues) -> StatementBuilder {
        var query = StatementBuilder()
        // The envelope: bound, or assembled by the server from the session's pieces.
        let value = { (query: inout StatementBuilder) in
            if let envelope = values.envelope {
                query.bind(envelope)
            } else {
                query.sql("(SELECT string_agg(bytes, ''::bytea ORDER BY piece) FROM samd_upload)")
            }
        }
        // A new row's columns, `INSERT … SELECT` them.
        let insertRow = { (query: inout StatementBuilder) in
            query.sql(
                "INSERT INTO samd_record (record_index, subject_index, record_type, wrapping_key, revision, created_at, updated_at, envelope) SELECT "
            )
            query.bind(values.recordIndex)
            query.sql(", ")
            query.bind(values.subjectIndex)
            query.sql(", ")
            query.bind(values.recordType)
            query.sql(", ")
            query.bind(values.wrappingKey)
            query.sql(", 1, ")
            query.bind(values.now)
            query.sql(", ")
            query.bind(values.now)
            query.sql(", ")
            value(&query)
        }
        let replace =
            "UPDATE SET record_type = EXCLUDED.record_type, wrapping_key = EXCLUDED.wrapping_key, revision = samd_record.revision + 1, updated_at = EXCLUDED.updated_at, envelope = EXCLUDED.envelope"
        if let key = values.key, Self.answersRevisionOnly(mode, checkingKey: true) {
            // The key's row is selected `FOR SHARE` as the row to insert: no row, nothing written. An upsert writes
            // whenever it inserts (`DO UPDATE` without a condition), so one statement without a common table
            // expression answers both questions. The row is locked and its generation checked as in the form
            // below (READ COMMITTED: a concurrent change of the key's row is waited for, then its generation
            // checked again).
            insertRow(&query)
            query.sql(" FROM samd_subject_key WHERE name = ")
            query.bind(key.name)
            query.sql(" AND generation = ")
            query.bind(key.generation)
            query.sql(" FOR SHARE ON CONFLICT (record_index) DO \(replace) RETURNING revision")
            return query
        }
        if let key = values.key {
            query.sql("WITH current_key AS (SELECT 1 FROM samd_subject_key WHERE name = ")
            query.bind(key.name)
            query.sql(" AND generation = ")
            query.bind(key.generation)
            query.sql(" FOR SHARE), ")
        } else {
            query.sql("WITH current_key AS (SELECT 1), ")
        }
        switch mode {
        case .update:
            query.sql("written AS (UPDATE samd_record SET record_type = ")
            query.bind(values.recordType)
            query.sql(", wrapping_key = ")
            query.bind(values.wrappingKey)
            query.sql(", revision = revision + 1, updated_at = ")
            query.bind(values.now)
            query.sql(", envelope = ")
            value(&query)
            query.sql(" WHERE record_index = ")
            query.bind(values.recordIndex)
            query.sql(" AND revision = ")
            query.bind(values.expectedRevision)
            query.sql(" AND EXISTS (SELECT 1 FROM current_key) RETURNING revision) ")
        case .insert, .upsert:
            query.sql("written AS (")
            insertRow(&query)
            query.sql(" WHERE EXISTS (SELECT 1 FROM current_key) ON CONFLICT (record_index) DO ")
            query.sql(mode == .insert ? "NOTHING" : replace)
            query.sql(" RETURNING revision) ")
        }
        query.sql("SELECT EXISTS (SELECT 1 FROM current_key), (SELECT revision FROM written)")
        return query
    }

    /// The row at `address`, its envelope transferred only when at most `envelopeLimit` bytes; `nil` when there
    /// is none.
    static func read(
        _ connection: PostgresConnection, at address: RecordAddressing.Address, envelopeLimit: Int, logger: Logger
    ) async throws -> Found? {
        var bindings = PostgresBindings()
        bindings.append(Int64(envelopeLimit))
        bindings.append(ByteBuffer(bytes: address.recordIndex))
        guard let row = try await Self.firstRow(ReadText.self, bindings, on: connection, logger: logger) else {
            return nil
        }
        guard
            let (subjectIndex, recordType, revision, createdAt, updatedAt, size, envelope) = try? row.decode(
                (String, String, Int64, Double, Double, Int64, ByteBuffer?).self)
        else { return .malformed }
        guard subjectIndex == address.subjectIndex else { return .misfiled }
        guard size <= envelopeLimit, var envelope else { return .tooLarge }
        guard revision >= 1, createdAt.isFinite, updatedAt.isFinite else { return .malformed }
        return .row(
            Row(
                recordType: recordType, revision: revision, createdAt: createdAt, updatedAt: updatedAt,
                envelope: envelope.readBytes(length: envelope.readableBytes) ?? []))
    }

    /// A get's statement: the row's columns, its envelope only when at most `$1` bytes, at record index `$2`.
    enum ReadText: RecordStatementText {
        static let name = "samd_record_read"
        static let sql = """
            SELECT subject_index, record_type, revision, created_at, updated_at, octet_length(envelope)::bigint, \
            CASE WHEN octet_length(envelope) <= $1 THEN envelope END \
            FROM samd_record WHERE record_index = $2
            """
    }

    /// Deletes the subject's rows sealed under the destroyed version or an older one (a row written under a
    /// newer version after the shredding stays) and keeps the receipt, in one transaction. Idempotent.
    /// - Returns: the rows this shredding deleted, with those counted by an earlier call for the same receipt.
    static func keep(
        _ connection: PostgresConnection, receipt: DestructionReceipt, subjectIndex: String, logger: Logger
    ) async throws -> Int {
        let version = Int64(receipt.key.version)
        return try await connection.withTransaction(logger: logger) { connection in
            // A wrapping key that is not `name:version` counts as version 0 (deleted), as in SQLite.
            let deleted = try await connection.query(
                """
                WITH gone AS (DELETE FROM samd_record WHERE subject_index = \(subjectIndex) AND \
                COALESCE(CASE WHEN split_part(wrapping_key, ':', 2) ~ '^[0-9]{1,10}$' \
                THEN split_part(wrapping_key, ':', 2)::bigint END, 0) <= \(version) RETURNING 1) \
                SELECT count(*) FROM gone
                """, logger: logger)
            var count = 0
            for try await row in deleted { count = Int(try row.decode(Int64.self)) }
            let kept = try await connection.query(
                "SELECT key_version, record_count FROM samd_shred_receipt WHERE subject_index = \(subjectIndex)",
                logger: logger)
            for try await row in kept {
                if let (keptVersion, before) = try? row.decode((Int64, Int64).self), keptVersion == version,
                    before >= 0
                {
                    count += Int(clamping: before)
                }
            }
            let name = receipt.key.name
            let destroyedAt = receipt.destroyedAt.timeIntervalSince1970
            let total = Int64(count)
            try await connection.query(
                """
                INSERT INTO samd_shred_receipt (subject_index, key_name, key_version, destroyed_at, record_count) \
                VALUES (\(subjectIndex), \(name), \(version), \(destroyedAt), \(total)) \
                ON CONFLICT (subject_index) DO UPDATE SET key_name = EXCLUDED.key_name, key_version = EXCLUDED.key_version, \
                destroyed_at = EXCLUDED.destroyed_at, record_count = EXCLUDED.record_count
                """, logger: logger)
            return count
        }
    }

    /// The receipt kept for a subject; `nil` when there is none or it is not one the store writes (another
    /// patient's key, a version out of range, wrong types).
    static func shredReceipt(_ connection: PostgresConnection, subjectIndex: String, logger: Logger) async throws
        -> DestructionReceipt?
    {
        let rows = try await connection.query(
            "SELECT key_name, key_version, destroyed_at FROM samd_shred_receipt WHERE subject_index = \(subjectIndex)",
            logger: logger)
        for try await row in rows {
            guard let (name, version, destroyedAt) = try? row.decode((String, Int64, Double).self),
                name == "s-" + subjectIndex, let version = UInt32(exactly: version), destroyedAt.isFinite,
                let key = try? KeyIdentifier(name: name, version: version)
            else { return nil }
            return DestructionReceipt(
                key: key, destroyedAt: Date(timeIntervalSince1970: destroyedAt), subjectIndex: subjectIndex)
        }
        return nil
    }

    /// The rows the subject's last shredding deleted (0 when not a number).
    static func shreddedRecordCount(_ connection: PostgresConnection, subjectIndex: String, logger: Logger)
        async throws -> Int
    {
        let rows = try await connection.query(
            "SELECT record_count FROM samd_shred_receipt WHERE subject_index = \(subjectIndex)", logger: logger)
        for try await row in rows {
            guard let count = try? row.decode(Int64.self), count >= 0 else { return 0 }
            return Int(clamping: count)
        }
        return 0
    }

    /// Counts; no identifier.
    static func statistics(_ connection: PostgresConnection, logger: Logger) async throws -> RecordStoreStatistics {
        let rows = try await connection.query(
            """
            SELECT count(*), count(DISTINCT subject_index), coalesce(sum(octet_length(envelope)), 0)::bigint, \
            (SELECT count(*) FROM samd_shred_receipt) FROM samd_record
            """, logger: logger)
        for try await row in rows {
            let (records, subjects, bytes, shredded) = try row.decode((Int64, Int64, Int64, Int64).self)
            return RecordStoreStatistics(
                recordCount: Int(records), subjectCount: Int(subjects), envelopeByteCount: Int(bytes),
                shreddedSubjectCount: Int(shredded))
        }
        throw PostgresStoreError(.query, "counting records returned no row")
    }
}

/// A statement put together from SQL text and bound values (`$1`, `$2`… in order): the values never become SQL.
struct StatementBuilder {
    private var text = ""
    private var binds = PostgresBindings()

    /// Appends SQL text (constants of the store's own, never a value).
    mutating func sql(_ text: String) {
        self.text += text
    }

    /// Appends a bound value's placeholder.
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) {
        self.binds.append(value)
        self.text += "$\(self.binds.count)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: self.text, binds: self.binds) }
    /// The SQL text so far.
    var sqlText: String { self.text }
    /// The values bound so far.
    var bindings: PostgresBindings { self.binds }
}
