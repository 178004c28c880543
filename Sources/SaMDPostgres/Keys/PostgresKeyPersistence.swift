import Foundation
public import Logging
import NIOCore
import PostgresNIO
import SaMDEnvelope
public import SaMDKeys
import Synchronization

/// A `KeyMetadataPersistence` in PostgreSQL, so that several instances of a service over one database see the
/// same KEK metadata, subject keys and destruction receipts at once. `FileKeyStore` runs on it unchanged
/// (``PostgresKeyStore`` makes one); the KEKs themselves must be in an HSM (`PKCS11Custody`), which every
/// instance reaches.
///
/// ## Tables
///
/// Made by the first instance that starts (in one transaction under `pg_advisory_xact_lock`, so instances
/// starting together do not race; the version, ``schemaVersion``, is recorded in `samd_schema_version` as
/// component `keys`; a database recording a newer version is refused with ``PostgresStoreError/Code/schema``):
/// ```sql
/// CREATE SEQUENCE IF NOT EXISTS samd_key_generation;
/// CREATE TABLE IF NOT EXISTS samd_key_metadata (id integer PRIMARY KEY CHECK (id = 1),
///     document bytea NOT NULL, generation bigint NOT NULL);
/// CREATE TABLE IF NOT EXISTS samd_subject_key (name text PRIMARY KEY CHECK (name ~ '^s-[0-9a-f]{32}$'),
///     document bytea NOT NULL, generation bigint NOT NULL);
/// CREATE TABLE IF NOT EXISTS samd_key_receipt (name text PRIMARY KEY, document bytea NOT NULL);
/// ```
/// (<doc:PostgresFormat> quotes them exactly and gives every column byte by byte.)
/// The documents are the bytes `FileKeyStore` encodes (KeyStoreFormat.md: `keystore.json`'s document, a subject
/// file, a receipt), never interpreted here. Every write of the metadata or of subject records is one statement
/// (one transaction) that sets `generation = nextval('samd_key_generation')` — taken after the row is locked, so
/// a row's generation only grows, and never reused, also after a delete — and notifies the channel `samd_keys`
/// in the same transaction: `m:<generation>` for the metadata, `s:<name>:<generation>` for a subject (entries
/// separated by a space, up to 100 subjects per notification, under PostgreSQL's 8 000 bytes). A revision
/// (`MetadataRevision`) is `[generation]`.
///
/// ## Revisions without a round trip
///
/// `metadataRevision()` and `subjectRevision(named:)` are asked without a lock at every use of the data path.
/// They are answered from a *mirror* of generations in this process (the metadata's, and up to `mirrorCapacity`
/// subjects', emptied when full), filled by this process's reads and writes and kept current by a listener, a
/// connection of its own (not the pool's) running `LISTEN samd_keys`: a notification makes the mirror forget what
/// it names (a generation is never taken from one), so that the next use reads it again. While
/// the listener is not listening — at start, after its connection was lost, while it connects again (back-off up
/// to 5 s) — the mirror is emptied and not trusted: these two methods ask the database (one round trip), and
/// answer `nil` when it cannot be reached (so `FileKeyStore` does not cache). Once the listener is back, entries
/// are filled again by reads.
///
/// The window: a change committed by another instance is seen here once its notification arrives (milliseconds
/// on a LAN), and never later than the subject-key cache's time to live (a `SubjectKeyCache` entry expires and is
/// unwrapped again from the row as read then). A connection that dies silently is found by the listener's
/// heartbeat within 10 s, and the mirror is not trusted from then on. Under a lock just taken, the revision
/// answered is the database's: every lock reads what it protects (the metadata's generation for the store lock,
/// the subject's for a subject lock) right after it is had, in a second statement on the lock's session — not in
/// the statement that takes the lock, whose snapshot is taken before the wait (measured: a
/// `SELECT pg_advisory_lock(…), (SELECT generation …)` that waited returns the generation from before the
/// holder's write). The record store's commit re-checks the subject key's generation in its own transaction:
/// see the record store.
///
/// Measured (`PostgresKeyPersistenceTests`, debug build, TLS on loopback, 2 cores): with a subject key cached,
/// `subjectSealingKey(subject:)` and opening a record send no statement; `whileSealingKeyIsCurrent(_:_:)` sends 3
/// (the subject's lock tried, its generation read, the lock released in the background), 2.2 ms a call on an
/// idle machine.
///
/// ## Locks
///
/// PostgreSQL session-level advisory locks, two-int form: classid ``lockClass`` (0x53414D4B, ASCII `SAMK`,
/// SaMDKit's key store), objid 0 for the store lock, and for a subject lock 1 … 2³¹−1 taken from the first 8 hex
/// digits of the subject key's name (two subjects sharing one only wait for each other — and in a re-key batch,
/// which holds both, the second waits for the lock timeout and is left to the job's next run). Shared is
/// `pg_advisory_lock_shared`, exclusive `pg_advisory_lock`; a lock not had within ``lockTimeout`` (PostgreSQL's
/// `lock_timeout`, set for that statement) throws `EnvelopeError.Code.keyUnavailable`. Locks are held on
/// connections leased from the pool for as long as they are held, several on one connection (never one key for
/// two holders, and never while that connection waits for a lock: a wait has a connection of its own); a
/// connection goes back to the pool once it holds none. A process that is killed, or loses its connection,
/// loses its locks with its sessions: PostgreSQL releases them. A holder whose lock's connection is lost is not
/// told until it releases the lock (`samd.postgres.keys-lock-session-lost` is logged): what it writes meanwhile
/// is no longer excluded from other writers.
///
/// ## Shredding and what PostgreSQL keeps
///
/// `eraseLeftovers(ofSubject:)` has nothing to erase: a write is one transaction, which leaves no temporary
/// behind. But PostgreSQL keeps what it overwrote: after a subject is shredded, the wrapped subject key it held
/// stays in the table's old row version (a dead tuple) until VACUUM makes the space reusable and a later write
/// reuses it; in the write-ahead log until its segment is recycled (and in every WAL archive); on standbys; and in
/// every backup taken before. That is harmless only while the key stays wrapped under a KEK in the HSM, which
/// none of those copies holds: to make a shredding final against them, rotate the KEK (which rewraps every live
/// subject key under the new version) and destroy the old version in the HSM — then every old copy of the
/// shredded key, wherever it lies, is wrapped under a key that no longer exists. (A passphrase custody, whose
/// KEK material would sit in the same database and its backups, is refused for this reason: see
/// ``PostgresKeyStore``.)
///
/// ## Errors
///
/// `EnvelopeError`s: the database unreachable or lost → `storeUnavailable`, a lock not had → `keyUnavailable` (both
/// retryable); a row that
/// is not what SaMDKit writes, a document over its bound (checked in SQL with `octet_length` before it is
/// transferred), no metadata row → `keyStore`; any other failure → `io`. No error or log carries a document's
/// bytes. A revision that finds the database unavailable answers `nil`, and the key store's next read on that
/// thread fails at once with that error rather than waiting for a connection again: with the database down, an
/// operation fails within the pool's lease timeout.
///
/// The methods of `KeyMetadataPersistence` block their thread on the pool: call them (through `FileKeyStore`)
/// from threads that may block — never an event loop or Swift's cooperative pool.
public final class PostgresKeyPersistence: KeyMetadataPersistence {
    /// The version of the tables above this program makes and reads.
    public static let schemaVersion = 1
    /// The classid of the key store's advisory locks: 0x53414D4B (ASCII `SAMK`).
    public static let lockClass: Int32 = AdvisoryLockSessions.keyStoreClass
    /// The default bound of the mirror: 10 000 subjects (about 1 MB).
    public static let defaultMirrorCapacity = 10_000

    /// What this persistence did, for metrics and tests.
    public struct Statistics: Sendable, Equatable {
        /// Statements sent to PostgreSQL (each one round trip), locks' included, the listener's not.
        public var statements: Int
        /// Revisions answered from the mirror, without a round trip.
        public var revisionsFromMirror: Int
        /// Revisions answered by the database (the mirror did not know them, or was not trusted).
        public var revisionsFromDatabase: Int
        /// How many times the listener started listening (1 after a start without a loss).
        public var listenerStarts: Int
    }

    /// The pool every statement runs on (the caller's; not closed by ``close()``).
    public let pool: PostgresConnectionPool
    public let lockTimeout: Duration
    let mirror: KeyGenerationMirror
    let listener: KeyNotificationListener
    let locks: AdvisoryLockSessions
    let logger: Logger
    private let counters = Counters()
    private let unavailable = RecentUnavailability()

    /// The database's URL without anything secret (`postgresql://role@host:port/database`).
    public var location: String { self.pool.location.description }

    /// Whether the listener listens now: revisions are answered from the mirror.
    public var isListening: Bool { self.mirror.isListening }

    /// Counts so far.
    public var statistics: Statistics {
        Statistics(
            statements: self.counters.statements.load(ordering: .relaxed) + self.locks.statements,
            revisionsFromMirror: self.counters.fromMirror.load(ordering: .relaxed),
            revisionsFromDatabase: self.counters.fromDatabase.load(ordering: .relaxed),
            listenerStarts: self.listener.listeningStarts)
    }

    /// Makes or checks the tables, then starts the listener and waits for its first attempt (a listener that
    /// cannot listen yet keeps trying in the background; revisions are read from the database meanwhile).
    /// - Parameters:
    ///   - pool: the pool statements and locks run on; its connector also makes the listener's connection.
    ///   - lockTimeout: how long a lock is waited for (5 s, `FileKeyStore.defaultLockTimeout`, by default).
    ///   - mirrorCapacity: how many subjects' generations the mirror holds at most.
    ///   - logger: where the listener's and the locks' events go (`samd.postgres.keys-*`).
    /// - Throws: ``PostgresStoreError``: ``PostgresStoreError/Code/schema`` when the database's tables are newer
    ///   than this program; ``PostgresStoreError/Code/unavailable`` when it cannot be reached; the pool's errors.
    public init(
        pool: PostgresConnectionPool,
        lockTimeout: Duration = FileKeyStore.defaultLockTimeout,
        mirrorCapacity: Int = PostgresKeyPersistence.defaultMirrorCapacity,
        logger: Logger = Logger(label: "samdkit.keys")
    ) async throws {
        try await pool.withConnection { connection in
            try await PostgresSchema.migrate(
                component: "keys", steps: Self.schemaSteps, on: connection, logger: logger)
        }
        self.pool = pool
        self.lockTimeout = lockTimeout
        self.logger = logger
        self.mirror = KeyGenerationMirror(capacity: mirrorCapacity)
        self.locks = AdvisoryLockSessions(pool: pool, timeout: lockTimeout, logger: logger)
        self.listener = KeyNotificationListener(connector: pool.connector, mirror: self.mirror, logger: logger)
        _ = await self.listener.waitForFirstAttempt()
    }

    /// Waits, at most 5 s, for the unlocks of locks just released to reach the server, then stops the listener
    /// (and closes its connection). The pool stays open; locks still held are released as their holders release
    /// them.
    public func close() async {
        await self.locks.settle()
        await self.listener.stop()
    }

    /// The statements of each schema version (``PostgresSchema``): version 1.
    static let schemaSteps: [[String]] = [
        [
            "CREATE SEQUENCE IF NOT EXISTS samd_key_generation",
            """
            CREATE TABLE IF NOT EXISTS samd_key_metadata (id integer PRIMARY KEY CHECK (id = 1), \
            document bytea NOT NULL, generation bigint NOT NULL)
            """,
            """
            CREATE TABLE IF NOT EXISTS samd_subject_key (name text PRIMARY KEY CHECK (name ~ '^s-[0-9a-f]{32}$'), \
            document bytea NOT NULL, generation bigint NOT NULL)
            """,
            "CREATE TABLE IF NOT EXISTS samd_key_receipt (name text PRIMARY KEY, document bytea NOT NULL)",
        ]
    ]

    // MARK: Metadata

    public func create(metadata document: [UInt8]) throws {
        let lock = try self.lockStore(.exclusive)
        defer { withExtendedLifetime(lock) {} }
        let bytes = ByteBuffer(bytes: document)
        let ticket = self.mirror.ticket()
        let generation = try self.database("create the key store") { connection in
            try await Self.firstValue(
                Int64.self,
                connection.query(
                    """
                    WITH written AS (
                        INSERT INTO samd_key_metadata (id, document, generation)
                        VALUES (1, \(bytes), nextval('samd_key_generation'))
                        ON CONFLICT (id) DO NOTHING RETURNING generation),
                    notified AS MATERIALIZED (SELECT pg_notify('samd_keys', 'm:' || generation) FROM written)
                    SELECT generation, (SELECT count(*) FROM notified) FROM written
                    """, logger: self.logger))
        }
        guard let generation else {
            throw EnvelopeError(.keyStore, "\(self.location) already holds a key store")
        }
        self.mirror.fillMetadata(generation, ticket: ticket)
    }

    public func readMetadata(maximumByteCount: Int) throws -> (document: [UInt8], revision: MetadataRevision?) {
        let ticket = self.mirror.ticket()
        let row = try self.database("read the key store's metadata") { connection in
            try await Self.boundedDocument(
                connection.query(
                    """
                    SELECT octet_length(document), \
                    CASE WHEN octet_length(document) <= \(Int64(maximumByteCount)) THEN document END, generation \
                    FROM samd_key_metadata WHERE id = 1
                    """, logger: self.logger))
        }
        guard let row else { throw EnvelopeError(.keyStore, "no key store in \(self.location)") }
        self.mirror.fillMetadata(row.generation, ticket: ticket)
        guard let document = row.document else {
            throw EnvelopeError(
                .keyStore,
                "the key store's metadata in \(self.location) is \(row.byteCount) bytes, over the limit of \(maximumByteCount)"
            )
        }
        return (document, MetadataRevision([row.generation]))
    }

    public func metadataRevision() -> MetadataRevision? {
        self.mirroredRevision(
            self.mirror.lookupMetadata(), "read the key store's revision",
            fill: { self.mirror.fillMetadata($0, ticket: $1) }
        ) { connection in
            try await Self.firstValue(
                Int64.self,
                connection.query("SELECT generation FROM samd_key_metadata WHERE id = 1", logger: self.logger))
        }
    }

    public func writeMetadata(_ document: [UInt8]) throws -> MetadataRevision? {
        let bytes = ByteBuffer(bytes: document)
        let ticket = self.mirror.ticket()
        let generation = try self.database("write the key store's metadata") { connection in
            try await Self.firstValue(
                Int64.self,
                connection.query(
                    """
                    WITH written AS (
                        UPDATE samd_key_metadata SET document = \(bytes), generation = nextval('samd_key_generation')
                        WHERE id = 1 RETURNING generation),
                    notified AS MATERIALIZED (SELECT pg_notify('samd_keys', 'm:' || generation) FROM written)
                    SELECT generation, (SELECT count(*) FROM notified) FROM written
                    """, logger: self.logger))
        }
        guard let generation else { throw EnvelopeError(.keyStore, "no key store in \(self.location)") }
        self.mirror.fillMetadata(generation, ticket: ticket)
        return MetadataRevision([generation])
    }

    // MARK: Locks

    public func lockStore(_ mode: KeyStoreLockMode) throws -> any KeyStoreLock {
        try self.locks.acquire(0, mode, what: "the key store's lock") { connection in
            let ticket = self.mirror.ticket()
            let generation = try await Self.firstValue(
                Int64.self,
                connection.query("SELECT generation FROM samd_key_metadata WHERE id = 1", logger: self.logger))
            self.mirror.fillMetadata(generation ?? 0, ticket: ticket)
        }
    }

    public func lockSubject(named name: String, _ mode: KeyStoreLockMode) throws -> any KeyStoreLock {
        try Self.checkSubjectName(name)
        return try self.locks.acquire(Self.lockObject(ofSubject: name), mode, what: "the lock of \(name)") {
            connection in
            let ticket = self.mirror.ticket()
            let generation = try await Self.firstValue(
                Int64.self,
                connection.query("SELECT generation FROM samd_subject_key WHERE name = \(name)", logger: self.logger))
            self.mirror.fillSubject(name, generation ?? 0, ticket: ticket)
        }
    }

    /// The objid of subject `name`'s lock: its first 8 hex digits, as 1 … 2³¹−1 (0 is the store lock).
    static func lockObject(ofSubject name: String) -> Int32 {
        let value = UInt32(name.dropFirst(2).prefix(8), radix: 16) ?? 0
        return Int32(1 + value % 0x7FFF_FFFF)
    }

    // MARK: Subjects

    public func subjectRevision(named name: String) -> MetadataRevision? {
        guard Self.isSubjectName(name[...]) else { return nil }
        return self.mirroredRevision(
            self.mirror.lookupSubject(name), "read a subject key's revision",
            fill: { self.mirror.fillSubject(name, $0, ticket: $1) }
        ) { connection in
            try await Self.firstValue(
                Int64.self,
                connection.query("SELECT generation FROM samd_subject_key WHERE name = \(name)", logger: self.logger))
        }
    }

    public func subjectNames() throws -> [String] {
        try self.database("list the subject keys") { connection in
            var names: [String] = []
            do {
                for try await name in try await connection.query(
                    "SELECT name FROM samd_subject_key ORDER BY name", logger: self.logger
                ).decode(String.self) {
                    names.append(name)
                }
            } catch is PostgresDecodingError {
                throw Self.damaged("samd_subject_key")
            }
            return names
        }
    }

    public func readSubject(named name: String, maximumByteCount: Int) throws -> [UInt8]? {
        try Self.checkSubjectName(name)
        let ticket = self.mirror.ticket()
        let row = try self.database("read a subject key") { connection in
            try await Self.boundedDocument(
                connection.query(
                    """
                    SELECT octet_length(document), \
                    CASE WHEN octet_length(document) <= \(Int64(maximumByteCount)) THEN document END, generation \
                    FROM samd_subject_key WHERE name = \(name)
                    """, logger: self.logger))
        }
        self.mirror.fillSubject(name, row?.generation ?? 0, ticket: ticket)
        guard let row else { return nil }
        guard let document = row.document else {
            throw EnvelopeError(
                .keyStore,
                "subject key \(name) in \(self.location) is \(row.byteCount) bytes, over the limit of \(maximumByteCount)"
            )
        }
        return document
    }

    /// All in one statement — one transaction — with their notifications.
    public func writeSubjects(_ records: [(name: String, document: [UInt8])]) throws {
        // The last record of a name wins (one statement cannot update a row twice).
        var latest: [String: [UInt8]] = [:]
        for record in records {
            try Self.checkSubjectName(record.name)
            latest[record.name] = record.document
        }
        guard !latest.isEmpty else { return }
        let names = latest.keys.sorted()
        let documents = names.map { ByteBuffer(bytes: latest[$0]!) }
        let ticket = self.mirror.ticket()
        let written = try self.database("write subject keys") { connection in
            var written: [(String, Int64)] = []
            do {
                for try await row in try await connection.query(
                    """
                    WITH written AS (
                        INSERT INTO samd_subject_key AS s (name, document, generation)
                        SELECT r.name, r.document, nextval('samd_key_generation')
                        FROM unnest(\(names)::text[], \(documents)::bytea[]) AS r(name, document)
                        ON CONFLICT (name) DO UPDATE
                        SET document = EXCLUDED.document, generation = nextval('samd_key_generation')
                        RETURNING s.name, s.generation),
                    notified AS MATERIALIZED (
                        SELECT pg_notify('samd_keys', string_agg('s:' || name || ':' || generation, ' ' ORDER BY name))
                        FROM (SELECT name, generation,
                            (row_number() OVER (ORDER BY name) - 1) / \(KeyNotification.subjectsPerNotification) AS part
                            FROM written) numbered
                        GROUP BY part)
                    SELECT name, generation, (SELECT count(*) FROM notified) FROM written
                    """, logger: self.logger
                ).decode((String, Int64).self) {
                    written.append(row)
                }
            } catch is PostgresDecodingError {
                throw Self.damaged("samd_subject_key")
            }
            return written
        }
        for (name, generation) in written {
            self.mirror.fillSubject(name, generation, ticket: ticket)
        }
    }

    /// Nothing to erase: a write is one transaction and leaves no temporary. What PostgreSQL itself keeps of the
    /// overwritten row (dead tuples, WAL, backups) is in the type's documentation, "Shredding and what PostgreSQL
    /// keeps".
    public func eraseLeftovers(ofSubject name: String) {}

    /// All in one statement — one transaction; a name already kept keeps its first document.
    public func keepReceipts(_ receipts: [(name: String, document: [UInt8])]) throws {
        guard !receipts.isEmpty else { return }
        let names = receipts.map(\.name)
        let documents = receipts.map { ByteBuffer(bytes: $0.document) }
        try self.database("keep destruction receipts") { connection in
            try await connection.query(
                """
                INSERT INTO samd_key_receipt (name, document)
                SELECT * FROM unnest(\(names)::text[], \(documents)::bytea[])
                ON CONFLICT (name) DO NOTHING
                """, logger: self.logger
            ).drain()
        }
    }

    // MARK: Internals

    /// Whether `name` is a subject key's name: `s-` and 32 lowercase hex digits (what the table's CHECK allows).
    static func isSubjectName(_ name: Substring) -> Bool {
        name.utf8.count == 34 && name.hasPrefix("s-")
            && name.utf8.dropFirst(2).allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    static func checkSubjectName(_ name: String) throws {
        guard Self.isSubjectName(name[...]) else {
            throw EnvelopeError(.keyStore, "a subject key's name is s- and 32 lowercase hex digits")
        }
    }

    /// Runs `body` on a connection of the pool, blocking this thread; errors as `EnvelopeError`s.
    private func database<T: Sendable>(
        _ action: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) throws -> T {
        if let unavailable = self.unavailable.take() { throw unavailable }
        self.counters.statements.add(1, ordering: .relaxed)
        do {
            return try self.pool.blockingWithConnection(body)
        } catch {
            throw Self.envelopeError(error, doing: action, location: self.location)
        }
    }

    /// ``database(_:_:)`` for a revision, which cannot throw: `nil` when the database cannot be read. When it is
    /// unavailable, the key store's next read on this thread (it reads the document next) fails at once with the
    /// same error rather than waiting for a connection again: an operation waits at most one lease timeout.
    /// A revision (a generation; `nil` for no row): the mirror's when it knows it, otherwise read by `query`
    /// and remembered under the lookup's ticket (`fill`: generation 0 for no row). `nil` too when the database
    /// cannot tell (unavailable), so that the caller's cache is not trusted.
    private func mirroredRevision(
        _ lookup: KeyGenerationMirror.Lookup, _ action: String, fill: (Int64, KeyGenerationMirror.Ticket?) -> Void,
        query: @escaping @Sendable (PostgresConnection) async throws -> Int64?
    ) -> MetadataRevision? {
        let ticket: KeyGenerationMirror.Ticket?
        switch lookup {
        case .known(let generation):
            self.counters.fromMirror.add(1, ordering: .relaxed)
            return generation > 0 ? MetadataRevision([generation]) : nil
        case .unknown(let unknown):
            ticket = unknown
        }
        self.counters.fromDatabase.add(1, ordering: .relaxed)
        guard case .some(let generation) = self.revision(action, query) else { return nil }
        fill(generation ?? 0, ticket)
        return generation.map { MetadataRevision([$0]) }
    }

    private func revision(
        _ action: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> Int64?
    ) -> Int64?? {
        do {
            return .some(try self.database(action, body))
        } catch let error as EnvelopeError {
            if error.code == .storeUnavailable {
                self.unavailable.keep(error, for: self.pool.configuration.leaseTimeout)
            }
            return nil
        } catch {
            return nil
        }
    }

    /// The first column of the first row, if any.
    private static func firstValue<T: PostgresDecodable & Sendable>(
        _ type: T.Type, _ rows: PostgresRowSequence
    ) async throws -> T? {
        var first: T?
        do {
            for try await row in rows where first == nil {
                first = try row.decode(T.self)
            }
        } catch is PostgresDecodingError {
            throw Self.damaged("a key-store table")
        }
        return first
    }

    /// A document read with its length first (`octet_length(document)`, the document or `NULL` when over the
    /// bound, `generation`).
    private struct BoundedDocument: Sendable {
        var byteCount: Int
        var document: [UInt8]?
        var generation: Int64
    }

    private static func boundedDocument(_ rows: PostgresRowSequence) async throws -> BoundedDocument? {
        var result: BoundedDocument?
        do {
            for try await (byteCount, document, generation) in rows.decode(
                (Int, ByteBuffer?, Int64).self)
            where result == nil {
                result = BoundedDocument(
                    byteCount: byteCount, document: document.map { Array($0.readableBytesView) },
                    generation: generation)
            }
        } catch is PostgresDecodingError {
            throw Self.damaged("a key-store table")
        }
        return result
    }

    /// A row that is not what SaMDKit writes (``PostgresStoreError/Code/query`` without a SQLSTATE); the cell's
    /// bytes are never repeated.
    private static func damaged(_ table: String) -> PostgresStoreError {
        PostgresStoreError(.query, "a row of \(table) is not what SaMDKit writes")
    }

    /// PostgreSQL's and the pool's errors as the key store's.
    static func envelopeError(_ error: any Error, doing action: String, location: String) -> EnvelopeError {
        if let error = error as? EnvelopeError { return error }
        let error = PostgresStoreError(error)
        switch error.code {
        case .unavailable:
            return EnvelopeError(
                .storeUnavailable, "cannot \(action): the key store in \(location) is not available (\(error.reason))")
        case .query where error.sqlState == nil:
            return EnvelopeError(.keyStore, "cannot \(action) in \(location): \(error.reason)")
        case .query where ["55P03", "57014", "40001", "40P01"].contains(error.sqlState ?? ""):
            // lock_not_available, query_canceled (statement timeout), serialization failure, deadlock: retryable.
            return EnvelopeError(
                .keyUnavailable, "cannot \(action) in \(location) now (SQLSTATE \(error.sqlState ?? "")); try again")
        case .schema:
            return EnvelopeError(.keyStore, "cannot \(action) in \(location): \(error.reason)")
        default:
            return EnvelopeError(.io, "cannot \(action) in \(location): \(error.code): \(error.reason)")
        }
    }

    /// The last unavailability a revision read swallowed, per thread, until that thread's next statement or the
    /// lease timeout (a thread ending with one pending leaves it to expire).
    private final class RecentUnavailability: Sendable {
        private let entries = Mutex<[ObjectIdentifier: (until: ContinuousClock.Instant, error: EnvelopeError)]>([:])

        func keep(_ error: EnvelopeError, for window: Duration) {
            let now = ContinuousClock.now
            self.entries.withLock { entries in
                entries = entries.filter { $0.value.until > now }
                entries[ObjectIdentifier(Thread.current)] = (now + window, error)
            }
        }

        func take() -> EnvelopeError? {
            self.entries.withLock { entries in
                guard !entries.isEmpty, let entry = entries.removeValue(forKey: ObjectIdentifier(Thread.current))
                else { return nil }
                return entry.until > ContinuousClock.now ? entry.error : nil
            }
        }
    }

    private final class Counters: Sendable {
        let statements = Atomic<Int>(0)
        let fromMirror = Atomic<Int>(0)
        let fromDatabase = Atomic<Int>(0)
    }
}

extension PostgresKeyPersistence: PostgresBackedPersistence {
    /// The database the subject keys are in: a ``PostgresRecordStore`` on the same one checks a subject key's
    /// generation in its own commit.
    package var databaseLocation: PostgresLocation { self.pool.location }
}
