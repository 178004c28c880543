public import SaMDCrypto

/// An error from SaMDEnvelope or SaMDKeys.
///
/// Compare by ``code``, which is stable. The kinds are kept apart on purpose: an authentication
/// failure (tampered data, wrong encryption context, wrong key — indistinguishable by design) is
/// never retried and never reported as a missing key; no description carries key bytes, plaintext
/// or encryption-context values.
public struct EnvelopeError: CodedError {
    public let code: Code
    /// What went wrong, in words, without secrets or patient data.
    public let reason: String
    /// The `CryptoError` (SaMDCrypto) underneath, when a primitive failed.
    public let underlying: CryptoError?
    public let file: String
    public let line: Int

    /// For key providers and stores outside this package, which report ``Code/keyNotFound``,
    /// ``Code/keyDestroyed`` or ``Code/keyNotUsable`` the same way.
    public init(
        _ code: Code, _ reason: String, underlying: CryptoError? = nil, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.reason = reason
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    /// The stable identity of an ``EnvelopeError``.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's name, as its property is spelled (`authenticationFailed`…).
        public let description: String

        private init(_ description: String) {
            self.description = description
        }

        /// The data is not authentic: tampered, or opened with the wrong encryption context or key.
        public static let authenticationFailed = Code("authenticationFailed")
        /// The data ends inside the header or at a chunk boundary, before its final chunk. (A cut inside a
        /// chunk leaves a short last piece that is taken for the final chunk and fails to authenticate:
        /// that is reported as ``authenticationFailed``.)
        public static let truncated = Code("truncated")
        /// The bytes do not parse as an envelope (bad magic, impossible lengths, trailing bytes).
        public static let malformed = Code("malformed")
        /// The envelope's format version is not one this library reads.
        public static let unsupportedVersion = Code("unsupportedVersion")
        /// The envelope names a suite or key-wrap mode this library does not know.
        public static let unsupportedSuite = Code("unsupportedSuite")
        /// The encryption context is not valid (empty key, duplicate key, too long, not UTF-8 NFC).
        public static let invalidContext = Code("invalidContext")
        /// The key the envelope names is not in the key ring or store.
        public static let keyNotFound = Code("keyNotFound")
        /// The key the envelope names was destroyed (crypto-shredded); the data cannot be recovered.
        public static let keyDestroyed = Code("keyDestroyed")
        /// The key exists but its state or cryptoperiod forbids this use (for example sealing with a
        /// deactivated key, or opening below the minimum version).
        public static let keyNotUsable = Code("keyNotUsable")
        /// The key store did not answer in time: another operation or process holds its lock past the
        /// store's lock timeout. Nothing was changed; trying again later may succeed.
        public static let keyUnavailable = Code("keyUnavailable")
        /// The key store's storage cannot be reached now (a database server down, restarting or unreachable).
        /// Nothing was changed; trying again later may succeed.
        public static let storeUnavailable = Code("storeUnavailable")
        /// A size exceeds a documented limit.
        public static let limitExceeded = Code("limitExceeded")
        /// Reading or writing failed.
        public static let io = Code("io")
        /// The key store is corrupted, locked, mis-permissioned or otherwise unusable.
        public static let keyStore = Code("keyStore")
        /// A cryptographic primitive failed for a reason other than authentication (see ``underlying``).
        public static let crypto = Code("crypto")
    }
}

extension EnvelopeError {
    /// Maps a primitive's failure: authentication failures stay authentication failures.
    static func from(_ error: CryptoError, _ reason: String, file: String = #fileID, line: Int = #line) -> EnvelopeError
    {
        let code: Code =
            switch error.code {
            case .authenticationFailed: .authenticationFailed
            case .inputTooLarge: .limitExceeded
            default: .crypto
            }
        return EnvelopeError(code, "\(reason): \(error.reason)", underlying: error, file: file, line: line)
    }

    /// Runs `body`, mapping a primitive's failure (a `CryptoError`) as ``from(_:_:file:line:)`` does, with
    /// `reason` saying what was being done; any other error passes through unchanged.
    static func mappingCryptoErrors<T>(
        _ reason: @autoclosure () -> String, file: String = #fileID, line: Int = #line, _ body: () throws -> T
    ) throws -> T {
        do {
            return try body()
        } catch let error as CryptoError {
            throw EnvelopeError.from(error, reason(), file: file, line: line)
        }
    }
}
