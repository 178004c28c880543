import Foundation

/// Persistence of a key store: where its metadata document (the custody record, KEK metadata and wrapped
/// material, authenticated by the custody's MAC), its subject-key records and its destruction receipts
/// live, and the locks that serialise their writers across threads and processes.
///
/// A persistence stores bytes the key store encodes (KeyStoreFormat.md gives them): it never interprets
/// them, never sees key material in clear, and needs no key. ``DirectoryPersistence`` keeps them in a
/// private directory (`keystore.json`, `subjects/`, `receipts/`, `flock` locks, atomic writes);
/// `PostgresKeyPersistence` (module SaMDPostgres) in PostgreSQL tables, shared by several instances (generations
/// as revisions, advisory locks).
///
/// Locking contract (the key store relies on it): the *store lock* is taken **exclusive** by whatever
/// rewrites the metadata, **shared** by every operation on one subject key; a *subject lock* is taken
/// exclusive, after the store lock shared, by every read-modify-write of that subject's record. A lock not
/// had within ``lockTimeout`` throws `EnvelopeError.Code.keyUnavailable`. Errors are `EnvelopeError`s:
/// `EnvelopeError.Code.keyStore` for a damaged or mis-permissioned store, `EnvelopeError.Code.io` for the
/// medium.
public protocol KeyMetadataPersistence: Sendable {
    /// Where the store is, for messages and logs (a directory path). Never holds a secret.
    var location: String { get }
    /// How long a lock is waited for.
    var lockTimeout: Duration { get }

    /// Makes an empty store and writes its first metadata document, under the store lock held exclusive.
    /// - Throws: `EnvelopeError.Code.keyStore` when a store exists there already or the place is not
    ///   private; `EnvelopeError.Code.io`.
    func create(metadata document: [UInt8]) throws

    /// The metadata document as persisted now, and its revision.
    /// - Throws: `EnvelopeError.Code.keyStore` when there is none, or it is over
    ///   `maximumByteCount` bytes or not private.
    func readMetadata(maximumByteCount: Int) throws -> (document: [UInt8], revision: MetadataRevision?)

    /// The revision of the metadata document as persisted now, without reading it (`nil` when it cannot be
    /// told): a document whose revision is unchanged need not be read and authenticated again.
    func metadataRevision() -> MetadataRevision?

    /// Replaces the metadata document atomically (a crash leaves the old one or the new one); called with
    /// the store lock held exclusive.
    /// - Returns: the new revision.
    func writeMetadata(_ document: [UInt8]) throws -> MetadataRevision?

    /// Takes the store lock (see the contract above); released when the returned lock is.
    func lockStore(_ mode: KeyStoreLockMode) throws -> any KeyStoreLock

    /// Takes one subject key's lock: exclusive to change the subject key (the caller holds the store lock
    /// shared); shared on the data path, to make a record durable while its subject key cannot change.
    func lockSubject(named name: String, _ mode: KeyStoreLockMode) throws -> any KeyStoreLock

    /// What identifies the subject key's persisted record as it is now (for a directory: its file's device,
    /// inode, size and modification time): it changes whenever the record is written. `nil` when there is none.
    /// Read without a lock; for caches, which compare it at every use.
    func subjectRevision(named name: String) -> MetadataRevision?

    /// The names of every subject-key record, in ascending order.
    func subjectNames() throws -> [String]

    /// A subject key's record, or `nil` when it has none.
    /// - Throws: `EnvelopeError.Code.keyStore` when it is over `maximumByteCount` bytes or not private.
    func readSubject(named name: String, maximumByteCount: Int) throws -> [UInt8]?

    /// Replaces several subject records, each atomically, made durable together; called with each one's
    /// subject lock held.
    /// - Throws: `EnvelopeError.Code.io`; when it fails part-way, the records before are new.
    func writeSubjects(_ records: [(name: String, document: [UInt8])]) throws

    /// Erases every copy of a subject's record a killed writer may have left behind (after a shredding: no
    /// wrapped key may outlive it); called with its subject lock held. Best effort.
    func eraseLeftovers(ofSubject name: String)

    /// Keeps destruction receipts (each under a name of its own), made durable together.
    func keepReceipts(_ receipts: [(name: String, document: [UInt8])]) throws
}

/// How the store lock is held: see ``KeyMetadataPersistence``.
public enum KeyStoreLockMode: Sendable {
    /// Every operation on one subject key (they run side by side).
    case shared
    /// Whatever rewrites the store's metadata.
    case exclusive
}

/// A lock of a key store, held until this object is released.
public protocol KeyStoreLock: AnyObject {}

/// Which version of a store's metadata document is persisted: equal revisions, equal documents. For a
/// directory the file's device, inode, size and modification time (every write renames a new file in); for
/// a database a generation number.
public struct MetadataRevision: Sendable, Hashable {
    /// The numbers that make the revision (a directory: device, inode, size, modification time; a database: its
    /// generation).
    public let components: [Int64]

    /// A revision made of the given numbers.
    public init(_ components: [Int64]) {
        self.components = components
    }
}
