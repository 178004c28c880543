import Foundation
import GRDB
import SaMDEnvelope
import SaMDKeys

extension EncryptedRecordStore {
    /// Stores an envelope a device sealed to the key store's recipient key (`KeyAdministration.rotateRecipientKey()`,
    /// `RecipientPublicKey`) at (`subject`, `recordID`) without re-encrypting it: spooled as it arrives (an unnamed
    /// file in the store's directory, ciphertext only), checked by opening it chunk by chunk with the recipient
    /// private key under the encryption context the store binds for that address
    /// (`subject`, `record`, `type`) — the key commitment and every chunk's tag; each
    /// chunk's plaintext is dropped at once and never leaves the check — then its header rewrapped from the
    /// recipient key to the patient's subject key. The payload bytes are stored as the device sealed them, so
    /// `get(subject:recordID:)` returns exactly the bytes the device sealed. Same compare-and-set, blind indexes,
    /// shredding and rotation semantics as ``put(streaming:subject:recordID:recordType:expectedRevision:)``; a
    /// subject key that changes between the rewrap and the commit is taken again (the rewrap touches the header
    /// only), at most three times.
    ///
    /// A redelivery — the very same envelope already stored at that address, recognised by its payload's first
    /// bytes (salt ‖ key commitment, unique per envelope), its payload length and record type, while the stored
    /// record still is that upload — writes nothing and answers `alreadyStored` with the stored revision. With
    /// `expectedRevision` `nil`, the commit is conditional on the revision seen by that comparison, so two
    /// deliveries of one envelope at once store it once.
    /// - Parameters:
    ///   - body: the envelope's bytes, in pieces of any size; at most the envelope of a
    ///     ``Configuration/maximumRecordByteCount``-byte record.
    ///   - subject: the patient's identifier.
    ///   - recordID: the record's identifier within the subject.
    ///   - recordType: the media type bound into the envelope's encryption context.
    ///   - expectedRevision: `nil` writes unconditionally; `0` only if no record is there; `n` only at revision `n`.
    /// - Returns: the revision, the subject key, the stored envelope's size, and whether it was stored already.
    /// - Throws: ``RecordStoreError`` — ``RecordStoreError/Code/notSealedToRecipient``,
    ///   ``RecordStoreError/Code/recipientKeyUnknown``, ``RecordStoreError/Code/envelopeNotAuthentic`` (nothing
    ///   stored); ``RecordStoreError/Code/limitExceeded``; ``RecordStoreError/Code/invalidArgument``;
    ///   ``RecordStoreError/Code/conflict``; ``RecordStoreError/Code/keyUnavailable``;
    ///   ``RecordStoreError/Code/storage``; what `body` throws.
    public func put<Body: AsyncSequence>(
        sealedEnvelope body: Body, subject: String, recordID: String, recordType: String, expectedRevision: Int64?
    ) async throws -> SealedRecordWriteResult where Body.Element: Collection<UInt8> {
        let address = try self.address(subject: subject, recordID: recordID, recordType: recordType)
        let context = try Self.context(subject: subject, recordID: recordID, recordType: recordType)
        let maximum = self.configuration.maximumRecordByteCount
        let upload = try SealedUpload(spoolDirectory: self.directory)
        try await upload.receive(body, limit: SealedUpload.maximumEnvelopeByteCount(forRecordsOf: maximum)) {
            try await RecordStoreThreadPool.run($0)
        }
        return try await RecordStoreThreadPool.run {
            try upload.check(context: context, keyStore: self.keyStore, maximumRecordByteCount: maximum)
            var attempt = 0
            while true {
                attempt += 1
                let stored = try self.readEnvelopePrefix(at: address)
                if let stored, stored.recordType == recordType,
                    upload.isStored(prefix: stored.prefix, byteCount: stored.byteCount),
                    expectedRevision == nil || expectedRevision == stored.revision
                {
                    let key = try EnvelopeHeader.parse(stored.prefix).key
                    return SealedRecordWriteResult(
                        write: RecordWriteResult(
                            revision: stored.revision, key: key, envelopeByteCount: stored.byteCount),
                        alreadyStored: true)
                }
                let key = try Self.keyCall { try self.keyStore.subjectSealingKey(subject: subject) }
                let spool = try upload.rewrapped(to: key)
                do {
                    let revision = try self.keyStore.whileSealingKeyIsCurrent(key.identifier) {
                        try self.commit(
                            .spool(spool), at: address, recordType: recordType, wrappingKey: key.identifier,
                            expectedRevision: expectedRevision ?? stored?.revision ?? 0)
                    }
                    if revision > 1 { self.truncateWAL(after: "replacing a record") }
                    return SealedRecordWriteResult(
                        write: RecordWriteResult(
                            revision: revision, key: key.identifier, envelopeByteCount: spool.byteCount),
                        alreadyStored: false)
                } catch let error as EnvelopeError where error.code == .keyNotUsable && attempt < 3 {
                    continue
                } catch let error as RecordStoreError
                    where error.code == .conflict && expectedRevision == nil && attempt < 3
                {
                    continue // another write meanwhile: compared again (it may have been this very envelope)
                } catch let error as EnvelopeError where error.code == .keyNotUsable {
                    throw RecordStoreError(
                        .storage, "the subject's key kept changing while the record was stored; send it again",
                        underlying: error)
                } catch let error as EnvelopeError {
                    throw Self.keyError(error)
                }
            }
        }
    }

    /// The first bytes of the envelope stored at `address` (its header and payload prefix), its size, revision and
    /// record type; `nil` when there is no row or it is not what the store writes (then never "already stored").
    func readEnvelopePrefix(at address: Address) throws -> (
        prefix: [UInt8], byteCount: Int, revision: Int64, recordType: String
    )? {
        let prefixLength = EnvelopeHeader.maximumByteCount + ChunkedPayload.headerByteCount
        return try self.reading("reading a record") { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT typeof(envelope) AS kind, length(envelope) AS size, substr(envelope, 1, ?) AS prefix,
                        subject_index, record_type, revision FROM record WHERE record_index = ?
                        """,
                    arguments: [prefixLength, Data(address.recordIndex)])
            else { return nil }
            guard Self.text(row, "kind") == "blob", Self.text(row, "subject_index") == address.subjectIndex,
                let size = Self.integer(row, "size"), let revision = Self.integer(row, "revision"), revision >= 1,
                let recordType = Self.text(row, "record_type"), let prefix = row["prefix"] as Data?
            else { return nil }
            return (Array(prefix), Int(size), revision, recordType)
        }
    }
}
