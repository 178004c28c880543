import Logging
package import SaMDEnvelope

/// The store's errors for what the key store throws and for rows that are not what the store wrote.
extension EncryptedRecordStore {
    /// Logs and returns the error for a row that is not what the store wrote.
    func tampered(_ reason: String, underlying: EnvelopeError? = nil) -> RecordStoreError {
        self.logger.warning(
            "stored record failed authentication",
            metadata: [
                "event": "samd.store.record-authentication-failed",
                "reason": "\(underlying.map { "\($0.code)" } ?? "row")",
            ]
        )
        return RecordStoreError(.authenticationFailed, reason, underlying: underlying)
    }

    /// Runs a key-store call, its `EnvelopeError` turned into the store's error (``keyError(_:)``):
    /// how the rotation and re-key jobs call the key store.
    package static func keyCall<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as EnvelopeError {
            throw Self.keyError(error)
        }
    }

    package static func keyError(_ error: EnvelopeError) -> RecordStoreError {
        switch error.code {
        case .invalidContext: RecordStoreError(.invalidArgument, error.reason, underlying: error)
        case .limitExceeded: RecordStoreError(.limitExceeded, error.reason, underlying: error)
        case .io: RecordStoreError(.storage, error.reason, underlying: error)
        case .storeUnavailable: RecordStoreError(.unavailable, error.reason, underlying: error)
        default: RecordStoreError(.keyUnavailable, "\(error.code): \(error.reason)", underlying: error)
        }
    }
}
