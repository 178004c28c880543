public import Foundation
public import Logging
public import SaMDEnvelope
public import SaMDKeys

/// A record store that the key jobs — KEK rotation (``KeyRotationJob``) and subject re-key
/// (``SubjectRekeyJob``) — run over: the one lock, the two checkpoints and the record rows they need, whatever
/// the database. ``EncryptedRecordStore`` implements it on SQLite; a store on a network database implements
/// it on its driver. The jobs' logic — intent first, the new key persisted before anything is rewrapped
/// under it, a checkpoint per batch, the verification pass, the durable commit before old versions are
/// destroyed — is theirs, the same for every store; a store only reads and writes what it is asked.
///
/// The methods are synchronous: the jobs run on their caller's thread, and a store on a network database
/// blocks that thread on its driver. They are called by one job at a time per store (the caller holds
/// ``lockForKeyJob()``), while the store keeps serving reads and writes from other threads and processes.
///
/// Every value a store reads back is untrusted, like any row of its database: it is checked for the types
/// the store writes before it reaches a job (``RotationCheckpoint``, ``RekeyCheckpoint`` and
/// ``RekeyRecordPage`` check the rest). Errors are ``RecordStoreError``: ``RecordStoreError/Code/conflict``
/// from ``lockForKeyJob()``, otherwise ``RecordStoreError/Code/storage`` (and
/// ``RecordStoreError/Code/limitExceeded`` for a stored value larger than any record may be).
///
/// Tables, as ``EncryptedRecordStore`` has them (<doc:Store>): `rotation_checkpoint`, one row per KEK name
/// (`kek_name`, `from_version`, `target_version`, `cursor`, `done`, `rewrapped`, `started_at`,
/// `finished_at`); `rekey_checkpoint`, one row (`id` 1: `not_before`, `cursor`, `done`, `rewrapped`,
/// `started_at`, `finished_at`); and the record rows (`record_index`, `subject_index`, `wrapping_key`,
/// `revision`, `envelope`). Times are seconds since 1970.
public protocol KeyJobStore: Sendable {
    /// The key store whose subject keys seal the store's records, and whose KEK a rotation rotates.
    var keyStore: any KeyStore { get }

    /// Where the jobs' security events go (`samd.store.rotation-*`, `samd.store.rekey-*`, <doc:Store>).
    var logger: Logger { get }

    // MARK: One job per store

    /// Takes the store's one-job lock without waiting for another job: one rotation or re-key runs per store at
    /// a time, across every process and instance that opens it (``EncryptedRecordStore`` retries for up to 2 s,
    /// for a lock a child process being spawned may still hold for a moment).
    /// - Returns: the lock, held until the returned object is released. A process that dies releases it
    ///   (``EncryptedRecordStore``: a `flock` on `rotation.lock` in its directory; on PostgreSQL: a session
    ///   advisory lock).
    /// - Throws: ``RecordStoreError/Code/conflict`` when another job holds it; ``RecordStoreError/Code/storage``.
    func lockForKeyJob() throws -> any KeyJobLock

    // MARK: The rotation's checkpoint

    /// The checkpoint row of the unfinished rotation of `kekName` (`finished_at` NULL).
    /// - Parameter kekName: the KEK being rotated.
    /// - Returns: ``StoredCheckpoint/absent`` when there is none; ``StoredCheckpoint/damaged`` when its values
    ///   are not of the types the job writes or ``RotationCheckpoint/init(fromVersion:targetVersion:cursor:)``
    ///   refuses them; otherwise the checkpoint.
    /// - Throws: ``RecordStoreError/Code/storage``.
    func unfinishedRotationCheckpoint(kekName: String) throws -> StoredCheckpoint<RotationCheckpoint>

    /// Commits a rotation's intent, before the key store is touched: the row of `kekName` inserted, or
    /// replaced whatever it held, with `cursor` NULL, `done` and `rewrapped` 0, `finished_at` NULL. Durable
    /// as the store's commits are.
    /// - Parameters:
    ///   - kekName: the KEK being rotated.
    ///   - fromVersion: its active version before the rotation (1 … 2³² − 1).
    ///   - targetVersion: the version subject keys are rewrapped to when known; `nil` while the key store has
    ///     yet to make it.
    ///   - startedAt: when the job started.
    /// - Throws: ``RecordStoreError/Code/storage``.
    func recordRotationIntent(kekName: String, fromVersion: UInt32, targetVersion: UInt32?, startedAt: Date) throws

    /// Commits a rotation's position: its target version and cursor, and its counts when given.
    /// - Parameters:
    ///   - kekName: the KEK being rotated.
    ///   - targetVersion: the version subject keys are rewrapped to.
    ///   - cursor: the last subject key name of the last committed batch; `nil` to start from the first.
    ///   - done: subject keys passed; `nil` keeps the stored count.
    ///   - rewrapped: subject key versions rewrapped; `nil` keeps the stored count.
    /// - Throws: ``RecordStoreError/Code/storage``.
    func commitRotationCheckpoint(kekName: String, targetVersion: UInt32, cursor: String?, done: Int?, rewrapped: Int?)
        throws

    /// Marks the rotation of `kekName` finished, with its final counts.
    /// - Parameters:
    ///   - kekName: the KEK rotated.
    ///   - done: subject keys the verification pass checked.
    ///   - rewrapped: subject key versions rewrapped in the run.
    ///   - finishedAt: when the job finished.
    /// - Throws: ``RecordStoreError/Code/storage``.
    func finishRotationCheckpoint(kekName: String, done: Int, rewrapped: Int, finishedAt: Date) throws

    // MARK: The re-key's checkpoint

    /// The re-key's checkpoint row (`id` 1), finished or not.
    /// - Returns: `nil` when there is none; otherwise its values through
    ///   ``RekeyCheckpoint/init(notBefore:cursor:isFinished:finishedAt:)``.
    /// - Throws: ``RecordStoreError/Code/storage``.
    func rekeyCheckpoint() throws -> RekeyCheckpoint?

    /// Commits a re-key's intent, before the key store is touched: the row inserted, or replaced whatever it
    /// held, with `cursor` NULL, `done` and `rewrapped` 0, `finished_at` NULL. Durable as the store's commits are.
    /// - Parameters:
    ///   - notBefore: the run's start time: every subject-key version it makes is stamped at or after it.
    ///   - startedAt: when the job started.
    /// - Throws: ``RecordStoreError/Code/storage``.
    func recordRekeyIntent(notBefore: Date, startedAt: Date) throws

    /// Commits a re-key's position after a batch of subjects.
    /// - Parameters:
    ///   - cursor: the last subject key name the job may resume after; `nil` to start from the first.
    ///   - subjectsPassed: subjects in the batch, added to `done`.
    /// - Throws: ``RecordStoreError/Code/storage``.
    func commitRekeyCheckpoint(cursor: String?, subjectsPassed: Int) throws

    /// Marks the re-key finished.
    /// - Parameter finishedAt: when the job finished.
    /// - Throws: ``RecordStoreError/Code/storage``.
    func finishRekeyCheckpoint(finishedAt: Date) throws

    // MARK: The re-key's record rows

    /// One page of a subject's record rows whose `wrapping_key` is not `newKey`, after `after` in ascending
    /// order of `record_index` (bytewise): each row is listed once whatever happens to it meanwhile.
    /// - Parameters:
    ///   - subjectIndex: the subject's blind index, the rows' `subject_index` (its subject key name without
    ///     `s-`: 32 lowercase hex digits).
    ///   - newKey: the subject's new key version; rows already under it are not listed.
    ///   - after: the `record_index` to list after (the previous page's ``RekeyRecordPage/next``); `nil`
    ///     from the first.
    ///   - limit: the most rows the page has, damaged ones included.
    ///   - inlineEnvelopeByteCount: envelopes up to this many bytes come with the page
    ///     (``RekeyRecord/envelope``); larger ones are read alone with
    ///     ``rekeyRecordEnvelope(recordIndex:revision:wrappingKey:)``.
    /// - Returns: the page: the rows of the types the store writes, a count of the others, and where the next
    ///   page starts.
    /// - Throws: ``RecordStoreError/Code/limitExceeded`` for a value larger than any record may be;
    ///   ``RecordStoreError/Code/storage``.
    func rekeyRecordPage(
        subjectIndex: String, notUnder newKey: KeyIdentifier, after: Data?, limit: Int, inlineEnvelopeByteCount: Int
    ) throws -> RekeyRecordPage

    /// A listed row's envelope, read alone, only while the row is as it was listed.
    /// - Parameters:
    ///   - recordIndex: the row's `record_index`.
    ///   - revision: its `revision` when listed.
    ///   - wrappingKey: its `wrapping_key` when listed, as stored.
    /// - Returns: the envelope; `nil` when the row was deleted or replaced since, or the envelope is not bytes.
    /// - Throws: ``RecordStoreError/Code/limitExceeded`` for an envelope larger than any record may be;
    ///   ``RecordStoreError/Code/storage``.
    func rekeyRecordEnvelope(recordIndex: Data, revision: Int64, wrappingKey: String) throws -> Data?

    /// Writes rewrapped envelopes in one transaction, each with a compare-and-set: a row is written only while
    /// its `revision` and `wrapping_key` are still those listed, and then gets the new envelope and the new
    /// key, its revision and times unchanged. The commit need not be durable: the job makes the batch's
    /// rewraps durable together (``makeRewrappedRecordsDurable(count:)``) before it relies on them.
    /// - Parameter records: the rows, in the order to write them (ascending `record_index`).
    /// - Returns: for each row, whether it was written (`false`: the compare-and-set found it changed or gone).
    /// - Throws: ``RecordStoreError/Code/storage``; nothing is written then.
    func writeRewrappedRecords(_ records: [RewrappedRecord]) throws -> [Bool]

    /// Makes every rewrap written so far durable, in a commit that adds `count` to the checkpoint's
    /// `rewrapped`: when it returns, no crash can roll a rewrapped row back to a key version the job is about
    /// to destroy. ``EncryptedRecordStore``: a commit with `synchronous = FULL`, which syncs the WAL and the
    /// unsynced commits before it.
    /// - Parameter count: records rewrapped in the batch.
    /// - Throws: ``RecordStoreError/Code/storage``; the job then keeps every old version of the batch.
    func makeRewrappedRecordsDurable(count: Int) throws

    // MARK: Hooks

    /// Runs a re-key, `body`, with the store tuned for it, and puts the store back when `body` returns or
    /// throws. ``EncryptedRecordStore``: a larger page cache and a WAL that is not truncated at each reset,
    /// on its writer connection. By default, runs `body` as it is.
    /// - Parameter body: the re-key's batches.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws; ``RecordStoreError/Code/storage`` when the store cannot be tuned.
    func withRekeyTuning<T>(_ body: () throws -> T) throws -> T

    /// Called after each re-key batch — its rewraps made durable, or the batch failed — and before its
    /// checkpoint: removes what the store keeps of the replaced headers outside their rows.
    /// ``EncryptedRecordStore``: truncates the WAL (logged when a reader holds it; the next batch truncates
    /// it). By default, nothing.
    func didRekeyBatch()
}

extension KeyJobStore {
    /// Runs `body` as it is: the store needs no tuning for a re-key.
    /// - Parameter body: the re-key's batches.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws.
    public func withRekeyTuning<T>(_ body: () throws -> T) throws -> T {
        try body()
    }

    /// Nothing: the store keeps no copy of a replaced header outside its row.
    public func didRekeyBatch() {}
}

/// A store's one-job lock (``KeyJobStore/lockForKeyJob()``), held until this object is released.
public protocol KeyJobLock: AnyObject {}
