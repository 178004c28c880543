public import Foundation
public import SaMDEnvelope
public import SaMDKeys
import GRDB
import Logging

/// Recovers from a compromise of subject keys: gives every subject a new subject-key version with fresh
/// material, rewraps every record's header from the old version to the new one (header only: the payload
/// bytes stay identical), then destroys the old versions — while the store keeps serving.
///
/// Rotating the KEK (``KeyRotationJob``) rewraps the *same* subject-key material under a new KEK: whoever
/// copied the subject keys still opens every record. A re-key replaces the material itself; afterwards a copy
/// of the key store taken before it opens no record of the database (tested).
///
/// Crash-safe and resumable, like the rotation:
/// 1. the intent (a start time, `not_before`: the next whole second, past the previous run's `not_before` and
///    end) is committed to `rekey_checkpoint`;
/// 2. subject by subject, in ascending order of their blind names: the key store makes the new version (its
///    own atomic write, under the subject's lock; the older versions then open but never seal, so no record
///    is committed under them any more); each of the subject's rows still under an older version is rewrapped
///    with a compare-and-set on its revision and key (a row a writer replaced meanwhile is left as the writer
///    wrote it: under the new version); once no row of the subject names an older version, those versions are
///    destroyed (receipts kept under the key store's `receipts/`);
/// 3. after each batch of subjects the position is committed, the WAL is truncated (no old header is left in
///    `records.sqlite-wal`) and `progress` is called with the rate in records per second.
///
/// A process killed at any point leaves every record openable: a row is under the old version (still live
/// until every row of its subject is rewrapped) or the new one. Running the job again resumes after the last
/// committed batch, never past a subject that failed (it is retried); a subject whose live version was created
/// at or after `not_before` is taken as re-keyed already (no third version). Subjects created while the job
/// runs get fresh keys after `not_before` and are left alone. One job — rotation or re-key — runs per store at a time (`rotation.lock`).
public struct SubjectRekeyJob: Sendable {
    /// The store whose records are rewrapped.
    public let store: EncryptedRecordStore
    /// Subjects re-keyed between two committed checkpoints.
    public let batchSize: Int

    public init(store: EncryptedRecordStore, batchSize: Int = 64) {
        self.store = store
        self.batchSize = max(1, batchSize)
    }

    /// The most envelope bytes read at once (one larger envelope is read alone).
    static let groupByteCount = 8 << 20

    /// Runs the job, or resumes the one a crash interrupted.
    /// - Parameter progress: called after each committed batch, on the caller's thread.
    /// - Returns: the report; ``SubjectRekeyReport/finished`` is `false` when some subject could not be
    ///   re-keyed or some record not rewrapped (its old versions are then kept; running the job again retries).
    /// - Throws: ``RecordStoreError/Code/conflict`` when another rotation or re-key job is running on this
    ///   store; ``RecordStoreError/Code/keyUnavailable`` when the KEK cannot seal (rotate first: a compromised
    ///   KEK never seals); ``RecordStoreError/Code/storage``.
    public func run(progress: (SubjectRekeyProgress) -> Void = { _ in }) throws -> SubjectRekeyReport {
        let lock = try JobLock(path: self.store.directory + "/rotation.lock")
        defer { withExtendedLifetime(lock) {} }
        let started = Date()
        let keys = self.store.keyStore
        // New subject keys are wrapped under the KEK's active version: one must seal (a compromised one never does).
        _ = try EncryptedRecordStore.keyCall { try keys.sealingKey(named: FileKeyStore.defaultKeyName) }
        let (notBefore, cursor, resumed) = try self.start()
        let names = try EncryptedRecordStore.keyCall { try keys.subjectKeyNames() }
        var position = cursor.map { after in names.firstIndex { $0 > after } ?? names.endIndex } ?? names.startIndex
        var records = 0
        var destroyed = 0
        var failed: [(key: String, reason: String)] = []
        // The committed position never passes a subject that failed: running the job again retries it (the
        // subjects re-keyed after it are then found fresh, and only checked).
        var committed = cursor
        while position < names.endIndex {
            let batch = names[position..<min(position + self.batchSize, names.endIndex)]
            var batchRecords = 0
            for name in batch {
                do {
                    let done = try self.rekey(name, notBefore: notBefore)
                    batchRecords += done.records
                    records += done.records
                    destroyed += done.destroyed
                    if let failure = done.failure { failed.append((name, failure)) }
                } catch let error as RecordStoreError {
                    failed.append((name, "\(error.code): \(error.reason)"))
                }
                if failed.isEmpty { committed = name }
            }
            position = batch.endIndex
            self.store.truncateWAL(after: "re-keying")
            try self.store.writing("committing a re-key checkpoint") { db in
                try db.execute(
                    sql: "UPDATE rekey_checkpoint SET cursor = ?, done = done + ?, rewrapped = rewrapped + ? WHERE id = 1",
                    arguments: [committed, batch.count, batchRecords]
                )
            }
            progress(SubjectRekeyProgress(done: position, total: names.count, recordsRewrapped: records, elapsed: Date().timeIntervalSince(started)))
        }
        let finished = failed.isEmpty
        if finished {
            try self.store.writing("finishing a re-key") { db in
                try db.execute(sql: "UPDATE rekey_checkpoint SET finished_at = ? WHERE id = 1", arguments: [Date().timeIntervalSince1970])
            }
        }
        let report = SubjectRekeyReport(
            subjectKeyCount: names.count, recordsRewrapped: records, versionsDestroyed: destroyed, failed: failed,
            resumed: resumed, finished: finished, elapsed: Date().timeIntervalSince(started)
        )
        self.store.logger.log(
            level: finished ? .notice : .error,
            finished ? "subject re-key finished" : "subject re-key incomplete",
            metadata: [
                "event": finished ? "samd.store.rekey-finished" : "samd.store.rekey-incomplete",
                "subject_keys": "\(names.count)", "records": "\(records)", "destroyed": "\(destroyed)",
                "failed": "\(failed.count)", "resumed": "\(resumed)",
            ]
        )
        return report
    }

    /// Re-keys one subject: the new version, its rows rewrapped (compare-and-set), the old versions destroyed.
    func rekey(_ name: String, notBefore: Date) throws -> (records: Int, destroyed: Int, failure: String?) {
        let keys = self.store.keyStore
        guard let rekey = try EncryptedRecordStore.keyCall({ try keys.rekeySubjectKey(named: name, notBefore: notBefore) }) else { return (0, 0, nil) }
        let subjectIndex = String(name.dropFirst(2))
        let newName = "\(rekey.newKey.identifier)"
        let rewrapper = try EncryptedRecordStore.keyCall {
            try EnvelopeRewrapper(keys: EncryptedRecordStore.PatientKeyProvider(keyStore: keys, subjectKeyName: name), to: rekey.newKey)
        }
        var records = 0
        var skipped = 0
        var after = Data()
        // Pages of the subject's rows in record_index order: each row is seen once, whatever happens to it.
        // A page's keys and sizes are read first; the envelopes then in groups of at most 8 MiB (one larger
        // row alone), so memory stays bounded whatever the records' sizes.
        while true {
            let page = try self.store.reading("reading records to re-key") { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT record_index, revision, wrapping_key, typeof(envelope) AS kind, length(envelope) AS size FROM record
                        WHERE subject_index = ? AND wrapping_key != ? AND record_index > ? ORDER BY record_index LIMIT 256
                        """,
                    arguments: [subjectIndex, newName, after]
                )
            }
            // A key that is not a blob (an edited table) ends the pass: the rows left keep the old versions.
            guard let last = page.last, case .blob(let lastIndex) = (last["record_index"] as DatabaseValue).storage else {
                skipped += page.isEmpty ? 0 : 1
                break
            }
            after = lastIndex
            var groups: [[(index: Data, revision: Int64, oldKey: String)]] = [[]]
            var groupBytes = 0
            for row in page {
                // Untrusted like any row: a row of the wrong types is left, and the old versions then stay.
                guard case .blob(let index) = (row["record_index"] as DatabaseValue).storage,
                    let revision = EncryptedRecordStore.integer(row, "revision"),
                    let oldKey = EncryptedRecordStore.text(row, "wrapping_key"),
                    EncryptedRecordStore.text(row, "kind") == "blob", let size = EncryptedRecordStore.integer(row, "size"), size >= 0
                else {
                    skipped += 1
                    continue
                }
                if groupBytes + Int(clamping: size) > Self.groupByteCount, !(groups.last?.isEmpty ?? true) {
                    groups.append([])
                    groupBytes = 0
                }
                groups[groups.count - 1].append((index, revision, oldKey))
                groupBytes += Int(clamping: size)
            }
            for group in groups where !group.isEmpty {
                let envelopes = try self.store.reading("reading records to re-key") { db in
                    var found: [Data: Data] = [:]
                    let marks = Array(repeating: "?", count: group.count).joined(separator: ", ")
                    let rows = try Row.fetchAll(
                        db, sql: "SELECT record_index, envelope FROM record WHERE record_index IN (\(marks))",
                        arguments: StatementArguments(group.map(\.index))
                    )
                    for row in rows {
                        if case .blob(let index) = (row["record_index"] as DatabaseValue).storage,
                            case .blob(let envelope) = (row["envelope"] as DatabaseValue).storage
                        {
                            found[index] = envelope
                        }
                    }
                    return found
                }
                var updates: [(index: Data, revision: Int64, oldKey: String, envelope: Data)] = []
                for row in group {
                    // Deleted meanwhile (shredded): nothing to rewrap. A header that does not rewrap is left.
                    guard let envelope = envelopes[row.index] else { continue }
                    guard let header = try? EnvelopeHeader.parse(envelope), header.key.name == name,
                        let rewrapped = try? rewrapper.rewrap(header)
                    else {
                        skipped += 1
                        continue
                    }
                    updates.append((row.index, row.revision, row.oldKey, Data(rewrapped.encoded) + envelope[(envelope.startIndex + header.byteCount)...]))
                }
                records += try self.store.writing("rewrapping records") { db in
                    // Compiled once per connection, not once per row.
                    let statement = try db.cachedStatement(
                        sql: "UPDATE record SET envelope = ?, wrapping_key = ? WHERE record_index = ? AND revision = ? AND wrapping_key = ?"
                    )
                    var changed = 0
                    for update in updates {
                        try statement.execute(arguments: [update.envelope, newName, update.index, update.revision, update.oldKey])
                        changed += db.changesCount
                    }
                    return changed
                }
            }
        }
        // A row changed meanwhile (the compare-and-set found another revision) was written by a writer under the
        // new version (the old ones seal no more) or deleted; a row that did not rewrap keeps the old versions.
        guard skipped == 0 else {
            return (records, 0, "\(RecordStoreError.Code.authenticationFailed): \(skipped) record(s) of the subject did not rewrap (tampered with?); its old key versions are kept")
        }
        let receipts = try EncryptedRecordStore.keyCall { try keys.destroySubjectKeyVersions(named: name, rekey.retiredVersions) }
        return (records, receipts.count, nil)
    }

    /// The start time and the position to start from; the intent is committed before the key store is touched.
    private func start() throws -> (notBefore: Date, cursor: String?, resumed: Bool) {
        let checkpoint = try self.store.reading("reading the re-key checkpoint") { db in
            try Row.fetchOne(db, sql: "SELECT not_before, cursor, finished_at FROM rekey_checkpoint WHERE id = 1")
        }
        let previous = checkpoint.flatMap { EncryptedRecordStore.real($0, "not_before") }.flatMap { $0.isFinite && $0 > 0 ? $0 : nil }
        let finishedAt = checkpoint.flatMap { EncryptedRecordStore.real($0, "finished_at") }.flatMap { $0.isFinite && $0 > 0 ? $0 : nil }
        if let checkpoint, (checkpoint["finished_at"] as DatabaseValue).isNull, let previous, case let cursor = Self.cursor(checkpoint), !cursor.damaged {
            self.store.logger.notice("subject re-key resumed", metadata: ["event": "samd.store.rekey-resumed"])
            return (Date(timeIntervalSince1970: previous), cursor.value, true)
        }
        if let checkpoint, (checkpoint["finished_at"] as DatabaseValue).isNull {
            self.store.logger.warning("re-key checkpoint damaged; the job starts afresh", metadata: ["event": "samd.store.rekey-checkpoint-damaged"])
        }
        // The next whole second: the key store keeps creation times to the second, so every version made
        // before now is stamped before it; the versions the job makes are stamped at it or later
        // (rekeySubjectKey stamps max(now, notBefore)), so no wait is needed. It is also past every stamp of
        // the run before (at most the later of its not_before and its end): a second re-key within the same
        // second (or after the clock went back) would otherwise take the first one's versions as its own,
        // and re-key nothing.
        let now = Date().timeIntervalSince1970
        let afterPrevious = [previous, finishedAt].compactMap { $0 }.map { $0.rounded(.down) + 1 }.max() ?? 0
        let notBefore = Date(timeIntervalSince1970: max((now + 1).rounded(.down), afterPrevious))
        try self.store.writing("recording a re-key") { db in
            try db.execute(
                sql: """
                    INSERT INTO rekey_checkpoint (id, not_before, cursor, done, rewrapped, started_at, finished_at) VALUES (1, ?, NULL, 0, 0, ?, NULL)
                    ON CONFLICT (id) DO UPDATE SET not_before = excluded.not_before, cursor = NULL, done = 0, rewrapped = 0,
                        started_at = excluded.started_at, finished_at = NULL
                    """,
                arguments: [notBefore.timeIntervalSince1970, now]
            )
        }
        self.store.logger.notice("subject re-key started", metadata: ["event": "samd.store.rekey-started"])
        return (notBefore, nil, false)
    }

    /// The stored cursor: none, or a subject key name; damaged for anything else.
    static func cursor(_ row: Row) -> (damaged: Bool, value: String?) {
        if (row["cursor"] as DatabaseValue).isNull { return (false, nil) }
        let hex = Set("0123456789abcdef".utf8)
        guard let stored = EncryptedRecordStore.text(row, "cursor"), stored.hasPrefix("s-"), stored.utf8.count == 34,
            stored.utf8.dropFirst(2).allSatisfy({ hex.contains($0) })
        else { return (true, nil) }
        return (false, stored)
    }
}

/// Where a ``SubjectRekeyJob`` is, after a committed batch.
public struct SubjectRekeyProgress: Sendable, Hashable {
    /// Subjects passed (re-keyed, or with nothing to re-key).
    public let done: Int
    public let total: Int
    /// Records rewrapped to a new subject-key version so far in this run.
    public let recordsRewrapped: Int
    /// Seconds since this run started.
    public let elapsed: TimeInterval

    /// Records rewrapped per second in this run.
    public var rate: Double {
        self.elapsed > 0 ? Double(self.recordsRewrapped) / self.elapsed : 0
    }
}

/// What a ``SubjectRekeyJob`` did.
public struct SubjectRekeyReport: Sendable {
    /// Subject keys in the store when the run began.
    public let subjectKeyCount: Int
    /// Records rewrapped in this run.
    public let recordsRewrapped: Int
    /// Old subject-key versions destroyed in this run (receipts under the key store's `receipts/`).
    public let versionsDestroyed: Int
    /// Subjects not re-keyed, or whose old versions are kept because a record did not rewrap, by blind name.
    public let failed: [(key: String, reason: String)]
    /// Whether this run resumed an interrupted job.
    public let resumed: Bool
    /// Whether every subject is re-keyed and every old version destroyed.
    public let finished: Bool
    /// Seconds this run took.
    public let elapsed: TimeInterval
}
