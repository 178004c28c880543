public import SaMDCrypto
public import SaMDEnvelope
public import SaMDKeys

/// An error from a record store (``RecordStore``: ``EncryptedRecordStore`` or the PostgreSQL store of `SaMDPostgres`).
///
/// Compare by ``code``, which is stable. No description carries a subject id, a record id, payload bytes
/// or key material: the store's callers log these errors as they are.
public struct RecordStoreError: CodedError {
    public let code: Code
    /// What went wrong, in words, without identifiers or patient data.
    public let reason: String
    /// The envelope or key-store error underneath, when there is one.
    public let underlying: EnvelopeError?
    /// For ``Code/shredded``: the destruction receipt, when the store still has it.
    public let receipt: DestructionReceipt?
    public let file: String
    public let line: Int

    /// An error with `code` and `reason` (no identifier, no patient data, no key material), for the stores of
    /// this package (``EncryptedRecordStore``, and the stores on other databases that implement
    /// ``RecordStore`` and ``KeyJobStore``).
    package init(
        _ code: Code,
        _ reason: String,
        underlying: EnvelopeError? = nil,
        receipt: DestructionReceipt? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.reason = reason
        self.underlying = underlying
        self.receipt = receipt
        self.file = file
        self.line = line
    }

    /// Whether trying the same call again may succeed: ``Code/conflict`` (read the record again first),
    /// ``Code/storage`` (a busy or full disk, an I/O error), ``Code/unavailable`` (the database cannot be reached
    /// now), and ``Code/keyUnavailable`` when the key store
    /// was busy (its lock not had within its timeout: `underlying` is `EnvelopeError.Code.keyUnavailable`).
    /// An authentication failure, a shredded subject or a refused argument never will.
    public var isRetryable: Bool {
        self.code == .conflict || self.code == .storage || self.code == .unavailable
            || (self.code == .keyUnavailable && self.underlying?.code == .keyUnavailable)
    }

    /// The stable identity of a ``RecordStoreError``.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's name, as its property is spelled (`authenticationFailed`…).
        public let description: String

        private init(_ description: String) {
            self.description = description
        }

        /// No record at that subject and record id.
        public static let notFound = Code("notFound")
        /// The subject was crypto-shredded: its key is destroyed and the record can never be opened.
        public static let shredded = Code("shredded")
        /// A subject id, record id or record type outside the accepted shapes (see ``EncryptedRecordStore``).
        public static let invalidArgument = Code("invalidArgument")
        /// A payload larger than the configured maximum, or a stored row larger than any record may be.
        public static let limitExceeded = Code("limitExceeded")
        /// A conditional write found another revision than the one expected.
        public static let conflict = Code("conflict")
        /// The stored row does not open under its address: tampered with, or copied from another record.
        public static let authenticationFailed = Code("authenticationFailed")
        /// The key the record needs is missing, not usable, or the key store refused or was busy past its lock
        /// timeout (see `underlying`; ``RecordStoreError/isRetryable`` tells the busy case).
        public static let keyUnavailable = Code("keyUnavailable")
        /// The database or the file system failed (busy past the timeout, full, unreadable, damaged).
        public static let storage = Code("storage")
        /// A database server cannot be reached now (down, restarting, unreachable, every pooled connection busy
        /// past the wait allowed): nothing was done, or a write's outcome is unknown (its compare-and-set makes
        /// the retry safe). A service answers 503 with `Retry-After`.
        public static let unavailable = Code("unavailable")
        /// A sealed upload (``RecordStore/put(sealedEnvelope:subject:recordID:recordType:expectedRevision:)``)
        /// does not open under the record's encryption context with the recipient key it names: tampered (the key
        /// commitment, a chunk's tag), truncated, trailing bytes, or sealed for another address or type. Nothing
        /// was stored; sending it again never helps.
        public static let envelopeNotAuthentic = Code("envelopeNotAuthentic")
        /// A sealed upload that is not a SaMDKit envelope, or one not sealed to a recipient key (a KEK-mode
        /// envelope). Nothing was stored.
        public static let notSealedToRecipient = Code("notSealedToRecipient")
        /// A sealed upload sealed to a recipient key version the store does not hold (never made, or destroyed).
        /// Nothing was stored; it can never be opened.
        public static let recipientKeyUnknown = Code("recipientKeyUnknown")
    }
}
