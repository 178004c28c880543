import Foundation
package import SaMDEnvelope
package import SaMDKeys

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
            let key = try Self.keyCall { try self.keyStore.subjectSealingKey(subject: subject) }
            return try StreamedRecord(
                key: key, context: context, suite: self.configuration.payloadSuite, spoolDirectory: self.directory)
        }
        let last = try await upload.sealPieces(of: body, limit: limit) { try await RecordStoreThreadPool.run($0) }
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

/// A streamed record being sealed (both backends' streamed puts): its key, sealer and unnamed spool file, which
/// holds the envelope's header and sealed chunks (ciphertext only). Used by one task at a time, in turn (the
/// caller's loop hands each piece to a thread and waits), hence `@unchecked Sendable`.
package final class StreamedRecord: @unchecked Sendable {
    package let key: KeyIdentifier
    package let spool: RecordSpool
    private let sealer: EnvelopeSealer

    /// Starts the envelope under `key` for `context` in a new spool file in `spoolDirectory`.
    /// - Throws: `RecordStoreError` — the sealer's `EnvelopeError` mapped by `EncryptedRecordStore.keyError(_:)`;
    ///   `storage` when the spool file cannot be made or written.
    package init(key: SealingKey, context: EncryptionContext, suite: PayloadSuite, spoolDirectory: String) throws {
        do {
            self.sealer = try EnvelopeSealer(context: context, to: key, suite: suite)
            self.key = key.identifier
        } catch let error as EnvelopeError {
            throw EncryptedRecordStore.keyError(error)
        }
        self.spool = try RecordSpool(directory: spoolDirectory)
        try self.sealer.header.withUnsafeBytes { try self.spool.append($0) }
    }

    /// Reads `body` to its end, sealing every full piece of `EncryptedRecordStore.streamingPieceByteCount`
    /// bytes through `run` (the store's threads), and returns the last, partial piece, which the caller seals
    /// with ``finish()`` and its commit.
    /// - Throws: `RecordStoreError.limitExceeded` as soon as more than `limit` bytes arrived; what `body` or a
    ///   seal throws.
    package func sealPieces<Body: AsyncSequence>(
        of body: Body, limit: Int, on run: (@escaping @Sendable () throws -> Void) async throws -> Void
    ) async throws -> [UInt8] where Body.Element: Collection<UInt8> {
        var pending: [UInt8] = []
        pending.reserveCapacity(EncryptedRecordStore.streamingPieceByteCount)
        var received = 0
        for try await piece in body {
            received += piece.count
            guard received <= limit else {
                throw RecordStoreError(.limitExceeded, "a record is at most \(limit) bytes; more arrived")
            }
            if piece.withContiguousStorageIfAvailable({ pending.append(contentsOf: $0) }) == nil {
                pending.append(contentsOf: piece)
            }
            if pending.count >= EncryptedRecordStore.streamingPieceByteCount {
                let full = pending
                try await run { try self.seal(full) }
                pending.removeAll(keepingCapacity: true)
            }
        }
        return pending
    }

    /// Seals `plaintext` into the spool file.
    package func seal(_ plaintext: [UInt8]) throws {
        try plaintext.withUnsafeBytes { bytes in
            try self.sealer.update(bytes) { try self.spool.append($0) }
        }
    }

    /// Seals the last chunk and the end of the envelope into the spool file.
    package func finish() throws {
        try self.sealer.finish { try self.spool.append($0) }
    }
}
