import Foundation
import Logging
import SaMDCrypto
import SaMDEnvelope

/// Crypto-shredding a subject: every version of its key destroyed under the subject's lock, and a receipt.
extension FileKeyStore {
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
        self.persistence.eraseLeftovers(ofSubject: name)
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
}
