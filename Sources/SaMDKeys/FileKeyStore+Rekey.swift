public import Foundation
import Logging
import SaMDCrypto
import SaMDEnvelope

/// Re-keying subject keys after a compromise: fresh material for every subject (not the same material
/// rewrapped under a new KEK, which an attacker who copied the subject keys still holds).
extension FileKeyStore {
    public func rekeySubjectKey(named subjectKeyName: String, notBefore: Date) throws -> SubjectRekey? {
        guard subjectKeyName.hasPrefix(Self.subjectPrefix), (try? KeyIdentifier(name: subjectKeyName, version: 1)) != nil else {
            throw EnvelopeError(.keyNotFound, "\(subjectKeyName) is not a subject key name")
        }
        let locks = try self.subjectLock(subjectKeyName)
        defer { withExtendedLifetime(locks) {} }
        guard var record = try self.readSubject(subjectKeyName), record.versions.contains(where: { $0.state != .destroyed }) else {
            // Shredded (or never sealed): nothing to re-key.
            return nil
        }
        guard case .keyEncryptionKey(let kekID, let kek) = try self.sealingKey(named: Self.defaultKeyName) else {
            throw EnvelopeError(.keyNotUsable, "the default KEK is not a symmetric key")
        }
        if let position = record.versions.lastIndex(where: { $0.state == .active }), record.versions[position].createdAt >= notBefore {
            let live = record.versions[position]
            let retired = record.versions.filter { $0.state != .destroyed && $0.version != live.version }.map(\.version)
            // Made by this re-key (a run resumed after a crash), or for a new subject since it began: fresh.
            var material = try self.subjectKey(for: try KeyIdentifier(name: subjectKeyName, version: live.version))
            if live.wrappedBy != kekID {
                record.versions[position].wrapped = try Self.wrapSubject(material, name: subjectKeyName, version: live.version, kekID: kekID, kek: kek)
                record.versions[position].wrappedBy = kekID
                try self.writeSubject(record)
                material = try self.subjectKey(for: try KeyIdentifier(name: subjectKeyName, version: live.version))
            }
            return SubjectRekey(newKey: .keyEncryptionKey(try KeyIdentifier(name: subjectKeyName, version: live.version), material), retiredVersions: retired)
        }
        // Every version still live (active, deactivated or compromised) is retired.
        let retired = record.versions.filter { $0.state != .destroyed }.map(\.version)
        let (version, overflow) = (record.versions.map(\.version).max() ?? 0).addingReportingOverflow(1)
        guard !overflow else {
            throw EnvelopeError(.keyStore, "subject file \(subjectKeyName) has no key version left after \(UInt32.max)")
        }
        let now = self.now()
        let material = try Self.crypto { try SecureBytes(randomByteCount: 32) }
        // Every older live version opens only from now on: no record is committed under it any more
        // (whileSealingKeyIsCurrent refuses), so the rewrap of the rows can finish.
        for index in record.versions.indices where record.versions[index].state == .active {
            record.versions[index].state = .deactivated
        }
        record.versions.append(
            StoreFormat.SubjectVersion(
                version: version,
                state: .active,
                createdAt: max(now, notBefore),
                destroyedAt: nil,
                wrappedBy: kekID,
                wrapped: try Self.wrapSubject(material, name: subjectKeyName, version: version, kekID: kekID, kek: kek)
            )
        )
        try self.writeSubject(record)
        self.logger.notice(
            "subject key re-keyed",
            metadata: ["event": "samd.keys.subject-rekeyed", "key": "\(subjectKeyName):\(version)", "retired": "\(retired.count)"]
        )
        return SubjectRekey(newKey: .keyEncryptionKey(try KeyIdentifier(name: subjectKeyName, version: version), material), retiredVersions: retired)
    }

    public func destroySubjectKeyVersions(named subjectKeyName: String, _ versions: [UInt32]) throws -> [DestructionReceipt] {
        guard subjectKeyName.hasPrefix(Self.subjectPrefix), (try? KeyIdentifier(name: subjectKeyName, version: 1)) != nil else {
            throw EnvelopeError(.keyNotFound, "\(subjectKeyName) is not a subject key name")
        }
        let locks = try self.subjectLock(subjectKeyName)
        defer { withExtendedLifetime(locks) {} }
        guard var record = try self.readSubject(subjectKeyName) else {
            throw EnvelopeError(.keyNotFound, "no subject key \(subjectKeyName)")
        }
        let live = record.versions.last(where: { $0.state == .active })?.version
        let wanted = Set(versions)
        guard live.map({ !wanted.contains($0) }) ?? true else {
            throw EnvelopeError(.keyNotUsable, "\(subjectKeyName):\(live!) is the subject's sealing version; re-key before destroying it")
        }
        let now = self.now()
        var receipts: [DestructionReceipt] = []
        for index in record.versions.indices where wanted.contains(record.versions[index].version) && record.versions[index].state != .destroyed {
            record.versions[index].state = .destroyed
            record.versions[index].destroyedAt = now
            record.versions[index].wrapped = nil
            receipts.append(
                DestructionReceipt(
                    key: try KeyIdentifier(name: subjectKeyName, version: record.versions[index].version),
                    destroyedAt: now,
                    subjectIndex: String(subjectKeyName.dropFirst(Self.subjectPrefix.count))
                )
            )
        }
        guard !receipts.isEmpty else { return [] }
        try self.writeSubject(record)
        for receipt in receipts {
            self.logger.notice("subject key version destroyed", metadata: ["event": "samd.keys.subject-version-destroyed", "key": "\(receipt.key)"])
            self.keep(receipt)
        }
        return receipts
    }

    /// Marks one version of a subject key compromised, under the subject's lock: it never seals again (the
    /// next record of the subject gets a new version with fresh material) and opens only so that a re-key
    /// can rewrap its records.
    func markSubjectKeyCompromised(_ key: KeyIdentifier) throws -> ManagedKey {
        let locks = try self.subjectLock(key.name)
        defer { withExtendedLifetime(locks) {} }
        guard var record = try self.readSubject(key.name), let index = record.versions.firstIndex(where: { $0.version == key.version }) else {
            throw EnvelopeError(.keyNotFound, "no subject key \(key)")
        }
        guard record.versions[index].state != .destroyed else {
            throw EnvelopeError(.keyDestroyed, "\(key) was destroyed")
        }
        record.versions[index].state = .compromised
        try self.writeSubject(record)
        let version = record.versions[index]
        var metadata = ManagedKey(identifier: key, state: .compromised, createdAt: version.createdAt, activatedAt: version.createdAt, cryptoperiod: 0)
        metadata.compromisedAt = self.now()
        return metadata
    }
}
