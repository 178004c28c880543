public import Foundation
public import SaMDCrypto
public import SaMDEnvelope

/// A store of versioned KEKs and per-subject keys with NIST SP 800-57 lifecycles.
///
/// As an `EnvelopeKeyProvider` it answers for exact key versions, refusing by state: a destroyed key
/// throws `EnvelopeError.Code.keyDestroyed`; a pre-activation key, or a version below the name's
/// minimum version for opening, throws `EnvelopeError.Code.keyNotUsable`.
public protocol KeyStore: EnvelopeKeyProvider {
    /// Every KEK version, in name and version order.
    func list() throws -> [ManagedKey]
    /// The active version of `name` for sealing.
    /// - Throws: `EnvelopeError.Code.keyNotUsable` when no version of `name` is active, or the active one's
    ///   cryptoperiod has ended; `EnvelopeError.Code.keyNotFound`.
    func sealingKey(named name: String) throws -> SealingKey
    /// Makes a new active version of `name` (the first when none exists); the previous active version is
    /// deactivated (opens only).
    func rotate(named name: String) throws -> ManagedKey
    /// Generates a new version of `name` in pre-activation: it neither seals nor opens until activated.
    func generate(named name: String) throws -> ManagedKey
    /// Activates a pre-activation version; the previously active version of that name is deactivated.
    func activate(_ key: KeyIdentifier) throws -> ManagedKey
    /// Deactivates a version: it opens but no longer seals.
    func retire(_ key: KeyIdentifier) throws -> ManagedKey
    /// Marks a version compromised — a KEK version, or a subject key version (`s-…`) — : it never seals again;
    /// it opens only so data can be rewrapped (a subject then gets a new version for its next record; a re-key
    /// rewraps its records and destroys it).
    func markCompromised(_ key: KeyIdentifier) throws -> ManagedKey
    /// Erases a version's material. Everything it still wraps can no longer be opened. Refused for the
    /// active version, and while any live subject key is still wrapped under it (rotate first, which
    /// rewraps subject keys).
    func destroy(_ key: KeyIdentifier) throws -> DestructionReceipt
    /// Runs `body` — the step that makes a sealed record durable (a rename, a database commit) — while
    /// holding the store's lock, after checking that `key` is still the version that seals: a rotation,
    /// retirement, destruction or shredding that happened while the record was being sealed makes this
    /// throw `EnvelopeError.Code.keyNotUsable` instead, so no record is ever persisted under a key that
    /// rewrap or destroy may already have passed over.
    func whileSealingKeyIsCurrent<T>(_ key: KeyIdentifier, _ body: () throws -> T) throws -> T
    /// Refuses to open with versions of `name` below `version`.
    func setMinimumOpeningVersion(_ version: UInt32, named name: String) throws

    /// The sealing key for `subject`'s records (created on first use), wrapped under the active KEK.
    func subjectSealingKey(subject: String) throws -> SealingKey
    /// Crypto-shreds `subject`: destroys its key, so every record sealed to it fails with
    /// `EnvelopeError.Code.keyDestroyed`. Returns the receipt (also logged).
    func shred(subject: String) throws -> DestructionReceipt
    /// The receipt of `subject`'s last crypto-shredding, rebuilt from its subject key: its latest version,
    /// when that version is destroyed, and when (the same receipt ``shred(subject:)`` returned). `nil` when
    /// the subject's latest version is live (never shredded, re-keyed, or sealing again since), or it has none. Lets a record store that failed to keep the receipt
    /// after the key was erased keep it on a retry.
    /// - Throws: `EnvelopeError.Code.invalidContext` for an id ``subjectIndex(of:)`` refuses;
    ///   `EnvelopeError.Code.keyStore` when the subject key's file is damaged.
    func shredReceipt(subject: String) throws -> DestructionReceipt?
    /// Rewraps every live subject key under the active version of the KEK `name`. A subject key that
    /// cannot be rewrapped (its KEK destroyed, its file damaged) is skipped and reported; the others go on.
    func rewrapSubjectKeys(named name: String) throws -> SubjectRewrapReport

    /// The names of every subject key in the store (`s-` and 32 hex digits), in ascending order. The names
    /// are blind indexes: they do not reveal whose keys they are.
    func subjectKeyNames() throws -> [String]
    /// Rewraps the live versions of one subject key under the active version of the KEK `kekName`, under
    /// the store's lock after reading the key again (a compare-and-set: a subject key shredded, or given a
    /// new version, meanwhile is never overwritten with an older state).
    /// - Returns: the number of versions rewrapped: 0 when every live version already is under the active
    ///   KEK version, or none is live.
    /// - Throws: `EnvelopeError.Code.keyNotUsable` when `kekName` has no active version;
    ///   `EnvelopeError.Code.keyStore` when the subject key's file is damaged or names a wrapping key that
    ///   is not a KEK; the errors of unwrapping (its KEK destroyed: `EnvelopeError.Code.keyDestroyed`).
    func rewrapSubjectKey(named subjectKeyName: String, toActiveVersionOf kekName: String) throws -> Int

    /// ``rekeySubjectKey(named:notBefore:)`` for a batch of subject keys, their new versions written with one
    /// directory sync; each subject's lock is held until its new version is durable. The KEK is read once.
    /// - Returns: per subject key name: the re-key, `nil` (shredded), or what failed for that subject (the
    ///   errors of ``rekeySubjectKey(named:notBefore:)``).
    func rekeySubjectKeys(named subjectKeyNames: [String], notBefore: Date) -> [String: Result<
        SubjectRekey?, EnvelopeError
    >]
    /// ``destroySubjectKeyVersions(named:_:)`` for a batch of subject keys (name → versions), the subject files
    /// and the receipts each written with one directory sync.
    /// - Returns: per subject key name: its receipts, or what failed for that subject.
    func destroySubjectKeyVersions(_ versions: [String: [UInt32]]) -> [String: Result<
        [DestructionReceipt], EnvelopeError
    >]

    /// The blind index of a subject id: 32 hex digits, the first 16 bytes of
    /// HMAC-SHA-256(index key, `"samd-subject-v1" ‖ 0x00 ‖ NFC(subject)`) — the suffix of its subject key's
    /// name. The index key never leaves the store.
    /// - Throws: `EnvelopeError.Code.invalidContext` for an id that is empty or longer than 512 bytes after
    ///   NFC normalisation.
    func subjectIndex(of subject: String) throws -> String
    /// A blind index of a tuple of identifiers, for looking records up without storing the identifiers:
    /// the 32 bytes of HMAC-SHA-256(index key, `"samd-blind-v1" ‖ 0x00 ‖ domain ‖ 0x00 ‖
    /// { length (u16 big-endian) ‖ NFC(component) }…`). Distinct domains give unrelated indexes.
    /// - Throws: `EnvelopeError.Code.invalidContext` for an empty domain, or a component that is empty or
    ///   longer than 512 bytes.
    func blindIndex(domain: String, _ components: [String]) throws -> [UInt8]
}

extension KeyStore {
    /// Re-keys one subject key (after a compromise): a new version with fresh random material, wrapped under
    /// the active KEK version, seals from now on; every older live version is deactivated — it opens (so
    /// records can be rewrapped to the new version) but never seals again. Under the subject's lock.
    /// Idempotent for a resumed job: when the live version was created at or after `notBefore` it is taken
    /// as the new one and no other version is made. A new version is stamped `max(now, notBefore)`: creation
    /// times are kept to the second, so give a whole second after the job's start, and after every stamp of the
    /// job before (a later job with the same `notBefore` would take that job's versions as its own).
    /// - Returns: the new sealing key and the versions to retire, or `nil` when the subject has no live
    ///   version (shredded).
    /// - Throws: `EnvelopeError.Code.keyNotUsable` when the KEK cannot seal (none active, or compromised);
    ///   `EnvelopeError.Code.keyUnavailable` past the lock timeout; `EnvelopeError.Code.keyStore`.
    public func rekeySubjectKey(named subjectKeyName: String, notBefore: Date) throws -> SubjectRekey? {
        guard let result = self.rekeySubjectKeys(named: [subjectKeyName], notBefore: notBefore)[subjectKeyName] else {
            throw EnvelopeError(.keyStore, "the key store did not answer for \(subjectKeyName)")
        }
        return try result.get()
    }

    /// Destroys the given versions of a subject key (never its sealing version), keeping a receipt for each.
    /// For the end of a re-key, once no record is sealed under them any more.
    /// - Returns: the receipts of the versions destroyed now (none when all were destroyed already).
    /// - Throws: `EnvelopeError.Code.keyNotUsable` when a version given is the sealing one;
    ///   `EnvelopeError.Code.keyNotFound`; `EnvelopeError.Code.keyUnavailable`.
    public func destroySubjectKeyVersions(named subjectKeyName: String, _ versions: [UInt32]) throws
        -> [DestructionReceipt]
    {
        guard let result = self.destroySubjectKeyVersions([subjectKeyName: versions])[subjectKeyName] else {
            throw EnvelopeError(.keyStore, "the key store did not answer for \(subjectKeyName)")
        }
        return try result.get()
    }
}

/// What ``KeyStore/rewrapSubjectKeys(named:)`` did.
public struct SubjectRewrapReport: Sendable {
    /// Subject key versions now wrapped under the active KEK version.
    public var rewrapped: Int
    /// Subject key versions that could not be rewrapped, with the reason (no subject ids, no key material).
    public var failed: [(key: String, reason: String)]
}

/// What ``KeyStore/rekeySubjectKey(named:notBefore:)`` did.
public struct SubjectRekey: Sendable {
    /// The subject's new sealing key (fresh material): the key every record of the subject is rewrapped to.
    public let newKey: SealingKey
    /// The older versions still live (deactivated: they open, never seal), to destroy once no record is
    /// sealed under them; ascending.
    public let retiredVersions: [UInt32]
    /// The material of ``retiredVersions``, to rewrap the records sealed under them (32 bytes each).
    public let retiredKeys: [KeyIdentifier: SecureBytes]

    public init(newKey: SealingKey, retiredVersions: [UInt32], retiredKeys: [KeyIdentifier: SecureBytes]) {
        self.newKey = newKey
        self.retiredVersions = retiredVersions
        self.retiredKeys = retiredKeys
    }
}
