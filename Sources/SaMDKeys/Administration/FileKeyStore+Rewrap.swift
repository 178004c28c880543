import Foundation
import Logging
import SaMDCrypto
import SaMDEnvelope

/// Rewrapping subject keys under the active version of a KEK (after a rotation), and finding the subject keys
/// a KEK version still wraps (before destroying it).
extension FileKeyStore {
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
                let kek = try self.sealingKEK(named: name)
                let kekID = kek.metadata.identifier
                target = kekID
                let knownNames = Set(try self.current().keys.map(\.metadata.identifier.name))
                self.rewrapLocked(id, kekID: kekID, kek: kek, knownNames: knownNames, report: &report)
            } catch let error as EnvelopeError where error.code == .keyUnavailable {
                report.failed.append((id, "\(error.code): \(error.reason)"))
            }
        }
        let kekID = try target ?? self.sealingKEK(named: name).metadata.identifier
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
        try self.persistence.subjectNames().filter { $0.hasPrefix(Self.subjectPrefix) }
    }

    public func rewrapSubjectKey(named subjectKeyName: String, toActiveVersionOf kekName: String) throws -> Int {
        guard subjectKeyName.hasPrefix(Self.subjectPrefix),
            (try? KeyIdentifier(name: subjectKeyName, version: 1)) != nil
        else {
            throw EnvelopeError(.keyNotFound, "\(subjectKeyName) is not a subject key name")
        }
        let locks = try self.subjectLock(subjectKeyName)
        defer { withExtendedLifetime(locks) {} }
        let kek = try self.sealingKEK(named: kekName)
        let kekID = kek.metadata.identifier
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
        kek: StoreFormat.StoredKey,
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
                    record.versions[position].wrapped = try self.wrapSubject(
                        material, name: id, version: version.version, kek: kek)
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
        for id in try self.subjectKeyNames() {
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
