public import Foundation
import Logging
import SaMDCrypto
public import SaMDEnvelope

/// Re-keying subject keys after a compromise: fresh material for every subject (not the same material
/// rewrapped under a new KEK, which an attacker who copied the subject keys still holds).
extension FileKeyStore {
    public func rekeySubjectKeys(named subjectKeyNames: [String], notBefore: Date) -> [String: Result<
        SubjectRekey?, EnvelopeError
    >] {
        var results: [String: Result<SubjectRekey?, EnvelopeError>] = [:]
        let names = Set(subjectKeyNames).sorted()
        let kek: StoreFormat.StoredKey
        do {
            kek = try self.sealingKEK(named: Self.defaultKeyName)
        } catch {
            let failure = Self.envelopeError(error)
            for name in names { results[name] = .failure(failure) }
            return results
        }
        // The store lock once for the batch, then every subject's lock, each held until its new version is
        // durable (the batch's directory sync): a writer may seal under the new version as soon as it can read it.
        let store: any KeyStoreLock
        do {
            store = try self.storeLock(.shared)
        } catch {
            let failure = Self.envelopeError(error)
            for name in names { results[name] = .failure(failure) }
            return results
        }
        var locks: [any KeyStoreLock] = []
        defer { withExtendedLifetime((store, locks)) {} }
        var writes: [(subject: StoreFormat.Subject, rekey: SubjectRekey, made: Bool)] = []
        for name in names {
            do {
                guard name.hasPrefix(Self.subjectPrefix), (try? KeyIdentifier(name: name, version: 1)) != nil else {
                    throw EnvelopeError(.keyNotFound, "\(name) is not a subject key name")
                }
                locks.append(try self.lockOfSubject(name))
                guard var record = try self.readSubject(name),
                    record.versions.contains(where: { $0.state != .destroyed })
                else {
                    // Shredded (or never sealed): nothing to re-key.
                    results[name] = .success(nil)
                    continue
                }
                let (rekey, changed, made) = try self.rekey(&record, notBefore: notBefore, kek: kek)
                if changed {
                    writes.append((record, rekey, made))
                } else {
                    results[name] = .success(rekey)
                }
            } catch {
                results[name] = .failure(Self.envelopeError(error))
            }
        }
        do {
            try self.writeSubjects(writes.map(\.subject))
            for write in writes {
                results[write.subject.id] = .success(write.rekey)
                if write.made {
                    self.logger.notice(
                        "subject key re-keyed",
                        metadata: [
                            "event": "samd.keys.subject-rekeyed", "key": "\(write.rekey.newKey.identifier)",
                            "retired": "\(write.rekey.retiredVersions.count)",
                        ]
                    )
                }
            }
        } catch {
            for write in writes { results[write.subject.id] = .failure(Self.envelopeError(error)) }
        }
        return results
    }

    /// Re-keys one subject's record in memory: a new version with fresh material, or — when the live version
    /// was created at or after `notBefore` (a resumed run) — that version, rewrapped under the sealing KEK
    /// version if it is not already.
    /// - Returns: the re-key, with the material of the versions it retires; `changed` when the record must be
    ///   written, `made` when it has a new version.
    private func rekey(
        _ record: inout StoreFormat.Subject, notBefore: Date, kek: StoreFormat.StoredKey
    ) throws -> (rekey: SubjectRekey, changed: Bool, made: Bool) {
        let name = record.id
        let kekID = kek.metadata.identifier
        func retiredKeys(except live: UInt32?) throws -> [KeyIdentifier: SecureBytes] {
            var keys: [KeyIdentifier: SecureBytes] = [:]
            for version in record.versions where version.state != .destroyed && version.version != live {
                keys[try KeyIdentifier(name: name, version: version.version)] = try self.unwrapSubject(
                    version, name: name)
            }
            return keys
        }
        if let position = record.versions.lastIndex(where: { $0.state == .active }),
            record.versions[position].createdAt >= notBefore
        {
            // Made by this re-key (a run resumed after a crash), or for a new subject since it began: fresh.
            let live = record.versions[position]
            let identifier = try KeyIdentifier(name: name, version: live.version)
            let material = try self.unwrapSubject(live, name: name)
            var changed = false
            if live.wrappedBy != kekID {
                record.versions[position].wrapped = try self.wrapSubject(
                    material, name: name, version: live.version, kek: kek)
                record.versions[position].wrappedBy = kekID
                changed = true
            }
            let retired = try retiredKeys(except: live.version)
            return (
                SubjectRekey(
                    newKey: .keyEncryptionKey(identifier, material),
                    retiredVersions: retired.keys.map(\.version).sorted(), retiredKeys: retired), changed, false
            )
        }
        // Every version still live (active, deactivated or compromised) is retired.
        let retired = try retiredKeys(except: nil)
        let (version, overflow) = (record.versions.map(\.version).max() ?? 0).addingReportingOverflow(1)
        guard !overflow else {
            throw EnvelopeError(.keyStore, "subject file \(name) has no key version left after \(UInt32.max)")
        }
        let material = try cryptoCall { try SecureBytes(randomByteCount: 32) }
        // Every older live version opens only from now on: no record is committed under it any more
        // (whileSealingKeyIsCurrent refuses), so the rewrap of the rows can finish.
        for index in record.versions.indices where record.versions[index].state == .active {
            record.versions[index].state = .deactivated
        }
        record.versions.append(
            StoreFormat.SubjectVersion(
                version: version,
                state: .active,
                createdAt: max(self.now(), notBefore),
                destroyedAt: nil,
                wrappedBy: kekID,
                wrapped: try self.wrapSubject(material, name: name, version: version, kek: kek)
            )
        )
        let identifier = try KeyIdentifier(name: name, version: version)
        return (
            SubjectRekey(
                newKey: .keyEncryptionKey(identifier, material), retiredVersions: retired.keys.map(\.version).sorted(),
                retiredKeys: retired), true, true
        )
    }

    public func destroySubjectKeyVersions(_ versions: [String: [UInt32]]) -> [String: Result<
        [DestructionReceipt], EnvelopeError
    >] {
        var results: [String: Result<[DestructionReceipt], EnvelopeError>] = [:]
        // The store lock once for the batch, then each subject's (see rekeySubjectKeys).
        let store: any KeyStoreLock
        do {
            store = try self.storeLock(.shared)
        } catch {
            let failure = Self.envelopeError(error)
            for name in versions.keys { results[name] = .failure(failure) }
            return results
        }
        var locks: [any KeyStoreLock] = []
        defer { withExtendedLifetime((store, locks)) {} }
        var writes: [(subject: StoreFormat.Subject, receipts: [DestructionReceipt])] = []
        let now = self.now()
        for (name, wanted) in versions.sorted(by: { $0.key < $1.key }) {
            do {
                guard name.hasPrefix(Self.subjectPrefix), (try? KeyIdentifier(name: name, version: 1)) != nil else {
                    throw EnvelopeError(.keyNotFound, "\(name) is not a subject key name")
                }
                locks.append(try self.lockOfSubject(name))
                guard var record = try self.readSubject(name) else {
                    throw EnvelopeError(.keyNotFound, "no subject key \(name)")
                }
                let live = record.versions.last(where: { $0.state == .active })?.version
                let wanted = Set(wanted)
                guard live.map({ !wanted.contains($0) }) ?? true else {
                    throw EnvelopeError(
                        .keyNotUsable, "\(name):\(live!) is the subject's sealing version; re-key before destroying it")
                }
                var receipts: [DestructionReceipt] = []
                for index in record.versions.indices
                where wanted.contains(record.versions[index].version) && record.versions[index].state != .destroyed {
                    record.versions[index].state = .destroyed
                    record.versions[index].destroyedAt = now
                    record.versions[index].wrapped = nil
                    receipts.append(
                        DestructionReceipt(
                            key: try KeyIdentifier(name: name, version: record.versions[index].version),
                            destroyedAt: now,
                            subjectIndex: String(name.dropFirst(Self.subjectPrefix.count))
                        )
                    )
                }
                if receipts.isEmpty {
                    results[name] = .success([])
                } else {
                    writes.append((record, receipts))
                }
            } catch {
                results[name] = .failure(Self.envelopeError(error))
            }
        }
        do {
            try self.writeSubjects(writes.map(\.subject))
        } catch {
            for write in writes { results[write.subject.id] = .failure(Self.envelopeError(error)) }
            return results
        }
        let receipts = writes.flatMap(\.receipts)
        for write in writes { results[write.subject.id] = .success(write.receipts) }
        for receipt in receipts {
            self.logger.notice(
                "subject key version destroyed",
                metadata: ["event": "samd.keys.subject-version-destroyed", "key": "\(receipt.key)"])
        }
        self.keep(receipts)
        return results
    }

    /// Marks one version of a subject key compromised, under the subject's lock: it never seals again (the
    /// next record of the subject gets a new version with fresh material) and opens only so that a re-key
    /// can rewrap its records.
    func markSubjectKeyCompromised(_ key: KeyIdentifier) throws -> ManagedKey {
        let locks = try self.subjectLock(key.name)
        defer { withExtendedLifetime(locks) {} }
        guard var record = try self.readSubject(key.name),
            let index = record.versions.firstIndex(where: { $0.version == key.version })
        else {
            throw EnvelopeError(.keyNotFound, "no subject key \(key)")
        }
        guard record.versions[index].state != .destroyed else {
            throw EnvelopeError(.keyDestroyed, "\(key) was destroyed")
        }
        record.versions[index].state = .compromised
        try self.writeSubject(record)
        let version = record.versions[index]
        var metadata = ManagedKey(
            identifier: key, state: .compromised, createdAt: version.createdAt, activatedAt: version.createdAt,
            cryptoperiod: .zero)
        metadata.compromisedAt = self.now()
        return metadata
    }
}
