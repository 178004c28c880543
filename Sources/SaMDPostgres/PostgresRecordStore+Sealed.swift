import Logging
import NIOCore
import PostgresNIO
import SaMDEnvelope
import SaMDKeys
public import SaMDStore

extension PostgresRecordStore {
    /// Stores an envelope a device sealed to the key store's recipient key without re-encrypting it: the semantics
    /// of `EncryptedRecordStore.put(sealedEnvelope:subject:recordID:recordType:expectedRevision:)` — spooled as it
    /// arrives into an unnamed file in ``Configuration/spoolDirectory`` (ciphertext only), checked by opening it
    /// chunk by chunk under the record's encryption context (no plaintext kept), its header rewrapped to the
    /// patient's subject key and the payload stored as sealed, sent to PostgreSQL in pieces as a streamed put's.
    /// A redelivery of the very envelope stored there writes nothing (`alreadyStored`).
    /// - Throws: `RecordStoreError` — `notSealedToRecipient`, `recipientKeyUnknown`, `envelopeNotAuthentic`
    ///   (nothing stored); `invalidArgument`, `limitExceeded`, `conflict`, `keyUnavailable`, `unavailable`,
    ///   `storage`; what `body` throws.
    public func put<Body: AsyncSequence>(
        sealedEnvelope body: Body, subject: String, recordID: String, recordType: String, expectedRevision: Int64?
    ) async throws -> SealedRecordWriteResult where Body.Element: Collection<UInt8> {
        let maximum = self.configuration.maximumRecordByteCount
        let (address, context, upload) = try await self.run {
            (
                try self.addressing.address(subject: subject, recordID: recordID, recordType: recordType),
                try RecordAddressing.context(subject: subject, recordID: recordID, recordType: recordType),
                try SealedUpload(spoolDirectory: self.configuration.spoolDirectory)
            )
        }
        try await upload.receive(body, limit: SealedUpload.maximumEnvelopeByteCount(forRecordsOf: maximum)) {
            try await self.run($0)
        }
        try await self.run {
            try upload.check(context: context, keyStore: self.keyStore, maximumRecordByteCount: maximum)
        }
        for attempt in 1...3 {
            let stored = try await Self.mapErrors("reading a record") {
                try await self.pool.withConnection { connection in
                    try await PostgresRecordRows.readPrefix(connection, at: address, logger: self.logger)
                }
            }
            if let stored, stored.recordType == recordType,
                upload.isStored(prefix: stored.prefix, byteCount: stored.byteCount),
                expectedRevision == nil || expectedRevision == stored.revision,
                let key = try? EnvelopeHeader.parse(stored.prefix).key
            {
                return SealedRecordWriteResult(
                    write: RecordWriteResult(revision: stored.revision, key: key, envelopeByteCount: stored.byteCount),
                    alreadyStored: true)
            }
            let (key, keyRevision, envelope, envelopeByteCount) = try await self.run {
                let (key, keyRevision) = try self.sealingKey(subject: subject)
                let spool = try upload.rewrapped(to: key)
                return (key.identifier, keyRevision, PostgresRecordRows.EnvelopeSource.spool(spool), spool.byteCount)
            }
            let condition = expectedRevision ?? stored?.revision ?? 0
            let outcome: Int64?
            do {
                outcome = try await self.commitChecked(
                    key: key, keyRevision: keyRevision, attempt: attempt, readsSpool: true
                ) { connection in
                    try await PostgresRecordRows.write(
                        connection, envelope: envelope, at: address, recordType: recordType, wrappingKey: key,
                        keyRevision: self.keysInSameDatabase ? keyRevision : nil, expectedRevision: condition,
                        logger: self.logger)
                }
            } catch let error as RecordStoreError
                where error.code == .conflict && expectedRevision == nil && attempt < 3
            {
                continue // another write meanwhile: compared again (it may have been this very envelope)
            }
            if let revision = outcome {
                return SealedRecordWriteResult(
                    write: RecordWriteResult(revision: revision, key: key, envelopeByteCount: envelopeByteCount),
                    alreadyStored: false)
            }
        }
        throw RecordStoreError(
            .storage, "the subject's key kept changing while the record was stored; send it again")
    }
}

extension PostgresRecordRows {
    /// The first bytes of the envelope stored at `address` (its header and payload prefix), its size, revision and
    /// record type; `nil` when there is no row, or one that is not what the store writes.
    static func readPrefix(
        _ connection: PostgresConnection, at address: RecordAddressing.Address, logger: Logger
    ) async throws -> (prefix: [UInt8], byteCount: Int, revision: Int64, recordType: String)? {
        let length = Int32(EnvelopeHeader.maximumByteCount + ChunkedPayload.headerByteCount)
        let index = ByteBuffer(bytes: address.recordIndex)
        let rows = try await connection.query(
            """
            SELECT subject_index, record_type, revision, octet_length(envelope)::bigint, \
            substring(envelope from 1 for \(length)) FROM samd_record WHERE record_index = \(index)
            """, logger: logger)
        var found: (prefix: [UInt8], byteCount: Int, revision: Int64, recordType: String)?
        for try await row in rows {
            guard
                let (subjectIndex, recordType, revision, size, prefix) = try? row.decode(
                    (String, String, Int64, Int64, ByteBuffer).self),
                subjectIndex == address.subjectIndex, revision >= 1
            else { continue }
            found = (Array(prefix.readableBytesView), Int(size), revision, recordType)
        }
        return found
    }
}
