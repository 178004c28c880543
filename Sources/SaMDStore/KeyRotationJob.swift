import Foundation
import GRDB
import Logging
public import SaMDEnvelope
public import SaMDKeys

/// Rotates the KEK under a record store and rewraps, in batches, every subject key to the active KEK
/// version — while the store keeps serving reads and writes. Record rows are never rewritten: a record's
/// header names its subject key, whose material does not change (DESIGN: root KEK → subject key → DEK).
///
/// Crash-safe and resumable (the EDDI lesson: persist the new key first, then rewrap):
/// 1. the intent ("rotate from version n") is committed to the database;
/// 2. the key store makes and persists the new KEK version (its own atomic write);
/// 3. subject keys are rewrapped one by one, each under the key store's lock after reading it again (a
///    compare-and-set: a subject shredded or created meanwhile is never overwritten) and written atomically;
///    after each batch the position is committed to the database;
/// 4. a verification pass reads every subject key again, rewrapping any still under an older version, and the
///    job is marked finished.
///
/// A process killed at any point leaves every record openable (each subject key is wrapped under the old or
/// the new version, both present); running the job again resumes after the last committed batch, without
/// making another KEK version. Once the job finished, the old version can be destroyed
/// (`KeyStore.destroy(_:)` refuses while any subject key still depends on it). One job runs per store at a
/// time (an exclusive lock on `rotation.lock` in the store's directory).
public struct KeyRotationJob: Sendable {
    /// The store whose records the rotation keeps openable.
    public let store: EncryptedRecordStore
    /// The KEK to rotate: the one subject keys are wrapped under (`FileKeyStore.defaultKeyName`).
    public let kekName: String
    /// Subject keys rewrapped between two committed checkpoints.
    public let batchSize: Int

    public init(store: EncryptedRecordStore, kekName: String = FileKeyStore.defaultKeyName, batchSize: Int = 256) {
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
        let lock = try JobLock(path: self.store.directory + "/rotation.lock")
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
            try self.store.writing("finishing a rotation") { db in
                try db.execute(
                    sql: "UPDATE rotation_checkpoint SET finished_at = ?, done = ?, rewrapped = ? WHERE kek_name = ?",
                    arguments: [Date().timeIntervalSince1970, verified, rewrapped, self.kekName]
                )
            }
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
        let checkpoint = try self.store.reading("reading the rotation checkpoint") { db in
            try Row.fetchOne(
                db,
                sql:
                    "SELECT from_version, target_version, cursor FROM rotation_checkpoint WHERE kek_name = ? AND finished_at IS NULL",
                arguments: [self.kekName]
            )
        }
        let now = Date().timeIntervalSince1970
        if let checkpoint, let (from, storedTarget, storedCursor) = Self.interrupted(checkpoint) {
            var active = try self.activeVersion()
            var cursor = storedCursor
            if storedTarget == nil, Int64(active) <= from {
                // Killed after the intent, before the key store made the new version: make it now.
                active = try self.rotate()
            }
            if storedTarget.map({ $0 != Int64(active) }) ?? true {
                cursor = nil
            }
            let target = try KeyIdentifier(name: self.kekName, version: active)
            try self.checkpoint(target: target, cursor: cursor, done: 0, rewrapped: 0, keepCounts: true)
            self.store.logger.notice(
                "key rotation resumed", metadata: ["event": "samd.store.rotation-resumed", "key": "\(target)"])
            return (target, cursor, true)
        }
        if checkpoint != nil {
            // Not what a job writes: never trusted to skip the new version or any subject key. Starting afresh
            // costs a full pass, and at worst one more KEK version than a resumed job would have made.
            self.store.logger.warning(
                "rotation checkpoint damaged; the job starts afresh",
                metadata: ["event": "samd.store.rotation-checkpoint-damaged", "kek": "\(self.kekName)"]
            )
        }
        let active = try self.activeVersion()
        try self.store.writing("recording a rotation") { db in
            try db.execute(
                sql: """
                    INSERT INTO rotation_checkpoint (kek_name, from_version, target_version, cursor, done, rewrapped, started_at, finished_at)
                    VALUES (?, ?, ?, NULL, 0, 0, ?, NULL)
                    ON CONFLICT (kek_name) DO UPDATE SET from_version = excluded.from_version, target_version = excluded.target_version,
                        cursor = NULL, done = 0, rewrapped = 0, started_at = excluded.started_at, finished_at = NULL
                    """,
                arguments: [self.kekName, Int64(active), newKEKVersion ? nil : Int64(active), now]
            )
        }
        let version = newKEKVersion ? try self.rotate() : active
        let target = try KeyIdentifier(name: self.kekName, version: version)
        try self.checkpoint(target: target, cursor: nil, done: 0, rewrapped: 0)
        self.store.logger.notice(
            "key rotation started", metadata: ["event": "samd.store.rotation-started", "key": "\(target)"])
        return (target, nil, false)
    }

    /// The interrupted job a checkpoint row describes, or nil when the row is not one a job writes: versions
    /// outside 1 ... 2^32 - 1, a target below its origin, a cursor that is not a subject key name, wrong types.
    static func interrupted(_ row: Row) -> (from: Int64, target: Int64?, cursor: String?)? {
        let versions = Int64(1)...Int64(UInt32.max)
        guard let from = EncryptedRecordStore.integer(row, "from_version"), versions.contains(from) else { return nil }
        var target: Int64?
        if !(row["target_version"] as DatabaseValue).isNull {
            guard let stored = EncryptedRecordStore.integer(row, "target_version"),
                (from...Int64(UInt32.max)).contains(stored)
            else { return nil }
            target = stored
        }
        var cursor: String?
        if !(row["cursor"] as DatabaseValue).isNull {
            guard let stored = EncryptedRecordStore.subjectKeyName(row, "cursor") else { return nil }
            cursor = stored
        }
        return (from, target, cursor)
    }

    private func rotate() throws -> UInt32 {
        try EncryptedRecordStore.keyCall { try self.store.keyStore.rotate(named: self.kekName).identifier.version }
    }

    private func activeVersion() throws -> UInt32 {
        try EncryptedRecordStore.sealingKEK(named: self.kekName, in: self.store.keyStore).version
    }

    private func checkpoint(target: KeyIdentifier, cursor: String?, done: Int, rewrapped: Int, keepCounts: Bool = false)
        throws
    {
        try self.store.writing("committing a rotation checkpoint") { db in
            if keepCounts {
                try db.execute(
                    sql: "UPDATE rotation_checkpoint SET target_version = ?, cursor = ? WHERE kek_name = ?",
                    arguments: [Int64(target.version), cursor, self.kekName]
                )
            } else {
                try db.execute(
                    sql:
                        "UPDATE rotation_checkpoint SET target_version = ?, cursor = ?, done = ?, rewrapped = ? WHERE kek_name = ?",
                    arguments: [Int64(target.version), cursor, done, rewrapped, self.kekName]
                )
            }
        }
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
