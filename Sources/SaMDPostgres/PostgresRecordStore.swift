public import Foundation
public import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import SaMDCrypto
public import SaMDEnvelope
public import SaMDKeys
public import SaMDStore

/// Patient records stored encrypted in PostgreSQL, for several service instances over one database: the same
/// records, addresses, envelopes and guarantees as `EncryptedRecordStore` (SQLite), behind the same
/// `RecordStore` protocol, checked by one conformance suite.
///
/// A record's row holds its blind indexes (HMAC-SHA-256 under the key store's index key: no subject or record id
/// in clear), its record type, revision, times, the name of the subject key it is sealed under, and its envelope
/// (Sources/SaMDEnvelope/SaMDEnvelope.docc/EnvelopeFormat.md) bound to the encryption context `subject`,
/// `record`, `type`. Rows read back are untrusted: every column is checked, the envelope's size is bounded in SQL
/// before it is transferred, and only the patient's own subject key may open it.
///
/// Writes are single statements or transactions, durable at commit (PostgreSQL's `synchronous_commit`; the
/// server's setting is the operator's), with compare-and-set on the revision. When the key store keeps its
/// subject keys in the same database (``PostgresKeyPersistence``), a record is committed only while the subject
/// key it was sealed under is still current — checked in the record's own statement (`FOR SHARE` on the subject
/// key's row and its generation): a shredding, re-key or rewrap by any instance either happens before (the
/// record is sealed again under the new key) or waits for the commit (and then deletes or rewraps the row).
/// With another key store the key store's own lock guards the commit (`KeyRing.whileSealingKeyIsCurrent`).
///
/// Blocking work — the key store, sealing, opening, the database — runs on the store's own thread pool
/// (``Configuration/threadCount`` threads), never on the caller's thread. The statements of a get, and of a put
/// whose statement checks its key itself (``checksKeyGenerationAtCommit``), hold no lock of the key store's: they
/// are awaited from the caller's task, between the work on the store's threads. See <doc:PostgresStore>.
public final class PostgresRecordStore: RecordStore, Sendable {
    /// Limits and behaviour of a store.
    public struct Configuration: Sendable {
        /// The largest payload accepted, in bytes (64 MiB by default; at most
        /// `EncryptedRecordStore.largestMaximumRecordByteCount`, 512 MiB: an envelope stays under PostgreSQL's
        /// 1 GB limit on one value).
        public var maximumRecordByteCount: Int
        /// The payload AEAD.
        public var payloadSuite: PayloadSuite
        /// Where a streamed put spools its sealed envelope before it goes to the database: ciphertext only, in
        /// files made 0600 and unlinked at once (they have no name and vanish with the process).
        public var spoolDirectory: String
        /// Threads for the store's blocking work: at least the pool's connections.
        public var threadCount: Int

        public init(
            maximumRecordByteCount: Int = 64 << 20,
            payloadSuite: PayloadSuite = .cobblestone256,
            spoolDirectory: String = NSTemporaryDirectory(),
            threadCount: Int = 16
        ) {
            self.maximumRecordByteCount = maximumRecordByteCount
            self.payloadSuite = payloadSuite
            self.spoolDirectory = spoolDirectory
            self.threadCount = threadCount
        }
    }

    /// The schema version this code writes (`samd_schema_version`, component `records`).
    public static let schemaVersion = 1
    /// A streamed put seals and sends its record a mebibyte at a time.
    public static let streamingPieceByteCount = 1 << 20

    /// The database's connections (the caller's to close, after ``close()``).
    public let pool: PostgresConnectionPool
    public let configuration: Configuration
    /// The key store whose subject keys seal the records and whose index key makes the blind indexes.
    public let keyStore: any KeyStore
    let addressing: RecordAddressing
    /// Where the store's security events go (`samd.store.*`).
    public let logger: Logger
    let threads: NIOThreadPool
    /// Whether the key store's subject keys are in this database: the commit checks their generation itself.
    let keysInSameDatabase: Bool

    /// Whether a commit checks, in its own statement, that the subject key it was sealed under is still current
    /// (the key store keeps its subject keys in this database, ``PostgresKeyStore``); otherwise the key store's
    /// lock guards the commit.
    public var checksKeyGenerationAtCommit: Bool { self.keysInSameDatabase }

    /// Opens the store in the pool's database, creating or updating its tables (in one transaction under an
    /// advisory lock: several instances may start at once).
    /// - Parameters:
    ///   - pool: the database's connections.
    ///   - keyStore: the key store whose subject keys seal the records and whose index key makes the blind
    ///     indexes; always the same one for one database.
    ///   - configuration: bounds.
    ///   - logger: where the store's security events go (`samd.store.*`).
    /// - Throws: `RecordStoreError` — `invalidArgument` for a bound out of range; `unavailable` when the database
    ///   cannot be reached; `storage` for a schema newer than this code, or one that is not SaMDKit's.
    public init(
        pool: PostgresConnectionPool, keyStore: any KeyStore, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "samdkit.store")
    ) async throws {
        guard (0...EncryptedRecordStore.largestMaximumRecordByteCount).contains(configuration.maximumRecordByteCount)
        else {
            throw RecordStoreError(
                .invalidArgument,
                "the maximum record size is 0 to \(EncryptedRecordStore.largestMaximumRecordByteCount) bytes")
        }
        guard (1...1024).contains(configuration.threadCount) else {
            throw RecordStoreError(.invalidArgument, "a PostgreSQL record store uses 1 to 1024 threads")
        }
        self.pool = pool
        self.configuration = configuration
        self.keyStore = keyStore
        self.addressing = RecordAddressing(keyStore: keyStore)
        self.logger = logger
        self.keysInSameDatabase =
            ((keyStore as? FileKeyStore)?.persistence as? any PostgresBackedPersistence)?.databaseLocation
            == pool.location
        try await Self.mapErrors("creating the record tables") {
            try await pool.withConnection { connection in
                try await PostgresSchema.migrate(
                    component: "records", steps: [PostgresSchema.recordsV1], on: connection, logger: logger)
            }
        }
        self.threads = NIOThreadPool(numberOfThreads: configuration.threadCount)
        self.threads.start()
    }

    /// Stops the store's threads (the pool is the caller's to close).
    public func close() async throws {
        try await self.threads.shutdownGracefully()
    }

    public var maximumRecordByteCount: Int { self.configuration.maximumRecordByteCount }
    public var streamingBufferByteCount: Int { Self.streamingPieceByteCount }

    // MARK: Records

    /// Seals `payload` and stores it at (`subject`, `recordID`): the semantics of
    /// `EncryptedRecordStore.put(_:subject:recordID:recordType:expectedRevision:)`.
    /// - Throws: `RecordStoreError` — `invalidArgument`, `limitExceeded`, `conflict`, `keyUnavailable`,
    ///   `unavailable`, `storage`.
    @discardableResult
    public func put(
        _ payload: [UInt8], subject: String, recordID: String, recordType: String, expectedRevision: Int64?
    ) async throws -> RecordWriteResult {
        // A key changed between sealing and committing (shredded, re-keyed, rewrapped by any instance): sealed
        // again under the subject's current key. Bounded.
        for attempt in 1...3 {
            // The key store and the seal on the store's threads (the key store may block on its database).
            let (address, key, keyRevision, envelope) = try await self.run {
                let address = try self.addressing.address(
                    subject: subject, recordID: recordID, recordType: recordType)
                let context = try RecordAddressing.context(
                    subject: subject, recordID: recordID, recordType: recordType)
                guard payload.count <= self.configuration.maximumRecordByteCount else {
                    throw RecordStoreError(
                        .limitExceeded,
                        "a record is at most \(self.configuration.maximumRecordByteCount) bytes; this one is \(payload.count)"
                    )
                }
                let (key, keyRevision) = try self.sealingKey(subject: subject)
                let envelope = try EncryptedRecordStore.keyCall {
                    try Envelope.seal(payload, context: context, to: key, suite: self.configuration.payloadSuite)
                }
                return (address, key.identifier, keyRevision, envelope)
            }
            let outcome = try await self.commitChecked(key: key, keyRevision: keyRevision, attempt: attempt) {
                connection in
                try await PostgresRecordRows.write(
                    connection, envelope: .bytes(envelope), at: address, recordType: recordType,
                    wrappingKey: key, keyRevision: self.keysInSameDatabase ? keyRevision : nil,
                    expectedRevision: expectedRevision, logger: self.logger)
            }
            if let revision = outcome {
                return RecordWriteResult(revision: revision, key: key, envelopeByteCount: envelope.count)
            }
        }
        throw RecordStoreError(
            .keyUnavailable, "the subject's key kept changing while the record was sealed; send it again")
    }

    /// Seals a record as it arrives from `body` and stores it, holding at most ``streamingBufferByteCount`` bytes
    /// of plaintext: sealed piece by piece into an unnamed spool file (ciphertext), sent to PostgreSQL in
    /// pieces into a temporary table of the session, and assembled into the row by the server in the same
    /// transaction as the compare-and-set. Nothing is stored unless `body` ends normally.
    /// - Throws: as ``put(_:subject:recordID:recordType:expectedRevision:)``; `storage` (retryable) when the
    ///   subject's key changed while the record arrived; what `body` throws.
    @discardableResult
    public func put<Body: AsyncSequence>(
        streaming body: Body, subject: String, recordID: String, recordType: String, expectedRevision: Int64?
    ) async throws -> RecordWriteResult where Body.Element: Collection<UInt8> {
        let prepared = try await self.run { () -> (RecordAddressing.Address, StreamedRecord, MetadataRevision?) in
            let address = try self.addressing.address(subject: subject, recordID: recordID, recordType: recordType)
            let context = try RecordAddressing.context(subject: subject, recordID: recordID, recordType: recordType)
            let (key, revision) = try self.sealingKey(subject: subject)
            let upload = try StreamedRecord(
                key: key, context: context, suite: self.configuration.payloadSuite,
                spoolDirectory: self.configuration.spoolDirectory)
            return (address, upload, revision)
        }
        let (address, upload, keyRevision) = prepared
        let last = try await upload.sealPieces(of: body, limit: self.configuration.maximumRecordByteCount) {
            try await self.run($0)
        }
        try await self.run {
            try upload.seal(last)
            try upload.finish()
        }
        let outcome = try await self.commitChecked(
            key: upload.key, keyRevision: keyRevision, attempt: 3, readsSpool: true
        ) { connection in
            try await PostgresRecordRows.write(
                connection, envelope: .spool(upload.spool), at: address, recordType: recordType,
                wrappingKey: upload.key, keyRevision: self.keysInSameDatabase ? keyRevision : nil,
                expectedRevision: expectedRevision, logger: self.logger)
        }
        guard let revision = outcome else {
            throw RecordStoreError(
                .storage,
                "the subject's key changed while the record arrived (a rotation or shredding); send it again")
        }
        return RecordWriteResult(revision: revision, key: upload.key, envelopeByteCount: upload.spool.byteCount)
    }

    /// Opens the record at (`subject`, `recordID`); its payload only when every byte authenticated under this
    /// address.
    /// - Throws: `RecordStoreError` — `notFound`, `shredded` (with the receipt), `authenticationFailed`,
    ///   `limitExceeded`, `keyUnavailable`, `unavailable`, `storage`.
    public func get(subject: String, recordID: String) async throws -> StoredRecord {
        // The blind indexes on the store's threads (the key store may block on its database), the row awaited
        // from the caller's task, the rest — the key store again, opening — on the store's threads.
        let address = try await self.run {
            try self.addressing.address(subject: subject, recordID: recordID, recordType: nil)
        }
        let limit = EncryptedRecordStore.envelopeByteCount(forPayload: self.configuration.maximumRecordByteCount)
        // A row read just before a re-key (of this instance or another) rewrapped it names a key version the re-key
        // then destroyed: read again while the row keeps changing — re-keys may follow one another — at most
        // `rereadsAfterRekey` times (RecordAddressing.mayBeReadBeforeRekey).
        var readBeforeRekey: (envelope: [UInt8], error: RecordStoreError)?
        var rereads = 0
        while true {
            let found = try await Self.mapErrors("reading a record") {
                try await self.pool.withConnection { connection in
                    try await PostgresRecordRows.read(
                        connection, at: address, envelopeLimit: limit, logger: self.logger)
                }
            }
            if let readBeforeRekey, case .row(let row)? = found, row.envelope == readBeforeRekey.envelope {
                throw readBeforeRekey.error
            }
            do {
                return try await self.open(found, subject: subject, recordID: recordID, at: address)
            } catch let error as RecordStoreError
                where rereads < RecordAddressing.rereadsAfterRekey && RecordAddressing.mayBeReadBeforeRekey(error)
            {
                if case .row(let row)? = found { readBeforeRekey = (row.envelope, error) } else { throw error }
                rereads += 1
            }
        }
    }

    /// The last step of ``get(subject:recordID:)``, on the store's threads: the row found (or none) opened under
    /// its address, or the reason why not.
    private func open(
        _ found: PostgresRecordRows.Found?, subject: String, recordID: String, at address: RecordAddressing.Address
    ) async throws -> StoredRecord {
        try await self.run {
            guard let found else {
                throw try self.addressing.absent(subject: subject) {
                    try self.shredReceipt(subjectIndex: address.subjectIndex)
                }
            }
            let row: PostgresRecordRows.Row
            switch found {
            case .tooLarge:
                throw RecordStoreError(
                    .limitExceeded,
                    "a stored row is larger than any record of at most \(self.configuration.maximumRecordByteCount) bytes"
                )
            case .malformed:
                throw self.tampered("a stored row's columns are not of the types the store writes")
            case .misfiled:
                throw self.tampered("the stored row is filed under another subject: moved or copied there")
            case .row(let value):
                row = value
            }
            return try self.addressing.open(
                RecordAddressing.StoredRow(
                    recordType: row.recordType, envelope: row.envelope, revision: row.revision,
                    createdAt: row.createdAt, updatedAt: row.updatedAt),
                subject: subject, recordID: recordID, at: address,
                shredReceipt: { try? self.shredReceipt(subjectIndex: address.subjectIndex) },
                tampered: { self.tampered($0, underlying: $1) })
        }
    }

    /// Crypto-shreds `subject`: destroys its key in the key store, then deletes its rows and keeps the receipt
    /// in one transaction. Idempotent, and completes a shredding whose receipt was not kept (as
    /// `EncryptedRecordStore.shred(subject:)`).
    /// - Throws: `RecordStoreError` — `notFound` (no key and no receipt), `keyUnavailable`, `unavailable`,
    ///   `storage`.
    public func shred(subject: String) async throws -> ShredReceipt {
        try await self.run {
            let subjectIndex = try self.addressing.subjectIndex(subject)
            return try SubjectShredding.shred(
                subject: subject, keyStore: self.keyStore, logger: self.logger,
                keptReceipt: { try self.shredReceipt(subjectIndex: subjectIndex) },
                shreddedRecordCount: {
                    try self.blocking("counting shredded records") { connection in
                        try await PostgresRecordRows.shreddedRecordCount(
                            connection, subjectIndex: subjectIndex, logger: self.logger)
                    }
                },
                keep: { try self.keep($0, subjectIndex: subjectIndex) })
        }
    }

    /// Counts of what the store holds; no identifier.
    /// - Throws: `RecordStoreError` — `unavailable`, `storage`.
    public func statistics() async throws -> RecordStoreStatistics {
        try await Self.mapErrors("counting records") {
            try await self.pool.withConnection { connection in
                try await PostgresRecordRows.statistics(connection, logger: self.logger)
            }
        }
    }

    // MARK: Internals

    /// The subject's sealing key and, from a `FileKeyStore`, the revision of the subject key it came from.
    func sealingKey(subject: String) throws -> (SealingKey, MetadataRevision?) {
        try EncryptedRecordStore.keyCall {
            if let store = self.keyStore as? FileKeyStore {
                return try store.subjectSealingKeyAndRevision(subject: subject)
            }
            return (try self.keyStore.subjectSealingKey(subject: subject), nil)
        }
    }

    /// Runs a commit so that the record is stored only under a current key: checked by the statement itself
    /// when the subject keys are in this database (a `nil` result: the key changed, its cached entry is dropped
    /// and the caller seals again), under the key store's lock otherwise.
    ///
    /// A statement that checks the key itself holds no lock of the key store's, so it is awaited from the
    /// caller's task, on a connection of the pool; under the key store's lock (which blocks), it is made from
    /// the store's threads.
    /// - Returns: the new revision, or `nil` when the key changed and `attempt` may be retried.
    /// - Parameter readsSpool: the write reads a spool file (blocking): made from the store's threads in any case.
    func commitChecked(
        key: KeyIdentifier, keyRevision: MetadataRevision?, attempt: Int, readsSpool: Bool = false,
        _ write: @escaping @Sendable (PostgresConnection) async throws -> PostgresRecordRows.WriteOutcome
    ) async throws -> Int64? {
        let outcome: PostgresRecordRows.WriteOutcome
        do {
            if self.keysInSameDatabase, keyRevision != nil, readsSpool {
                outcome = try await self.run { try self.pool.blockingWithConnection(write) }
            } else if self.keysInSameDatabase, keyRevision != nil {
                outcome = try await self.pool.withConnection(write)
            } else {
                outcome = try await self.run {
                    try self.keyStore.whileSealingKeyIsCurrent(key) { try self.pool.blockingWithConnection(write) }
                }
            }
        } catch let error as EnvelopeError where error.code == .keyNotUsable {
            if attempt < 3 { return nil }
            throw EncryptedRecordStore.keyError(error)
        } catch let error as EnvelopeError {
            throw EncryptedRecordStore.keyError(error)
        } catch let error as RecordStoreError {
            throw error
        } catch  where PostgresStoreError(error).sqlState == "22003" {
            // numeric_value_out_of_range: the stored revision is at the largest bigint, which the store never
            // writes — a tampered row, not a failure worth retrying.
            throw self.tampered("the stored row's revision is not a revision: the row was tampered with")
        } catch {
            throw Self.storeError(error, "storing a record")
        }
        switch outcome {
        case .written(let revision):
            return revision
        case .conflict:
            throw RecordStoreError(.conflict, "the record is not at the revision expected")
        case .keyChanged:
            (self.keyStore as? FileKeyStore)?.subjectKeys.removeSubjectKey(named: key.name)
            if attempt < 3 { return nil }
            throw RecordStoreError(
                .keyUnavailable,
                "the subject's key changed while the record was sealed (shredded, re-keyed or rewrapped)")
        case .malformed:
            throw self.tampered("the stored row's revision is not a revision: the row was tampered with")
        }
    }

    /// Deletes the subject's rows sealed under the destroyed version or older and keeps the receipt, in one
    /// transaction. Returns the records deleted now, plus any counted before.
    func keep(_ receipt: DestructionReceipt, subjectIndex: String) throws -> Int {
        try self.blocking("keeping a shredding receipt") { connection in
            try await PostgresRecordRows.keep(
                connection, receipt: receipt, subjectIndex: subjectIndex, logger: self.logger)
        }
    }

    /// The receipt kept in the database for a subject, if any (one that is not what the store writes is none).
    func shredReceipt(subjectIndex: String) throws -> DestructionReceipt? {
        try self.blocking("reading a shredding receipt") { connection in
            try await PostgresRecordRows.shredReceipt(connection, subjectIndex: subjectIndex, logger: self.logger)
        }
    }

    /// Logs and returns the error for a row that is not what the store wrote (as the SQLite store does).
    func tampered(_ reason: String, underlying: EnvelopeError? = nil) -> RecordStoreError {
        EncryptedRecordStore.tampered(reason, underlying: underlying, logger: self.logger)
    }

    /// Runs `body` on the store's threads.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await self.threads.runIfActive(body)
        } catch is NIOThreadPoolError.ThreadPoolInactive {
            throw RecordStoreError(.storage, "the record store is closed")
        }
    }

    /// A database call from the store's threads, its errors as the store's.
    func blocking<T: Sendable>(_ action: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T)
        throws -> T
    {
        do {
            return try self.pool.blockingWithConnection(body)
        } catch let error as RecordStoreError {
            throw error
        } catch {
            throw Self.storeError(error, action)
        }
    }

    /// A database call from async code, its errors as the store's.
    static func mapErrors<T>(_ action: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RecordStoreError {
            throw error
        } catch {
            throw Self.storeError(error, action)
        }
    }

    /// PostgreSQL's errors as the store's: the server unreachable → `unavailable`; a serialization failure or
    /// deadlock (retryable) and anything else → `storage`.
    static func storeError(_ error: any Error, _ action: String) -> RecordStoreError {
        let error = PostgresStoreError(error)
        switch error.code {
        case .unavailable:
            return RecordStoreError(.unavailable, "\(action): \(error.reason)")
        default:
            return RecordStoreError(.storage, "\(action): \(error.code): \(error.reason)")
        }
    }
}

/// A key persistence that keeps subject keys in a PostgreSQL database (``PostgresKeyPersistence``): a record
/// store in the same database checks a subject key's generation in its own commit.
package protocol PostgresBackedPersistence: KeyMetadataPersistence {
    /// The database the subject keys are in.
    var databaseLocation: PostgresLocation { get }
}
