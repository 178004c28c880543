public import Foundation
public import Logging
public import SaMDCrypto
public import SaMDEnvelope
import Synchronization

/// The embedded key store: a private directory (0700) holding `keystore.json` (0600) and one file per
/// subject key under `subjects/`.
///
/// Key material is wrapped (AES-KWP) under a wrap key, and the store's state is authenticated
/// (HMAC-SHA-256) under a MAC key; both are derived with HKDF-SHA-256 from a root secret that Argon2id
/// derives from the passphrase (parameters and salt stored beside). Every write is atomic (temporary
/// file, fsync, rename, directory fsync); writers in any thread or process are serialised by an
/// exclusive `flock` on `lock`; a store readable by others is refused; a corrupted, truncated or
/// modified store file is refused with ``EnvelopeError/Code/keyStore`` and nothing else is touched.
/// See Docs/KeyManagement.md.
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
    /// The default cryptoperiod for sealing: one year, in seconds.
    public static let defaultCryptoperiod: TimeInterval = 365 * 24 * 60 * 60

    /// The store's directory.
    public let directory: String
    let wrapKey: SecureBytes
    let macKey: SecureBytes
    let kdf: StoreFormat.KDF
    let kdfSalt: [UInt8]
    let now: @Sendable () -> Date
    let logger: Logger
    /// How long an operation waits for the store's locks before it fails with
    /// ``EnvelopeError/Code/keyUnavailable`` (another process holds them: a long operation, or one stopped).
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
    ///   - passphrase: from ``Passphrase``; never from a command-line argument; at least
    ///     ``minimumNewPassphraseByteCount`` (12) bytes.
    ///   - kdf: Argon2id cost; ``Argon2id/Parameters/moderate`` unless tests need speed.
    ///   - cryptoperiod: seconds a KEK version may seal after activation.
    /// - Throws: ``EnvelopeError/Code/keyStore`` when the passphrase is too short, a store exists there or the
    ///   directory is not private;
    ///   ``EnvelopeError/Code/io``.
    public static func create(
        at directory: String,
        passphrase: SecureBytes,
        kdf: Argon2id.Parameters = .moderate,
        cryptoperiod: TimeInterval = defaultCryptoperiod,
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
    /// - Throws: ``EnvelopeError/Code/keyStore`` for a wrong passphrase or a modified, corrupted, truncated
    ///   or mis-permissioned store; ``EnvelopeError/Code/io``.
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

    // MARK: KEKs

    public func list() throws -> [ManagedKey] {
        try self.reload().keys.map(\.metadata).sorted { $0.identifier < $1.identifier }
    }

    public func sealingKey(named name: String) throws -> SealingKey {
        let state = try self.current()
        let now = self.now()
        guard
            let active = state.keys.last(where: { $0.metadata.identifier.name == name && $0.metadata.state == .active })
        else {
            guard state.keys.contains(where: { $0.metadata.identifier.name == name }) else {
                throw EnvelopeError(.keyNotFound, "no key named \(name)")
            }
            throw EnvelopeError(.keyNotUsable, "no version of \(name) is active; rotate to make one")
        }
        guard active.metadata.maySeal(at: now) else {
            throw EnvelopeError(
                .keyNotUsable,
                "the cryptoperiod of \(active.metadata.identifier) ended at \(active.metadata.sealingEndsAt.map { "\($0)" } ?? "activation"); rotate"
            )
        }
        if let minimum = state.minimumVersions[name], active.metadata.identifier.version < minimum {
            throw EnvelopeError(
                .keyNotUsable,
                "\(active.metadata.identifier) is below the minimum opening version \(minimum): what it sealed could not be opened; rotate"
            )
        }
        return .keyEncryptionKey(active.metadata.identifier, try self.unwrap(active))
    }

    public func keyEncryptionKey(for identifier: KeyIdentifier) throws -> SecureBytes {
        if identifier.name.hasPrefix(Self.subjectPrefix) {
            return try self.subjectKey(for: identifier)
        }
        let state = try self.current()
        guard let stored = state.keys.first(where: { $0.metadata.identifier == identifier }) else {
            throw EnvelopeError(.keyNotFound, "no key \(identifier) in the key store")
        }
        switch stored.metadata.state {
        case .destroyed:
            throw EnvelopeError(.keyDestroyed, "\(identifier) was destroyed; what it wrapped cannot be opened")
        case .preActivation:
            throw EnvelopeError(.keyNotUsable, "\(identifier) is not activated yet")
        case .compromised:
            self.logger.warning(
                "opening with a compromised key",
                metadata: ["event": "samd.keys.compromised-key-used", "key": "\(identifier)"])
        case .active, .deactivated:
            break
        }
        if let minimum = state.minimumVersions[identifier.name], identifier.version < minimum {
            throw EnvelopeError(
                .keyNotUsable, "\(identifier) is below the minimum version \(minimum) allowed for opening")
        }
        return try self.unwrap(stored)
    }

    public func rotate(named name: String) throws -> ManagedKey {
        let key = try self.mutate { state, now in
            let key = try self.appendVersion(of: name, to: &state, now: now)
            Self.activate(key.metadata.identifier, in: &state, now: now)
            return state.keys.last!.metadata
        }
        self.logger.notice("key rotated", metadata: ["event": "samd.keys.rotated", "key": "\(key.identifier)"])
        return key
    }

    public func generate(named name: String) throws -> ManagedKey {
        let key = try self.mutate { state, now in
            try self.appendVersion(of: name, to: &state, now: now).metadata
        }
        self.logger.notice("key generated", metadata: ["event": "samd.keys.generated", "key": "\(key.identifier)"])
        return key
    }

    public func activate(_ key: KeyIdentifier) throws -> ManagedKey {
        let metadata = try self.mutate { state, now in
            guard let index = state.keys.firstIndex(where: { $0.metadata.identifier == key }) else {
                throw EnvelopeError(.keyNotFound, "no key \(key)")
            }
            guard state.keys[index].metadata.state == .preActivation else {
                throw EnvelopeError(
                    .keyNotUsable,
                    "\(key) is \(state.keys[index].metadata.state); only a pre-activation key can be activated")
            }
            Self.activate(key, in: &state, now: now)
            return state.keys[index].metadata
        }
        self.logger.notice("key activated", metadata: ["event": "samd.keys.activated", "key": "\(key)"])
        return metadata
    }

    /// A new pre-activation version of `name`, with the cryptoperiod of its latest version.
    private func appendVersion(of name: String, to state: inout StoreFormat.State, now: Date) throws
        -> StoreFormat.StoredKey
    {
        guard !name.hasPrefix(Self.subjectPrefix) else {
            throw EnvelopeError(
                .malformed, "KEK names may not start with \"\(Self.subjectPrefix)\", which names subject keys")
        }
        let versions = state.keys.filter { $0.metadata.identifier.name == name }.map(\.metadata.identifier.version)
        let cryptoperiod =
            state.keys.last { $0.metadata.identifier.name == name }?.metadata.cryptoperiod ?? Self.defaultCryptoperiod
        let (version, overflow) = (versions.max() ?? 0).addingReportingOverflow(1)
        guard !overflow else {
            throw EnvelopeError(.keyNotUsable, "\(name) has no version left after \(UInt32.max)")
        }
        var key = try Self.newKey(
            KeyIdentifier(name: name, version: version), cryptoperiod: cryptoperiod, now: now, wrapKey: self.wrapKey)
        key.metadata.state = .preActivation
        key.metadata.activatedAt = nil
        state.keys.append(key)
        return key
    }

    /// Makes `key` the active version of its name; the previous active version is deactivated.
    private static func activate(_ key: KeyIdentifier, in state: inout StoreFormat.State, now: Date) {
        for index in state.keys.indices where state.keys[index].metadata.identifier.name == key.name {
            if state.keys[index].metadata.identifier == key {
                state.keys[index].metadata.state = .active
                state.keys[index].metadata.activatedAt = now
            } else if state.keys[index].metadata.state == .active {
                state.keys[index].metadata.state = .deactivated
                state.keys[index].metadata.deactivatedAt = now
            }
        }
    }

    public func retire(_ key: KeyIdentifier) throws -> ManagedKey {
        let metadata = try self.changeState(of: key, to: .deactivated, allowedFrom: [.active, .preActivation])
        self.logger.notice("key retired", metadata: ["event": "samd.keys.retired", "key": "\(key)"])
        return metadata
    }

    public func markCompromised(_ key: KeyIdentifier) throws -> ManagedKey {
        let metadata =
            key.name.hasPrefix(Self.subjectPrefix)
            ? try self.markSubjectKeyCompromised(key)
            : try self.changeState(of: key, to: .compromised, allowedFrom: [.active, .deactivated, .preActivation])
        self.logger.critical("key marked compromised", metadata: ["event": "samd.keys.compromised", "key": "\(key)"])
        return metadata
    }

    public func destroy(_ key: KeyIdentifier) throws -> DestructionReceipt {
        // Subject keys are only ever wrapped under the active version, by writers holding the store lock
        // shared. Once this version is seen inactive under the exclusive lock, no writer can wrap a subject
        // key under it any more: the scan of every subject file runs without holding the store lock (with
        // many subjects it is long, and every PUT would wait), and the state is checked again before the
        // version is destroyed.
        let checked = try self.storeLock(.exclusive).withLock { () throws -> ManagedKey in
            let state = try self.reload()
            return state.keys[try Self.checkDestroyable(key, in: state)].metadata
        }
        let stillWrapped = try self.subjectKeysWrapped(under: key)
        guard stillWrapped.isEmpty else {
            throw EnvelopeError(
                .keyNotUsable,
                "\(stillWrapped.count) subject key(s) are still wrapped under \(key); rotate (which rewraps them) before destroying it"
            )
        }
        let receipt = try self.mutate { state, now in
            let index = try Self.checkDestroyable(key, in: state)
            // Activated and deactivated again during the scan, it may wrap subject keys the scan did not see.
            guard state.keys[index].metadata == checked else {
                throw EnvelopeError(
                    .keyNotUsable, "\(key) changed state while its subject keys were checked; try again")
            }
            state.keys[index].metadata.state = .destroyed
            state.keys[index].metadata.destroyedAt = now
            state.keys[index].wrapped = nil
            return DestructionReceipt(key: key, destroyedAt: now, subjectIndex: nil)
        }
        self.logger.notice("key destroyed", metadata: ["event": "samd.keys.destroyed", "key": "\(key)"])
        self.keep(receipt)
        return receipt
    }

    /// The index of `key` in `state` when it may be destroyed: present, neither active nor destroyed already.
    private static func checkDestroyable(_ key: KeyIdentifier, in state: StoreFormat.State) throws -> Int {
        guard let index = state.keys.firstIndex(where: { $0.metadata.identifier == key }) else {
            throw EnvelopeError(.keyNotFound, "no key \(key)")
        }
        switch state.keys[index].metadata.state {
        case .active:
            throw EnvelopeError(.keyNotUsable, "\(key) is active; rotate or retire it before destroying it")
        case .destroyed:
            throw EnvelopeError(.keyDestroyed, "\(key) is already destroyed")
        default:
            return index
        }
    }

    public func setMinimumOpeningVersion(_ version: UInt32, named name: String) throws {
        try self.mutate { state, _ in
            state.minimumVersions[name] = version
        }
        self.logger.notice(
            "minimum opening version set",
            metadata: ["event": "samd.keys.minimum-version-set", "name": "\(name)", "version": "\(version)"])
    }

    public func whileSealingKeyIsCurrent<T>(_ key: KeyIdentifier, _ body: () throws -> T) throws -> T {
        // A KEK changes state only under the exclusive store lock, a subject key only under its own lock.
        let locks =
            key.name.hasPrefix(Self.subjectPrefix) ? try self.subjectLock(key.name) : (try self.storeLock(.shared), nil)
        defer { withExtendedLifetime(locks) {} }
        if key.name.hasPrefix(Self.subjectPrefix) {
            // The subject's live version, wrapped under the KEK version that seals now.
            let kek = try self.sealingKey(named: Self.defaultKeyName).identifier
            guard let record = try self.readSubject(key.name),
                let live = record.versions.last(where: { $0.state == .active }),
                live.version == key.version, live.wrappedBy == kek
            else {
                throw EnvelopeError(
                    .keyNotUsable,
                    "\(key) is no longer a current sealing key (shredded, replaced, or its KEK rotated); seal again")
            }
        } else {
            guard (try? self.sealingKey(named: key.name))?.identifier == key else {
                throw EnvelopeError(
                    .keyNotUsable,
                    "\(key) is no longer the sealing version of \(key.name) (rotated, retired, expired or destroyed); seal again"
                )
            }
        }
        return try body()
    }

    // MARK: Internals

    private func changeState(of key: KeyIdentifier, to newState: KeyState, allowedFrom: Set<KeyState>) throws
        -> ManagedKey
    {
        try self.mutate { state, now in
            guard let index = state.keys.firstIndex(where: { $0.metadata.identifier == key }) else {
                throw EnvelopeError(.keyNotFound, "no key \(key)")
            }
            let current = state.keys[index].metadata.state
            guard allowedFrom.contains(current) else {
                throw EnvelopeError(.keyNotUsable, "\(key) is \(current); it cannot become \(newState)")
            }
            state.keys[index].metadata.state = newState
            switch newState {
            case .deactivated: state.keys[index].metadata.deactivatedAt = now
            case .compromised: state.keys[index].metadata.compromisedAt = now
            default: break
            }
            return state.keys[index].metadata
        }
    }

    /// The store-wide lock, waited for at most ``lockTimeout``.
    func storeLock(_ mode: StoreLock.Mode) throws -> StoreLock {
        try StoreLock(directory: self.directory, mode: mode, timeout: self.lockTimeout)
    }

    /// Runs `body` on the current on-disk state under the store lock, then writes it atomically.
    @discardableResult
    func mutate<T>(_ body: (inout StoreFormat.State, Date) throws -> T) throws -> T {
        let lock = try self.storeLock(.exclusive)
        defer { withExtendedLifetime(lock) {} }
        var state = try self.reload()
        let result = try body(&state, self.now())
        state.generation += 1
        StoreFile.removeStaleTemporaries(of: self.storePath)
        try Self.write(state, kdf: self.kdf, salt: self.kdfSalt, macKey: self.macKey, to: self.storePath)
        self.cached.withLock { $0 = (state, StoreFile.identity(self.storePath)) }
        return result
    }

    /// The store's state as it is on disk now: the cached state while the file is the one it was read
    /// from (same inode, size and modification time — every write renames a new file in), otherwise the
    /// file read and authenticated again. So a rotation, retirement or destruction by another process is
    /// seen by the next operation here.
    func current() throws -> StoreFormat.State {
        let identity = StoreFile.identity(self.storePath)
        let cached = self.cached.withLock { $0 }
        if let identity, cached.file == identity {
            return cached.state
        }
        return try self.reload()
    }

    /// Reads and authenticates the store file again.
    @discardableResult
    func reload() throws -> StoreFormat.State {
        let identity = StoreFile.identity(self.storePath)
        let (envelope, salt) = try Self.readEnvelope(self.storePath)
        guard salt == self.kdfSalt, envelope.kdf.iterations == self.kdf.iterations,
            envelope.kdf.memory == self.kdf.memory
        else {
            throw EnvelopeError(.keyStore, "the key store's KDF parameters changed underneath this process")
        }
        let state = try Self.verify(envelope, salt: salt, macKey: self.macKey)
        self.cached.withLock { $0 = (state, identity) }
        return state
    }

    func unwrap(_ stored: StoreFormat.StoredKey) throws -> SecureBytes {
        guard let wrapped = stored.wrapped else {
            throw EnvelopeError(.keyDestroyed, "\(stored.metadata.identifier) was destroyed")
        }
        return try Self.unwrap(wrapped, under: self.wrapKey, what: "\(stored.metadata.identifier)")
    }

    /// Writes the receipt under `receipts/` (recreating the folder if it went missing). The destruction has
    /// already happened and been logged: a receipt that cannot be written is logged as an error, and the
    /// receipt is still returned to the caller.
    func keep(_ receipt: DestructionReceipt) {
        self.keep([receipt])
    }

    /// Keeps several receipts, with one directory sync for them all.
    func keep(_ receipts: [DestructionReceipt]) {
        guard !receipts.isEmpty else { return }
        do {
            try StoreFile.makePrivateDirectory(self.receiptsDirectory)
            try StoreFile.writeAtomically(
                try receipts.map { receipt in
                    let stamp = Int(receipt.destroyedAt.timeIntervalSince1970 * 1000)
                    return (
                        Array(try StoreFormat.encoder.encode(receipt)),
                        "\(self.receiptsDirectory)/\(stamp)-\(receipt.key.name)-\(receipt.key.version).json"
                    )
                }
            )
        } catch {
            for receipt in receipts {
                self.logger.error(
                    "destruction receipt not written",
                    metadata: ["event": "samd.keys.receipt-not-written", "key": "\(receipt.key)", "reason": "\(error)"])
            }
        }
    }

    /// Any error of the key store's own code as the ``EnvelopeError`` it is, or an I/O error.
    static func envelopeError(_ error: any Error) -> EnvelopeError {
        error as? EnvelopeError ?? EnvelopeError(.io, "\(error)")
    }

    static func newKey(_ identifier: KeyIdentifier, cryptoperiod: TimeInterval, now: Date, wrapKey: SecureBytes) throws
        -> StoreFormat.StoredKey
    {
        let material = try self.crypto { try SecureBytes(randomByteCount: 32) }
        return StoreFormat.StoredKey(
            metadata: ManagedKey(
                identifier: identifier, state: .active, createdAt: now, activatedAt: now, cryptoperiod: cryptoperiod),
            wrapped: try self.wrap(material, under: wrapKey)
        )
    }

    static func wrap(_ key: SecureBytes, under wrapKey: SecureBytes) throws -> String {
        Data(try self.crypto { try AESKeyWrap.wrapWithPadding(key, using: wrapKey) }).base64EncodedString()
    }

    static func unwrap(_ text: String, under wrapKey: SecureBytes, what: String) throws -> SecureBytes {
        let wrapped = try StoreFormat.decodeBase64(text, limit: 4104, "wrapped \(what)")
        do {
            return try AESKeyWrap.unwrapWithPadding(wrapped, using: wrapKey)
        } catch let error as CryptoError {
            throw EnvelopeError(
                .keyStore, "the wrapped \(what) does not unwrap: the store was modified", underlying: error)
        }
    }

    static func deriveKeys(passphrase: SecureBytes, kdf: StoreFormat.KDF, salt: [UInt8]) throws -> (
        SecureBytes, SecureBytes
    ) {
        guard kdf.algorithm == "argon2id" else {
            throw EnvelopeError(.keyStore, "unknown key-store KDF \(kdf.algorithm)")
        }
        let parameters = Argon2id.Parameters(iterations: kdf.iterations, memoryByteCount: kdf.memory)
        return try self.crypto {
            let root = try Argon2id.deriveKey(passphrase: passphrase, salt: salt, parameters: parameters)
            let wrap = try HKDF.expand(
                hash: .sha256, pseudoRandomKey: root, info: Array("samd-keystore-v1 wrap".utf8), outputByteCount: 32)
            let mac = try HKDF.expand(
                hash: .sha256, pseudoRandomKey: root, info: Array("samd-keystore-v1 mac".utf8), outputByteCount: 32)
            return (wrap, mac)
        }
    }

    static func readEnvelope(_ path: String) throws -> (StoreFormat.Envelope, [UInt8]) {
        let bytes: [UInt8]
        do {
            bytes = try StoreFile.read(path, limit: StoreFormat.storeFileLimit)
        } catch let error as EnvelopeError where error.code == .keyNotFound {
            throw EnvelopeError(.keyStore, "no key store file at \(path)")
        }
        return try self.parseEnvelope(bytes, path: path)
    }

    /// Parses and bounds-checks `keystore.json` (before any key derivation).
    static func parseEnvelope(_ bytes: [UInt8], path: String) throws -> (StoreFormat.Envelope, [UInt8]) {
        guard bytes.count <= StoreFormat.storeFileLimit else {
            throw EnvelopeError(.keyStore, "\(path) is over the \(StoreFormat.storeFileLimit)-byte limit")
        }
        let envelope: StoreFormat.Envelope
        do {
            envelope = try StoreFormat.decoder.decode(StoreFormat.Envelope.self, from: Data(bytes))
        } catch {
            throw EnvelopeError(.keyStore, "\(path) is corrupted or truncated (not a key-store document)")
        }
        guard envelope.format == StoreFormat.format else {
            throw EnvelopeError(
                .keyStore, "\(path) is format \(envelope.format.prefix(40)); this library reads \(StoreFormat.format)")
        }
        let salt = try StoreFormat.decodeBase64(envelope.kdf.salt, limit: Argon2id.saltByteCount, "KDF salt")
        guard salt.count == Argon2id.saltByteCount else {
            throw EnvelopeError(.keyStore, "the key store's KDF salt is not \(Argon2id.saltByteCount) bytes")
        }
        do {
            try Argon2id.Parameters(iterations: envelope.kdf.iterations, memoryByteCount: envelope.kdf.memory)
                .validate()
        } catch let error as CryptoError {
            throw EnvelopeError(.keyStore, "the key store's KDF parameters are out of bounds", underlying: error)
        }
        return (envelope, salt)
    }

    static func verify(_ envelope: StoreFormat.Envelope, salt: [UInt8], macKey: SecureBytes) throws -> StoreFormat.State
    {
        let stateBytes = try StoreFormat.decodeBase64(envelope.state, limit: StoreFormat.storeFileLimit, "state")
        let mac = try StoreFormat.decodeBase64(envelope.mac, limit: 32, "MAC")
        let expected = try self.crypto {
            try DigestAlgorithm.sha256.authenticationCode(
                for: StoreFormat.macInput(kdf: envelope.kdf, salt: salt, state: stateBytes), key: macKey)
        }
        let expectedSecure = try self.crypto { try SecureBytes(copying: expected) }
        guard expectedSecure.constantTimeEquals(mac) else {
            throw EnvelopeError(.keyStore, "wrong passphrase, or the key store was modified")
        }
        do {
            return try StoreFormat.decoder.decode(StoreFormat.State.self, from: Data(stateBytes))
        } catch {
            throw EnvelopeError(.keyStore, "the key store's state does not decode: \(error)")
        }
    }

    static func write(
        _ state: StoreFormat.State, kdf: StoreFormat.KDF, salt: [UInt8], macKey: SecureBytes, to path: String
    ) throws {
        let stateBytes = Array(try StoreFormat.encoder.encode(state))
        let mac = try self.crypto {
            try DigestAlgorithm.sha256.authenticationCode(
                for: StoreFormat.macInput(kdf: kdf, salt: salt, state: stateBytes), key: macKey)
        }
        let envelope = StoreFormat.Envelope(
            format: StoreFormat.format,
            kdf: kdf,
            state: Data(stateBytes).base64EncodedString(),
            mac: Data(mac).base64EncodedString()
        )
        try StoreFile.writeAtomically(Array(try StoreFormat.encoder.encode(envelope)), to: path)
    }

    /// Runs a primitive, turning its failure into an ``EnvelopeError``.
    static func crypto<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as CryptoError {
            throw EnvelopeError(.crypto, error.reason, underlying: error)
        }
    }
}
