import Foundation
import Logging
import SaMDEnvelope
import SaMDKeys

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
///    end) is committed to the store's re-key checkpoint;
/// 2. batch by batch of subjects (``batchSize``), in ascending order of their blind names: the key store makes
///    the batch's new versions (`KeyStore.rekeySubjectKeys(named:notBefore:)`: one directory sync,
///    each subject's lock held until its version is durable; the older versions then open but never seal, so
///    no record is committed under them any more); every row of those subjects still under an older version
///    is rewrapped with a compare-and-set on its revision and key (a row a writer replaced meanwhile is left
///    as the writer wrote it: under the new version), in key order across the batch, committed without a
///    sync where the store allows it; one durable commit then makes the rows durable
///    (``KeyJobStore/makeRewrappedRecordsDurable(count:)``); the older versions of each subject none of whose
///    rows names them any more are destroyed (receipts kept under the key store's `receipts/`);
/// 3. after each batch of subjects the store removes what it keeps of the replaced headers outside their rows
///    (``KeyJobStore/didRekeyBatch()``: ``EncryptedRecordStore`` truncates its WAL, so no old header is left in
///    `records.sqlite-wal`), the position is committed and `progress` is called with the rate in records per
///    second.
///
/// A process killed at any point leaves every record openable: a row is under the old version (still live
/// until every row of its subject is rewrapped) or the new one. Running the job again resumes after the last
/// committed batch, never past a subject that failed (it is retried); a subject whose live version was created
/// at or after `not_before` is taken as re-keyed already (no third version). Subjects created while the job
/// runs get fresh keys after `not_before` and are left alone. One job — rotation or re-key — runs per store at
/// a time (``KeyJobStore/lockForKeyJob()``: for ``EncryptedRecordStore``, `rotation.lock`). While it runs, the
/// store is tuned for it (``KeyJobStore/withRekeyTuning(_:)``: ``EncryptedRecordStore``'s writer connection
/// has a 32 MiB page cache and does not truncate the WAL at each reset, the job truncating it after every
/// batch); the tuning is put back when it ends.
///
/// The job runs over any ``KeyJobStore``: the checkpoint's table, the record rows, their durability and the
/// lock are the store's, the steps above the job's.
public struct SubjectRekeyJob: Sendable {
    /// The store whose records are rewrapped.
    public let store: any KeyJobStore
    /// Subjects re-keyed between two committed checkpoints.
    public let batchSize: Int

    /// - Parameters:
    ///   - store: the store to run over: ``EncryptedRecordStore``, or any other ``KeyJobStore``.
    ///   - batchSize: subjects per committed checkpoint (at least 1).
    public init(store: some KeyJobStore, batchSize: Int = 64) {
        self.store = store
        self.batchSize = max(1, batchSize)
    }

    /// Runs the job, or resumes the one a crash interrupted.
    /// - Parameter progress: called after each committed batch, on the caller's thread.
    /// - Returns: the report; ``SubjectRekeyReport/finished`` is `false` when some subject could not be
    ///   re-keyed or some record not rewrapped (its old versions are then kept; running the job again retries).
    /// - Throws: ``RecordStoreError/Code/conflict`` when another rotation or re-key job is running on this
    ///   store; ``RecordStoreError/Code/keyUnavailable`` when the KEK cannot seal (rotate first: a compromised
    ///   KEK never seals); ``RecordStoreError/Code/storage``.
    public func run(progress: (SubjectRekeyProgress) -> Void = { _ in }) throws -> SubjectRekeyReport {
        let lock = try self.store.lockForKeyJob()
        defer { withExtendedLifetime(lock) {} }
        let started = ContinuousClock.now
        let keys = self.store.keyStore
        // New subject keys are wrapped under the KEK's active version: one must seal (a compromised one never does).
        // Asked without the KEK's material, which a token custody never gives out.
        _ = try EncryptedRecordStore.keyCall { try keys.sealingKEKIdentifier(named: FileKeyStore.defaultKeyName) }
        let (notBefore, cursor, resumed) = try self.start()
        return try self.store.withRekeyTuning {
            let names = try EncryptedRecordStore.keyCall { try keys.subjectKeyNames() }
            var position =
                cursor.map { after in names.firstIndex { $0 > after } ?? names.endIndex } ?? names.startIndex
            var records = 0
            var destroyed = 0
            var failed: [(key: String, reason: String)] = []
            // The committed position never passes a subject that failed: running the job again retries it (the
            // subjects re-keyed after it are then found fresh, and only checked).
            var committed = cursor
            while position < names.endIndex {
                let batch = names[position..<min(position + self.batchSize, names.endIndex)]
                let done = self.rekey(batch, notBefore: notBefore)
                records += done.records
                destroyed += done.destroyed
                let firstFailed = done.failed.map(\.key).min()
                if failed.isEmpty {
                    committed = batch.last { name in firstFailed.map { name < $0 } ?? true } ?? committed
                }
                failed += done.failed.sorted { $0.key < $1.key }
                position = batch.endIndex
                self.store.didRekeyBatch()
                try self.store.commitRekeyCheckpoint(cursor: committed, subjectsPassed: batch.count)
                progress(
                    SubjectRekeyProgress(
                        done: position, total: names.count, recordsRewrapped: records,
                        elapsed: ContinuousClock.now - started))
            }
            let finished = failed.isEmpty
            if finished {
                try self.store.finishRekeyCheckpoint(finishedAt: Date())
            }
            let report = SubjectRekeyReport(
                subjectKeyCount: names.count, recordsRewrapped: records, versionsDestroyed: destroyed, failed: failed,
                resumed: resumed, finished: finished, elapsed: ContinuousClock.now - started
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
    }

    /// Re-keys a batch of subjects: their new versions; then their rows, rewrapped in key order across the
    /// batch (compare-and-set); then the old versions of every subject whose rows all rewrapped, destroyed.
    /// - Returns: records rewrapped, versions destroyed, and the subjects that failed with the reason.
    func rekey(_ batch: ArraySlice<String>, notBefore: Date) -> (
        records: Int, destroyed: Int, failed: [(key: String, reason: String)]
    ) {
        let keys = self.store.keyStore
        var subjects: [String: SubjectInProgress] = [:]
        var failed: [(key: String, reason: String)] = []
        for (name, outcome) in keys.rekeySubjectKeys(named: Array(batch), notBefore: notBefore).sorted(by: {
            $0.key < $1.key
        }) {
            do {
                // Shredded (no live version): nothing to re-key.
                guard let rekey = try outcome.get() else { continue }
                // Only the subject's own retired versions open its rows (as PatientKeyProvider would allow).
                let rewrapper = try EnvelopeRewrapper(
                    keys: StaticKeyProvider(keys: rekey.retiredKeys), to: rekey.newKey)
                subjects[String(name.dropFirst(2))] = SubjectInProgress(name: name, rekey: rekey, rewrapper: rewrapper)
            } catch {
                let error = EncryptedRecordStore.keyError(error as? EnvelopeError ?? EnvelopeError(.crypto, "\(error)"))
                failed.append((name, "\(error.code): \(error.reason)"))
            }
        }
        let records: Int
        do {
            try self.rewrapRows(of: subjects)
            records = subjects.values.reduce(0) { $0 + $1.records }
            // The rows may have been committed without a sync; this commit makes them durable before any old
            // version is destroyed (a row lost in a crash after that would be under a destroyed key).
            try self.store.makeRewrappedRecordsDurable(count: records)
        } catch {
            // Every subject of the batch keeps its old versions; the rows rewrapped so far open under the new one.
            let error = error as? RecordStoreError ?? RecordStoreError(.storage, "\(error)")
            for subject in subjects.values.sorted(by: { $0.name < $1.name }) {
                failed.append((subject.name, "\(error.code): \(error.reason)"))
            }
            return (subjects.values.reduce(0) { $0 + $1.records }, 0, failed)
        }
        var destroyed = 0
        var retired: [String: [UInt32]] = [:]
        for subject in subjects.values.sorted(by: { $0.name < $1.name }) {
            // A row changed meanwhile (the compare-and-set found another revision) was written by a writer under
            // the new version (the old ones seal no more) or deleted; a row that did not rewrap keeps the old versions.
            guard subject.skipped == 0 else {
                failed.append(
                    (
                        subject.name,
                        "\(RecordStoreError.Code.authenticationFailed): \(subject.skipped) record(s) of the subject did not rewrap (tampered with?); its old key versions are kept"
                    ))
                continue
            }
            if !subject.rekey.retiredVersions.isEmpty { retired[subject.name] = subject.rekey.retiredVersions }
        }
        for (name, outcome) in keys.destroySubjectKeyVersions(retired).sorted(by: { $0.key < $1.key }) {
            switch outcome {
            case .success(let receipts):
                destroyed += receipts.count
            case .failure(let error):
                let error = EncryptedRecordStore.keyError(error)
                failed.append((name, "\(error.code): \(error.reason)"))
            }
        }
        return (records, destroyed, failed)
    }

    /// The start time and the position to start from; the intent is committed before the key store is touched.
    private func start() throws -> (notBefore: Date, cursor: String?, resumed: Bool) {
        let checkpoint = try self.store.rekeyCheckpoint()
        if let checkpoint, !checkpoint.isFinished, !checkpoint.isDamaged, let previous = checkpoint.notBefore {
            self.store.logger.notice("subject re-key resumed", metadata: ["event": "samd.store.rekey-resumed"])
            return (previous, checkpoint.cursor, true)
        }
        if let checkpoint, !checkpoint.isFinished {
            self.store.logger.warning(
                "re-key checkpoint damaged; the job starts afresh",
                metadata: ["event": "samd.store.rekey-checkpoint-damaged"])
        }
        // The next whole second: the key store keeps creation times to the second, so every version made
        // before now is stamped before it; the versions the job makes are stamped at it or later
        // (rekeySubjectKey stamps max(now, notBefore)), so no wait is needed. It is also past every stamp of
        // the run before (at most the later of its not_before and its end): a second re-key within the same
        // second (or after the clock went back) would otherwise take the first one's versions as its own,
        // and re-key nothing.
        let now = Date()
        let afterPrevious =
            [checkpoint?.notBefore, checkpoint?.finishedAt].compactMap { $0 }
            .map { $0.timeIntervalSince1970.rounded(.down) + 1 }.max() ?? 0
        let notBefore = Date(
            timeIntervalSince1970: max((now.timeIntervalSince1970 + 1).rounded(.down), afterPrevious))
        try self.store.recordRekeyIntent(notBefore: notBefore, startedAt: now)
        self.store.logger.notice("subject re-key started", metadata: ["event": "samd.store.rekey-started"])
        return (notBefore, nil, false)
    }
}

/// Where a ``SubjectRekeyJob`` is, after a committed batch.
public struct SubjectRekeyProgress: Sendable, Hashable {
    /// Subjects passed (re-keyed, or with nothing to re-key).
    public let done: Int
    public let total: Int
    /// Records rewrapped to a new subject-key version so far in this run.
    public let recordsRewrapped: Int
    /// Time since this run started (on the continuous clock).
    public let elapsed: Duration

    /// Records rewrapped per second in this run.
    public var rate: Double {
        self.elapsed > .zero ? Double(self.recordsRewrapped) / self.elapsed.timeInterval : 0
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
    /// The time this run took (on the continuous clock).
    public let elapsed: Duration
}
