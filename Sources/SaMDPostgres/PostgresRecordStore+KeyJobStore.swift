public import Foundation
import Logging
import NIOCore
import PostgresNIO
public import SaMDEnvelope
public import SaMDStore

/// The key jobs' store on PostgreSQL (`KeyJobStore`): the one-job lock (a session advisory lock, on a
/// connection of its own), the checkpoints (`samd_rotation_checkpoint`, `samd_rekey_checkpoint`) and the record
/// rows a re-key rewraps. Any instance may run or resume a job another instance started and died in: the intent
/// and the checkpoints are in the database, and a dead instance's session — and its lock — ends with it.
extension PostgresRecordStore: KeyJobStore {

    /// How long ``lockForKeyJob()`` tries again before it answers `conflict`: 2 s.
    static let keyJobLockSettling = Duration.seconds(2)

    /// Takes the one-job lock: `pg_try_advisory_lock` on a connection made for the job (not one of the pool's),
    /// tried again for up to 2 s (the session of a job that just ended may not be over yet), held until the
    /// returned object is released — then the connection closes, which ends the session and releases the lock;
    /// so does the death of this process, or a lost connection (the job's next statement then fails too).
    /// - Throws: `RecordStoreError` — `conflict` when another job, in any instance, holds it after 2 s;
    ///   `unavailable`.
    public func lockForKeyJob() throws -> any KeyJobLock {
        let connector = self.pool.connector
        let logger = self.logger
        let connection: PostgresConnection
        do {
            connection = try Blocking.wait { try await connector.connect(id: -1) }
        } catch {
            throw Self.storeError(error, "taking the key job lock")
        }
        let taken: Bool
        do {
            // A job that just ended released the lock by closing its session, which the server ends a moment
            // later: tried again for up to `keyJobLockSettling` before another job is taken to hold it.
            let deadline = ContinuousClock.now + Self.keyJobLockSettling
            taken = try Blocking.wait {
                while true {
                    var taken = false
                    for try await value in try await connection.query(
                        "SELECT pg_try_advisory_lock(\(PostgresSchema.lockClass), \(PostgresSchema.keyJobLock))",
                        logger: logger
                    ).decode(Bool.self) {
                        taken = value
                    }
                    if taken || ContinuousClock.now >= deadline { return taken }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
        } catch {
            connection.closeKeepingAlive()
            throw Self.storeError(error, "taking the key job lock")
        }
        guard taken else {
            connection.closeKeepingAlive()
            throw RecordStoreError(.conflict, "another key rotation or re-key job is running on this database")
        }
        return PostgresJobLock(connection: connection)
    }

    // MARK: Rotation checkpoint

    public func unfinishedRotationCheckpoint(kekName: String) throws -> StoredCheckpoint<RotationCheckpoint> {
        try self.blocking("reading the rotation checkpoint") { connection in
            let rows = try await connection.query(
                """
                SELECT from_version, target_version, cursor FROM samd_rotation_checkpoint \
                WHERE kek_name = \(kekName) AND finished_at IS NULL
                """, logger: self.logger)
            for try await row in rows {
                guard let (from, target, cursor) = try? row.decode((Int64, Int64?, String?).self),
                    let checkpoint = RotationCheckpoint(fromVersion: from, targetVersion: target, cursor: cursor)
                else { return .damaged }
                return .found(checkpoint)
            }
            return .absent
        }
    }

    public func recordRotationIntent(kekName: String, fromVersion: UInt32, targetVersion: UInt32?, startedAt: Date)
        throws
    {
        let from = Int64(fromVersion)
        let target = targetVersion.map { Int64($0) }
        let started = startedAt.timeIntervalSince1970
        try self.execute(
            "recording a rotation",
            """
            INSERT INTO samd_rotation_checkpoint (kek_name, from_version, target_version, cursor, done, rewrapped, started_at, finished_at) \
            VALUES (\(kekName), \(from), \(target), NULL, 0, 0, \(started), NULL) \
            ON CONFLICT (kek_name) DO UPDATE SET from_version = EXCLUDED.from_version, target_version = EXCLUDED.target_version, \
            cursor = NULL, done = 0, rewrapped = 0, started_at = EXCLUDED.started_at, finished_at = NULL
            """)
    }

    public func commitRotationCheckpoint(
        kekName: String, targetVersion: UInt32, cursor: String?, done: Int?, rewrapped: Int?
    ) throws {
        let target = Int64(targetVersion)
        let done = done.map { Int64($0) }
        let rewrapped = rewrapped.map { Int64($0) }
        try self.execute(
            "committing a rotation checkpoint",
            """
            UPDATE samd_rotation_checkpoint SET target_version = \(target), cursor = \(cursor), \
            done = coalesce(\(done), done), rewrapped = coalesce(\(rewrapped), rewrapped) WHERE kek_name = \(kekName)
            """)
    }

    public func finishRotationCheckpoint(kekName: String, done: Int, rewrapped: Int, finishedAt: Date) throws {
        let finished = finishedAt.timeIntervalSince1970
        let (done, rewrapped) = (Int64(done), Int64(rewrapped))
        try self.execute(
            "finishing a rotation",
            """
            UPDATE samd_rotation_checkpoint SET finished_at = \(finished), done = \(done), rewrapped = \(rewrapped) \
            WHERE kek_name = \(kekName)
            """)
    }

    // MARK: Re-key checkpoint

    public func rekeyCheckpoint() throws -> RekeyCheckpoint? {
        try self.blocking("reading the re-key checkpoint") { connection in
            let rows = try await connection.query(
                "SELECT not_before, cursor, finished_at FROM samd_rekey_checkpoint WHERE id = 1", logger: self.logger)
            for try await row in rows {
                let (notBefore, cursor, finishedAt) =
                    (try? row.decode((Double?, String?, Double?).self)) ?? (nil, "", nil)
                return RekeyCheckpoint(
                    notBefore: notBefore, cursor: cursor, isFinished: finishedAt != nil, finishedAt: finishedAt)
            }
            return nil
        }
    }

    public func recordRekeyIntent(notBefore: Date, startedAt: Date) throws {
        let (notBefore, started) = (notBefore.timeIntervalSince1970, startedAt.timeIntervalSince1970)
        try self.execute(
            "recording a re-key",
            """
            INSERT INTO samd_rekey_checkpoint (id, not_before, cursor, done, rewrapped, started_at, finished_at) \
            VALUES (1, \(notBefore), NULL, 0, 0, \(started), NULL) \
            ON CONFLICT (id) DO UPDATE SET not_before = EXCLUDED.not_before, cursor = NULL, done = 0, rewrapped = 0, \
            started_at = EXCLUDED.started_at, finished_at = NULL
            """)
    }

    public func commitRekeyCheckpoint(cursor: String?, subjectsPassed: Int) throws {
        let passed = Int64(subjectsPassed)
        try self.execute(
            "committing a re-key checkpoint",
            "UPDATE samd_rekey_checkpoint SET cursor = \(cursor), done = done + \(passed) WHERE id = 1")
    }

    public func finishRekeyCheckpoint(finishedAt: Date) throws {
        let finished = finishedAt.timeIntervalSince1970
        try self.execute(
            "finishing a re-key", "UPDATE samd_rekey_checkpoint SET finished_at = \(finished) WHERE id = 1")
    }

    // MARK: Record rows

    public func rekeyRecordPage(
        subjectIndex: String, notUnder newKey: KeyIdentifier, after: Data?, limit: Int, inlineEnvelopeByteCount: Int
    ) throws -> RekeyRecordPage {
        let newKeyName = "\(newKey)"
        let start = ByteBuffer(bytes: after ?? Data())
        let (limit64, inline) = (Int64(limit), Int64(inlineEnvelopeByteCount))
        return try self.blocking("reading records to re-key") { connection in
            let rows = try await connection.query(
                """
                SELECT record_index, revision, wrapping_key, octet_length(envelope)::bigint, \
                CASE WHEN octet_length(envelope) <= \(inline) THEN envelope END FROM samd_record \
                WHERE subject_index = \(subjectIndex) AND wrapping_key <> \(newKeyName) AND record_index > \(start) \
                ORDER BY record_index LIMIT \(limit64)
                """, logger: self.logger)
            var page = RekeyRecordPage(records: [], damagedRowCount: 0, next: nil)
            var last: Data?
            var count = 0
            for try await row in rows {
                count += 1
                guard
                    let (index, revision, wrappingKey, size, envelope) = try? row.decode(
                        (ByteBuffer, Int64, String, Int64, ByteBuffer?).self), size >= 0
                else {
                    last = nil
                    page.damagedRowCount += 1
                    continue
                }
                let recordIndex = Data(index.readableBytesView)
                last = recordIndex
                page.records.append(
                    RekeyRecord(
                        recordIndex: recordIndex, revision: revision, wrappingKey: wrappingKey,
                        envelopeByteCount: Int(clamping: size), envelope: envelope.map { Data($0.readableBytesView) }))
            }
            page.next = count == limit ? last : nil
            return page
        }
    }

    public func rekeyRecordEnvelope(recordIndex: Data, revision: Int64, wrappingKey: String) throws -> Data? {
        let index = ByteBuffer(bytes: recordIndex)
        let limit = Int64(EncryptedRecordStore.envelopeByteCount(forPayload: self.configuration.maximumRecordByteCount))
        return try self.blocking("reading a record to re-key") { connection in
            let rows = try await connection.query(
                """
                SELECT octet_length(envelope)::bigint, CASE WHEN octet_length(envelope) <= \(limit) THEN envelope END \
                FROM samd_record WHERE record_index = \(index) AND revision = \(revision) AND wrapping_key = \(wrappingKey)
                """, logger: self.logger)
            for try await row in rows {
                guard let (size, envelope) = try? row.decode((Int64, ByteBuffer?).self) else { return nil }
                guard size <= limit, let envelope else {
                    throw RecordStoreError(.limitExceeded, "a stored row is larger than any record may be")
                }
                return Data(envelope.readableBytesView)
            }
            return nil
        }
    }

    /// Writes the rewrapped envelopes in one transaction committed without waiting for the WAL flush
    /// (`synchronous_commit = off` for it): ``makeRewrappedRecordsDurable(count:)``'s commit flushes the WAL up to
    /// itself, and these commits with it.
    public func writeRewrappedRecords(_ records: [RewrappedRecord]) throws -> [Bool] {
        try self.blocking("rewrapping records") { connection in
            try await connection.withTransaction(logger: self.logger) { connection in
                try await connection.query("SET LOCAL synchronous_commit = off", logger: self.logger)
                var written: [Bool] = []
                for record in records {
                    let envelope = ByteBuffer(bytes: record.envelope)
                    let index = ByteBuffer(bytes: record.recordIndex)
                    let newKey = "\(record.newKey)"
                    var changed = false
                    for try await _ in try await connection.query(
                        """
                        UPDATE samd_record SET envelope = \(envelope), wrapping_key = \(newKey) \
                        WHERE record_index = \(index) AND revision = \(record.revision) AND wrapping_key = \(record.wrappingKey) \
                        RETURNING 1
                        """, logger: self.logger)
                    {
                        changed = true
                    }
                    written.append(changed)
                }
                return written
            }
        }
    }

    /// Adds `count` to the checkpoint's `rewrapped` in a synchronous commit, which flushes the WAL up to itself —
    /// and with it every rewrap committed before.
    public func makeRewrappedRecordsDurable(count: Int) throws {
        let count = Int64(count)
        try self.execute(
            "making the rewrapped records durable",
            "UPDATE samd_rekey_checkpoint SET rewrapped = rewrapped + \(count) WHERE id = 1")
    }

    /// A statement that returns no rows, run from a job's thread.
    private func execute(_ action: String, _ query: PostgresQuery) throws {
        try self.blocking(action) { connection in
            try await connection.query(query, logger: self.logger)
            return ()
        }
    }
}

/// The one-job lock: the session that holds the advisory lock, closed when this object is released.
final class PostgresJobLock: KeyJobLock {
    private let connection: PostgresConnection

    init(connection: PostgresConnection) {
        self.connection = connection
    }

    deinit {
        self.connection.closeKeepingAlive()
    }
}

extension PostgresConnection {
    /// Closes the connection, keeping the object alive until it is closed (postgres-nio expects a connection
    /// to be closed before it is released).
    func closeKeepingAlive() {
        let future: EventLoopFuture<Void> = self.close()
        future.whenComplete { _ in withExtendedLifetime(self) {} }
    }
}
