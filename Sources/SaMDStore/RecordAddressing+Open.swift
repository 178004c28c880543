import Foundation
package import SaMDEnvelope
package import SaMDKeys

/// The last step of every backend's `get`: a stored row (untrusted) opened under its address, or the reason why
/// not.
extension RecordAddressing {
    /// A row's columns as read from the database, before anything in them is trusted.
    package struct StoredRow {
        package let recordType: String
        package let envelope: [UInt8]
        package let revision: Int64
        /// Seconds since 1970.
        package let createdAt: Double
        /// Seconds since 1970.
        package let updatedAt: Double

        package init(recordType: String, envelope: [UInt8], revision: Int64, createdAt: Double, updatedAt: Double) {
            self.recordType = recordType
            self.envelope = envelope
            self.revision = revision
            self.createdAt = createdAt
            self.updatedAt = updatedAt
        }
    }

    /// Opens `row`, found at `address` for (`subject`, `recordID`), with that patient's own subject key only
    /// (``PatientKeyProvider``); its payload only when every byte authenticated under this address.
    /// - Parameters:
    ///   - shredReceipt: the subject's receipt, for a record whose key was destroyed.
    ///   - tampered: logs and makes the error of a row that is not what the store wrote.
    /// - Throws: `RecordStoreError` — `authenticationFailed` (through `tampered`) for a record type that is not
    ///   one or does not fit the address, or a row that does not open under this address; `shredded` with the
    ///   receipt; the key store's errors mapped by `EncryptedRecordStore.keyError(_:)`.
    package func open(
        _ row: StoredRow, subject: String, recordID: String, at address: Address,
        shredReceipt: () -> DestructionReceipt?, tampered: (String, EnvelopeError?) -> RecordStoreError
    ) throws -> StoredRecord {
        guard EncryptedRecordStore.isValidRecordType(row.recordType),
            Self.addressByteCount(subject, recordID, row.recordType) <= EncryptedRecordStore.maximumAddressByteCount
        else {
            throw tampered("the stored row's record type does not fit the address it is stored at", nil)
        }
        let context = try Self.context(subject: subject, recordID: recordID, recordType: row.recordType)
        do {
            let keys = PatientKeyProvider(keyStore: self.keyStore, subjectKeyName: "s-" + address.subjectIndex)
            return StoredRecord(
                recordType: row.recordType,
                payload: try Envelope.open(row.envelope, context: context, keys: keys),
                revision: row.revision,
                createdAt: Date(timeIntervalSince1970: row.createdAt),
                updatedAt: Date(timeIntervalSince1970: row.updatedAt)
            )
        } catch let error as EnvelopeError {
            switch error.code {
            case .keyDestroyed:
                throw RecordStoreError(
                    .shredded, "the subject was crypto-shredded", underlying: error, receipt: shredReceipt())
            case .authenticationFailed, .truncated, .malformed, .unsupportedVersion, .unsupportedSuite, .limitExceeded:
                throw tampered(
                    "the stored row does not open under this address: tampered with or copied from another record",
                    error)
            default:
                throw EncryptedRecordStore.keyError(error)
            }
        }
    }

    /// Whether `error`, thrown by ``open(_:subject:recordID:at:shredReceipt:tampered:)``, may come from a row read
    /// just before a re-key rewrapped it (another thread or instance): the key version it names is destroyed, yet
    /// the store keeps no receipt of a shredding. The row is then read once more; if it is unchanged, the error
    /// stands. Read again at most ``rereadsAfterRekey`` times, as long as the row changes each time (re-keys one after
    /// another).
    package static func mayBeReadBeforeRekey(_ error: RecordStoreError) -> Bool {
        error.code == .shredded && error.receipt == nil && error.underlying?.code == .keyDestroyed
    }

    /// How many times a `get` reads a row again after a re-key destroyed the version it named: 8.
    package static let rereadsAfterRekey = 8

    /// The error for an address with no row: `shredded` with the subject's receipt (the one the store kept,
    /// else the key store's), otherwise `notFound`.
    package func absent(subject: String, keptReceipt: () throws -> DestructionReceipt?) throws -> RecordStoreError {
        if let receipt = try keptReceipt()
            ?? EncryptedRecordStore.keyCall({ try self.keyStore.shredReceipt(subject: subject) })
        {
            return RecordStoreError(.shredded, "the subject was crypto-shredded", receipt: receipt)
        }
        return RecordStoreError(.notFound, "no record at this address")
    }
}
