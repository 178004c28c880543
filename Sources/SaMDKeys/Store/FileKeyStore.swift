public import Foundation
public import Logging
public import SaMDCrypto
import SaMDEnvelope
import Synchronization

/// The embedded key store: the KEK lifecycle, subject keys and blind indexes written once against two
/// seams — a ``KEKCustody`` that holds KEK material and protects the store's secrets and integrity, and a
/// ``KeyMetadataPersistence`` that keeps the metadata document and subject keys and serialises writers.
///
/// By default the custody is a ``PassphraseCustody`` (KEK material wrapped with AES-KWP under a key derived
/// from a passphrase with Argon2id and HKDF-SHA-256, the metadata authenticated with HMAC-SHA-256) and the
/// persistence a ``DirectoryPersistence``: a private directory (0700) holding `keystore.json` (0600) and one
/// file per subject key under `subjects/`. Every write is atomic; writers in any thread or process are
/// serialised by locks; a store readable by others is refused; a corrupted, truncated or modified store
/// file is refused with `EnvelopeError.Code.keyStore` and nothing else is touched. See <doc:KeyManagement>.
public final class FileKeyStore: KeyStore {
    /// The KEK name records are sealed under by default.
    public static let defaultKeyName = "records"
    /// The shortest passphrase a new store accepts, in bytes. (An existing store opens with whatever it was
    /// made with.) NIST SP 800-63B asks 8 characters of a memorized secret; this one guards key material an
    /// attacker with a copy of the store can attack offline, so more.
    public static let minimumNewPassphraseByteCount = PassphraseCustody.minimumNewPassphraseByteCount
    /// The default ``lockTimeout``: 5 seconds. Operations hold the locks for milliseconds; a caller that
    /// waited this long is better told to try again (a gateway answers 503 with Retry-After).
    public static let defaultLockTimeout = Duration.seconds(5)
    /// The default cryptoperiod for sealing: one year (365 days).
    public static let defaultCryptoperiod = Duration.seconds(365 * 24 * 60 * 60)

    /// Where the store is: its directory for a ``DirectoryPersistence`` (``KeyMetadataPersistence/location``).
    public let directory: String
    /// Holds the KEK material, the store's secrets and its MAC key.
    let custody: any KEKCustody
    /// Keeps the metadata document, subject keys and receipts, and the locks.
    public let persistence: any KeyMetadataPersistence
    let now: @Sendable () -> Date
    let logger: Logger
    /// How long an operation waits for the store's locks before it fails with
    /// `EnvelopeError.Code.keyUnavailable` (another process holds them: a long operation, or one stopped).
    public var lockTimeout: Duration { self.persistence.lockTimeout }
    /// The last state read, the revision of the document it came from, and that document's format version
    /// (1 or 2 until the store's first write, which writes version 3).
    let cached: Mutex<(state: StoreFormat.State, revision: MetadataRevision?, formatVersion: Int)>
    /// The index key, unwrapped once, with the wrapped form it came from (it never changes for a store; if
    /// another document with another index key were read, the wrapped forms would differ and it is unwrapped
    /// again). Held in guarded memory for the store's lifetime.
    let indexKeyCache = Mutex<(wrapped: String, key: SecureBytes)?>(nil)
    /// Unwrapped subject keys on the data path (see ``SubjectKeyCache``): with one, sealing and opening a
    /// subject's records take no store-wide lock and make no custody call until the entry expires, is used up,
    /// or the subject key or a KEK changes.
    public let subjectKeys: SubjectKeyCache

    /// Creates a new store in `directory` (created 0700 if missing; it must not hold a store yet) with one
    /// active KEK version, ``defaultKeyName``:1, in a ``PassphraseCustody``.
    /// - Parameters:
    ///   - directory: the store's directory; its files are `keystore.json`, `subjects/` and `receipts/`.
    ///   - passphrase: from ``Passphrase``; never from a command-line argument; at least
    ///     ``minimumNewPassphraseByteCount`` (12) bytes.
    ///   - kdf: Argon2id cost; `Argon2id.Parameters.moderate` unless tests need speed.
    ///   - cryptoperiod: how long a KEK version may seal after activation (kept in `keystore.json` in seconds).
    ///   - lockTimeout: how long to wait for the store's lock, held by another writer, before failing.
    ///   - now: the clock, for tests; the current time by default.
    ///   - logger: where key-store events go (`samd.keys.*`).
    ///   - subjectKeyCache: the bounds of ``subjectKeys``; `.disabled` unwraps a subject key at every use.
    /// - Throws: `EnvelopeError.Code.keyStore` when the passphrase is too short, a store exists there or the
    ///   directory is not private;
    ///   `EnvelopeError.Code.io`.
    public static func create(
        at directory: String,
        passphrase: SecureBytes,
        kdf: Argon2id.Parameters = .moderate,
        cryptoperiod: Duration = defaultCryptoperiod,
        lockTimeout: Duration = defaultLockTimeout,
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "samdkit.keys"),
        subjectKeyCache: SubjectKeyCache.Policy = .default
    ) throws -> FileKeyStore {
        try Self.create(
            in: DirectoryPersistence(directory: directory, lockTimeout: lockTimeout),
            custody: try PassphraseCustody.create(passphrase: passphrase, kdf: kdf),
            cryptoperiod: cryptoperiod, now: now, logger: logger, subjectKeyCache: subjectKeyCache)
    }

    /// Creates a new store in `directory` (created 0700 if missing; it must not hold a store yet) whose KEK
    /// versions are in `custody`, with one active KEK version, ``defaultKeyName``:1, generated there.
    /// - Throws: `EnvelopeError.Code.keyStore` when a store exists there, the directory is not private, or
    ///   the custody's record is refused (a token URI that holds a PIN, `pin-value`); the custody's errors;
    ///   `EnvelopeError.Code.io`.
    public static func create(
        at directory: String,
        custody: any KEKCustody,
        cryptoperiod: Duration = defaultCryptoperiod,
        lockTimeout: Duration = defaultLockTimeout,
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "samdkit.keys"),
        subjectKeyCache: SubjectKeyCache.Policy = .default
    ) throws -> FileKeyStore {
        try Self.create(
            in: DirectoryPersistence(directory: directory, lockTimeout: lockTimeout), custody: custody,
            cryptoperiod: cryptoperiod, now: now, logger: logger, subjectKeyCache: subjectKeyCache)
    }

    /// Creates a new store in `persistence` (which must not hold one yet) whose KEK versions are in
    /// `custody`, with one active KEK version, ``defaultKeyName``:1, and a fresh 32-byte index key wrapped by
    /// the custody.
    /// - Throws: `EnvelopeError.Code.keyStore` when a store exists there or the custody's record is refused
    ///   (a token URI that holds a PIN, `pin-value`); the custody's and the persistence's errors.
    public static func create(
        in persistence: any KeyMetadataPersistence,
        custody: any KEKCustody,
        cryptoperiod: Duration = defaultCryptoperiod,
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "samdkit.keys"),
        subjectKeyCache: SubjectKeyCache.Policy = .default
    ) throws -> FileKeyStore {
        let indexKey = try cryptoCall { try SecureBytes(randomByteCount: 32) }
        let created = now()
        let identifier = try KeyIdentifier(name: defaultKeyName, version: 1)
        let first = StoreFormat.StoredKey(
            metadata: ManagedKey(
                identifier: identifier, state: .active, createdAt: created, activatedAt: created,
                cryptoperiod: cryptoperiod),
            reference: try custody.generateKEK(identifier))
        let state = StoreFormat.State(
            generation: 0,
            keys: [first],
            indexKey: Data(try custody.wrapStoreSecret(indexKey)).base64EncodedString(),
            minimumVersions: [:]
        )
        try persistence.create(metadata: try StoreDocument.encode(state, custody: custody))
        logger.notice(
            "key store created", metadata: ["event": "samd.keys.store-created", "key": "\(first.metadata.identifier)"])
        return FileKeyStore(
            persistence: persistence, custody: custody, state: state, revision: persistence.metadataRevision(),
            formatVersion: StoreFormat.formatVersion, now: now, logger: logger, cache: subjectKeyCache)
    }

    /// Opens the store in `directory`, its KEKs under a passphrase.
    /// - Throws: `EnvelopeError.Code.keyStore` for a wrong passphrase or a modified, corrupted, truncated
    ///   or mis-permissioned store; `EnvelopeError.Code.io`.
    public convenience init(
        opening directory: String,
        passphrase: SecureBytes,
        lockTimeout: Duration = FileKeyStore.defaultLockTimeout,
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "samdkit.keys"),
        subjectKeyCache: SubjectKeyCache.Policy = .default
    ) throws {
        try self.init(
            opening: directory, custody: { try PassphraseCustody(opening: $0, passphrase: passphrase) },
            lockTimeout: lockTimeout, now: now, logger: logger, subjectKeyCache: subjectKeyCache)
    }

    /// Opens the store in `directory` with the custody its metadata records: `custody` gets the record
    /// (a passphrase custody's KDF parameters, a token's URI) and returns the custody, given its secret.
    /// - Throws: `EnvelopeError.Code.keyStore` for a wrong secret or a modified, corrupted, truncated or
    ///   mis-permissioned store; what `custody` throws; `EnvelopeError.Code.io`.
    public convenience init(
        opening directory: String,
        custody: (KEKCustodyRecord) throws -> any KEKCustody,
        lockTimeout: Duration = FileKeyStore.defaultLockTimeout,
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "samdkit.keys"),
        subjectKeyCache: SubjectKeyCache.Policy = .default
    ) throws {
        try self.init(
            opening: try DirectoryPersistence(opening: directory, lockTimeout: lockTimeout), custody: custody,
            now: now, logger: logger, subjectKeyCache: subjectKeyCache)
    }

    /// Opens the store `persistence` keeps, with the custody its metadata records (see
    /// ``init(opening:custody:lockTimeout:now:logger:subjectKeyCache:)``).
    /// - Throws: `EnvelopeError.Code.keyStore` for a wrong secret or a modified, corrupted or truncated
    ///   store; what `custody` throws; the persistence's errors.
    public convenience init(
        opening persistence: any KeyMetadataPersistence,
        custody makeCustody: (KEKCustodyRecord) throws -> any KEKCustody,
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "samdkit.keys"),
        subjectKeyCache: SubjectKeyCache.Policy = .default
    ) throws {
        let (bytes, revision) = try persistence.readMetadata(maximumByteCount: StoreFormat.storeFileLimit)
        let document = try StoreDocument.parse(bytes, location: persistence.location)
        let custody = try makeCustody(document.custody)
        let state: StoreFormat.State
        do {
            guard custody.record == document.custody else {
                throw EnvelopeError(.keyStore, "the custody given is not the one the key store records")
            }
            state = try document.authenticate(with: custody)
        } catch {
            logger.warning(
                "key store authentication failed",
                metadata: ["event": "samd.keys.store-authentication-failed", "store": "\(persistence.location)"])
            throw error
        }
        self.init(
            persistence: persistence, custody: custody, state: state, revision: revision,
            formatVersion: document.formatVersion, now: now, logger: logger, cache: subjectKeyCache)
    }

    private init(
        persistence: any KeyMetadataPersistence,
        custody: any KEKCustody,
        state: StoreFormat.State,
        revision: MetadataRevision?,
        formatVersion: Int,
        now: @escaping @Sendable () -> Date,
        logger: Logger,
        cache: SubjectKeyCache.Policy
    ) {
        self.subjectKeys = SubjectKeyCache(policy: cache)
        self.directory = persistence.location
        self.persistence = persistence
        self.custody = custody
        self.cached = Mutex((state, revision, formatVersion))
        self.now = now
        self.logger = logger
    }

    /// The store-wide lock, waited for at most ``lockTimeout``.
    func storeLock(_ mode: KeyStoreLockMode) throws -> any KeyStoreLock {
        try self.persistence.lockStore(mode)
    }

    /// Any error of the key store's own code as the `EnvelopeError` it is, or an I/O error.
    static func envelopeError(_ error: any Error) -> EnvelopeError {
        error as? EnvelopeError ?? EnvelopeError(.io, "\(error)")
    }
}
