/// A store of encrypted patient records, called from async code: what a service such as the records gateway
/// needs, whatever the database behind it.
///
/// Every method may be called concurrently from any task. Implementations never block the caller's thread:
/// ``EncryptedRecordStore`` runs its SQLite and key-store work on ``RecordStoreThreadPool``; a store on a
/// network database awaits its driver. Errors are ``RecordStoreError`` with the codes each method names, the
/// same for every implementation, so one conformance suite checks them all.
public protocol RecordStore: Sendable {
    /// The largest payload accepted, in bytes.
    var maximumRecordByteCount: Int { get }

    /// Seals `payload` and stores it at (`subject`, `recordID`) — see
    /// ``EncryptedRecordStore/put(_:subject:recordID:recordType:expectedRevision:)-(Collection<UInt8>,_,_,_,_)`` for the shapes accepted.
    /// - Returns: the new revision (1 for a new record) and the key the record is sealed under.
    /// - Throws: ``RecordStoreError`` — `invalidArgument`, `limitExceeded`, `conflict`, `keyUnavailable`,
    ///   `storage`.
    func put(
        _ payload: [UInt8], subject: String, recordID: String, recordType: String, expectedRevision: Int64?
    ) async throws -> RecordWriteResult

    /// The most bytes of a record that ``put(streaming:subject:recordID:recordType:expectedRevision:)`` holds in
    /// memory at once, beside the piece `body` hands it.
    var streamingBufferByteCount: Int { get }

    /// Seals a record as it arrives from `body` and stores it, holding at most ``streamingBufferByteCount``
    /// bytes of it in memory; nothing is stored unless `body` ends normally, and what `body` throws is rethrown
    /// as it is. Same shapes, compare-and-set and errors as ``put(_:subject:recordID:recordType:expectedRevision:)``;
    /// also ``RecordStoreError/Code/storage`` (retryable) when the subject's key changed while the record
    /// arrived.
    func put<Body: AsyncSequence>(
        streaming body: Body, subject: String, recordID: String, recordType: String, expectedRevision: Int64?
    ) async throws -> RecordWriteResult where Body.Element: Collection<UInt8>

    /// Stores an envelope a device sealed to the key store's recipient key, without re-encrypting it: checked by
    /// opening it under the encryption context the store binds for the address (nothing of its plaintext is kept),
    /// its header rewrapped to the patient's subject key, its payload stored as sealed; a redelivery of the very
    /// envelope stored there writes nothing (`alreadyStored`). See
    /// ``EncryptedRecordStore/put(sealedEnvelope:subject:recordID:recordType:expectedRevision:)``.
    /// - Throws: ``RecordStoreError`` — `notSealedToRecipient`, `recipientKeyUnknown`, `envelopeNotAuthentic`
    ///   (nothing stored), and the errors of ``put(streaming:subject:recordID:recordType:expectedRevision:)``.
    func put<Body: AsyncSequence>(
        sealedEnvelope body: Body, subject: String, recordID: String, recordType: String, expectedRevision: Int64?
    ) async throws -> SealedRecordWriteResult where Body.Element: Collection<UInt8>

    /// Opens the record at (`subject`, `recordID`); its payload only when every byte authenticated.
    /// - Throws: ``RecordStoreError`` — `notFound`, `shredded` (with the receipt), `authenticationFailed`,
    ///   `limitExceeded`, `keyUnavailable`, `storage`.
    func get(subject: String, recordID: String) async throws -> StoredRecord

    /// Crypto-shreds `subject`: destroys its key, deletes its records, keeps the receipt. Idempotent.
    /// - Throws: ``RecordStoreError`` — `notFound` (no key and no receipt), `keyUnavailable`, `storage`.
    func shred(subject: String) async throws -> ShredReceipt

    /// Counts of what the store holds; no identifier.
    /// - Throws: ``RecordStoreError/Code/storage``.
    func statistics() async throws -> RecordStoreStatistics
}

extension RecordStore {
    /// Stores `payload` unconditionally (no compare-and-set).
    @discardableResult
    public func put(_ payload: [UInt8], subject: String, recordID: String, recordType: String) async throws
        -> RecordWriteResult
    {
        try await self.put(
            payload, subject: subject, recordID: recordID, recordType: recordType, expectedRevision: nil)
    }
}
