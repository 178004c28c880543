import Logging
import NIOCore
import PostgresNIO

/// The SQL text of one of the record store's hot statements (a put's write, a get's read), and the name it is
/// prepared under on each connection.
protocol RecordStatementText {
    /// The name of the prepared statement on a connection (`samd_…`, unique among the store's statements).
    static var name: String { get }
    /// The statement, its values `$1`, `$2`… in the order of the bindings it is run with.
    static var sql: String { get }
}

/// One of the record store's hot statements, prepared once per connection: postgres-nio prepares it on a
/// connection's first use and keeps it by ``RecordStatementText/name`` for the connection's life, so PostgreSQL
/// parses and plans it once per connection rather than on every call. Its rows are returned as they are, for the
/// store's own checks.
struct PreparedRecordStatement<Text: RecordStatementText>: PostgresPreparedStatement {
    typealias Row = PostgresRow

    static var name: String { Text.name }
    static var sql: String { Text.sql }

    let bindings: PostgresBindings

    func makeBindings() -> PostgresBindings { self.bindings }
    func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
}

extension PostgresRecordRows {
    /// The first row of `Text`'s statement run with `bindings` on `connection`, prepared (``PreparedRecordStatement``);
    /// `nil` when it returns none.
    ///
    /// When the server refuses the statement (so it did not run: one statement, its own transaction), the
    /// connection is closed once the caller has its answer — the pool opens another, which prepares afresh: a
    /// connection keeps a failed preparation (a lock or statement timeout while preparing) for its life, and a
    /// prepared plan whose result no longer fits a table changed under it (SQLSTATE 0A000, "cached plan must not
    /// change result type") fails on every call. In that last case the statement is sent once more unnamed, as
    /// it was before it was prepared, so that the caller gets the changed table's rows to check, not the plan's
    /// error. Any other refusal is the caller's error, as from an unnamed statement.
    static func firstRow<Text: RecordStatementText>(
        _: Text.Type, _ bindings: PostgresBindings, on connection: PostgresConnection, logger: Logger
    ) async throws -> PostgresRow? {
        do {
            let rows = try await connection.execute(PreparedRecordStatement<Text>(bindings: bindings), logger: logger)
            return try await Self.first(rows)
        } catch let error as PSQLError where error.code == .server {
            let answer: PostgresRow?
            do {
                guard error.serverInfo?[.sqlState] == "0A000" else { throw error }
                answer = try await Self.first(
                    connection.query(PostgresQuery(unsafeSQL: Text.sql, binds: bindings), logger: logger))
            } catch {
                try? await connection.close()
                throw error
            }
            try? await connection.close()
            return answer
        }
    }

    /// The first row of `rows`, every row read (the statement is complete when this returns).
    static func first<Rows: AsyncSequence>(_ rows: Rows) async throws -> PostgresRow?
    where Rows.Element == PostgresRow {
        var first: PostgresRow?
        for try await row in rows where first == nil {
            first = row
        }
        return first
    }
}

/// The prepared writes of a bound envelope (a put's; a streamed put's is sent unnamed, in its transaction): one
/// statement per ``PostgresRecordRows/WriteMode`` and per key check, each text made by
/// ``PostgresRecordRows/writeQuery(_:_:)`` itself, so a prepared write is the very statement an unnamed one
/// would be.
enum WriteText {
    /// The statement of a write of `mode`, checking the subject key's generation or not.
    static func of(_ mode: PostgresRecordRows.WriteMode, checkingKey: Bool) -> any RecordStatementText.Type {
        switch (mode, checkingKey) {
        case (.upsert, true): UpsertCheckingKey.self
        case (.upsert, false): Upsert.self
        case (.insert, true): InsertCheckingKey.self
        case (.insert, false): Insert.self
        case (.update, true): UpdateCheckingKey.self
        case (.update, false): Update.self
        }
    }

    /// The text of a write of `mode` with a bound envelope: values of the right types in the right order, whose
    /// values do not matter (the text never holds one).
    static func sql(_ mode: PostgresRecordRows.WriteMode, checkingKey: Bool) -> String {
        PostgresRecordRows.writeQuery(
            mode,
            .init(
                key: checkingKey ? ("", 0) : nil, recordIndex: ByteBuffer(), subjectIndex: "", recordType: "",
                wrappingKey: "", expectedRevision: 0, now: 0, envelope: ByteBuffer())
        ).sqlText
    }

    enum UpsertCheckingKey: RecordStatementText {
        static let name = "samd_record_upsert_checking_key"
        static let sql = WriteText.sql(.upsert, checkingKey: true)
    }
    enum Upsert: RecordStatementText {
        static let name = "samd_record_upsert"
        static let sql = WriteText.sql(.upsert, checkingKey: false)
    }
    enum InsertCheckingKey: RecordStatementText {
        static let name = "samd_record_insert_checking_key"
        static let sql = WriteText.sql(.insert, checkingKey: true)
    }
    enum Insert: RecordStatementText {
        static let name = "samd_record_insert"
        static let sql = WriteText.sql(.insert, checkingKey: false)
    }
    enum UpdateCheckingKey: RecordStatementText {
        static let name = "samd_record_update_checking_key"
        static let sql = WriteText.sql(.update, checkingKey: true)
    }
    enum Update: RecordStatementText {
        static let name = "samd_record_update"
        static let sql = WriteText.sql(.update, checkingKey: false)
    }
}
