public import SaMDCrypto
public import SaMDEnvelope

/// The data path of a key store: the keys that seal and open records, and the blind indexes that find them.
///
/// Nothing here changes a key's state except creating a subject's first key (or its next one after a
/// shredding) and rewrapping a live subject key to the KEK version that seals now; administration (rotate,
/// retire, destroy, shred, re-key) is ``KeyAdministration``. As an `EnvelopeKeyProvider` it answers for
/// exact key versions, refusing by state: a destroyed key throws `EnvelopeError.Code.keyDestroyed`; a
/// pre-activation key, or a version below the name's minimum version for opening, throws
/// `EnvelopeError.Code.keyNotUsable`. A KEK held by a custody that never exports its material (a PKCS#11
/// token) makes ``sealingKey(named:)`` and `keyEncryptionKey(for:)` for a KEK version throw
/// `EnvelopeError.Code.keyNotUsable`: seal with subject keys (``subjectSealingKey(subject:)``) instead.
public protocol KeyRing: EnvelopeKeyProvider {
    /// The active version of `name` for sealing.
    /// - Throws: `EnvelopeError.Code.keyNotUsable` when no version of `name` is active, or the active one's
    ///   cryptoperiod has ended, or the KEK's custody does not export KEK material (seal with a subject key);
    ///   `EnvelopeError.Code.keyNotFound`.
    func sealingKey(named name: String) throws -> SealingKey
    /// The identifier of the version of the KEK `name` that seals now — active, within its cryptoperiod, not
    /// below the minimum opening version: the one new subject keys are wrapped under — without its material, so
    /// whatever the custody. ``sealingKey(named:)`` gives the material too, which a token custody never gives out
    /// (it throws `EnvelopeError.Code.keyNotUsable` there); ask this instead to learn the version.
    /// - Throws: `EnvelopeError.Code.keyNotFound` when no version of `name` exists;
    ///   `EnvelopeError.Code.keyNotUsable` when none may seal (none active, its cryptoperiod over, below the
    ///   minimum opening version); `EnvelopeError.Code.keyStore`.
    func sealingKEKIdentifier(named name: String) throws -> KeyIdentifier
    /// The sealing key for `subject`'s records (created on first use), wrapped under the active KEK.
    func subjectSealingKey(subject: String) throws -> SealingKey
    /// Runs `body` — the step that makes a sealed record durable (a rename, a database commit) — while
    /// holding the store's lock, after checking that `key` is still the version that seals: a rotation,
    /// retirement, destruction or shredding that happened while the record was being sealed makes this
    /// throw `EnvelopeError.Code.keyNotUsable` instead, so no record is ever persisted under a key that
    /// rewrap or destroy may already have passed over.
    func whileSealingKeyIsCurrent<T>(_ key: KeyIdentifier, _ body: () throws -> T) throws -> T

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
