import Foundation
import GRDB
public import Logging
import SaMDCrypto
public import SaMDEnvelope
public import SaMDKeys

/// Patient records stored encrypted in SQLite (through GRDB): the embedded record store, no server to run.
///
/// A record is addressed by subject (the patient), record id and record type. Its payload is one envelope
/// (Sources/SaMDEnvelope/SaMDEnvelope.docc/EnvelopeFormat.md) sealed under the subject's key from the `KeyStore` — KEK → subject key → record
/// DEK — and bound to the encryption context `subject`, `record`, `type`. The database never holds plaintext
/// nor any identifier in clear: rows are found by blind indexes (HMAC-SHA-256 under the key store's index
/// key), so a copied database does not reveal whose records it holds, and a row copied onto another record's
/// address fails to open (``RecordStoreError/Code/authenticationFailed``).
///
/// Shapes accepted (anything else is ``RecordStoreError/Code/invalidArgument``): subject and record ids of 1
/// to 512 bytes of UTF-8 without control characters, never `.` or `..` (compared after NFC normalisation;
/// ``isValidIdentifier(_:)``); record types that are
/// a media type without parameters, `type/subtype` (``isValidRecordType(_:)``); the three together at most
/// ``maximumAddressByteCount`` (980) bytes, what the encryption context holds.
///
/// Writes are SQLite transactions (`BEGIN IMMEDIATE`, WAL journal, `synchronous = FULL`: durable when `put`
/// returns) and are safe from several threads and processes; the directory is private (0700) and the database
/// file 0600. Crypto-shredding a subject (``shred(subject:)-554bx``) destroys its key and deletes its rows; its
/// records then answer ``RecordStoreError/Code/shredded`` and the receipt is kept. After a replacement or a
/// shredding the WAL is truncated: no old envelope stays in `records.sqlite-wal`. Rotating the KEK rewraps
/// subject keys, never rows (``KeyRotationJob``); re-keying after a compromise rewraps every row's header to
/// fresh subject keys (``SubjectRekeyJob``). Both run over the store as their ``KeyJobStore``. See <doc:Store>.
public final class EncryptedRecordStore: Sendable {
    /// Limits and behaviour of a store.
    public struct Configuration: Sendable {
        /// The largest payload accepted, in bytes (64 MiB by default).
        public var maximumRecordByteCount: Int
        /// How long a write waits for another connection's or process's transaction before it fails with
        /// ``RecordStoreError/Code/storage`` (SQLite's busy timeout, to the millisecond; 10 s by default).
        public var busyTimeout: Duration
        /// The payload AEAD: `PayloadSuite.cobblestone256` unless the device lacks AES instructions.
        public var payloadSuite: PayloadSuite
        /// Whether every commit is on stable storage before ``EncryptedRecordStore/put(_:subject:recordID:recordType:expectedRevision:)-(Collection<UInt8>,_,_,_,_)``
        /// or ``EncryptedRecordStore/shred(subject:)-554bx`` returns: `true` (the default) commits with SQLite's
        /// `PRAGMA synchronous = FULL`, which `fsync`s (`fdatasync`) the WAL at every commit, so an acknowledged
        /// record survives a power loss. `false` is SQLite's `NORMAL` in WAL mode: the WAL is synced only at
        /// checkpoints, and the last commits may be lost on power loss (never on a process crash) — for
        /// measurements, or data that can be sent again. See <doc:Store> for the cost.
        public var durableCommits: Bool

        public init(
            maximumRecordByteCount: Int = 64 << 20,
            busyTimeout: Duration = .seconds(10),
            payloadSuite: PayloadSuite = .cobblestone256,
            durableCommits: Bool = true
        ) {
            self.maximumRecordByteCount = maximumRecordByteCount
            self.busyTimeout = busyTimeout
            self.payloadSuite = payloadSuite
            self.durableCommits = durableCommits
        }
    }

    /// The most bytes (UTF-8, after NFC) a subject id, a record id and a record type take together: what the
    /// encryption context they make (`ChunkedPayload.maximumContextByteCount`, 1024 bytes) holds once its
    /// prefix (18 bytes) and the three keys with their lengths (26 bytes) are counted.
    public static let maximumAddressByteCount = RecordAddress.maximumByteCount
    /// The largest ``Configuration/maximumRecordByteCount`` a store accepts (512 MiB): its envelope, in one
    /// row, stays under SQLite's own limit of 10^9 bytes per value.
    public static let largestMaximumRecordByteCount = 512 << 20

    /// The database's file name inside the store's directory.
    public static let databaseFileName = "records.sqlite"
    /// Bytes an envelope adds to a payload at most: the longest header (190), salt and commitment (56), and
    /// one tag per 16 KiB chunk.
    package static func envelopeByteCount(forPayload count: Int) -> Int {
        190 + 56 + 16 * (count / 16_384 + 1) + count
    }

    /// The store's directory.
    public let directory: String
    public let configuration: Configuration
    let database: DatabasePool
    /// The key store whose subject keys seal the records and whose index key makes the blind indexes (the one
    /// the store was opened with).
    public let keyStore: any KeyStore
    /// Where the store's security events go (`samd.store.*`, <doc:Store>).
    public let logger: Logger

    /// Opens the store in `directory`, creating it (0700, with an empty database 0600) when it does not
    /// exist, and bringing its schema up to date.
    /// - Parameters:
    ///   - directory: the store's directory: `records.sqlite` and its WAL files, nothing else.
    ///   - keyStore: the key store whose subject keys seal the records and whose index key makes the
    ///     blind indexes; always the same one for one database.
    ///   - configuration: size bound, busy timeout and pool size (``Configuration``).
    ///   - logger: where the store's security events go (`samd.store.*`).
    /// - Throws: ``RecordStoreError/Code/invalidArgument`` for a maximum record size outside
    ///   0 ... ``largestMaximumRecordByteCount`` or a negative busy timeout;
    ///   ``RecordStoreError/Code/storage`` when the directory is accessible to others or is not a directory,
    ///   the database or its `-wal` or `-shm` file is a link, not a regular file or not private, or the
    ///   database cannot be opened or migrated.
    public init(
        directory: String,
        keyStore: any KeyStore,
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "samdkit.store")
    ) throws {
        guard (0...Self.largestMaximumRecordByteCount).contains(configuration.maximumRecordByteCount) else {
            throw RecordStoreError(
                .invalidArgument, "the maximum record size is 0 to \(Self.largestMaximumRecordByteCount) bytes")
        }
        guard configuration.busyTimeout >= .zero else {
            throw RecordStoreError(.invalidArgument, "the busy timeout is 0 or more")
        }
        try Self.preparePrivateDirectory(directory)
        let path = directory + "/" + Self.databaseFileName
        let file = try Self.prepareDatabaseFile(path)
        self.database = try Self.openDatabase(path, file: file, configuration: configuration)
        self.directory = directory
        self.configuration = configuration
        self.keyStore = keyStore
        self.logger = logger
    }

    // MARK: Records

    /// Seals `payload` and stores it at (`subject`, `recordID`), replacing what was there.
    /// - Parameters:
    ///   - payload: the record, at most ``Configuration/maximumRecordByteCount`` bytes.
    ///   - subject: the patient's identifier (1 to 512 bytes of UTF-8 after NFC, no control characters); only
    ///     its blind index is stored.
    ///   - recordID: the record's identifier within the subject, shaped as `subject`; only its blind index is
    ///     stored.
    ///   - recordType: a media type, e.g. `application/fhir+json`; bound into the encryption context, so a
    ///     row whose type is changed no longer opens.
    ///   - expectedRevision: `nil` writes unconditionally; `0` writes only if no record is there; `n` writes
    ///     only if the record is at revision `n` (compare-and-set).
    /// - Returns: the new revision (1 for a new record) and the key the record is sealed under.
    /// - Throws: ``RecordStoreError/Code/invalidArgument``, ``RecordStoreError/Code/limitExceeded``,
    ///   ``RecordStoreError/Code/conflict``, ``RecordStoreError/Code/keyUnavailable`` (no active KEK, key
    ///   store refused), ``RecordStoreError/Code/storage``.
    @discardableResult
    public func put(
        _ payload: some Collection<UInt8>,
        subject: String,
        recordID: String,
        recordType: String,
        expectedRevision: Int64? = nil
    ) throws -> RecordWriteResult {
        let address = try self.address(subject: subject, recordID: recordID, recordType: recordType)
        let context = try Self.context(subject: subject, recordID: recordID, recordType: recordType)
        guard payload.count <= self.configuration.maximumRecordByteCount else {
            throw RecordStoreError(
                .limitExceeded,
                "a record is at most \(self.configuration.maximumRecordByteCount) bytes; this one is \(payload.count)")
        }
        // A shredding or rotation between sealing and committing makes the key store refuse the commit
        // (keyNotUsable): the record is sealed again under the subject's current key. Bounded.
        var attempt = 0
        while true {
            attempt += 1
            do {
                let key = try self.keyStore.subjectSealingKey(subject: subject)
                let envelope = try Envelope.seal(
                    payload, context: context, to: key, suite: self.configuration.payloadSuite)
                let revision = try self.keyStore.whileSealingKeyIsCurrent(key.identifier) {
                    try self.commit(
                        .bytes(envelope), at: address, recordType: recordType, wrappingKey: key.identifier,
                        expectedRevision: expectedRevision)
                }
                if revision > 1 {
                    // The replaced envelope's pages are zeroed (secure_delete), but the WAL still holds the
                    // frames that wrote it.
                    self.truncateWAL(after: "replacing a record")
                }
                return RecordWriteResult(revision: revision, key: key.identifier, envelopeByteCount: envelope.count)
            } catch let error as EnvelopeError where error.code == .keyNotUsable && attempt < 3 {
                continue
            } catch let error as EnvelopeError {
                throw Self.keyError(error)
            }
        }
    }

    /// Opens the record at (`subject`, `recordID`). Returns its payload only when every byte authenticated
    /// under this address.
    /// - Throws: ``RecordStoreError/Code/notFound``; ``RecordStoreError/Code/shredded`` (with the receipt);
    ///   ``RecordStoreError/Code/authenticationFailed`` for a row tampered with or copied from another
    ///   record; ``RecordStoreError/Code/limitExceeded`` for a stored row larger than any record may be;
    ///   ``RecordStoreError/Code/keyUnavailable``; ``RecordStoreError/Code/storage``.
    public func get(subject: String, recordID: String) throws -> StoredRecord {
        let address = try self.address(subject: subject, recordID: recordID, recordType: nil)
        // A row read just before a re-key rewrapped it names a key version the re-key then destroyed: read again
        // while the row keeps changing — re-keys may follow one another — at most `rereadsAfterRekey` times
        // (RecordAddressing.mayBeReadBeforeRekey).
        var readBeforeRekey: (envelope: [UInt8], error: RecordStoreError)?
        var rereads = 0
        while true {
            guard let found = try self.readRecordRow(at: address) else {
                // The rows of a shredded subject are deleted: its receipt, kept in the database or else rebuilt
                // from the key store, says so.
                throw try self.addressing.absent(subject: subject) {
                    try self.shredReceipt(subjectIndex: address.subjectIndex)
                }
            }
            if let readBeforeRekey, found.envelope == readBeforeRekey.envelope { throw readBeforeRekey.error }
            let columns = found.columns
            do {
                return try self.addressing.open(
                    RecordAddressing.StoredRow(
                        recordType: columns.recordType, envelope: found.envelope, revision: columns.revision,
                        createdAt: columns.createdAt, updatedAt: columns.updatedAt),
                    subject: subject, recordID: recordID, at: address,
                    shredReceipt: { try? self.shredReceipt(subjectIndex: address.subjectIndex) },
                    tampered: { self.tampered($0, underlying: $1) })
            } catch let error as RecordStoreError
                where rereads < RecordAddressing.rereadsAfterRekey && RecordAddressing.mayBeReadBeforeRekey(error)
            {
                readBeforeRekey = (found.envelope, error)
                rereads += 1
            }
        }
    }

    /// Crypto-shreds `subject`: destroys its key in the key store, deletes the rows sealed under it, and keeps
    /// the receipt in the database — one transaction for the rows and the receipt, then the WAL is truncated
    /// so that no page image of a deleted envelope is left in `records.sqlite-wal`. Each of the subject's
    /// records answers ``RecordStoreError/Code/shredded`` from then on. Records stored for the subject
    /// afterwards are sealed under a new subject key.
    ///
    /// Idempotent: shredding a subject again returns the receipt kept the first time. When the key was erased
    /// but keeping the receipt failed (``RecordStoreError/Code/storage``: busy, full, the process killed),
    /// the retry rebuilds the receipt from the key store (`KeyStore.shredReceipt(subject:)`), deletes the
    /// rows and keeps it — it never answers ``RecordStoreError/Code/notFound`` for a subject whose key was
    /// erased.
    /// - Throws: ``RecordStoreError/Code/notFound`` when the subject has no key and no receipt;
    ///   ``RecordStoreError/Code/keyUnavailable``; ``RecordStoreError/Code/storage``.
    public func shred(subject: String) throws -> ShredReceipt {
        let subjectIndex = try self.subjectIndex(subject)
        return try SubjectShredding.shred(
            subject: subject, keyStore: self.keyStore, logger: self.logger,
            keptReceipt: { try self.shredReceipt(subjectIndex: subjectIndex) },
            shreddedRecordCount: { try self.shreddedRecordCount(subjectIndex: subjectIndex) },
            keep: { try self.keep($0, subjectIndex: subjectIndex) })
    }

    /// The key store's receipt of the subject's last shredding, rebuilt from its subject key.
    func keyStoreShredReceipt(subject: String) throws -> DestructionReceipt? {
        do {
            return try self.keyStore.shredReceipt(subject: subject)
        } catch let error as EnvelopeError {
            throw Self.keyError(error)
        }
    }

    /// Counts of what the store holds; no identifier.
    public func statistics() throws -> RecordStoreStatistics {
        try self.reading("counting records") { db in
            let row = try Row.fetchOne(
                db,
                sql:
                    "SELECT count(*) AS records, count(DISTINCT subject_index) AS subjects, coalesce(sum(length(envelope)), 0) AS bytes FROM record"
            )
            return RecordStoreStatistics(
                recordCount: row?["records"] ?? 0,
                subjectCount: row?["subjects"] ?? 0,
                envelopeByteCount: row?["bytes"] ?? 0,
                shreddedSubjectCount: try Int.fetchOne(db, sql: "SELECT count(*) FROM shred_receipt") ?? 0
            )
        }
    }
}
