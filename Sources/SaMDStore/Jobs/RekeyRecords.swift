public import Foundation
public import SaMDEnvelope

/// A record row listed for a re-key (``KeyJobStore/rekeyRecordPage(subjectIndex:notUnder:after:limit:inlineEnvelopeByteCount:)``):
/// its key, the values its compare-and-set compares, and its envelope when small. Its values are of the types
/// the store writes; the envelope is untrusted until its header parses and unwraps.
public struct RekeyRecord: Sendable {
    /// The row's `record_index` (32 bytes as the store writes it).
    public let recordIndex: Data
    /// The row's `revision` when listed.
    public let revision: Int64
    /// The row's `wrapping_key` when listed, as stored (compared exactly when the row is written).
    public let wrappingKey: String
    /// The envelope's size in bytes (0 or more).
    public let envelopeByteCount: Int
    /// The envelope, when at most the page's inline size; `nil` for a larger one (read alone when written).
    /// A job sets it to `nil` once it has rewrapped it, so that a page's envelopes are not held twice.
    public var envelope: Data?

    /// - Parameters:
    ///   - recordIndex: `record_index`.
    ///   - revision: `revision`.
    ///   - wrappingKey: `wrapping_key`, as stored.
    ///   - envelopeByteCount: the envelope's size in bytes, 0 or more.
    ///   - envelope: the envelope, when small enough to come with the page.
    public init(recordIndex: Data, revision: Int64, wrappingKey: String, envelopeByteCount: Int, envelope: Data?) {
        self.recordIndex = recordIndex
        self.revision = revision
        self.wrappingKey = wrappingKey
        self.envelopeByteCount = envelopeByteCount
        self.envelope = envelope
    }
}

/// One page of a subject's record rows to re-key.
public struct RekeyRecordPage: Sendable {
    /// The rows of the types the store writes, in ascending order of `record_index`.
    public var records: [RekeyRecord]
    /// Rows of the page whose values are of other types (an edited table): not rewrapped, so their subject
    /// keeps its old key versions and is reported.
    public var damagedRowCount: Int
    /// The `record_index` to list the next page after; `nil` when this page is the last: it had fewer rows
    /// than the limit, or its last row's key is not of the type the store writes (the pass ends there).
    public var next: Data?

    /// - Parameters:
    ///   - records: the rows of the types the store writes.
    ///   - damagedRowCount: the page's other rows.
    ///   - next: where the next page starts; `nil` after the last.
    public init(records: [RekeyRecord], damagedRowCount: Int, next: Data?) {
        self.records = records
        self.damagedRowCount = damagedRowCount
        self.next = next
    }
}

/// A record row's envelope rewrapped to its subject's new key version, to write with a compare-and-set
/// (``KeyJobStore/writeRewrappedRecords(_:)``).
public struct RewrappedRecord: Sendable {
    /// The row's `record_index`.
    public let recordIndex: Data
    /// The `revision` the row must still have.
    public let revision: Int64
    /// The `wrapping_key` the row must still have, as stored.
    public let wrappingKey: String
    /// The key the new envelope's header names: the row's new `wrapping_key`.
    public let newKey: KeyIdentifier
    /// The envelope with its header rewrapped; the payload bytes as they were.
    public let envelope: Data

    /// - Parameters:
    ///   - recordIndex: the row's `record_index`.
    ///   - revision: the `revision` it was listed with.
    ///   - wrappingKey: the `wrapping_key` it was listed with.
    ///   - newKey: the key the new envelope is under.
    ///   - envelope: the new envelope.
    public init(recordIndex: Data, revision: Int64, wrappingKey: String, newKey: KeyIdentifier, envelope: Data) {
        self.recordIndex = recordIndex
        self.revision = revision
        self.wrappingKey = wrappingKey
        self.newKey = newKey
        self.envelope = envelope
    }
}
