public import Foundation
public import Logging
public import SaMDEnvelope
public import SaMDKeys
import GRDB
import SaMDCrypto

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
/// to 512 bytes of UTF-8 without control characters (compared after NFC normalisation); record types of 1 to
/// 127 ASCII bytes of a media type (`A-Z a-z 0-9 ! # $ & ^ _ . + - /`).
///
/// Writes are SQLite transactions (`BEGIN IMMEDIATE`, WAL journal) and are safe from several threads and
/// processes; the directory is private (0700) and the database file 0600. Crypto-shredding a subject
/// (``shred(subject:)``) destroys its key; its rows then answer ``RecordStoreError/Code/shredded`` and the
/// receipt is kept. Rotating the KEK rewraps subject keys, never rows (``KeyRotationJob``). See Docs/Store.md.
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

        public init(maximumRecordByteCount: Int = 64 << 20, busyTimeout: TimeInterval = 10, payloadSuite: PayloadSuite = .cobblestone256) {
            self.maximumRecordByteCount = maximumRecordByteCount
            self.busyTimeout = busyTimeout
            self.payloadSuite = payloadSuite
        }
    }

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
    /// - Throws: ``RecordStoreError/Code/storage`` when the directory is accessible to others, is not a
    ///   directory, or the database cannot be opened or migrated.
    public init(
        directory: String,
        keyStore: any KeyStore,
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "samdkit.store")
    ) throws {
        try Self.preparePrivateDirectory(directory)
        let path = directory + "/" + Self.databaseFileName
        // Created 0600 before SQLite opens it; SQLite gives its -wal and -shm files the same mode.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw RecordStoreError(.storage, "cannot create or open \(path): errno \(errno)") }
        var info = stat()
        let statResult = fstat(fd, &info)
        close(fd)
        guard statResult == 0, info.st_mode & S_IFMT == S_IFREG, info.st_mode & 0o077 == 0 else {
            throw RecordStoreError(.storage, "\(path) must be a regular file of mode 0600")
        }
        var grdb = GRDB.Configuration()
        grdb.busyMode = .timeout(configuration.busyTimeout)
        grdb.label = "samdkit.store"
        grdb.prepareDatabase { db in
            // Deleted and overwritten content is zeroed in the file, not left in free pages.
            try db.execute(sql: "PRAGMA secure_delete = ON")
        }
        do {
            self.database = try DatabasePool(path: path, configuration: grdb)
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
        guard payload.count <= self.configuration.maximumRecordByteCount else {
            throw RecordStoreError(.limitExceeded, "a record is at most \(self.configuration.maximumRecordByteCount) bytes; this one is \(payload.count)")
        }
        // A shredding or rotation between sealing and committing makes the key store refuse the commit
        // (keyNotUsable): the record is sealed again under the subject's current key. Bounded.
        var attempt = 0
        while true {
            attempt += 1
            do {
                let key = try self.keyStore.subjectSealingKey(subject: subject)
                let envelope = try Envelope.seal(payload, context: address.context, to: key, suite: self.configuration.payloadSuite)
                let revision = try self.keyStore.whileSealingKeyIsCurrent(key.identifier) {
                    try self.commit(envelope, at: address, wrappingKey: key.identifier, expectedRevision: expectedRevision)
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
        let found: (row: Row, envelope: [UInt8])? = try self.reading("reading a record") { db in
            guard let row = try Row.fetchOne(
                db,
                sql: "SELECT record_type, revision, created_at, updated_at, length(envelope) AS size FROM record WHERE record_index = ?",
                arguments: [Data(address.recordIndex)]
            ) else { return nil }
            let size: Int = row["size"]
            // Bounded before the blob is read: the database is not trusted to be the one we wrote.
            guard size <= limit else {
                throw RecordStoreError(.limitExceeded, "a stored row holds \(size) bytes, more than any record of at most \(self.configuration.maximumRecordByteCount) bytes")
            }
            let envelope = try Data.fetchOne(db, sql: "SELECT envelope FROM record WHERE record_index = ?", arguments: [Data(address.recordIndex)])
            return (row, Array(envelope ?? Data()))
        }
        guard let found else {
            if let receipt = try self.shredReceipt(subjectIndex: address.subjectIndex) {
                throw RecordStoreError(.shredded, "the subject was crypto-shredded", receipt: receipt)
            }
            throw RecordStoreError(.notFound, "no record at this address")
        }
        let recordType: String = found.row["record_type"]
        guard Self.isValidRecordType(recordType) else {
            throw RecordStoreError(.authenticationFailed, "the stored row's record type is not a media type: the row was tampered with")
        }
        let context = try Self.context(subject: subject, recordID: recordID, recordType: recordType)
        do {
            let payload = try Envelope.open(found.envelope, context: context, keys: self.keyStore)
            return StoredRecord(
                recordType: recordType,
                payload: payload,
                revision: found.row["revision"],
                createdAt: Date(timeIntervalSince1970: found.row["created_at"]),
                updatedAt: Date(timeIntervalSince1970: found.row["updated_at"])
            )
        } catch let error as EnvelopeError {
            switch error.code {
            case .keyDestroyed:
                throw RecordStoreError(.shredded, "the subject was crypto-shredded", underlying: error, receipt: try? self.shredReceipt(subjectIndex: address.subjectIndex))
            case .authenticationFailed, .truncated, .malformed, .unsupportedVersion, .unsupportedSuite, .limitExceeded:
                self.logger.warning(
                    "stored record failed authentication",
                    metadata: ["event": "samd.store.record-authentication-failed", "reason": "\(error.code)"]
                )
                throw RecordStoreError(.authenticationFailed, "the stored row does not open under this address: tampered with or copied from another record", underlying: error)
            default:
                throw Self.keyError(error)
            }
        }
    }

    /// Crypto-shreds `subject`: destroys its key in the key store, so each of its records answers
    /// ``RecordStoreError/Code/shredded`` from then on, and keeps the receipt in the database. Shredding a
    /// subject again returns the receipt kept the first time. Records stored for the subject afterwards are
    /// sealed under a new subject key.
    /// - Throws: ``RecordStoreError/Code/notFound`` when the subject has no key and no receipt;
    ///   ``RecordStoreError/Code/keyUnavailable``; ``RecordStoreError/Code/storage``.
    public func shred(subject: String) throws -> ShredReceipt {
        let subjectIndex = try self.subjectIndex(subject)
        let receipt: DestructionReceipt
        do {
            receipt = try self.keyStore.shred(subject: subject)
        } catch let error as EnvelopeError where error.code == .keyNotFound {
            if let kept = try self.shredReceipt(subjectIndex: subjectIndex) {
                return ShredReceipt(receipt: kept, recordCount: try self.recordCount(subjectIndex: subjectIndex))
            }
            throw RecordStoreError(.notFound, "the subject has no key to shred")
        } catch let error as EnvelopeError {
            throw Self.keyError(error)
        }
        let count = try self.writing("keeping a shredding receipt") { db in
            try db.execute(
                sql: """
                    INSERT INTO shred_receipt (subject_index, key_name, key_version, destroyed_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (subject_index) DO UPDATE SET key_name = excluded.key_name, key_version = excluded.key_version,
                        destroyed_at = excluded.destroyed_at
                    """,
                arguments: [subjectIndex, receipt.key.name, Int64(receipt.key.version), receipt.destroyedAt.timeIntervalSince1970]
            )
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM record WHERE subject_index = ?", arguments: [subjectIndex]) ?? 0
        }
        self.logger.notice(
            "subject records shredded",
            metadata: ["event": "samd.store.subject-shredded", "key": "\(receipt.key)", "records": "\(count)"]
        )
        return ShredReceipt(receipt: receipt, recordCount: count)
    }

    /// Counts of what the store holds; no identifier.
    public func statistics() throws -> RecordStoreStatistics {
        try self.reading("counting records") { db in
            let row = try Row.fetchOne(
                db,
                sql: "SELECT count(*) AS records, count(DISTINCT subject_index) AS subjects, coalesce(sum(length(envelope)), 0) AS bytes FROM record"
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
        let recordType: String
        let context: EncryptionContext
    }

    func address(subject: String, recordID: String, recordType: String?) throws -> Address {
        guard Self.isValidIdentifier(recordID) else {
            throw RecordStoreError(.invalidArgument, "a record id is 1 to 512 bytes of UTF-8 without control characters")
        }
        if let recordType, !Self.isValidRecordType(recordType) {
            throw RecordStoreError(.invalidArgument, "a record type is 1 to 127 bytes of a media type (A-Z a-z 0-9 ! # $ & ^ _ . + - /)")
        }
        let subjectIndex = try self.subjectIndex(subject)
        do {
            let recordIndex = try self.keyStore.blindIndex(domain: "samd-store-record", [subject, recordID])
            let type = recordType ?? "application/octet-stream"
            let context = try Self.context(subject: subject, recordID: recordID, recordType: type)
            return Address(subjectIndex: subjectIndex, recordIndex: recordIndex, recordType: type, context: context)
        } catch let error as EnvelopeError {
            throw Self.keyError(error)
        }
    }

    func subjectIndex(_ subject: String) throws -> String {
        guard Self.isValidIdentifier(subject) else {
            throw RecordStoreError(.invalidArgument, "a subject id is 1 to 512 bytes of UTF-8 without control characters")
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
            throw RecordStoreError(.invalidArgument, "the record's address does not make an encryption context: \(error.reason)", underlying: error)
        }
    }

    static func isValidIdentifier(_ value: String) -> Bool {
        let count = value.precomposedStringWithCanonicalMapping.utf8.count
        return count >= 1 && count <= 512 && !value.unicodeScalars.contains { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) }
    }

    static func isValidRecordType(_ value: String) -> Bool {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&^_.+-/".utf8)
        return (1...127).contains(value.utf8.count) && value.utf8.allSatisfy { allowed.contains($0) }
    }

    private func commit(_ envelope: [UInt8], at address: Address, wrappingKey: KeyIdentifier, expectedRevision: Int64?) throws -> Int64 {
        try self.writing("storing a record") { db in
            let now = Date().timeIntervalSince1970
            let current = try Int64.fetchOne(db, sql: "SELECT revision FROM record WHERE record_index = ?", arguments: [Data(address.recordIndex)])
            if let expectedRevision, expectedRevision != (current ?? 0) {
                throw RecordStoreError(.conflict, "the record is at revision \(current ?? 0), not \(expectedRevision)")
            }
            guard let current else {
                try db.execute(
                    sql: """
                        INSERT INTO record (record_index, subject_index, record_type, envelope, wrapping_key, revision, created_at, updated_at)
                        VALUES (?, ?, ?, ?, ?, 1, ?, ?)
                        """,
                    arguments: [Data(address.recordIndex), address.subjectIndex, address.recordType, Data(envelope), "\(wrappingKey)", now, now]
                )
                return 1
            }
            try db.execute(
                sql: """
                    UPDATE record SET record_type = ?, envelope = ?, wrapping_key = ?, revision = revision + 1, updated_at = ?
                    WHERE record_index = ? AND revision = ?
                    """,
                arguments: [address.recordType, Data(envelope), "\(wrappingKey)", now, Data(address.recordIndex), current]
            )
            return current + 1
        }
    }

    func shredReceipt(subjectIndex: String) throws -> DestructionReceipt? {
        try self.reading("reading a shredding receipt") { db -> DestructionReceipt? in
            guard let row = try Row.fetchOne(
                db,
                sql: "SELECT key_name, key_version, destroyed_at FROM shred_receipt WHERE subject_index = ?",
                arguments: [subjectIndex]
            ) else { return nil }
            let version: Int64 = row["key_version"]
            guard let key = try? KeyIdentifier(name: row["key_name"], version: UInt32(clamping: version)) else { return nil }
            return DestructionReceipt(key: key, destroyedAt: Date(timeIntervalSince1970: row["destroyed_at"]), subjectIndex: subjectIndex)
        }
    }

    func recordCount(subjectIndex: String) throws -> Int {
        try self.reading("counting records") { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM record WHERE subject_index = ?", arguments: [subjectIndex]) ?? 0
        }
    }

    func reading<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try self.database.read(body)
        } catch let error as DatabaseError {
            throw Self.storageError(error, what)
        }
    }

    /// A write transaction begun with `BEGIN IMMEDIATE`, so writers in other processes wait (up to the busy
    /// timeout) instead of failing halfway.
    func writing<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try self.database.writeWithoutTransaction { db in
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
        RecordStoreError(.storage, "\(what): SQLite error \(error.resultCode.rawValue) (\(error.message ?? "no message"))")
    }

    static func keyError(_ error: EnvelopeError) -> RecordStoreError {
        switch error.code {
        case .invalidContext: RecordStoreError(.invalidArgument, error.reason, underlying: error)
        case .limitExceeded: RecordStoreError(.limitExceeded, error.reason, underlying: error)
        case .io: RecordStoreError(.storage, error.reason, underlying: error)
        default: RecordStoreError(.keyUnavailable, "\(error.code): \(error.reason)", underlying: error)
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
            throw RecordStoreError(.storage, "the record store \(path) is accessible to others (mode \(String(info.st_mode & 0o777, radix: 8))); it must be 0700")
        }
    }
}
