public import SaMDCrypto
public import SaMDEnvelope

/// Custody of a key store's KEK material: where KEK versions are created, used to wrap and unwrap subject
/// keys, and destroyed — and what protects the store's own secrets and the integrity of its metadata.
///
/// The key store decides *which* version, *when* and *whether* (states, cryptoperiods, locks: NIST SP 800-57
/// Part 1 Rev. 5, §7); the custody only holds material and runs the primitives with it. It never sees a
/// subject id, only the binding the store passes as associated data. ``PassphraseCustody`` keeps every KEK
/// version wrapped (AES-KWP) under a key derived from a passphrase; a PKCS#11 custody generates each version
/// inside a token, where it stays.
///
/// Every requirement may be called from several threads at once (the store serialises writers of its
/// metadata, not readers). Errors are `EnvelopeError`s: a custody that cannot reach its material (a token
/// absent, a wrong PIN) throws `EnvelopeError.Code.keyUnavailable`; material that does not authenticate
/// throws `EnvelopeError.Code.keyStore`; a primitive that fails throws `EnvelopeError.Code.crypto`.
public protocol KEKCustody: Sendable {
    /// What opening the store needs to find this custody again, kept in the store's metadata and covered by
    /// its MAC: for ``PassphraseCustody`` the Argon2id parameters and salt (`keystore.json`'s `kdf` block).
    var record: KEKCustodyRecord { get }

    /// Creates the material of a new KEK version (a 32-byte AES-256 key), returning what the store persists
    /// to find it again: the material wrapped under the custody's key, or a token object's label and
    /// `CKA_ID`. The store has not recorded the version yet: if it fails to, the material is orphaned, never
    /// used.
    /// - Throws: `EnvelopeError.Code.crypto`; `EnvelopeError.Code.keyUnavailable`.
    func generateKEK(_ identifier: KeyIdentifier) throws -> KEKReference

    /// Destroys a KEK version's material, under the store's exclusive lock, just before the store records
    /// the version destroyed: if that write fails, the version is still recorded as it was and a rerun of the
    /// destruction calls this again — so it must succeed when the material is gone already. A custody
    /// whose material is only the wrapped form the store drops (``PassphraseCustody``) has nothing to do.
    /// - Throws: `EnvelopeError.Code.keyUnavailable`; `EnvelopeError.Code.crypto`.
    func destroyKEK(_ identifier: KeyIdentifier, _ reference: KEKReference) throws

    /// The material of a KEK version (32 bytes), for sealing an envelope directly under a KEK and opening
    /// one (`SealingKey.keyEncryptionKey`).
    /// - Throws: `EnvelopeError.Code.keyNotUsable` when the custody never exports KEK material (a token:
    ///   seal with subject keys instead); `EnvelopeError.Code.keyStore` when the wrapped material does not
    ///   unwrap (the store was modified).
    func exportKEK(_ identifier: KeyIdentifier, _ reference: KEKReference) throws -> SecureBytes

    /// Wraps a 32-byte subject key under a KEK version: `nonce (12) ‖ AES-256-GCM ciphertext (32) ‖ tag (16)`,
    /// 60 bytes, with `associatedData` authenticated (the binding of KeyStoreFormat.md: subject key name,
    /// version and KEK version).
    /// - SeeAlso: NIST SP 800-38D (GCM); PKCS#11 v3.0 §2.12.6 (`CKM_AES_GCM`) for a token.
    func wrapSubjectKey(
        _ subjectKey: SecureBytes, underKEK identifier: KeyIdentifier, _ reference: KEKReference,
        associatedData: [UInt8]
    ) throws -> [UInt8]

    /// Unwraps what ``wrapSubjectKey(_:underKEK:_:associatedData:)`` made.
    /// - Throws: `EnvelopeError.Code.keyStore` when it does not authenticate under that KEK version and
    ///   associated data (the subject file was modified, or belongs to another store).
    func unwrapSubjectKey(
        _ wrapped: [UInt8], underKEK identifier: KeyIdentifier, _ reference: KEKReference, associatedData: [UInt8]
    ) throws -> SecureBytes

    /// Wraps one of the store's own secrets (the 32-byte index key of the blind indexes) for its metadata.
    /// ``PassphraseCustody``: AES-KWP (RFC 5649) under the wrap key, 40 bytes.
    func wrapStoreSecret(_ secret: SecureBytes) throws -> [UInt8]

    /// Unwraps what ``wrapStoreSecret(_:)`` made.
    /// - Throws: `EnvelopeError.Code.keyStore` when it does not unwrap (the metadata was modified).
    func unwrapStoreSecret(_ wrapped: [UInt8]) throws -> SecureBytes

    /// The MAC of the store's persisted metadata: `message` is the MAC input KeyStoreFormat.md gives.
    /// ``PassphraseCustody``: HMAC-SHA-256 under the MAC key, 32 bytes (RFC 2104).
    func authenticationCode(for message: [UInt8]) throws -> [UInt8]

    /// Whether `code` is the MAC of `message`, compared in constant time.
    func isValidAuthenticationCode(_ code: [UInt8], for message: [UInt8]) throws -> Bool
}
