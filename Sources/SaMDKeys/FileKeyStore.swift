public import Foundation
public import Logging
public import SaMDCrypto
import SaMDEnvelope
import Synchronization

/// The embedded key store: a private directory (0700) holding `keystore.json` (0600) and one file per
/// subject key under `subjects/`.
///
/// Key material is wrapped (AES-KWP) under a wrap key, and the store's state is authenticated
/// (HMAC-SHA-256) under a MAC key; both are derived with HKDF-SHA-256 from a root secret that Argon2id
/// derives from the passphrase (parameters and salt stored beside). Every write is atomic (temporary
/// file, fsync, rename, directory fsync); writers in any thread or process are serialised by an
/// exclusive `flock` on `lock`; a store readable by others is refused; a corrupted, truncated or
/// modified store file is refused with `EnvelopeError.Code.keyStore` and nothing else is touched.
/// See <doc:KeyManagement>.
public final class FileKeyStore: KeyStore {
    /// The KEK name records are sealed under by default.
    public static let defaultKeyName = "records"
    /// The shortest passphrase a new store accepts, in bytes. (An existing store opens with whatever it was
    /// made with.) NIST SP 800-63B asks 8 characters of a memorized secret; this one guards key material an
    /// attacker with a copy of the store can attack offline, so more.
    public static let minimumNewPassphraseByteCount = 12
    /// The default ``lockTimeout``: 5 seconds. Operations hold the locks for milliseconds; a caller that
    /// waited this long is better told to try again (a gateway answers 503 with Retry-After).
    public static let defaultLockTimeout = Duration.seconds(5)
    /// The default cryptoperiod for sealing: one year (365 days).
    public static let defaultCryptoperiod = Duration.seconds(365 * 24 * 60 * 60)

    /// The store's directory.
    public let directory: String
    let wrapKey: SecureBytes
    let macKey: SecureBytes
    let kdf: StoreFormat.KDF
    let kdfSalt: [UInt8]
    let now: @Sendable () -> Date
    let logger: Logger
    /// How long an operation waits for the store's locks before it fails with
    /// `EnvelopeError.Code.keyUnavailable` (another process holds them: a long operation, or one stopped).
    public let lockTimeout: Duration
    /// The last state read, and the identity (inode, size, modification time) of the file it came from.
    let cached: Mutex<(state: StoreFormat.State, file: StoreFile.Identity?)>
    /// The index key, unwrapped once, with the wrapped form it came from (it never changes for a store; if
    /// another file with another index key were read, the wrapped forms would differ and it is unwrapped
    /// again). Held like the wrap and MAC keys, in guarded memory, for the store's lifetime.
    let indexKeyCache = Mutex<(wrapped: String, key: SecureBytes)?>(nil)

    var storePath: String { self.directory + "/keystore.json" }
    var subjectsDirectory: String { self.directory + "/subjects" }
    var receiptsDirectory: String { self.directory + "/receipts" }

    /// Creates a new store in `directory` (created 0700 if missing; it must not hold a store yet) with one
    /// active KEK version, ``defaultKeyName``:1.
    /// - Parameters:
    ///   - directory: the store's directory; its files are `keystore.json`, `subjects/` and `receipts/`.
    ///   - passphrase: from ``Passphrase``; never from a command-line argument; at least
    ///     ``minimumNewPassphraseByteCount`` (12) bytes.
    ///   - kdf: Argon2id cost; `Argon2id.Parameters.moderate` unless tests need speed.
    ///   - cryptoperiod: how long a KEK version may seal after activation (kept in `keystore.json` in seconds).
    ///   - lockTimeout: how long to wait for the store's lock, held by another writer, before failing.
    ///   - now: the clock, for tests; the current time by default.
    ///   - logger: where key-store events go (`samd.keys.*`).
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
        logger: Logger = Logger(label: "samdkit.keys")
    ) throws -> FileKeyStore {
        guard passphrase.count >= Self.minimumNewPassphraseByteCount else {
            throw EnvelopeError(
                .keyStore,
                "a new key store's passphrase is at least \(Self.minimumNewPassphraseByteCount) bytes (e.g. openssl rand -base64 24)"
            )
        }
        try StoreFile.makePrivateDirectory(directory)
        let lock = try StoreLock(directory: directory, timeout: lockTimeout)
        defer { withExtendedLifetime(lock) {} }
        guard (try? StoreFile.list(directory).contains("keystore.json")) != true else {
            throw EnvelopeError(.keyStore, "\(directory) already holds a key store")
        }
        let salt = try Self.crypto { try SecureRandom.bytes(count: Argon2id.saltByteCount) }
        let storeKDF = StoreFormat.KDF(
            algorithm: "argon2id",
            iterations: kdf.iterations,
            memory: kdf.memoryByteCount,
            salt: Data(salt).base64EncodedString()
        )
        let (wrapKey, macKey) = try Self.deriveKeys(passphrase: passphrase, kdf: storeKDF, salt: salt)
        let indexKey = try Self.crypto { try SecureBytes(randomByteCount: 32) }
        let created = now()
        var state = StoreFormat.State(
            generation: 0,
            keys: [],
            indexKey: try Self.wrap(indexKey, under: wrapKey),
            minimumVersions: [:]
        )
        let first = try Self.newKey(
            KeyIdentifier(name: defaultKeyName, version: 1),
            cryptoperiod: cryptoperiod,
            now: created,
            wrapKey: wrapKey
        )
        state.keys.append(first)
        try Self.write(state, kdf: storeKDF, salt: salt, macKey: macKey, to: directory + "/keystore.json")
        try StoreFile.makePrivateDirectory(directory + "/subjects")
        try StoreFile.makePrivateDirectory(directory + "/receipts")
        logger.notice(
            "key store created", metadata: ["event": "samd.keys.store-created", "key": "\(first.metadata.identifier)"])
        return FileKeyStore(
            directory: directory, wrapKey: wrapKey, macKey: macKey, kdf: storeKDF, salt: salt, state: state,
            identity: StoreFile.identity(directory + "/keystore.json"), lockTimeout: lockTimeout, now: now,
            logger: logger
        )
    }

    /// Opens the store in `directory`.
    /// - Throws: `EnvelopeError.Code.keyStore` for a wrong passphrase or a modified, corrupted, truncated
    ///   or mis-permissioned store; `EnvelopeError.Code.io`.
    public convenience init(
        opening directory: String,
        passphrase: SecureBytes,
        lockTimeout: Duration = FileKeyStore.defaultLockTimeout,
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "samdkit.keys")
    ) throws {
        try StoreFile.checkPrivateDirectory(directory)
        for sub in ["/subjects", "/receipts"] where FileManager.default.fileExists(atPath: directory + sub) {
            try StoreFile.checkPrivateDirectory(directory + sub)
        }
        // The file's identity is taken before it is read: if another process replaces it meanwhile, the
        // next operation sees a different file and reads it again.
        let identity = StoreFile.identity(directory + "/keystore.json")
        let (envelope, salt) = try Self.readEnvelope(directory + "/keystore.json")
        let (wrapKey, macKey) = try Self.deriveKeys(passphrase: passphrase, kdf: envelope.kdf, salt: salt)
        let state: StoreFormat.State
        do {
            state = try Self.verify(envelope, salt: salt, macKey: macKey)
        } catch {
            logger.warning(
                "key store authentication failed",
                metadata: ["event": "samd.keys.store-authentication-failed", "store": "\(directory)"])
            throw error
        }
        self.init(
            directory: directory, wrapKey: wrapKey, macKey: macKey, kdf: envelope.kdf, salt: salt, state: state,
            identity: identity,
            lockTimeout: lockTimeout, now: now, logger: logger
        )
    }

    private init(
        directory: String,
        wrapKey: SecureBytes,
        macKey: SecureBytes,
        kdf: StoreFormat.KDF,
        salt: [UInt8],
        state: StoreFormat.State,
        identity: StoreFile.Identity?,
        lockTimeout: Duration,
        now: @escaping @Sendable () -> Date,
        logger: Logger
    ) {
        self.lockTimeout = lockTimeout
        self.directory = directory
        self.wrapKey = wrapKey
        self.macKey = macKey
        self.kdf = kdf
        self.kdfSalt = salt
        self.cached = Mutex((state, identity))
        self.now = now
        self.logger = logger
    }

    /// The store-wide lock, waited for at most ``lockTimeout``.
    func storeLock(_ mode: StoreLock.Mode) throws -> StoreLock {
        try StoreLock(directory: self.directory, mode: mode, timeout: self.lockTimeout)
    }

    /// Any error of the key store's own code as the `EnvelopeError` it is, or an I/O error.
    static func envelopeError(_ error: any Error) -> EnvelopeError {
        error as? EnvelopeError ?? EnvelopeError(.io, "\(error)")
    }

    /// Runs a primitive, turning its failure into an `EnvelopeError`.
    static func crypto<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as CryptoError {
            throw EnvelopeError(.crypto, error.reason, underlying: error)
        }
    }
}
