import Foundation
import GRDB
import SaMDEnvelope
import SaMDKeys

/// The re-key's rows: a batch's rows listed by pages, rewrapped to their subject's new version with bounded
/// memory, and written in key order with a compare-and-set.
extension SubjectRekeyJob {
    /// The most envelope bytes read at once (one larger envelope is read alone).
    static let groupByteCount = 8 << 20
    /// The most rows listed before they are written.
    static let workRowCount = 8192
    /// Envelopes up to this size are read with the list of rows; larger ones alone, when written.
    static let inlineByteCount = 64 << 10

    /// Rewraps every row of the subjects still under an older version. Each subject's rows are listed by
    /// pages of 256 in key order (each row is seen once, whatever happens to it), with their envelopes when
    /// at most 64 KiB (rewrapped at once; a larger one is read alone later); the rewrapped rows go to a work
    /// list of at most 8 MiB or 8 192 rows, so memory stays bounded whatever the records' sizes. The list is
    /// written in key order, in transactions of at most 256 rows, so that rows sharing a database page are
    /// written together, not once per subject.
    func rewrapRows(of subjects: [String: SubjectInProgress]) throws {
        var work: [RowToRewrap] = []
        var workBytes = 0
        for (subjectIndex, subject) in subjects.sorted(by: { $0.key < $1.key }) {
            var after = Data()
            while true {
                let page = try self.store.readingOnTheWriter("reading records to re-key") { db in
                    try Self.listPage(db, subject: subject, subjectIndex: subjectIndex, after: after)
                }
                for (row, size) in page.rows {
                    if !work.isEmpty, workBytes + size > Self.groupByteCount || work.count >= Self.workRowCount {
                        try self.write(work, subjects)
                        work.removeAll(keepingCapacity: true)
                        workBytes = 0
                    }
                    work.append(row)
                    workBytes += size
                }
                // A key that is not a blob (an edited table) ends the pass: the rows left keep the old versions.
                guard let last = page.last, page.count == 256 else { break }
                after = last
            }
        }
        try self.write(work, subjects)
    }

    /// One page of a subject's rows still under an older version, after `after` in key order: the rows to
    /// write, each with its envelope's size (and the envelope rewrapped when at most 64 KiB); the last key of
    /// the page, `nil` when it is not a blob; how many rows the page had. Read through a cursor, by column
    /// position: the rows are not copied. Rows of the wrong types are counted as the subject's skipped rows.
    private static func listPage(
        _ db: Database, subject: SubjectInProgress, subjectIndex: String, after: Data
    ) throws -> (rows: [(RowToRewrap, Int)], last: Data?, count: Int) {
        let statement = try db.cachedStatement(
            sql: """
                SELECT record_index, revision, wrapping_key, typeof(envelope) = 'blob', length(envelope),
                    CASE WHEN typeof(envelope) = 'blob' AND length(envelope) <= \(Self.inlineByteCount) THEN envelope END
                FROM record
                WHERE subject_index = ? AND wrapping_key != ? AND record_index > ? ORDER BY record_index LIMIT 256
                """
        )
        let cursor = try Row.fetchCursor(statement, arguments: [subjectIndex, subject.newName, after])
        var rows: [(RowToRewrap, Int)] = []
        var last: Data?
        var count = 0
        while let row = try cursor.next() {
            count += 1
            let key = row[0] as DatabaseValue
            guard case .blob(let index) = key.storage else {
                last = nil
                subject.skipped += 1
                continue
            }
            last = index
            // Untrusted like any row: a row of the wrong types is left, and the old versions then stay.
            guard case .int64(let revision) = (row[1] as DatabaseValue).storage,
                case .string(let oldKey) = (row[2] as DatabaseValue).storage,
                case .int64(1) = (row[3] as DatabaseValue).storage,
                case .int64(let size) = (row[4] as DatabaseValue).storage, size >= 0
            else {
                subject.skipped += 1
                continue
            }
            var envelope: Data?
            if case .blob(let inline) = (row[5] as DatabaseValue).storage {
                guard let rewrapped = Self.rewrapped(inline, subject) else { continue }
                envelope = rewrapped
            }
            rows.append(
                (
                    RowToRewrap(index: index, subject: subject, revision: revision, oldKey: oldKey, envelope: envelope),
                    Int(clamping: size)
                ))
        }
        return (rows, last, count)
    }

    /// The envelope with its header rewrapped to the subject's new key (the payload bytes as they were), or
    /// `nil` — counted as skipped — when the header does not parse, names another key or does not unwrap.
    /// A row sealed under a newer version than the re-key's (the subject shredded and written again since) is
    /// not the job's to rewrap: `nil`, not counted.
    private static func rewrapped(_ envelope: Data, _ subject: SubjectInProgress) -> Data? {
        guard let header = try? EnvelopeHeader.parse(envelope), header.key.name == subject.name else {
            subject.skipped += 1
            return nil
        }
        if header.key.version > subject.rekey.newKey.identifier.version { return nil }
        guard let rewrapped = try? subject.rewrapper.rewrap(header) else {
            subject.skipped += 1
            return nil
        }
        return Data(rewrapped.encoded) + envelope[(envelope.startIndex + header.byteCount)...]
    }

    /// Writes a work list in key order, in transactions of at most 256 rows, reading and rewrapping first
    /// the envelopes too large to have been read with the list.
    private func write(_ work: [RowToRewrap], _ subjects: [String: SubjectInProgress]) throws {
        let sorted = work.sorted { a, b in
            a.index.withUnsafeBytes { x in
                b.index.withUnsafeBytes { y in
                    let order = memcmp(x.baseAddress!, y.baseAddress!, min(x.count, y.count))
                    return order != 0 ? order < 0 : x.count < y.count
                }
            }
        }
        var start = sorted.startIndex
        while start < sorted.endIndex {
            var group = Array(sorted[start..<min(start + 256, sorted.endIndex)])
            start += group.count
            for position in group.indices where group[position].envelope == nil {
                // Deleted or replaced meanwhile (shredded, or written again under the new version): nothing to
                // rewrap — the row is read only as it was listed.
                let row = group[position]
                let stored = try self.store.readingOnTheWriter("reading a record to re-key") { db in
                    try Data.fetchOne(
                        db,
                        sql:
                            "SELECT envelope FROM record WHERE record_index = ? AND revision = ? AND wrapping_key = ? AND typeof(envelope) = 'blob'",
                        arguments: [row.index, row.revision, row.oldKey]
                    )
                }
                group[position].envelope = stored.flatMap { Self.rewrapped($0, row.subject) }
            }
            let updates = group.filter { $0.envelope != nil }
            guard !updates.isEmpty else { continue }
            // Not synced: the batch's rows are made durable together, before any old version is destroyed.
            try self.store.writing("rewrapping records", synchronous: "NORMAL") { db in
                // Compiled once per connection, not once per row.
                let statement = try db.cachedStatement(
                    sql:
                        "UPDATE record SET envelope = ?, wrapping_key = ? WHERE record_index = ? AND revision = ? AND wrapping_key = ?"
                )
                for update in updates {
                    try statement.execute(arguments: [
                        update.envelope, update.subject.newName, update.index, update.revision, update.oldKey,
                    ])
                    update.subject.records += db.changesCount
                }
            }
        }
    }
}

/// A subject of the batch being re-keyed: its new key and what happened to its rows.
final class SubjectInProgress {
    let name: String
    let newName: String
    let rekey: SubjectRekey
    let rewrapper: EnvelopeRewrapper
    /// Rows rewrapped.
    var records = 0
    /// Rows that did not rewrap (the subject's old versions are then kept).
    var skipped = 0

    init(name: String, rekey: SubjectRekey, rewrapper: EnvelopeRewrapper) {
        self.name = name
        self.newName = "\(rekey.newKey.identifier)"
        self.rekey = rekey
        self.rewrapper = rewrapper
    }
}

/// A row listed for rewrapping: its key, the revision and key it had (the compare-and-set), and its
/// rewrapped envelope once read.
private struct RowToRewrap {
    let index: Data
    let subject: SubjectInProgress
    let revision: Int64
    let oldKey: String
    var envelope: Data?
}
