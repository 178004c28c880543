import Foundation
import Logging
import SaMDCrypto
public import SaMDEnvelope
import Synchronization

/// Subject keys: one key per patient between the KEK and that patient's record DEKs.
///
/// A subject's key is named `s-` followed by 32 hex digits: the first 16 bytes of
/// HMAC-SHA-256(index key, "samd-subject-v1" ‖ 0x00 ‖ subject id). The subject id itself is stored
/// nowhere; without the index key (inside the store) the name does not reveal whose key it is.
extension FileKeyStore {
    static let subjectPrefix = "s-"

    public func subjectIndex(of subject: String) throws -> String {
        // NFC, as encryption-context values: one patient id typed composed or decomposed is one subject, so
        // its length is measured after normalising too (as blindIndex does).
        let normalised = subject.precomposedStringWithCanonicalMapping
        guard !normalised.isEmpty, normalised.utf8.count <= 512 else {
            throw EnvelopeError(.invalidContext, "a subject id is 1 to 512 bytes after NFC normalisation")
        }
        let mac = try self.indexMAC(Array("samd-subject-v1".utf8) + [0] + Array(normalised.utf8))
        return mac.prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    public func blindIndex(domain: String, _ components: [String]) throws -> [UInt8] {
        guard !domain.isEmpty, domain.utf8.count <= 64 else {
            throw EnvelopeError(.invalidContext, "a blind-index domain is 1 to 64 bytes")
        }
        var message = Array("samd-blind-v1".utf8) + [0] + Array(domain.utf8) + [0]
        for component in components {
            let bytes = Array(component.precomposedStringWithCanonicalMapping.utf8)
            guard !bytes.isEmpty, bytes.count <= 512 else {
                throw EnvelopeError(.invalidContext, "an identifier in a blind index is 1 to 512 bytes")
            }
            message += [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xff)] + bytes
        }
        return try self.indexMAC(message)
    }

    /// HMAC-SHA-256 under the index key (unwrapped on first use, then kept: every put and get computes two
    /// or three indexes).
    private func indexMAC(_ message: [UInt8]) throws -> [UInt8] {
        let wrapped = try self.current().indexKey
        let indexKey = try self.indexKeyCache.withLock { cache throws -> SecureBytes in
            if let cache, cache.wrapped == wrapped { return cache.key }
            let key = try Self.unwrap(wrapped, under: self.wrapKey, what: "index key")
            cache = (wrapped, key)
            return key
        }
        return try Self.crypto { try DigestAlgorithm.sha256.authenticationCode(for: message, key: indexKey) }
    }

    /// The store lock, shared, then `name`'s own lock: what every read-modify-write of one subject key holds.
    /// - Throws: `EnvelopeError.Code.keyUnavailable` past ``lockTimeout``.
    func subjectLock(_ name: String) throws -> (store: StoreLock, subject: StoreLock) {
        let store = try self.storeLock(.shared)
        return (store, try self.lockOfSubject(name))
    }

    /// A subject's own lock alone, for a caller that already holds the store lock shared: a batch takes the
    /// store lock once for all its subjects. Taking it again per subject, while holding the subjects before,
    /// deadlocked with a writer of `keystore.json` waiting in the store lock's queue (each waited for the other
    /// until the lock timeout).
    func lockOfSubject(_ name: String) throws -> StoreLock {
        try StoreLock(path: "\(self.subjectsDirectory)/\(name).lock", mode: .exclusive, timeout: self.lockTimeout)
    }

    func subjectPath(_ name: String) -> String {
        "\(self.subjectsDirectory)/\(name).json"
    }

    func readSubject(_ name: String) throws -> StoreFormat.Subject? {
        let bytes: [UInt8]
        do {
            bytes = try StoreFile.read(self.subjectPath(name), limit: StoreFormat.subjectFileLimit)
        } catch let error as EnvelopeError where error.code == .keyNotFound {
            return nil
        }
        do {
            let subject = try StoreFormat.decoder.decode(StoreFormat.Subject.self, from: Data(bytes))
            guard subject.id == name else { throw EnvelopeError(.keyStore, "subject file \(name) names \(subject.id)") }
            return subject
        } catch let error as EnvelopeError {
            throw error
        } catch {
            throw EnvelopeError(.keyStore, "subject file \(name) is corrupted or truncated")
        }
    }

    /// Writes a subject key file atomically; called with the subject's lock held (``subjectLock(_:)``), so its
    /// temporary has a fixed name and a killed writer's is replaced in constant time — not found by listing a
    /// directory of every subject, which made each write cost more as the store grew (whole-store rotation and
    /// re-key were quadratic in the number of subjects).
    func writeSubject(_ subject: StoreFormat.Subject) throws {
        try self.writeSubjects([subject])
    }

    /// Writes several subject key files, each atomically, with one directory sync for them all; called with
    /// every one's lock held.
    func writeSubjects(_ subjects: [StoreFormat.Subject]) throws {
        try StoreFile.writeAtomically(
            try subjects.map { (Array(try StoreFormat.encoder.encode($0)), self.subjectPath($0.id)) },
            lockedTemporary: true)
    }

    public func subjectSealingKey(subject: String) throws -> SealingKey {
        let name = Self.subjectPrefix + (try self.subjectIndex(of: subject))
        let locks = try self.subjectLock(name)
        defer { withExtendedLifetime(locks) {} }
        var record = try self.readSubject(name) ?? StoreFormat.Subject(id: name, versions: [])
        // Subject keys seal only while the KEK can seal (active, in its cryptoperiod, not below the
        // minimum version), and only wrapped under that very version.
        guard case .keyEncryptionKey(let kekID, let kek) = try self.sealingKey(named: Self.defaultKeyName) else {
            throw EnvelopeError(.keyNotUsable, "the default KEK is not a symmetric key")
        }
        if let position = record.versions.lastIndex(where: { $0.state == .active }) {
            let live = record.versions[position]
            let material = try self.unwrapSubject(live, name: name)
            if live.wrappedBy != kekID {
                record.versions[position].wrapped = try Self.wrapSubject(
                    material, name: name, version: live.version, kekID: kekID, kek: kek)
                record.versions[position].wrappedBy = kekID
                try self.writeSubject(record)
            }
            return .keyEncryptionKey(try KeyIdentifier(name: name, version: live.version), material)
        }
        // First key for this subject, or a new one after shredding: the next version. Subject files are not
        // authenticated as a whole, so the largest version may be a forged 2^32 - 1.
        let (version, overflow) = (record.versions.map(\.version).max() ?? 0).addingReportingOverflow(1)
        guard !overflow else {
            throw EnvelopeError(.keyStore, "subject file \(name) has no key version left after \(UInt32.max)")
        }
        let material = try Self.crypto { try SecureBytes(randomByteCount: 32) }
        record.versions.append(
            StoreFormat.SubjectVersion(
                version: version,
                state: .active,
                createdAt: self.now(),
                destroyedAt: nil,
                wrappedBy: kekID,
                wrapped: try Self.wrapSubject(material, name: name, version: version, kekID: kekID, kek: kek)
            )
        )
        try self.writeSubject(record)
        return .keyEncryptionKey(try KeyIdentifier(name: name, version: version), material)
    }

    func subjectKey(for identifier: KeyIdentifier) throws -> SecureBytes {
        guard let record = try self.readSubject(identifier.name),
            let version = record.versions.first(where: { $0.version == identifier.version })
        else {
            throw EnvelopeError(.keyNotFound, "no subject key \(identifier)")
        }
        return try self.unwrapSubject(version, name: identifier.name)
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
        let kek = try self.keyEncryptionKey(for: kekID)
        let bytes = try StoreFormat.decodeBase64(wrapped, limit: 60, "wrapped subject key")
        guard bytes.count == 60 else { throw EnvelopeError(.keyStore, "a wrapped subject key is 60 bytes") }
        let binding = StoreFormat.subjectBinding(id: name, version: version.version, kek: kekID)
        do {
            return try AEADKeyWrap.unwrap(bytes, using: kek, associatedData: binding)
        } catch let error as CryptoError where error.code == .authenticationFailed {
            // Key material that does not authenticate is a damaged key store, as for a wrapped KEK (unwrap):
            // the subject file was modified (its bytes, version or wrapping key), or belongs to another store.
            throw EnvelopeError(
                .keyStore,
                "the wrapped subject key \(name):\(version.version) does not unwrap: the subject file was modified",
                underlying: error)
        } catch let error as CryptoError {
            throw EnvelopeError(.crypto, error.reason, underlying: error)
        }
    }

    static func wrapSubject(_ key: SecureBytes, name: String, version: UInt32, kekID: KeyIdentifier, kek: SecureBytes)
        throws -> String
    {
        let binding = StoreFormat.subjectBinding(id: name, version: version, kek: kekID)
        return try self.crypto {
            Data(try AEADKeyWrap.wrap(key, using: kek, associatedData: binding)).base64EncodedString()
        }
    }

    public func shred(subject: String) throws -> DestructionReceipt {
        let index = try self.subjectIndex(of: subject)
        let name = Self.subjectPrefix + index
        let locks = try self.subjectLock(name)
        defer { withExtendedLifetime(locks) {} }
        guard var record = try self.readSubject(name), record.versions.contains(where: { $0.state != .destroyed })
        else {
            throw EnvelopeError(.keyNotFound, "no live key for this subject")
        }
        let now = self.now()
        var last: UInt32 = 0
        for position in record.versions.indices where record.versions[position].state != .destroyed {
            record.versions[position].state = .destroyed
            record.versions[position].destroyedAt = now
            record.versions[position].wrapped = nil
            last = record.versions[position].version
        }
        try self.writeSubject(record)
        // No copy of the wrapped key may outlive the shredding: temporaries an older version left behind too.
        StoreFile.removeStaleTemporaries(of: self.subjectPath(name))
        let receipt = DestructionReceipt(
            key: try KeyIdentifier(name: name, version: last), destroyedAt: now, subjectIndex: index)
        self.logger.notice(
            "subject crypto-shredded",
            metadata: ["event": "samd.keys.subject-shredded", "key": "\(receipt.key)", "destroyed_at": "\(now)"]
        )
        self.keep(receipt)
        return receipt
    }

    public func shredReceipt(subject: String) throws -> DestructionReceipt? {
        let index = try self.subjectIndex(of: subject)
        // Shredded when its latest version is destroyed (a re-key destroys older versions only).
        guard let record = try self.readSubject(Self.subjectPrefix + index),
            let last = record.versions.max(by: { $0.version < $1.version }), last.state == .destroyed,
            let destroyedAt = last.destroyedAt
        else { return nil }
        return DestructionReceipt(
            key: try KeyIdentifier(name: record.id, version: last.version), destroyedAt: destroyedAt,
            subjectIndex: index)
    }

    public func rewrapSubjectKeys(named name: String) throws -> SubjectRewrapReport {
        // One subject at a time, each under its own lock with the store lock shared: writers of other
        // subjects go on meanwhile. The target version is read again under each lock, so a rotation that
        // slips in between is followed (the subjects before it are brought to it by the next run).
        var report = SubjectRewrapReport(rewrapped: 0, failed: [])
        var target: KeyIdentifier?
        for id in try self.subjectKeyNames() {
            do {
                let locks = try self.subjectLock(id)
                defer { withExtendedLifetime(locks) {} }
                guard case .keyEncryptionKey(let kekID, let kek) = try self.sealingKey(named: name) else {
                    return SubjectRewrapReport(rewrapped: 0, failed: [])
                }
                target = kekID
                let knownNames = Set(try self.current().keys.map(\.metadata.identifier.name))
                self.rewrapLocked(id, kekID: kekID, kek: kek, knownNames: knownNames, report: &report)
            } catch let error as EnvelopeError where error.code == .keyUnavailable {
                report.failed.append((id, "\(error.code): \(error.reason)"))
            }
        }
        let kekID = try target ?? self.sealingKey(named: name).identifier
        self.logger.notice(
            "subject keys rewrapped",
            metadata: [
                "event": "samd.keys.subjects-rewrapped", "key": "\(kekID)", "count": "\(report.rewrapped)",
                "failed": "\(report.failed.count)",
            ]
        )
        for failure in report.failed {
            self.logger.error(
                "subject key not rewrapped",
                metadata: ["event": "samd.keys.subject-rewrap-failed", "key": "\(failure.key)"])
        }
        return report
    }

    public func subjectKeyNames() throws -> [String] {
        try StoreFile.list(self.subjectsDirectory)
            .filter { $0.hasPrefix(Self.subjectPrefix) && $0.hasSuffix(".json") }
            .map { String($0.dropLast(5)) }
            .sorted()
    }

    public func rewrapSubjectKey(named subjectKeyName: String, toActiveVersionOf kekName: String) throws -> Int {
        guard subjectKeyName.hasPrefix(Self.subjectPrefix),
            (try? KeyIdentifier(name: subjectKeyName, version: 1)) != nil
        else {
            throw EnvelopeError(.keyNotFound, "\(subjectKeyName) is not a subject key name")
        }
        let locks = try self.subjectLock(subjectKeyName)
        defer { withExtendedLifetime(locks) {} }
        guard case .keyEncryptionKey(let kekID, let kek) = try self.sealingKey(named: kekName) else {
            throw EnvelopeError(.keyNotUsable, "\(kekName) is not a symmetric KEK")
        }
        var report = SubjectRewrapReport(rewrapped: 0, failed: [])
        let knownNames = Set(try self.current().keys.map(\.metadata.identifier.name))
        self.rewrapLocked(subjectKeyName, kekID: kekID, kek: kek, knownNames: knownNames, report: &report)
        if let failure = report.failed.first {
            self.logger.error(
                "subject key not rewrapped",
                metadata: ["event": "samd.keys.subject-rewrap-failed", "key": "\(failure.key)"])
            throw EnvelopeError(.keyStore, "subject key \(failure.key) not rewrapped: \(failure.reason)")
        }
        return report.rewrapped
    }

    /// Rewraps the live versions of subject key `id` that name another version of `kekID`'s KEK, with the
    /// store lock held by the caller; failures go into `report`, and the other versions go on.
    private func rewrapLocked(
        _ id: String,
        kekID: KeyIdentifier,
        kek: SecureBytes,
        knownNames: Set<String>,
        report: inout SubjectRewrapReport
    ) {
        do {
            guard var record = try self.readSubject(id) else { return }
            var changed = false
            for position in record.versions.indices {
                let version = record.versions[position]
                guard version.state != .destroyed, let wrappedBy = version.wrappedBy, wrappedBy != kekID else {
                    continue
                }
                guard wrappedBy.name == kekID.name else {
                    if !knownNames.contains(wrappedBy.name) {
                        report.failed.append(
                            (
                                "\(id):\(version.version)",
                                "keyStore: wrapped by \(wrappedBy), which is not a KEK of this store"
                            ))
                    }
                    continue
                }
                do {
                    let material = try self.unwrapSubject(version, name: id)
                    record.versions[position].wrapped = try Self.wrapSubject(
                        material, name: id, version: version.version, kekID: kekID, kek: kek)
                    record.versions[position].wrappedBy = kekID
                    changed = true
                    report.rewrapped += 1
                } catch let error as EnvelopeError {
                    report.failed.append(("\(id):\(version.version)", "\(error.code): \(error.reason)"))
                }
            }
            if changed { try self.writeSubject(record) }
        } catch let error as EnvelopeError {
            report.failed.append((id, "\(error.code): \(error.reason)"))
        } catch {
            report.failed.append((id, "io: \(error)"))
        }
    }

    /// Live subject key versions wrapped under `kek` (they would be lost with it).
    func subjectKeysWrapped(under kek: KeyIdentifier) throws -> [String] {
        var found: [String] = []
        for file in try StoreFile.list(self.subjectsDirectory)
        where file.hasPrefix(Self.subjectPrefix) && file.hasSuffix(".json") {
            let id = String(file.dropLast(5))
            // A subject file that cannot be read might wrap under `kek`: refuse rather than guess.
            let record: StoreFormat.Subject
            do {
                guard let read = try self.readSubject(id) else { continue }
                record = read
            } catch let error as EnvelopeError {
                throw EnvelopeError(
                    .keyStore, "cannot tell whether subject key \(id) depends on \(kek): \(error.reason)")
            }
            for version in record.versions where version.state != .destroyed && version.wrappedBy == kek {
                found.append("\(id):\(version.version)")
            }
        }
        return found
    }
}
