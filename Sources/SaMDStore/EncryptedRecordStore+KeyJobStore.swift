public import Foundation
import GRDB
import Logging

/// The key jobs' store on SQLite: the one-job lock (a `flock` on `rotation.lock`), the rotation and re-key
/// checkpoints (`rotation_checkpoint`, `rekey_checkpoint`), and the tuning of the writer connection for a
/// re-key. The record rows a re-key rewraps are in `EncryptedRecordStore+RekeyRecords.swift`.
extension EncryptedRecordStore: KeyJobStore {
    /// The lock's file in the store's directory.
    static let jobLockFileName = "rotation.lock"

    /// An exclusive, non-blocking `flock` on `rotation.lock` in the store's directory (created 0600): one
    /// rotation or re-key per store, across processes and instances. Closing the file, when the returned
    /// object is released or the process ends, releases it.
    /// - Returns: the lock, held until the returned object is released.
    /// - Throws: ``RecordStoreError/Code/conflict`` when another job holds it, still after 2 s of retries (every
    ///   5 ms: a lock released a moment ago may be held by a child process that another thread is spawning,
    ///   until its `exec`); ``RecordStoreError/Code/storage`` when the file cannot be opened (a link is refused).
    public func lockForKeyJob() throws -> any KeyJobLock {
        try JobLock(path: self.directory + "/" + Self.jobLockFileName)
    }

    // MARK: Rotation checkpoint

    /// The row of `kekName` in `rotation_checkpoint` whose `finished_at` is NULL, its columns read strictly
    /// by type (an integer where the job writes one, text or NULL for the cursor) and then checked by
    /// ``RotationCheckpoint/init(fromVersion:targetVersion:cursor:)``.
    /// - Parameter kekName: the KEK being rotated.
    /// - Returns: ``StoredCheckpoint/absent``, ``StoredCheckpoint/damaged`` or the checkpoint.
    /// - Throws: ``RecordStoreError/Code/storage``.
    public func unfinishedRotationCheckpoint(kekName: String) throws -> StoredCheckpoint<RotationCheckpoint> {
        let row = try self.reading("reading the rotation checkpoint") { db in
            try Row.fetchOne(
                db,
                sql:
                    "SELECT from_version, target_version, cursor FROM rotation_checkpoint WHERE kek_name = ? AND finished_at IS NULL",
                arguments: [kekName]
            )
        }
        guard let row else { return .absent }
        guard let from = Self.integer(row, "from_version"),
            let target = Self.nullable(row, "target_version", Self.integer),
            let cursor = Self.nullable(row, "cursor", Self.text),
            let checkpoint = RotationCheckpoint(fromVersion: from, targetVersion: target, cursor: cursor)
        else { return .damaged }
        return .found(checkpoint)
    }

    /// Inserts or replaces the row of `kekName` in `rotation_checkpoint`, in a write transaction.
    /// - Parameters:
    ///   - kekName: the KEK being rotated.
    ///   - fromVersion: its active version before the rotation.
    ///   - targetVersion: the version subject keys are rewrapped to, when known.
    ///   - startedAt: when the job started.
    /// - Throws: ``RecordStoreError/Code/storage``.
    public func recordRotationIntent(kekName: String, fromVersion: UInt32, targetVersion: UInt32?, startedAt: Date)
        throws
    {
        try self.writing("recording a rotation") { db in
            try db.execute(
                sql: """
                    INSERT INTO rotation_checkpoint (kek_name, from_version, target_version, cursor, done, rewrapped, started_at, finished_at)
                    VALUES (?, ?, ?, NULL, 0, 0, ?, NULL)
                    ON CONFLICT (kek_name) DO UPDATE SET from_version = excluded.from_version, target_version = excluded.target_version,
                        cursor = NULL, done = 0, rewrapped = 0, started_at = excluded.started_at, finished_at = NULL
                    """,
                arguments: [
                    kekName, Int64(fromVersion), targetVersion.map { Int64($0) }, startedAt.timeIntervalSince1970,
                ]
            )
        }
    }

    /// Updates the row of `kekName` in `rotation_checkpoint`, in a write transaction.
    /// - Parameters:
    ///   - kekName: the KEK being rotated.
    ///   - targetVersion: the version subject keys are rewrapped to.
    ///   - cursor: the last subject key name of the last committed batch; `nil` to start from the first.
    ///   - done: subject keys passed; `nil` keeps the stored count.
    ///   - rewrapped: subject key versions rewrapped; `nil` keeps the stored count.
    /// - Throws: ``RecordStoreError/Code/storage``.
    public func commitRotationCheckpoint(
        kekName: String, targetVersion: UInt32, cursor: String?, done: Int?, rewrapped: Int?
    ) throws {
        try self.writing("committing a rotation checkpoint") { db in
            try db.execute(
                sql: """
                    UPDATE rotation_checkpoint SET target_version = ?, cursor = ?, done = coalesce(?, done), rewrapped = coalesce(?, rewrapped)
                    WHERE kek_name = ?
                    """,
                arguments: [Int64(targetVersion), cursor, done, rewrapped, kekName]
            )
        }
    }

    /// Sets `finished_at` and the final counts of the row of `kekName` in `rotation_checkpoint`.
    /// - Parameters:
    ///   - kekName: the KEK rotated.
    ///   - done: subject keys the verification pass checked.
    ///   - rewrapped: subject key versions rewrapped in the run.
    ///   - finishedAt: when the job finished.
    /// - Throws: ``RecordStoreError/Code/storage``.
    public func finishRotationCheckpoint(kekName: String, done: Int, rewrapped: Int, finishedAt: Date) throws {
        try self.writing("finishing a rotation") { db in
            try db.execute(
                sql: "UPDATE rotation_checkpoint SET finished_at = ?, done = ?, rewrapped = ? WHERE kek_name = ?",
                arguments: [finishedAt.timeIntervalSince1970, done, rewrapped, kekName]
            )
        }
    }

    // MARK: Re-key checkpoint

    /// The row of `rekey_checkpoint`, its columns read strictly by type: a time where it is a number, the
    /// cursor where it is text (anything else is passed as an empty cursor, which names no subject key), then
    /// checked by ``RekeyCheckpoint/init(notBefore:cursor:isFinished:finishedAt:)``.
    /// - Returns: `nil` when there is no row.
    /// - Throws: ``RecordStoreError/Code/storage``.
    public func rekeyCheckpoint() throws -> RekeyCheckpoint? {
        let row = try self.reading("reading the re-key checkpoint") { db in
            try Row.fetchOne(db, sql: "SELECT not_before, cursor, finished_at FROM rekey_checkpoint WHERE id = 1")
        }
        guard let row else { return nil }
        return RekeyCheckpoint(
            notBefore: Self.real(row, "not_before"),
            cursor: Self.nullable(row, "cursor", Self.text) ?? "",
            isFinished: !(row["finished_at"] as DatabaseValue).isNull,
            finishedAt: Self.real(row, "finished_at")
        )
    }

    /// Inserts or replaces the row of `rekey_checkpoint`, in a write transaction.
    /// - Parameters:
    ///   - notBefore: the run's start time.
    ///   - startedAt: when the job started.
    /// - Throws: ``RecordStoreError/Code/storage``.
    public func recordRekeyIntent(notBefore: Date, startedAt: Date) throws {
        try self.writing("recording a re-key") { db in
            try db.execute(
                sql: """
                    INSERT INTO rekey_checkpoint (id, not_before, cursor, done, rewrapped, started_at, finished_at) VALUES (1, ?, NULL, 0, 0, ?, NULL)
                    ON CONFLICT (id) DO UPDATE SET not_before = excluded.not_before, cursor = NULL, done = 0, rewrapped = 0,
                        started_at = excluded.started_at, finished_at = NULL
                    """,
                arguments: [notBefore.timeIntervalSince1970, startedAt.timeIntervalSince1970]
            )
        }
    }

    /// Sets the cursor of `rekey_checkpoint` and adds to its `done`, in a write transaction.
    /// - Parameters:
    ///   - cursor: the last subject key name the job may resume after; `nil` to start from the first.
    ///   - subjectsPassed: subjects in the batch.
    /// - Throws: ``RecordStoreError/Code/storage``.
    public func commitRekeyCheckpoint(cursor: String?, subjectsPassed: Int) throws {
        try self.writing("committing a re-key checkpoint") { db in
            try db.execute(
                sql: "UPDATE rekey_checkpoint SET cursor = ?, done = done + ? WHERE id = 1",
                arguments: [cursor, subjectsPassed]
            )
        }
    }

    /// Sets `finished_at` of `rekey_checkpoint`.
    /// - Parameter finishedAt: when the job finished.
    /// - Throws: ``RecordStoreError/Code/storage``.
    public func finishRekeyCheckpoint(finishedAt: Date) throws {
        try self.writing("finishing a re-key") { db in
            try db.execute(
                sql: "UPDATE rekey_checkpoint SET finished_at = ? WHERE id = 1",
                arguments: [finishedAt.timeIntervalSince1970])
        }
    }

    // MARK: Tuning

    /// Runs `body` with the writer connection tuned for a re-key — a 32 MiB page cache (the default 2 MiB is
    /// evicted between listing a batch's rows and writing them), and `journal_size_limit` -1 (the WAL not
    /// truncated at each reset: ``didRekeyBatch()`` truncates it) — and puts the settings back afterwards
    /// (logged when it cannot: `samd.store.job-settings-not-restored`).
    /// - Parameter body: the re-key's batches.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws; ``RecordStoreError/Code/storage`` when the connection cannot be tuned.
    public func withRekeyTuning<T>(_ body: () throws -> T) throws -> T {
        let settings = try self.jobConnectionSettings()
        defer { self.restore(settings) }
        return try body()
    }

    /// Truncates the WAL (`PRAGMA wal_checkpoint(TRUNCATE)`), so that no header a re-key batch replaced is left
    /// in `records.sqlite-wal`; logged when a reader holds it past the busy timeout
    /// (`samd.store.wal-truncate-incomplete`: the next batch truncates it).
    public func didRekeyBatch() {
        self.truncateWAL(after: "re-keying")
    }
}
