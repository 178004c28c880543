import Foundation
import SaMDEnvelope
import SaMDKeys

extension EncryptedRecordStore {
    /// The plaintext a streamed put holds at most before it seals it: 1 MiB (then sealed into the spool file).
    public static let streamingPieceByteCount = 1 << 20

    /// Seals a record as it arrives and stores it at (`subject`, `recordID`), holding at most
    /// ``streamingPieceByteCount`` bytes of it in memory: the plaintext is sealed piece by piece (the same
    /// envelope as ``put(_:subject:recordID:recordType:expectedRevision:)-(Collection<UInt8>,_,_,_,_)``, 16 KiB
    /// chunks) into an unnamed spool file in the store's directory (ciphertext only; it disappears with its
    /// descriptor), and the envelope is written into its row from there in pieces (SQLite's incremental blob
    /// I/O), in one transaction with the same compare-and-set. Sealing and the database run on
    /// ``RecordStoreThreadPool``; `body` is read on the caller's task.
    ///
    /// Nothing is stored unless `body` ends normally: an error `body` throws (a connection lost, a deadline, a
    /// limit of the caller's) is rethrown as it is, and the spool file is gone.
    /// - Parameters:
    ///   - body: the record's bytes, in pieces of any size.
    ///   - subject: the patient's identifier (as for the in-memory `put`).
    ///   - recordID: the record's identifier within the subject.
    ///   - recordType: a media type, bound into the encryption context.
    ///   - expectedRevision: `nil` writes unconditionally; `0` only if no record is there; `n` only at revision `n`.
    /// - Returns: the new revision, the key the record is sealed under, the envelope's size.
    /// - Throws: ``RecordStoreError/Code/invalidArgument``; ``RecordStoreError/Code/limitExceeded`` as soon as
    ///   more than ``Configuration/maximumRecordByteCount`` bytes arrived; ``RecordStoreError/Code/conflict``;
    ///   ``RecordStoreError/Code/keyUnavailable``; ``RecordStoreError/Code/storage`` — also when the subject's
    ///   key changed while the record arrived (a rotation or shredding: send it again); what `body` throws.
    @discardableResult
    public func put<Body: AsyncSequence>(
        streaming body: Body, subject: String, recordID: String, recordType: String, expectedRevision: Int64?
    ) async throws -> RecordWriteResult where Body.Element: Collection<UInt8> {
        let address = try self.address(subject: subject, recordID: recordID, recordType: recordType)
        let context = try Self.context(subject: subject, recordID: recordID, recordType: recordType)
        let limit = self.configuration.maximumRecordByteCount
        let upload = try await RecordStoreThreadPool.run {
            try StreamedRecord(store: self, subject: subject, context: context)
        }
        var pending: [UInt8] = []
        pending.reserveCapacity(Self.streamingPieceByteCount)
        var received = 0
        for try await piece in body {
            received += piece.count
            guard received <= limit else {
                throw RecordStoreError(.limitExceeded, "a record is at most \(limit) bytes; more arrived")
            }
            if piece.withContiguousStorageIfAvailable({ pending.append(contentsOf: $0) }) == nil {
                pending.append(contentsOf: piece)
            }
            if pending.count >= Self.streamingPieceByteCount {
                do {
                    let full = pending
                    try await RecordStoreThreadPool.run { try upload.seal(full) }
                }
                pending.removeAll(keepingCapacity: true)
            }
        }
        let last = pending
        return try await RecordStoreThreadPool.run {
            try upload.seal(last)
            try upload.finish()
            let revision: Int64
            do {
                revision = try self.keyStore.whileSealingKeyIsCurrent(upload.key) {
                    try self.commit(
                        .spool(upload.spool), at: address, recordType: recordType, wrappingKey: upload.key,
                        expectedRevision: expectedRevision)
                }
            } catch let error as EnvelopeError where error.code == .keyNotUsable {
                // Rotated or shredded meanwhile: the record, already sealed under the old key, is not stored.
                throw RecordStoreError(
                    .storage,
                    "the subject's key changed while the record arrived (a rotation or shredding); send it again",
                    underlying: error)
            } catch let error as EnvelopeError {
                throw Self.keyError(error)
            }
            if revision > 1 {
                self.truncateWAL(after: "replacing a record")
            }
            return RecordWriteResult(revision: revision, key: upload.key, envelopeByteCount: upload.spool.byteCount)
        }
    }
}

/// A streamed record being sealed: its key, sealer and spool file. Used by one task at a time, in turn (the
/// caller's loop hands each piece to the thread pool and waits), hence `@unchecked Sendable`.
private final class StreamedRecord: @unchecked Sendable {
    let key: KeyIdentifier
    let spool: RecordSpool
    private let sealer: EnvelopeSealer

    init(store: EncryptedRecordStore, subject: String, context: EncryptionContext) throws {
        do {
            let key = try store.keyStore.subjectSealingKey(subject: subject)
            self.sealer = try EnvelopeSealer(context: context, to: key, suite: store.configuration.payloadSuite)
            self.key = key.identifier
        } catch let error as EnvelopeError {
            throw EncryptedRecordStore.keyError(error)
        }
        self.spool = try RecordSpool(directory: store.directory)
        try self.sealer.header.withUnsafeBytes { try self.spool.append($0) }
    }

    func seal(_ plaintext: [UInt8]) throws {
        try plaintext.withUnsafeBytes { bytes in
            try self.sealer.update(bytes) { try self.spool.append($0) }
        }
    }

    func finish() throws {
        try self.sealer.finish { try self.spool.append($0) }
    }
}
