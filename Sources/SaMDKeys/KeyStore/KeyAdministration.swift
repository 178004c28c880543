public import Foundation
public import SaMDCrypto
public import SaMDEnvelope

/// The administration of a key store: KEK lifecycles (NIST SP 800-57 Part 1 Rev. 5, §7), crypto-shredding,
/// rewrapping and re-keying subject keys. Every operation here takes the store's locks; the data path
/// (``KeyRing``) never waits for more than one subject's lock behind them.
public protocol KeyAdministration: Sendable {
    /// Every KEK version, in name and version order.
    func list() throws -> [ManagedKey]
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
    /// Refuses to open with versions of `name` below `version`.
    func setMinimumOpeningVersion(_ version: UInt32, named name: String) throws

    /// The public half of the current recipient key version (`recipient:N`, X25519), which devices seal their
    /// outboxes to; version 1 is made on first use when `createIfAbsent` is set. Its private half never leaves
    /// the store in clear: it is wrapped under the KEK version that seals now, like a subject key.
    /// - Throws: `EnvelopeError.Code.keyNotFound` when there is none and `createIfAbsent` is `false`;
    ///   `EnvelopeError.Code.keyNotUsable` when no KEK version seals now.
    func recipientPublicKey(createIfAbsent: Bool) throws -> RecipientPublicKey
    /// Makes a new current recipient key version; the previous one is deactivated and still opens what outboxes
    /// sealed to it hold.
    /// - Throws: as ``recipientPublicKey(createIfAbsent:)``.
    func rotateRecipientKey() throws -> RecipientPublicKey
    /// Destroys a deactivated recipient key version `recipient:version`: what outboxes still hold sealed to it
    /// can never be opened (a gateway answers `recipient-key-unknown`).
    /// - Throws: `EnvelopeError.Code.keyNotFound`; `EnvelopeError.Code.keyNotUsable` for the current version.
    func destroyRecipientKey(version: UInt32) throws -> DestructionReceipt
    /// Every recipient key version's identifier, state and dates, in version order.
    func recipientKeyVersions() throws -> [RecipientKeyStatus]

    /// Crypto-shreds `subject`: destroys its key, so every record sealed to it fails with
    /// `EnvelopeError.Code.keyDestroyed`. Returns the receipt (also logged).
    func shred(subject: String) throws -> DestructionReceipt
    /// The receipt of `subject`'s last crypto-shredding, rebuilt from its subject key: its latest version,
    /// when that version is destroyed, and when (the same receipt ``shred(subject:)`` returned). `nil` when
    /// the subject's latest version is live (never shredded, re-keyed, or sealing again since), or it has none. Lets a record store that
    /// failed to keep the receipt after the key was erased keep it on a retry.
    /// - Throws: `EnvelopeError.Code.invalidContext` for an id ``KeyRing/subjectIndex(of:)`` refuses;
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
}
