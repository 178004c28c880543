import Foundation
import Logging
public import SaMDEnvelope
public import SaMDKeys

/// Rotates the KEK under a record store and rewraps, in batches, every subject key to the active KEK
/// version — while the store keeps serving reads and writes. Record rows are never rewritten: a record's
/// header names its subject key, whose material does not change (DESIGN: root KEK → subject key → DEK).
///
/// Crash-safe and resumable (the EDDI lesson: persist the new key first, then rewrap):
/// 1. the intent ("rotate from version n") is committed to the store's rotation checkpoint;
/// 2. the key store makes and persists the new KEK version (its own atomic write);
/// 3. subject keys are rewrapped one by one, each under the key store's lock after reading it again (a
///    compare-and-set: a subject shredded or created meanwhile is never overwritten) and written atomically;
///    after each batch the position is committed to the checkpoint;
/// 4. a verification pass reads every subject key again, rewrapping any still under an older version, and the
///    job is marked finished.
///
/// A process killed at any point leaves every record openable (each subject key is wrapped under the old or
/// the new version, both present); running the job again resumes after the last committed batch, without
/// making another KEK version. Once the job finished, the old version can be destroyed
/// (`KeyStore.destroy(_:)` refuses while any subject key still depends on it). One job — rotation or re-key —
/// runs per store at a time (``KeyJobStore/lockForKeyJob()``: for ``EncryptedRecordStore``, an exclusive lock
/// on `rotation.lock` in its directory).
///
/// The job runs over any ``KeyJobStore``: the checkpoint's table and the lock are the store's, the steps
/// above the job's.
public struct KeyRotationJob: Sendable {
    /// The store whose records the rotation keeps openable.
    public let store: any KeyJobStore
    /// The KEK to rotate: the one subject keys are wrapped under (`FileKeyStore.defaultKeyName`).
    public let kekName: String
    /// Subject keys rewrapped between two committed checkpoints.
    public let batchSize: Int

    /// - Parameters:
    ///   - store: the store to run over: ``EncryptedRecordStore``, or any other ``KeyJobStore``.
    ///   - kekName: the KEK to rotate.
    ///   - batchSize: subject keys per committed checkpoint (at least 1).
    public init(store: some KeyJobStore, kekName: String = FileKeyStore.defaultKeyName, batchSize: Int = 256) {
        self.store = store
        self.kekName = kekName
        self.batchSize = max(1, batchSize)
    }

    /// Runs the job, or resumes the one a crash interrupted.
    /// - Parameters:
    ///   - newKEKVersion: make a new active KEK version first (a rotation); `false` only brings every subject
    ///     key to the version that is active now. Ignored when an interrupted job is resumed (it never makes a
    ///     second version).
    ///   - progress: called after each committed batch, on the caller's thread.
    /// - Returns: the report; ``KeyRotationReport/finished`` is `false` when some subject key could not be
    ///   rewrapped (listed in ``KeyRotationReport/failed``; running the job again retries them).
    /// - Throws: ``RecordStoreError/Code/conflict`` when another job is running on this store;
    ///   ``RecordStoreError/Code/keyUnavailable`` when the KEK has no active version or the key store refuses;
    ///   ``RecordStoreError/Code/storage``.
    public func run(newKEKVersion: Bool, progress: (KeyRotationProgress) -> Void = { _ in }) throws -> KeyRotationReport
    {
        let lock = try self.store.lockForKeyJob()
        defer { withExtendedLifetime(lock) {} }
        let started = ContinuousClock.now
        let keys = self.store.keyStore
        var (target, cursor, resumed) = try self.start(newKEKVersion: newKEKVersion)
        var rewrapped = 0
        var failed: [(key: String, reason: String)] = []
        var names = try EncryptedRecordStore.keyCall { try keys.subjectKeyNames() }

        var position = cursor.map { after in names.firstIndex { $0 > after } ?? names.endIndex } ?? names.startIndex
        while position < names.endIndex {
            let batch = names[position..<min(position + self.batchSize, names.endIndex)]
            for name in batch {
                do {
                    rewrapped += try keys.rewrapSubjectKey(named: name, toActiveVersionOf: self.kekName)
                } catch let error as EnvelopeError {
                    failed.append((name, "\(error.code): \(error.reason)"))
                }
            }
            position = batch.endIndex
            cursor = batch.last
            // Another rotation meanwhile: everything must reach the newer version; start the pass again.
            let active = try self.activeVersion()
            if active != target.version {
                target = try KeyIdentifier(name: self.kekName, version: active)
                try self.checkpoint(target: target, cursor: nil, done: 0, rewrapped: rewrapped)
                names = try EncryptedRecordStore.keyCall { try keys.subjectKeyNames() }
                position = names.startIndex
                failed.removeAll()
                continue
            }
            try self.checkpoint(target: target, cursor: cursor, done: position, rewrapped: rewrapped)
            progress(
                KeyRotationProgress(
                    target: target, done: position, total: names.count, rewrapped: rewrapped,
                    elapsed: ContinuousClock.now - started))
        }

        // Verification: every subject key, including any created while the pass ran, read again under the lock.
        var verified = 0
        let failedNames = Set(failed.map(\.key))
        for name in try EncryptedRecordStore.keyCall({ try keys.subjectKeyNames() }) where !failedNames.contains(name) {
            do {
                rewrapped += try keys.rewrapSubjectKey(named: name, toActiveVersionOf: self.kekName)
                verified += 1
            } catch let error as EnvelopeError {
                failed.append((name, "\(error.code): \(error.reason)"))
            }
        }
        let finished = failed.isEmpty
        if finished {
            try self.store.finishRotationCheckpoint(
                kekName: self.kekName, done: verified, rewrapped: rewrapped, finishedAt: Date())
        }
        let report = KeyRotationReport(
            target: target, subjectKeyCount: verified + failed.count, rewrapped: rewrapped, failed: failed,
            resumed: resumed, finished: finished, elapsed: ContinuousClock.now - started
        )
        self.store.logger.log(
            level: finished ? .notice : .error,
            finished ? "key rotation finished" : "key rotation incomplete",
            metadata: [
                "event": finished ? "samd.store.rotation-finished" : "samd.store.rotation-incomplete",
                "key": "\(target)", "subject_keys": "\(report.subjectKeyCount)", "rewrapped": "\(rewrapped)",
                "failed": "\(failed.count)", "resumed": "\(resumed)",
            ]
        )
        return report
    }

    /// The target version and the position to start from, making the new KEK version when asked and no
    /// interrupted job is waiting; the intent is committed before the key store is touched.
    private func start(newKEKVersion: Bool) throws -> (target: KeyIdentifier, cursor: String?, resumed: Bool) {
        let checkpoint = try self.store.unfinishedRotationCheckpoint(kekName: self.kekName)
        let now = Date()
        if case .found(let interrupted) = checkpoint {
            var active = try self.activeVersion()
            var cursor = interrupted.cursor
            if interrupted.targetVersion == nil, active <= interrupted.fromVersion {
                // Killed after the intent, before the key store made the new version: make it now.
                active = try self.rotate()
            }
            if interrupted.targetVersion.map({ $0 != active }) ?? true {
                cursor = nil
            }
            let target = try KeyIdentifier(name: self.kekName, version: active)
            try self.store.commitRotationCheckpoint(
                kekName: self.kekName, targetVersion: target.version, cursor: cursor, done: nil, rewrapped: nil)
            self.store.logger.notice(
                "key rotation resumed", metadata: ["event": "samd.store.rotation-resumed", "key": "\(target)"])
            return (target, cursor, true)
        }
        if checkpoint == .damaged {
            // Not what a job writes: never trusted to skip the new version or any subject key. Starting afresh
            // costs a full pass, and at worst one more KEK version than a resumed job would have made.
            self.store.logger.warning(
                "rotation checkpoint damaged; the job starts afresh",
                metadata: ["event": "samd.store.rotation-checkpoint-damaged", "kek": "\(self.kekName)"]
            )
        }
        let active = try self.activeVersion()
        try self.store.recordRotationIntent(
            kekName: self.kekName, fromVersion: active, targetVersion: newKEKVersion ? nil : active, startedAt: now)
        let version = newKEKVersion ? try self.rotate() : active
        let target = try KeyIdentifier(name: self.kekName, version: version)
        try self.checkpoint(target: target, cursor: nil, done: 0, rewrapped: 0)
        self.store.logger.notice(
            "key rotation started", metadata: ["event": "samd.store.rotation-started", "key": "\(target)"])
        return (target, nil, false)
    }

    private func rotate() throws -> UInt32 {
        try EncryptedRecordStore.keyCall { try self.store.keyStore.rotate(named: self.kekName).identifier.version }
    }

    private func activeVersion() throws -> UInt32 {
        // Without the KEK's material, which a token custody never gives out.
        try EncryptedRecordStore.keyCall { try self.store.keyStore.sealingKEKIdentifier(named: self.kekName).version }
    }

    private func checkpoint(target: KeyIdentifier, cursor: String?, done: Int, rewrapped: Int) throws {
        try self.store.commitRotationCheckpoint(
            kekName: self.kekName, targetVersion: target.version, cursor: cursor, done: done, rewrapped: rewrapped)
    }
}

/// Where a ``KeyRotationJob`` is, after a committed batch.
public struct KeyRotationProgress: Sendable, Hashable {
    /// The KEK version subject keys are being rewrapped to.
    public let target: KeyIdentifier
    /// Subject keys passed (rewrapped, or already under the target).
    public let done: Int
    public let total: Int
    /// Subject key versions rewrapped so far in this run.
    public let rewrapped: Int
    /// Time since this run started (on the continuous clock).
    public let elapsed: Duration

    /// Subject keys passed per second in this run.
    public var rate: Double {
        self.elapsed > .zero ? Double(self.done) / self.elapsed.timeInterval : 0
    }
}

/// What a ``KeyRotationJob`` did.
public struct KeyRotationReport: Sendable {
    /// The active KEK version every subject key is now wrapped under (when ``finished``).
    public let target: KeyIdentifier
    /// Subject keys in the store at the verification pass.
    public let subjectKeyCount: Int
    /// Subject key versions rewrapped in this run (0 when a resumed run found the work done).
    public let rewrapped: Int
    /// Subject keys that could not be rewrapped, by blind name, with the reason.
    public let failed: [(key: String, reason: String)]
    /// Whether this run resumed an interrupted job.
    public let resumed: Bool
    /// Whether every subject key is under ``target``: the old version may now be destroyed.
    public let finished: Bool
    /// The time this run took (on the continuous clock).
    public let elapsed: Duration
}
