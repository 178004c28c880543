import NIOCore
public import NIOPosix

/// The threads on which ``EncryptedRecordStore``'s async methods run its blocking work (SQLite, `fsync`, the
/// key store, a PKCS#11 token), so that no caller's thread — an event loop, Swift's cooperative pool — waits
/// on a disk or a lock.
///
/// One pool per process, its own: busy SQLite writers (each may wait up to the store's busy timeout) never
/// hold the threads NIO or other libraries share through `NIOThreadPool.singleton`. Started on first use with
/// ``threadCount`` threads and never shut down.
public enum RecordStoreThreadPool {
    /// Threads in the pool: the machine's processors, at least 4 (a write waits on `fsync` most of its time).
    public static let threadCount = max(4, System.coreCount)

    /// The pool.
    public static let shared: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: threadCount)
        pool.start()
        return pool
    }()

    /// Runs `body` on the pool and returns its result.
    /// - Throws: what `body` throws; ``RecordStoreError/Code/storage`` if the pool no longer runs (only while
    ///   the process exits).
    static func run<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        do {
            return try await Self.shared.runIfActive(body)
        } catch is NIOThreadPoolError.ThreadPoolInactive {
            throw RecordStoreError(.storage, "the record store's thread pool is not running")
        }
    }
}

extension EncryptedRecordStore: RecordStore {
    /// The largest payload accepted, in bytes (``Configuration/maximumRecordByteCount``).
    public var maximumRecordByteCount: Int { self.configuration.maximumRecordByteCount }

    /// ``streamingPieceByteCount``: a streamed put seals its record a mebibyte at a time.
    public var streamingBufferByteCount: Int { Self.streamingPieceByteCount }

    /// ``put(_:subject:recordID:recordType:expectedRevision:)-(Collection<UInt8>,_,_,_,_)``, run on ``RecordStoreThreadPool``.
    @discardableResult
    public func put(
        _ payload: [UInt8], subject: String, recordID: String, recordType: String, expectedRevision: Int64?
    ) async throws -> RecordWriteResult {
        try await RecordStoreThreadPool.run {
            try self.put(
                payload, subject: subject, recordID: recordID, recordType: recordType,
                expectedRevision: expectedRevision)
        }
    }

    /// ``get(subject:recordID:)``, run on ``RecordStoreThreadPool``.
    public func get(subject: String, recordID: String) async throws -> StoredRecord {
        try await RecordStoreThreadPool.run { try self.get(subject: subject, recordID: recordID) }
    }

    /// ``shred(subject:)-554bx``, run on ``RecordStoreThreadPool``.
    public func shred(subject: String) async throws -> ShredReceipt {
        try await RecordStoreThreadPool.run { try self.shred(subject: subject) }
    }

    /// ``statistics()``, run on ``RecordStoreThreadPool``.
    public func statistics() async throws -> RecordStoreStatistics {
        try await RecordStoreThreadPool.run { try self.statistics() }
    }
}
