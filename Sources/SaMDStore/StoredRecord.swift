public import Foundation
public import SaMDEnvelope
public import SaMDKeys

/// An opened record: its payload authenticated under its address.
public struct StoredRecord: Sendable {
    /// The media type it was stored with.
    public let recordType: String
    /// The plaintext, in full.
    public let payload: [UInt8]
    /// 1 for the first write, one more for each replacement.
    public let revision: Int64
    public let createdAt: Date
    public let updatedAt: Date

    package init(recordType: String, payload: [UInt8], revision: Int64, createdAt: Date, updatedAt: Date) {
        self.recordType = recordType
        self.payload = payload
        self.revision = revision
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What ``EncryptedRecordStore/put(_:subject:recordID:recordType:expectedRevision:)-(Collection<UInt8>,_,_,_,_)`` stored.
public struct RecordWriteResult: Sendable, Hashable {
    /// The record's revision now: 1 when it was created.
    public let revision: Int64
    /// The subject key the record's DEK is wrapped under (a blind name, `s-` and 32 hex digits, and version).
    public let key: KeyIdentifier
    /// Bytes of the stored envelope (payload plus header, salt, commitment and tags).
    public let envelopeByteCount: Int

    package init(revision: Int64, key: KeyIdentifier, envelopeByteCount: Int) {
        self.revision = revision
        self.key = key
        self.envelopeByteCount = envelopeByteCount
    }
}

/// What ``EncryptedRecordStore/shred(subject:)-554bx`` did.
public struct ShredReceipt: Sendable, Hashable {
    /// The key store's receipt: the destroyed subject key, when, and the subject's blind index.
    public let receipt: DestructionReceipt
    /// Rows of the subject the shredding deleted (sealed under the destroyed key, they could never be opened).
    public let recordCount: Int

    package init(receipt: DestructionReceipt, recordCount: Int) {
        self.receipt = receipt
        self.recordCount = recordCount
    }
}

/// Counts of what a store holds.
public struct RecordStoreStatistics: Sendable, Hashable {
    public let recordCount: Int
    /// Distinct subjects with at least one row (a shredded subject's rows are deleted).
    public let subjectCount: Int
    /// Bytes of all stored envelopes.
    public let envelopeByteCount: Int
    /// Subjects with a kept shredding receipt.
    public let shreddedSubjectCount: Int

    package init(recordCount: Int, subjectCount: Int, envelopeByteCount: Int, shreddedSubjectCount: Int) {
        self.recordCount = recordCount
        self.subjectCount = subjectCount
        self.envelopeByteCount = envelopeByteCount
        self.shreddedSubjectCount = shreddedSubjectCount
    }
}
