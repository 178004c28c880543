public import Foundation
import GRDB
public import SaMDEnvelope

/// The record rows a re-key rewraps, on SQLite: listed by pages on the writer's connection (its page cache
/// then holds the pages the updates need), read strictly by type, and written back with a compare-and-set in
/// transactions committed without a sync until one synced commit makes them durable.
extension EncryptedRecordStore {
    /// One page of the subject's rows whose `wrapping_key` is not `newKey`, read through a cursor by column
    /// position (the rows are not copied), each column checked for the type the store writes: a row of other
    /// types is counted in ``RekeyRecordPage/damagedRowCount``, and a `record_index` that is not a blob ends
    /// the pass when it is the page's last. Envelopes up to `inlineEnvelopeByteCount` come with the page.
    /// - Parameters:
    ///   - subjectIndex: the rows' `subject_index`.
    ///   - newKey: the subject's new key version.
    ///   - after: the `record_index` to list after; `nil` from the first.
    ///   - limit: the most rows the page has.
    ///   - inlineEnvelopeByteCount: the largest envelope read with the page, in bytes.
    /// - Returns: the page.
    /// - Throws: ``RecordStoreError/Code/limitExceeded`` for a value larger than any record may be;
    ///   ``RecordStoreError/Code/storage``.
    public func rekeyRecordPage(
        subjectIndex: String, notUnder newKey: KeyIdentifier, after: Data?, limit: Int, inlineEnvelopeByteCount: Int
    ) throws -> RekeyRecordPage {
        try self.readingOnTheWriter("reading records to re-key") { db in
            let statement = try db.cachedStatement(
                sql: """
                    SELECT record_index, revision, wrapping_key, typeof(envelope) = 'blob', length(envelope),
                        CASE WHEN typeof(envelope) = 'blob' AND length(envelope) <= ? THEN envelope END
                    FROM record
                    WHERE subject_index = ? AND wrapping_key != ? AND record_index > ? ORDER BY record_index LIMIT ?
                    """
            )
            let cursor = try Row.fetchCursor(
                statement,
                arguments: [inlineEnvelopeByteCount, subjectIndex, "\(newKey)", after ?? Data(), limit])
            var page = RekeyRecordPage(records: [], damagedRowCount: 0, next: nil)
            var last: Data?
            var count = 0
            while let row = try cursor.next() {
                count += 1
                guard case .blob(let index) = (row[0] as DatabaseValue).storage else {
                    last = nil
                    page.damagedRowCount += 1
                    continue
                }
                last = index
                guard case .int64(let revision) = (row[1] as DatabaseValue).storage,
                    case .string(let wrappingKey) = (row[2] as DatabaseValue).storage,
                    case .int64(1) = (row[3] as DatabaseValue).storage,
                    case .int64(let size) = (row[4] as DatabaseValue).storage, size >= 0
                else {
                    page.damagedRowCount += 1
                    continue
                }
                var envelope: Data?
                if case .blob(let inline) = (row[5] as DatabaseValue).storage {
                    envelope = inline
                }
                page.records.append(
                    RekeyRecord(
                        recordIndex: index, revision: revision, wrappingKey: wrappingKey,
                        envelopeByteCount: Int(clamping: size), envelope: envelope))
            }
            page.next = count == limit ? last : nil
            return page
        }
    }

    /// The envelope of the row at `recordIndex` while its `revision` and `wrapping_key` are those given and it
    /// is a blob; read on the writer's connection.
    /// - Parameters:
    ///   - recordIndex: the row's `record_index`.
    ///   - revision: its `revision` when listed.
    ///   - wrappingKey: its `wrapping_key` when listed.
    /// - Returns: the envelope, or `nil`.
    /// - Throws: ``RecordStoreError/Code/limitExceeded`` for an envelope larger than any record may be;
    ///   ``RecordStoreError/Code/storage``.
    public func rekeyRecordEnvelope(recordIndex: Data, revision: Int64, wrappingKey: String) throws -> Data? {
        try self.readingOnTheWriter("reading a record to re-key") { db in
            try Data.fetchOne(
                db,
                sql:
                    "SELECT envelope FROM record WHERE record_index = ? AND revision = ? AND wrapping_key = ? AND typeof(envelope) = 'blob'",
                arguments: [recordIndex, revision, wrappingKey]
            )
        }
    }

    /// Writes the rewrapped envelopes in one `BEGIN IMMEDIATE` transaction committed with
    /// `synchronous = NORMAL` (no sync: ``makeRewrappedRecordsDurable(count:)`` syncs them), each an `UPDATE`
    /// of `envelope` and `wrapping_key` where `record_index`, `revision` and `wrapping_key` are those listed.
    /// - Parameter records: the rows, in the order to write them.
    /// - Returns: for each row, whether it was written.
    /// - Throws: ``RecordStoreError/Code/storage``; the transaction is rolled back.
    public func writeRewrappedRecords(_ records: [RewrappedRecord]) throws -> [Bool] {
        try self.writing("rewrapping records", synchronous: "NORMAL") { db in
            // Compiled once per connection, not once per row.
            let statement = try db.cachedStatement(
                sql:
                    "UPDATE record SET envelope = ?, wrapping_key = ? WHERE record_index = ? AND revision = ? AND wrapping_key = ?"
            )
            return try records.map { record in
                try statement.execute(arguments: [
                    record.envelope, "\(record.newKey)", record.recordIndex, record.revision, record.wrappingKey,
                ])
                return db.changesCount > 0
            }
        }
    }

    /// Adds `count` to `rekey_checkpoint`'s `rewrapped` in a commit with `synchronous = FULL`: it syncs the
    /// WAL, and with it every rewrap committed before it without a sync.
    /// - Parameter count: records rewrapped in the batch.
    /// - Throws: ``RecordStoreError/Code/storage``.
    public func makeRewrappedRecordsDurable(count: Int) throws {
        try self.writing("making the rewrapped records durable", synchronous: "FULL") { db in
            try db.execute(
                sql: "UPDATE rekey_checkpoint SET rewrapped = rewrapped + ? WHERE id = 1", arguments: [count])
        }
    }
}
