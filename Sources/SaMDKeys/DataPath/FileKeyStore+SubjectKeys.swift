import Foundation
import Logging
import SaMDCrypto
public import SaMDEnvelope

/// The data path's subject keys: one key per patient between the KEK and that patient's record DEKs, made on
/// first use and wrapped under the KEK version that seals now — inside the custody.
///
/// A subject's key is named `s-` followed by 32 hex digits: the first 16 bytes of
/// HMAC-SHA-256(index key, "samd-subject-v1" ‖ 0x00 ‖ subject id). The subject id itself is stored
/// nowhere; without the index key (inside the store) the name does not reveal whose key it is.
extension FileKeyStore {
    public func subjectSealingKey(subject: String) throws -> SealingKey {
        try self.subjectSealingKeyAndRevision(subject: subject).key
    }

    /// ``subjectSealingKey(subject:)`` with the revision of the subject key's persisted record the key was taken
    /// from (for PostgreSQL its generation; `nil` when the persistence could not tell). A record store in the
    /// same database as the key store commits a record only while that revision is still the current one (in the
    /// record's own transaction), so a record is never stored under a key shredded, re-keyed or rewrapped
    /// meanwhile by another instance — without taking the key store's locks.
    /// - Throws: as ``subjectSealingKey(subject:)``.
    public func subjectSealingKeyAndRevision(subject: String) throws -> (key: SealingKey, revision: MetadataRevision?) {
        let name = Self.subjectPrefix + (try self.subjectIndex(of: subject))
        // The fast path: no lock, no file read, no custody call. The KEK must still be able to seal (active, in
        // its cryptoperiod: checked on the cached state); any KEK or subject-key change since the key was cached
        // changes its validity.
        _ = try self.sealingKEK(named: Self.defaultKeyName)
        if let (validity, revision) = self.subjectKeyValidityAndRevision(name),
            let cached = self.subjectKeys.sealingKey(forSubjectKeyNamed: name, validity: validity)
        {
            return (cached, revision)
        }
        let locks = try self.subjectLock(name)
        defer { withExtendedLifetime(locks) {} }
        var record = try self.readSubject(name) ?? StoreFormat.Subject(id: name, versions: [])
        // Subject keys seal only while the KEK can seal (active, in its cryptoperiod, not below the
        // minimum version), and only wrapped under that very version.
        let kek = try self.sealingKEK(named: Self.defaultKeyName)
        let kekID = kek.metadata.identifier
        if let position = record.versions.lastIndex(where: { $0.state == .active }) {
            let live = record.versions[position]
            let material = try self.unwrapSubject(live, name: name)
            if live.wrappedBy != kekID {
                record.versions[position].wrapped = try self.wrapSubject(
                    material, name: name, version: live.version, kek: kek)
                record.versions[position].wrappedBy = kekID
                try self.writeSubject(record)
            }
            return self.cacheSealingKey(try KeyIdentifier(name: name, version: live.version), material)
        }
        // First key for this subject, or a new one after shredding: the next version. Subject files are not
        // authenticated as a whole, so the largest version may be a forged 2^32 - 1.
        let (version, overflow) = (record.versions.map(\.version).max() ?? 0).addingReportingOverflow(1)
        guard !overflow else {
            throw EnvelopeError(.keyStore, "subject file \(name) has no key version left after \(UInt32.max)")
        }
        let material = try cryptoCall { try SecureBytes(randomByteCount: 32) }
        record.versions.append(
            StoreFormat.SubjectVersion(
                version: version,
                state: .active,
                createdAt: self.now(),
                destroyedAt: nil,
                wrappedBy: kekID,
                wrapped: try self.wrapSubject(material, name: name, version: version, kek: kek)
            )
        )
        try self.writeSubject(record)
        return self.cacheSealingKey(try KeyIdentifier(name: name, version: version), material)
    }

    /// Keeps the sealing key just read or written, with the subject lock still held (so the validity is that of
    /// what was written), and returns it with the revision of what was written.
    private func cacheSealingKey(_ identifier: KeyIdentifier, _ material: SecureBytes) -> (
        key: SealingKey, revision: MetadataRevision?
    ) {
        let validity = self.subjectKeyValidityAndRevision(identifier.name)
        if let (validity, _) = validity {
            self.subjectKeys.insertSealingKey(identifier, material, validity: validity)
        }
        return (
            .keyEncryptionKey(identifier, material),
            validity?.revision ?? self.persistence.subjectRevision(named: identifier.name)
        )
    }

    func subjectKey(for identifier: KeyIdentifier) throws -> SecureBytes {
        // The validity is read before the record: if the record changes after, the entry kept is already stale.
        _ = try self.current()
        let validity = self.subjectKeyValidity(identifier.name)
        if let validity, let cached = self.subjectKeys.openingKey(for: identifier, validity: validity) {
            return cached
        }
        guard let record = try self.readSubject(identifier.name),
            let version = record.versions.first(where: { $0.version == identifier.version })
        else {
            throw EnvelopeError(.keyNotFound, "no subject key \(identifier)")
        }
        let material = try self.unwrapSubject(version, name: identifier.name)
        if let validity { self.subjectKeys.insertOpeningKey(identifier, material, validity: validity) }
        return material
    }

    func unwrapSubject(_ version: StoreFormat.SubjectVersion, name: String) throws -> SecureBytes {
        guard version.state != .destroyed, let wrapped = version.wrapped, let kekID = version.wrappedBy else {
            throw EnvelopeError(
                .keyDestroyed, "the subject key \(name):\(version.version) was destroyed (crypto-shredded)")
        }
        // A subject key is wrapped by a KEK, never by another subject key (which could also loop).
        guard !kekID.name.hasPrefix(Self.subjectPrefix) else {
            throw EnvelopeError(.keyStore, "subject file \(name) names a subject key as its wrapping key")
        }
        let kek = try self.openingKEK(kekID)
        let reference = try kek.reference()
        let bytes = try StoreFormat.decodeBase64(wrapped, limit: 60, "wrapped subject key")
        guard bytes.count == 60 else { throw EnvelopeError(.keyStore, "a wrapped subject key is 60 bytes") }
        let binding = StoreFormat.subjectBinding(id: name, version: version.version, kek: kekID)
        do {
            return try self.custody.unwrapSubjectKey(bytes, underKEK: kekID, reference, associatedData: binding)
        } catch let error as EnvelopeError where error.code == .keyStore {
            // Key material that does not authenticate is a damaged key store, as for a wrapped KEK: the subject
            // file was modified (its bytes, version or wrapping key), or belongs to another store.
            throw EnvelopeError(
                .keyStore,
                "the wrapped subject key \(name):\(version.version) does not unwrap (\(error.reason)): the subject file was "
                    + "modified, or its KEK's material is not what wrapped it",
                underlying: error.underlying)
        }
    }

    /// A subject key wrapped under a KEK version by the custody, with the binding of KeyStoreFormat.md as
    /// associated data: base64 of 60 bytes.
    func wrapSubject(_ key: SecureBytes, name: String, version: UInt32, kek: StoreFormat.StoredKey) throws -> String {
        let binding = StoreFormat.subjectBinding(id: name, version: version, kek: kek.metadata.identifier)
        return Data(
            try self.custody.wrapSubjectKey(
                key, underKEK: kek.metadata.identifier, try kek.reference(), associatedData: binding)
        ).base64EncodedString()
    }
}
