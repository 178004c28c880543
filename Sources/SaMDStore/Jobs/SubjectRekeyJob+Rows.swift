import Foundation
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
    /// The most rows listed at once.
    static let pageRowCount = 256
    /// The most rows written in one transaction.
    static let writeRowCount = 256

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
            var after: Data?
            repeat {
                var page = try self.store.rekeyRecordPage(
                    subjectIndex: subjectIndex, notUnder: subject.rekey.newKey.identifier, after: after,
                    limit: Self.pageRowCount, inlineEnvelopeByteCount: Self.inlineByteCount)
                // Untrusted like any row: a row of the wrong types is left, and the old versions then stay.
                subject.skipped += page.damagedRowCount
                for position in page.records.indices {
                    let listed = page.records[position]
                    // The page's copy goes as soon as it is rewrapped: a page's envelopes are not held twice.
                    page.records[position].envelope = nil
                    var envelope: Data?
                    if let inline = listed.envelope {
                        guard let rewrapped = Self.rewrapped(inline, subject) else { continue }
                        envelope = rewrapped
                    }
                    if !work.isEmpty,
                        workBytes + listed.envelopeByteCount > Self.groupByteCount || work.count >= Self.workRowCount
                    {
                        try self.write(work)
                        work.removeAll(keepingCapacity: true)
                        workBytes = 0
                    }
                    work.append(
                        RowToRewrap(
                            index: listed.recordIndex, subject: subject, revision: listed.revision,
                            oldKey: listed.wrappingKey, envelope: envelope))
                    workBytes += listed.envelopeByteCount
                }
                // A key of the wrong type (an edited table) ends the pass: the rows left keep the old versions.
                after = page.next
            } while after != nil
        }
        try self.write(work)
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
    private func write(_ work: [RowToRewrap]) throws {
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
            var group = Array(sorted[start..<min(start + Self.writeRowCount, sorted.endIndex)])
            start += group.count
            for position in group.indices where group[position].envelope == nil {
                // Deleted or replaced meanwhile (shredded, or written again under the new version): nothing to
                // rewrap — the row is read only as it was listed.
                let row = group[position]
                let stored: Data?
                do {
                    stored = try self.store.rekeyRecordEnvelope(
                        recordIndex: row.index, revision: row.revision, wrappingKey: row.oldKey)
                } catch let error as RecordStoreError where error.code == .limitExceeded {
                    // Larger than any record the store may hold (tampered with, or written under a larger limit):
                    // its subject's damaged row, which keeps that subject's old versions and is reported — not a
                    // failure of the batch (it stopped the re-key of every other subject once).
                    row.subject.skipped += 1
                    continue
                }
                group[position].envelope = stored.flatMap { Self.rewrapped($0, row.subject) }
            }
            let updates = group.compactMap { row in
                row.envelope.map { envelope in
                    (
                        row.subject,
                        RewrappedRecord(
                            recordIndex: row.index, revision: row.revision, wrappingKey: row.oldKey,
                            newKey: row.subject.rekey.newKey.identifier, envelope: envelope)
                    )
                }
            }
            guard !updates.isEmpty else { continue }
            // Not necessarily durable: the batch's rows are made durable together, before any old version is
            // destroyed.
            let written = try self.store.writeRewrappedRecords(updates.map(\.1))
            for ((subject, _), done) in zip(updates, written) where done {
                subject.records += 1
            }
        }
    }
}

/// A subject of the batch being re-keyed: its new key and what happened to its rows.
final class SubjectInProgress {
    let name: String
    let rekey: SubjectRekey
    let rewrapper: EnvelopeRewrapper
    /// Rows rewrapped.
    var records = 0
    /// Rows that did not rewrap (the subject's old versions are then kept).
    var skipped = 0

    init(name: String, rekey: SubjectRekey, rewrapper: EnvelopeRewrapper) {
        self.name = name
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
