import Foundation
import GRDB
import SaMDEnvelope
import SaMDKeys

/// The store's rows (<doc:Store> gives the tables): reading and writing a record's row, keeping and reading
/// shredding receipts, and the untrusted columns read strictly by type.
extension EncryptedRecordStore {
    /// The columns of a record row beside its envelope, checked for the types the store writes.
    struct RowColumns {
        let recordType: String
        let revision: Int64
        let createdAt: Double
        let updatedAt: Double
    }

    /// The record row at `address`: its columns, checked for the types the store writes, and its envelope;
    /// `nil` when there is none.
    /// - Throws: ``RecordStoreError/Code/limitExceeded`` for an envelope larger than any record may be;
    ///   ``RecordStoreError/Code/authenticationFailed`` for columns of other types; ``RecordStoreError/Code/storage``.
    func readRecordRow(at address: Address) throws -> (columns: RowColumns, envelope: [UInt8])? {
        let limit = Self.envelopeByteCount(forPayload: self.configuration.maximumRecordByteCount)
        // The database is not trusted to be the one we wrote: every column is checked for the exact type the
        // store writes (GRDB's subscripts trap on anything else), and the envelope's size is bounded before
        // the blob is read (SQLite's length() of text stops at a NUL, so it must be a blob).
        return try self.reading("reading a record") { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT typeof(envelope) AS kind, length(envelope) AS size, subject_index, record_type, revision,
                        created_at, updated_at
                        FROM record WHERE record_index = ?
                        """,
                    arguments: [Data(address.recordIndex)]
                )
            else { return nil }
            guard let size = Self.integer(row, "size"), size <= limit else {
                throw RecordStoreError(
                    .limitExceeded,
                    "a stored row is larger than any record of at most \(self.configuration.maximumRecordByteCount) bytes"
                )
            }
            // A row filed under another subject (moved or copied there) is not this address's.
            guard Self.text(row, "subject_index") == address.subjectIndex else {
                throw self.tampered("the stored row is filed under another subject: moved or copied there")
            }
            guard Self.text(row, "kind") == "blob", let recordType = Self.text(row, "record_type"),
                Self.isValidRecordType(recordType),
                let revision = Self.integer(row, "revision"), revision >= 1,
                let createdAt = Self.real(row, "created_at"), let updatedAt = Self.real(row, "updated_at")
            else {
                throw self.tampered("a stored row's columns are not of the types the store writes")
            }
            let envelope = try Data.fetchOne(
                db, sql: "SELECT envelope FROM record WHERE record_index = ?", arguments: [Data(address.recordIndex)])
            let columns = RowColumns(
                recordType: recordType, revision: revision, createdAt: createdAt, updatedAt: updatedAt)
            return (columns, Array(envelope ?? Data()))
        }
    }

    /// A record row's envelope as ``commit(_:at:recordType:wrappingKey:expectedRevision:)`` writes it: bytes in
    /// memory, bound as one value, or a spool file written into the row in pieces (incremental blob I/O).
    enum EnvelopeSource {
        case bytes([UInt8])
        case spool(RecordSpool)

        var byteCount: Int {
            switch self {
            case .bytes(let bytes): bytes.count
            case .spool(let spool): spool.byteCount
            }
        }
    }

    /// Writes the record's row in one write transaction: inserted at revision 1, or replaced with a
    /// compare-and-set on its revision. Returns the new revision.
    /// - Throws: ``RecordStoreError/Code/conflict`` when the row is not at `expectedRevision`;
    ///   ``RecordStoreError/Code/authenticationFailed`` for a stored revision that is not one;
    ///   ``RecordStoreError/Code/storage``.
    func commit(
        _ envelope: EnvelopeSource, at address: Address, recordType: String, wrappingKey: KeyIdentifier,
        expectedRevision: Int64?
    ) throws -> Int64 {
        try self.writing("storing a record") { db in
            let now = Date().timeIntervalSince1970
            // Read strictly: SQLite reads a revision edited to text as 0, and the UPDATE below would then
            // match no row while the write reported success.
            var current: Int64?
            if let row = try Row.fetchOne(
                db, sql: "SELECT revision FROM record WHERE record_index = ?", arguments: [Data(address.recordIndex)])
            {
                guard let revision = Self.integer(row, "revision"), revision >= 1, revision < Int64.max else {
                    throw self.tampered("the stored row's revision is not a revision: the row was tampered with")
                }
                current = revision
            }
            if let expectedRevision, expectedRevision != (current ?? 0) {
                throw RecordStoreError(.conflict, "the record is at revision \(current ?? 0), not \(expectedRevision)")
            }
            // A spooled envelope goes in as zeros of its length (SQLite does not allocate them), then in pieces.
            let (value, placeholder): (any DatabaseValueConvertible, String) =
                switch envelope {
                case .bytes(let bytes): (Data(bytes), "?")
                case .spool(let spool): (spool.byteCount, "zeroblob(?)")
                }
            let revision: Int64
            if let current {
                try db.execute(
                    sql: """
                        UPDATE record SET record_type = ?, envelope = \(placeholder), wrapping_key = ?, revision = revision + 1, updated_at = ?
                        WHERE record_index = ? AND revision = ?
                        """,
                    arguments: [recordType, value, "\(wrappingKey)", now, Data(address.recordIndex), current]
                )
                guard db.changesCount == 1 else {
                    throw RecordStoreError(.storage, "the record changed under a write transaction")
                }
                revision = current + 1
            } else {
                try db.execute(
                    sql: """
                        INSERT INTO record (record_index, subject_index, record_type, envelope, wrapping_key, revision, created_at, updated_at)
                        VALUES (?, ?, ?, \(placeholder), ?, 1, ?, ?)
                        """,
                    arguments: [
                        Data(address.recordIndex), address.subjectIndex, recordType, value, "\(wrappingKey)", now, now,
                    ]
                )
                revision = 1
            }
            if case .spool(let spool) = envelope {
                guard
                    let rowID = try Int64.fetchOne(
                        db, sql: "SELECT rowid FROM record WHERE record_index = ?",
                        arguments: [Data(address.recordIndex)])
                else {
                    throw RecordStoreError(.storage, "the record's row vanished under a write transaction")
                }
                try db.writeBlob(table: "record", column: "envelope", rowID: rowID, length: spool.byteCount) {
                    try spool.read(at: $0, into: $1)
                }
            }
            return revision
        }
    }

    func shredReceipt(subjectIndex: String) throws -> DestructionReceipt? {
        try self.reading("reading a shredding receipt") { db -> DestructionReceipt? in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: "SELECT key_name, key_version, destroyed_at FROM shred_receipt WHERE subject_index = ?",
                    arguments: [subjectIndex]
                )
            else { return nil }
            // An edited receipt (another patient's key, a version out of range, wrong types) is no receipt.
            guard let name = Self.text(row, "key_name"), name == "s-" + subjectIndex,
                let version = Self.integer(row, "key_version").flatMap(UInt32.init(exactly:)),
                let destroyedAt = Self.real(row, "destroyed_at"),
                let key = try? KeyIdentifier(name: name, version: version)
            else { return nil }
            return DestructionReceipt(
                key: key, destroyedAt: Date(timeIntervalSince1970: destroyedAt), subjectIndex: subjectIndex)
        }
    }

    /// The rows the subject's last shredding deleted, as its receipt row keeps them (0 when not a number).
    func shreddedRecordCount(subjectIndex: String) throws -> Int {
        try self.reading("reading a shredding receipt") { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT record_count FROM shred_receipt WHERE subject_index = ?", arguments: [subjectIndex]
                ),
                let count = Self.integer(row, "record_count"), count >= 0
            else { return 0 }
            return Int(clamping: count)
        }
    }

    /// Deletes the subject's rows sealed under the versions `receipt` destroyed (that version and every
    /// earlier one: a row written under a newer version after the shredding stays) and keeps the receipt,
    /// in one transaction; then truncates the WAL. Idempotent: a second call for the same receipt deletes
    /// nothing more and keeps the count. Returns the rows this shredding deleted.
    func keep(_ receipt: DestructionReceipt, subjectIndex: String) throws -> Int {
        let count = try self.writing("keeping a shredding receipt") { db in
            try db.execute(
                sql: "DELETE FROM record WHERE subject_index = ? AND \(Schema.wrappingKeyVersion) <= ?",
                arguments: [subjectIndex, Int64(receipt.key.version)]
            )
            let deleted = db.changesCount
            var count = deleted
            if let kept = try Row.fetchOne(
                db, sql: "SELECT key_version, record_count FROM shred_receipt WHERE subject_index = ?",
                arguments: [subjectIndex]),
                Self.integer(kept, "key_version") == Int64(receipt.key.version),
                let before = Self.integer(kept, "record_count")
            {
                count += Int(clamping: before)
            }
            try db.execute(
                sql: """
                    INSERT INTO shred_receipt (subject_index, key_name, key_version, destroyed_at, record_count) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (subject_index) DO UPDATE SET key_name = excluded.key_name, key_version = excluded.key_version,
                        destroyed_at = excluded.destroyed_at, record_count = excluded.record_count
                    """,
                arguments: [
                    subjectIndex, receipt.key.name, Int64(receipt.key.version),
                    receipt.destroyedAt.timeIntervalSince1970, count,
                ]
            )
            return count
        }
        self.truncateWAL(after: "shredding")
        return count
    }

    /// A column of an untrusted row, only when it holds an integer.
    static func integer(_ row: Row, _ column: String) -> Int64? {
        guard case .int64(let value) = (row[column] as DatabaseValue).storage else { return nil }
        return value
    }

    /// A column of an untrusted row, only when it holds a number.
    static func real(_ row: Row, _ column: String) -> Double? {
        switch (row[column] as DatabaseValue).storage {
        case .double(let value): value
        case .int64(let value): Double(value)
        default: nil
        }
    }

    /// A column of an untrusted row, only when it holds text.
    static func text(_ row: Row, _ column: String) -> String? {
        guard case .string(let value) = (row[column] as DatabaseValue).storage else { return nil }
        return value
    }

    /// A nullable column of an untrusted row: `.some(nil)` for NULL, the value when `read` accepts it, `nil`
    /// for a value of another type.
    static func nullable<T>(_ row: Row, _ column: String, _ read: (Row, String) -> T?) -> T?? {
        if (row[column] as DatabaseValue).isNull { return .some(nil) }
        return read(row, column).map { .some($0) }
    }
}
