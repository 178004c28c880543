public import Foundation
import GRDB
import GRDBSQLite
public import Logging
import SaMDCrypto
public import SaMDEnvelope
public import SaMDKeys

/// Patient records stored encrypted in SQLite (through GRDB): the embedded record store, no server to run.
///
/// A record is addressed by subject (the patient), record id and record type. Its payload is one envelope
/// (Docs/EnvelopeFormat.md) sealed under the subject's key from the ``KeyStore`` — KEK → subject key → record
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
/// file 0600. Crypto-shredding a subject (``shred(subject:)``) destroys its key and deletes its rows; its
/// records then answer ``RecordStoreError/Code/shredded`` and the receipt is kept. After a replacement or a
/// shredding the WAL is truncated: no old envelope stays in `records.sqlite-wal`. Rotating the KEK rewraps
/// subject keys, never rows (``KeyRotationJob``); re-keying after a compromise rewraps every row's header to
/// fresh subject keys (``SubjectRekeyJob``). See Docs/Store.md.
public final class EncryptedRecordStore: Sendable {
    /// Limits and behaviour of a store.
    public struct Configuration: Sendable {
        /// The largest payload accepted, in bytes (64 MiB by default).
        public var maximumRecordByteCount: Int
        /// How long a write waits for another connection's or process's transaction, in seconds, before it
        /// fails with ``RecordStoreError/Code/storage``.
        public var busyTimeout: TimeInterval
        /// The payload AEAD: ``PayloadSuite/cobblestone256`` unless the device lacks AES instructions.
        public var payloadSuite: PayloadSuite
        /// Whether every commit is on stable storage before ``EncryptedRecordStore/put(_:subject:recordID:recordType:expectedRevision:)``
        /// or ``EncryptedRecordStore/shred(subject:)`` returns: `true` (the default) commits with SQLite's
        /// `PRAGMA synchronous = FULL`, which `fsync`s (`fdatasync`) the WAL at every commit, so an acknowledged
        /// record survives a power loss. `false` is SQLite's `NORMAL` in WAL mode: the WAL is synced only at
        /// checkpoints, and the last commits may be lost on power loss (never on a process crash) — for
        /// measurements, or data that can be sent again. See Docs/Store.md for the cost.
        public var durableCommits: Bool

        public init(
            maximumRecordByteCount: Int = 64 << 20,
            busyTimeout: TimeInterval = 10,
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
    /// encryption context they make (``ChunkedPayload/maximumContextByteCount``, 1024 bytes) holds once its
    /// prefix (18 bytes) and the three keys with their lengths (26 bytes) are counted.
    public static let maximumAddressByteCount = ChunkedPayload.maximumContextByteCount - 44
    /// The largest ``Configuration/maximumRecordByteCount`` a store accepts (512 MiB): its envelope, in one
    /// row, stays under SQLite's own limit of 10^9 bytes per value.
    public static let largestMaximumRecordByteCount = 512 << 20

    /// The database's file name inside the store's directory.
    public static let databaseFileName = "records.sqlite"
    /// Bytes an envelope adds to a payload at most: the longest header (190), salt and commitment (56), and
    /// one tag per 16 KiB chunk.
    static func envelopeByteCount(forPayload count: Int) -> Int {
        190 + 56 + 16 * (count / 16_384 + 1) + count
    }

    /// The store's directory.
    public let directory: String
    public let configuration: Configuration
    let database: DatabasePool
    let keyStore: any KeyStore
    let logger: Logger

    /// Opens the store in `directory`, creating it (0700, with an empty database 0600) when it does not
    /// exist, and bringing its schema up to date.
    /// - Parameter keyStore: the key store whose subject keys seal the records and whose index key makes the
    ///   blind indexes; always the same one for one database.
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
        guard configuration.busyTimeout >= 0, configuration.busyTimeout.isFinite else {
            throw RecordStoreError(.invalidArgument, "the busy timeout is a finite number of seconds, 0 or more")
        }
        try Self.preparePrivateDirectory(directory)
        let path = directory + "/" + Self.databaseFileName
        // Created 0600 before SQLite opens it; SQLite gives its -wal and -shm files the same mode. An existing
        // database is only looked at (lstat), never opened and closed here: closing any descriptor of a file
        // drops every POSIX lock this process holds on it, including those of another store instance's
        // SQLite connections (sqlite.org/howtocorrupt.html §2.2).
        var info = stat()
        if lstat(path, &info) != 0 {
            guard errno == ENOENT else { throw RecordStoreError(.storage, "cannot stat \(path): errno \(errno)") }
            let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else { throw RecordStoreError(.storage, "cannot create \(path): errno \(errno)") }
            close(fd)
            guard lstat(path, &info) == 0 else {
                throw RecordStoreError(.storage, "cannot stat \(path): errno \(errno)")
            }
        }
        guard info.st_mode & S_IFMT == S_IFREG, info.st_mode & 0o077 == 0 else {
            throw RecordStoreError(.storage, "\(path) must be a regular file of mode 0600, not a link")
        }
        let file = (device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        try Self.checkDatabaseFiles(path, file: file)
        // Every value SQLite reads is bounded by this, before it is allocated: the largest envelope and the
        // rest of its row. An edited row cannot make the store read more (SQLITE_TOOBIG: limitExceeded).
        let valueLimit = Int32(Self.envelopeByteCount(forPayload: configuration.maximumRecordByteCount) + 4096)
        var grdb = GRDB.Configuration()
        grdb.busyMode = .timeout(configuration.busyTimeout)
        grdb.label = "samdkit.store"
        grdb.prepareDatabase { db in
            // SQLite opens the path it is given, following links: each new connection (readers are opened
            // on demand) checks that it is still the file judged here.
            try Self.checkDatabaseFiles(path, file: file)
            sqlite3_limit(db.sqliteConnection, SQLITE_LIMIT_LENGTH, valueLimit)
            // Deleted and overwritten content is zeroed in the file, not left in free pages.
            try db.execute(sql: "PRAGMA secure_delete = ON")
            // A WAL that is reset after a checkpoint is truncated to nothing, instead of keeping old frames
            // (page images of earlier revisions) until new ones overwrite them.
            try db.execute(sql: "PRAGMA journal_size_limit = 0")
        }
        do {
            self.database = try DatabasePool(path: path, configuration: grdb)
            // GRDB sets NORMAL on its writer connection (the only one that commits) when it opens the pool.
            let synchronous = configuration.durableCommits ? "FULL" : "NORMAL"
            try self.database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            }
            try Schema.migrator.migrate(self.database)
        } catch let error as DatabaseError {
            throw Self.storageError(error, "opening \(path)")
        }
        self.directory = directory
        self.configuration = configuration
        self.keyStore = keyStore
        self.logger = logger
    }

    // MARK: Records

    /// Seals `payload` and stores it at (`subject`, `recordID`), replacing what was there.
    /// - Parameters:
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
                        envelope, at: address, recordType: recordType, wrappingKey: key.identifier,
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
        let limit = Self.envelopeByteCount(forPayload: self.configuration.maximumRecordByteCount)
        // The database is not trusted to be the one we wrote: every column is checked for the exact type the
        // store writes (GRDB's subscripts trap on anything else), and the envelope's size is bounded before
        // the blob is read (SQLite's length() of text stops at a NUL, so it must be a blob).
        let found: (columns: RowColumns, envelope: [UInt8])? = try self.reading("reading a record") { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT typeof(envelope) AS kind, length(envelope) AS size, record_type, revision, created_at, updated_at
                        FROM record WHERE record_index = ?
                        """,
                    arguments: [Data(address.recordIndex)]
                )
            else { return nil }
            guard let size = Self.integer(row, "size"), size <= limit else {
                throw RecordStoreError(
                    .limitExceeded,
                    "a stored row is larger than any record of at most \(self.configuration.maximumRecordByteCount) bytes"
                )
            }
            guard Self.text(row, "kind") == "blob", let recordType = Self.text(row, "record_type"),
                Self.isValidRecordType(recordType),
                let revision = Self.integer(row, "revision"), revision >= 1,
                let createdAt = Self.real(row, "created_at"), let updatedAt = Self.real(row, "updated_at")
            else {
                throw self.tampered("a stored row's columns are not of the types the store writes")
            }
            let envelope = try Data.fetchOne(
                db, sql: "SELECT envelope FROM record WHERE record_index = ?", arguments: [Data(address.recordIndex)])
            let columns = RowColumns(
                recordType: recordType, revision: revision, createdAt: createdAt, updatedAt: updatedAt)
            return (columns, Array(envelope ?? Data()))
        }
        guard let found else {
            // The rows of a shredded subject are deleted: its receipt, kept in the database or else rebuilt
            // from the key store, says so.
            if let receipt = try self.shredReceipt(subjectIndex: address.subjectIndex)
                ?? self.keyStoreShredReceipt(subject: subject)
            {
                throw RecordStoreError(.shredded, "the subject was crypto-shredded", receipt: receipt)
            }
            throw RecordStoreError(.notFound, "no record at this address")
        }
        let columns = found.columns
        guard Self.addressByteCount(subject, recordID, columns.recordType) <= Self.maximumAddressByteCount else {
            throw self.tampered("the stored row's record type does not fit the address it is stored at")
        }
        let context = try Self.context(subject: subject, recordID: recordID, recordType: columns.recordType)
        do {
            // Only this patient's own subject key may open the record (see PatientKeyProvider).
            let keys = PatientKeyProvider(keyStore: self.keyStore, subjectKeyName: "s-" + address.subjectIndex)
            return StoredRecord(
                recordType: columns.recordType,
                payload: try Envelope.open(found.envelope, context: context, keys: keys),
                revision: columns.revision,
                createdAt: Date(timeIntervalSince1970: columns.createdAt),
                updatedAt: Date(timeIntervalSince1970: columns.updatedAt)
            )
        } catch let error as EnvelopeError {
            switch error.code {
            case .keyDestroyed:
                throw RecordStoreError(
                    .shredded, "the subject was crypto-shredded", underlying: error,
                    receipt: try? self.shredReceipt(subjectIndex: address.subjectIndex))
            case .authenticationFailed, .truncated, .malformed, .unsupportedVersion, .unsupportedSuite, .limitExceeded:
                throw self.tampered(
                    "the stored row does not open under this address: tampered with or copied from another record",
                    underlying: error)
            default:
                throw Self.keyError(error)
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
    /// the retry rebuilds the receipt from the key store (``KeyStore/shredReceipt(subject:)``), deletes the
    /// rows and keeps it — it never answers ``RecordStoreError/Code/notFound`` for a subject whose key was
    /// erased.
    /// - Throws: ``RecordStoreError/Code/notFound`` when the subject has no key and no receipt;
    ///   ``RecordStoreError/Code/keyUnavailable``; ``RecordStoreError/Code/storage``.
    public func shred(subject: String) throws -> ShredReceipt {
        let subjectIndex = try self.subjectIndex(subject)
        let receipt: DestructionReceipt
        do {
            receipt = try self.keyStore.shred(subject: subject)
        } catch let error as EnvelopeError where error.code == .keyNotFound {
            // No live key: shredded before. The database's receipt when it is there; otherwise the key was
            // erased but its receipt never reached the database (busy, full, killed): finish that shredding
            // now from the key store's receipt.
            let kept = try self.shredReceipt(subjectIndex: subjectIndex)
            guard let erased = try self.keyStoreShredReceipt(subject: subject),
                erased.key.version > kept?.key.version ?? 0
            else {
                guard let kept else { throw RecordStoreError(.notFound, "the subject has no key to shred") }
                return ShredReceipt(
                    receipt: kept, recordCount: try self.shreddedRecordCount(subjectIndex: subjectIndex))
            }
            let count = try self.keep(erased, subjectIndex: subjectIndex)
            self.logger.notice(
                "subject records shredded",
                metadata: [
                    "event": "samd.store.subject-shredded", "key": "\(erased.key)", "records": "\(count)",
                    "completed": "true",
                ]
            )
            return ShredReceipt(receipt: erased, recordCount: count)
        } catch let error as EnvelopeError {
            throw Self.keyError(error)
        }
        let count = try self.keep(receipt, subjectIndex: subjectIndex)
        self.logger.notice(
            "subject records shredded",
            metadata: ["event": "samd.store.subject-shredded", "key": "\(receipt.key)", "records": "\(count)"]
        )
        return ShredReceipt(receipt: receipt, recordCount: count)
    }

    /// Deletes the subject's rows sealed under the versions `receipt` destroyed (that version and every
    /// earlier one: a row written under a newer version after the shredding stays) and keeps the receipt,
    /// in one transaction; then truncates the WAL. Idempotent: a second call for the same receipt deletes
    /// nothing more and keeps the count. Returns the rows this shredding deleted.
    func keep(_ receipt: DestructionReceipt, subjectIndex: String) throws -> Int {
        let count = try self.writing("keeping a shredding receipt") { db in
            try db.execute(
                sql: "DELETE FROM record WHERE subject_index = ? AND \(Schema.wrappingKeyVersion) <= ?",
                arguments: [subjectIndex, Int64(receipt.key.version)]
            )
            let deleted = db.changesCount
            var count = deleted
            if let kept = try Row.fetchOne(
                db, sql: "SELECT key_version, record_count FROM shred_receipt WHERE subject_index = ?",
                arguments: [subjectIndex]),
                Self.integer(kept, "key_version") == Int64(receipt.key.version),
                let before = Self.integer(kept, "record_count")
            {
                count += Int(clamping: before)
            }
            try db.execute(
                sql: """
                    INSERT INTO shred_receipt (subject_index, key_name, key_version, destroyed_at, record_count) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (subject_index) DO UPDATE SET key_name = excluded.key_name, key_version = excluded.key_version,
                        destroyed_at = excluded.destroyed_at, record_count = excluded.record_count
                    """,
                arguments: [
                    subjectIndex, receipt.key.name, Int64(receipt.key.version),
                    receipt.destroyedAt.timeIntervalSince1970, count,
                ]
            )
            return count
        }
        self.truncateWAL(after: "shredding")
        return count
    }

    /// Copies every WAL frame into the database and truncates `records.sqlite-wal` to zero bytes
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`), so that no page image of a replaced or deleted envelope is left
    /// in it. It waits for readers up to the busy timeout; if one still holds the WAL it is logged
    /// (`samd.store.wal-truncate-incomplete`) and the next replacement or shredding truncates it, the write
    /// itself stands.
    func truncateWAL(after what: String) {
        do {
            try self.database.writeWithoutTransaction { db in
                _ = try db.checkpoint(.truncate)
            }
        } catch {
            self.logger.warning(
                "WAL not truncated",
                metadata: [
                    "event": "samd.store.wal-truncate-incomplete", "after": "\(what)",
                    "reason": "\((error as? DatabaseError).map { "\($0.resultCode)" } ?? "\(type(of: error))")",
                ]
            )
        }
    }

    /// The writer connection's settings a whole-store job changes for its run (``SubjectRekeyJob``), to put back.
    struct JobConnectionSettings {
        let cacheSize: Int
        let journalSizeLimit: Int
    }

    /// Tunes the writer connection for a job that reads every row of a batch and then rewrites it: a page
    /// cache of 32 MiB (the default 2 MiB is evicted before the rows are written, and every page is read again
    /// from the database and the WAL), and a WAL that is not truncated at each reset (`journal_size_limit` -1:
    /// regrowing the file from zero on every reset made each synced commit cost more). The job truncates the
    /// WAL itself after every batch (``truncateWAL(after:)``), so no page image outlives a batch.
    /// - Returns: what ``restore(_:)`` puts back when the job ends.
    func jobConnectionSettings() throws -> JobConnectionSettings {
        do {
            return try self.database.writeWithoutTransaction { db in
                let settings = JobConnectionSettings(
                    cacheSize: try Int.fetchOne(db, sql: "PRAGMA cache_size") ?? -2000,
                    journalSizeLimit: try Int.fetchOne(db, sql: "PRAGMA journal_size_limit") ?? 0
                )
                _ = try Row.fetchOne(db, sql: "PRAGMA cache_size = -32768")
                _ = try Row.fetchOne(db, sql: "PRAGMA journal_size_limit = -1")
                return settings
            }
        } catch let error as DatabaseError {
            throw Self.storageError(error, "tuning the database connection for a job")
        }
    }

    /// Puts back the writer connection's settings after a job (``jobConnectionSettings()``); logged if it cannot.
    func restore(_ settings: JobConnectionSettings) {
        do {
            try self.database.writeWithoutTransaction { db in
                _ = try Row.fetchOne(db, sql: "PRAGMA cache_size = \(settings.cacheSize)")
                _ = try Row.fetchOne(db, sql: "PRAGMA journal_size_limit = \(settings.journalSizeLimit)")
            }
        } catch {
            self.logger.warning(
                "database connection settings not restored after a job",
                metadata: ["event": "samd.store.job-settings-not-restored"])
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

    // MARK: Internals

    struct Address {
        let subjectIndex: String
        let recordIndex: [UInt8]
    }

    /// The columns of a record row beside its envelope, checked for the types the store writes.
    struct RowColumns {
        let recordType: String
        let revision: Int64
        let createdAt: Double
        let updatedAt: Double
    }

    /// The keys that may open a patient's record: that patient's own subject key (`s-` and the subject index),
    /// never another patient's key, a KEK or a recipient key. A row naming any other key was copied or forged,
    /// whatever that key's state — another patient's shredded key must not make this patient look shredded —
    /// and fails as not authentic before any key is fetched.
    struct PatientKeyProvider: EnvelopeKeyProvider {
        let keyStore: any KeyStore
        let subjectKeyName: String

        func keyEncryptionKey(for identifier: KeyIdentifier) throws -> SecureBytes {
            guard identifier.name == self.subjectKeyName else {
                throw EnvelopeError(
                    .authenticationFailed, "the stored row is not sealed under this patient's subject key")
            }
            return try self.keyStore.keyEncryptionKey(for: identifier)
        }

        func recipientPrivateKey(for identifier: KeyIdentifier) throws -> X25519.PrivateKey {
            throw EnvelopeError(.authenticationFailed, "the stored row is not sealed under this patient's subject key")
        }
    }

    func address(subject: String, recordID: String, recordType: String?) throws -> Address {
        guard Self.isValidIdentifier(recordID) else {
            throw RecordStoreError(.invalidArgument, "a record id is \(Self.identifierRule)")
        }
        if let recordType, !Self.isValidRecordType(recordType) {
            throw RecordStoreError(
                .invalidArgument,
                "a record type is a media type without parameters, type/subtype (RFC 6838 restricted names, 3 to 127 bytes)"
            )
        }
        // The shortest record type (3 bytes, `a/b`) when reading: a record stored with it must be found.
        guard Self.addressByteCount(subject, recordID, recordType ?? "a/b") <= Self.maximumAddressByteCount else {
            throw RecordStoreError(
                .invalidArgument,
                "a subject id, record id and record type take at most \(Self.maximumAddressByteCount) bytes together (UTF-8, after NFC)"
            )
        }
        let subjectIndex = try self.subjectIndex(subject)
        do {
            let recordIndex = try self.keyStore.blindIndex(domain: "samd-store-record", [subject, recordID])
            return Address(subjectIndex: subjectIndex, recordIndex: recordIndex)
        } catch let error as EnvelopeError {
            throw Self.keyError(error)
        }
    }

    /// Bytes of an address in the encryption context: UTF-8 after NFC, as ``EncryptionContext`` counts them.
    static func addressByteCount(_ subject: String, _ recordID: String, _ recordType: String) -> Int {
        subject.precomposedStringWithCanonicalMapping.utf8.count
            + recordID.precomposedStringWithCanonicalMapping.utf8.count
            + recordType.utf8.count
    }

    func subjectIndex(_ subject: String) throws -> String {
        guard Self.isValidIdentifier(subject) else {
            throw RecordStoreError(.invalidArgument, "a subject id is \(Self.identifierRule)")
        }
        do {
            return try self.keyStore.subjectIndex(of: subject)
        } catch let error as EnvelopeError {
            throw Self.keyError(error)
        }
    }

    static func context(subject: String, recordID: String, recordType: String) throws -> EncryptionContext {
        do {
            return try EncryptionContext([("subject", subject), ("record", recordID), ("type", recordType)])
        } catch let error as EnvelopeError {
            throw RecordStoreError(
                .invalidArgument, "the record's address does not make an encryption context: \(error.reason)",
                underlying: error)
        }
    }

    /// Whether `value` is a subject or record id the store accepts: 1 to 512 bytes of UTF-8 after NFC
    /// normalisation, no control character (C0, DEL, C1), and not a dot segment (`.` or `..`, RFC 3986
    /// §3.3): an id that every HTTP client and URL library normalises away (`/records/s1/..` is `/records/`)
    /// could never be addressed again, and in a path it names another resource. The same rule for every
    /// caller: the gateway (400) and the agent (exit 64, before connecting) check ids with it.
    /// - SeeAlso: RFC 3986 §5.2.4 (remove_dot_segments)
    public static func isValidIdentifier(_ value: String) -> Bool {
        let normalised = value.precomposedStringWithCanonicalMapping
        let count = normalised.utf8.count
        return count >= 1 && count <= 512 && normalised != "." && normalised != ".."
            && !value.unicodeScalars.contains { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) }
    }

    /// What ``isValidIdentifier(_:)`` accepts, in words (error reasons; never the id itself).
    public static let identifierRule = "1 to 512 bytes of UTF-8 without control characters, and not . or .."

    /// Whether `value` is a record type the store accepts: a media type without parameters, `type/subtype`,
    /// each a restricted name of RFC 6838 §4.2 (a letter or digit, then letters, digits and
    /// `! # $ & - ^ _ . +`), 3 to 127 bytes in all. Compared exactly as given (no case folding).
    public static func isValidRecordType(_ value: String) -> Bool {
        let parts = value.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        return (3...127).contains(value.utf8.count) && parts.count == 2
            && parts.allSatisfy { part in
                part.first.map(Self.restrictedNameFirst.contains) == true
                    && part.dropFirst().allSatisfy(Self.restrictedNameRest.contains)
            }
    }

    private static let restrictedNameFirst = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
    private static let restrictedNameRest = restrictedNameFirst.union("!#$&-^_.+".utf8)

    private func commit(
        _ envelope: [UInt8], at address: Address, recordType: String, wrappingKey: KeyIdentifier,
        expectedRevision: Int64?
    ) throws -> Int64 {
        try self.writing("storing a record") { db in
            let now = Date().timeIntervalSince1970
            // Read strictly: SQLite reads a revision edited to text as 0, and the UPDATE below would then
            // match no row while the write reported success.
            var current: Int64?
            if let row = try Row.fetchOne(
                db, sql: "SELECT revision FROM record WHERE record_index = ?", arguments: [Data(address.recordIndex)])
            {
                guard let revision = Self.integer(row, "revision"), revision >= 1, revision < Int64.max else {
                    throw self.tampered("the stored row's revision is not a revision: the row was tampered with")
                }
                current = revision
            }
            if let expectedRevision, expectedRevision != (current ?? 0) {
                throw RecordStoreError(.conflict, "the record is at revision \(current ?? 0), not \(expectedRevision)")
            }
            guard let current else {
                try db.execute(
                    sql: """
                        INSERT INTO record (record_index, subject_index, record_type, envelope, wrapping_key, revision, created_at, updated_at)
                        VALUES (?, ?, ?, ?, ?, 1, ?, ?)
                        """,
                    arguments: [
                        Data(address.recordIndex), address.subjectIndex, recordType, Data(envelope), "\(wrappingKey)",
                        now, now,
                    ]
                )
                return 1
            }
            try db.execute(
                sql: """
                    UPDATE record SET record_type = ?, envelope = ?, wrapping_key = ?, revision = revision + 1, updated_at = ?
                    WHERE record_index = ? AND revision = ?
                    """,
                arguments: [recordType, Data(envelope), "\(wrappingKey)", now, Data(address.recordIndex), current]
            )
            guard db.changesCount == 1 else {
                throw RecordStoreError(.storage, "the record changed under a write transaction")
            }
            return current + 1
        }
    }

    func shredReceipt(subjectIndex: String) throws -> DestructionReceipt? {
        try self.reading("reading a shredding receipt") { db -> DestructionReceipt? in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: "SELECT key_name, key_version, destroyed_at FROM shred_receipt WHERE subject_index = ?",
                    arguments: [subjectIndex]
                )
            else { return nil }
            // An edited receipt (another patient's key, a version out of range, wrong types) is no receipt.
            guard let name = Self.text(row, "key_name"), name == "s-" + subjectIndex,
                let version = Self.integer(row, "key_version").flatMap(UInt32.init(exactly:)),
                let destroyedAt = Self.real(row, "destroyed_at"),
                let key = try? KeyIdentifier(name: name, version: version)
            else { return nil }
            return DestructionReceipt(
                key: key, destroyedAt: Date(timeIntervalSince1970: destroyedAt), subjectIndex: subjectIndex)
        }
    }

    /// The rows the subject's last shredding deleted, as its receipt row keeps them (0 when not a number).
    func shreddedRecordCount(subjectIndex: String) throws -> Int {
        try self.reading("reading a shredding receipt") { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT record_count FROM shred_receipt WHERE subject_index = ?", arguments: [subjectIndex]
                ),
                let count = Self.integer(row, "record_count"), count >= 0
            else { return 0 }
            return Int(clamping: count)
        }
    }

    /// The key store's receipt of the subject's last shredding, rebuilt from its subject key.
    func keyStoreShredReceipt(subject: String) throws -> DestructionReceipt? {
        do {
            return try self.keyStore.shredReceipt(subject: subject)
        } catch let error as EnvelopeError {
            throw Self.keyError(error)
        }
    }

    func reading<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try self.database.read(body)
        } catch let error as DatabaseError {
            throw Self.storageError(error, what)
        }
    }

    /// A read on the writer's connection, outside any write transaction (it takes no write lock). For a job
    /// that reads rows and then updates them: the writer's page cache then holds the pages the update needs
    /// (a reader's cache is dropped at every commit of the writer, and the pages are read again from the
    /// database and the WAL).
    func readingOnTheWriter<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try self.database.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.deferred) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch let error as DatabaseError {
            throw Self.storageError(error, what)
        }
    }

    /// A write transaction begun with `BEGIN IMMEDIATE`, so writers in other processes wait (up to the busy
    /// timeout) instead of failing halfway.
    /// - Parameter synchronous: how this commit is synced, whatever the store's configuration (restored
    ///   afterwards): `FULL`, the WAL fsync'd at the commit; `NORMAL`, only at the next synced commit or
    ///   checkpoint — for a job that commits many batches and makes them durable together with a `FULL`
    ///   commit before it relies on them. Within one use of the writer connection: no other write of this
    ///   process commits in between.
    func writing<T>(_ what: String, synchronous: String? = nil, _ body: (Database) throws -> T) throws -> T {
        precondition(synchronous == nil || synchronous == "FULL" || synchronous == "NORMAL")
        let configured = self.configuration.durableCommits ? "FULL" : "NORMAL"
        do {
            return try self.database.writeWithoutTransaction { db in
                if let synchronous {
                    try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
                }
                defer {
                    if synchronous != nil { try? db.execute(sql: "PRAGMA synchronous = \(configured)") }
                }
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch let error as DatabaseError {
            throw Self.storageError(error, what)
        }
    }

    static func storageError(_ error: DatabaseError, _ what: String) -> RecordStoreError {
        // The SQLite result code and message only: never the statement's arguments.
        if error.resultCode == .SQLITE_TOOBIG {
            // A value over the connection's limit (SQLITE_LIMIT_LENGTH): an edited row, refused unread.
            return RecordStoreError(.limitExceeded, "\(what): a stored value is larger than any record may be")
        }
        return RecordStoreError(
            .storage, "\(what): SQLite error \(error.resultCode.rawValue) (\(error.message ?? "no message"))")
    }

    /// Logs and returns the error for a row that is not what the store wrote.
    func tampered(_ reason: String, underlying: EnvelopeError? = nil) -> RecordStoreError {
        self.logger.warning(
            "stored record failed authentication",
            metadata: [
                "event": "samd.store.record-authentication-failed",
                "reason": "\(underlying.map { "\($0.code)" } ?? "row")",
            ]
        )
        return RecordStoreError(.authenticationFailed, reason, underlying: underlying)
    }

    /// A column of an untrusted row, only when it holds an integer.
    static func integer(_ row: Row, _ column: String) -> Int64? {
        guard case .int64(let value) = (row[column] as DatabaseValue).storage else { return nil }
        return value
    }

    /// A column of an untrusted row, only when it holds a number.
    static func real(_ row: Row, _ column: String) -> Double? {
        switch (row[column] as DatabaseValue).storage {
        case .double(let value): value
        case .int64(let value): Double(value)
        default: nil
        }
    }

    /// A column of an untrusted row, only when it holds a subject key name (`s-` and 32 lowercase hex digits):
    /// the jobs' cursors.
    static func subjectKeyName(_ row: Row, _ column: String) -> String? {
        let hex = Set("0123456789abcdef".utf8)
        guard let stored = self.text(row, column), stored.hasPrefix("s-"), stored.utf8.count == 34,
            stored.utf8.dropFirst(2).allSatisfy({ hex.contains($0) })
        else { return nil }
        return stored
    }

    /// A column of an untrusted row, only when it holds text.
    static func text(_ row: Row, _ column: String) -> String? {
        guard case .string(let value) = (row[column] as DatabaseValue).storage else { return nil }
        return value
    }

    /// Runs a key-store call, its ``SaMDEnvelope/EnvelopeError`` turned into the store's error (``keyError(_:)``):
    /// how the rotation and re-key jobs call the key store.
    static func keyCall<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as EnvelopeError {
            throw Self.keyError(error)
        }
    }

    static func keyError(_ error: EnvelopeError) -> RecordStoreError {
        switch error.code {
        case .invalidContext: RecordStoreError(.invalidArgument, error.reason, underlying: error)
        case .limitExceeded: RecordStoreError(.limitExceeded, error.reason, underlying: error)
        case .io: RecordStoreError(.storage, error.reason, underlying: error)
        default: RecordStoreError(.keyUnavailable, "\(error.code): \(error.reason)", underlying: error)
        }
    }

    /// The database must still be the regular file judged when the store was opened (same device and inode),
    /// and its `-wal` and `-shm` files, which SQLite opens itself, following links, must be private regular
    /// files when they exist.
    static func checkDatabaseFiles(_ path: String, file: (device: UInt64, inode: UInt64)) throws {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG,
            UInt64(info.st_dev) == file.device, UInt64(info.st_ino) == file.inode
        else {
            throw RecordStoreError(.storage, "\(path) was replaced since the store was opened (or is a link)")
        }
        for suffix in ["-wal", "-shm"] {
            guard lstat(path + suffix, &info) == 0 else {
                guard errno == ENOENT else {
                    throw RecordStoreError(.storage, "cannot stat \(path + suffix): errno \(errno)")
                }
                continue
            }
            guard info.st_mode & S_IFMT == S_IFREG, info.st_mode & 0o077 == 0 else {
                throw RecordStoreError(.storage, "\(path + suffix) must be a regular file of mode 0600, not a link")
            }
        }
    }

    static func preparePrivateDirectory(_ path: String) throws {
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw RecordStoreError(.storage, "cannot create \(path): errno \(errno)")
        }
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw RecordStoreError(.storage, "\(path) is not a directory")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw RecordStoreError(
                .storage,
                "the record store \(path) is accessible to others (mode \(String(info.st_mode & 0o777, radix: 8))); it must be 0700"
            )
        }
    }
}
