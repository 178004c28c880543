public import Foundation
public import SaMDCrypto
public import SaMDEnvelope

/// A store of versioned KEKs and per-subject keys with NIST SP 800-57 lifecycles: its data path
/// (``KeyRing``) and its administration (``KeyAdministration``).
///
/// ``FileKeyStore`` is the one implementation: its KEK material is held by a ``KEKCustody`` and its
/// metadata and subject keys kept by a ``KeyMetadataPersistence`` (see <doc:KeyManagement>).
public protocol KeyStore: KeyRing, KeyAdministration {}

extension KeyAdministration {
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

/// What ``KeyAdministration/rewrapSubjectKeys(named:)`` did.
public struct SubjectRewrapReport: Sendable {
    /// Subject key versions now wrapped under the active KEK version.
    public var rewrapped: Int
    /// Subject key versions that could not be rewrapped, with the reason (no subject ids, no key material).
    public var failed: [(key: String, reason: String)]
}

/// What ``KeyAdministration/rekeySubjectKey(named:notBefore:)`` did.
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
