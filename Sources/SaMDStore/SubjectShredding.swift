package import Logging
package import SaMDEnvelope
package import SaMDKeys

/// Crypto-shredding of one subject, the same over every backend's rows (`EncryptedRecordStore`, SaMDPostgres's
/// store): the key store destroys the subject key and gives its receipt, then the store deletes the subject's
/// rows sealed under that version or older and keeps the receipt, in one transaction (`keep`).
///
/// A subject without a live key was shredded before: the receipt the store kept is returned, with its record
/// count — unless the key store's receipt is newer (the key was erased but its receipt never reached the store:
/// busy, full, killed), and then that shredding is completed now (`completed=true` in the event).
package enum SubjectShredding {
    /// Shreds `subject`.
    /// - Parameters:
    ///   - keptReceipt: the receipt the store holds for the subject, if any.
    ///   - shreddedRecordCount: the records counted when the store kept that receipt.
    ///   - keep: deletes the rows the receipt covers and keeps it; returns the records deleted (plus any counted
    ///     before).
    /// - Throws: `RecordStoreError` — `notFound` (no key and no receipt), the key store's errors mapped by
    ///   `EncryptedRecordStore.keyError(_:)`, and whatever the three closures throw.
    package static func shred(
        subject: String, keyStore: any KeyStore, logger: Logger,
        keptReceipt: () throws -> DestructionReceipt?, shreddedRecordCount: () throws -> Int,
        keep: (DestructionReceipt) throws -> Int
    ) throws -> ShredReceipt {
        let receipt: DestructionReceipt
        var completed = false
        do {
            receipt = try keyStore.shred(subject: subject)
        } catch let error as EnvelopeError where error.code == .keyNotFound {
            let kept = try keptReceipt()
            guard let erased = try EncryptedRecordStore.keyCall({ try keyStore.shredReceipt(subject: subject) }),
                erased.key.version > kept?.key.version ?? 0
            else {
                guard let kept else { throw RecordStoreError(.notFound, "the subject has no key to shred") }
                return ShredReceipt(receipt: kept, recordCount: try shreddedRecordCount())
            }
            receipt = erased
            completed = true
        } catch let error as EnvelopeError {
            throw EncryptedRecordStore.keyError(error)
        }
        let count = try keep(receipt)
        var metadata: Logger.Metadata = [
            "event": "samd.store.subject-shredded", "key": "\(receipt.key)", "records": "\(count)",
        ]
        if completed { metadata["completed"] = "true" }
        logger.notice("subject records shredded", metadata: metadata)
        return ShredReceipt(receipt: receipt, recordCount: count)
    }
}
