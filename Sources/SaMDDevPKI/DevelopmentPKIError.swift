// The one error type of SaMDDevPKI.

public import SaMDCrypto

/// A failure of the development PKI: a refused name or validity, an unusable CA, a file that cannot be
/// read or written, or an OpenSSL call that failed.
///
/// Compare errors by ``code``, which is stable; ``reason`` is for people and may change. No error carries
/// private-key bytes or passphrases.
public struct DevelopmentPKIError: CodedError {
    /// The stable identity of the error. Switch or compare on this.
    public let code: Code
    /// What went wrong, in words: for OpenSSL failures, the failing call and the drained error queue.
    public let reason: String
    /// Where the error was raised (`#fileID`).
    public let file: String
    /// Where the error was raised (`#line`).
    public let line: Int

    /// Makes an error; SaMDDevPKI raises these itself, the initializer is public for adapters and tests.
    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }
}

extension DevelopmentPKIError {
    /// The stable identity of a ``DevelopmentPKIError``. New codes may be added in minor releases.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's name, as its property is spelled (`authenticationFailed`…).
        public let description: String

        private init(_ description: String) {
            self.description = description
        }

        /// A device or reader id is not 1–64 characters of `A–Z a–z 0–9 . _ -`.
        public static let invalidIdentifier = Code("invalidIdentifier")
        /// A subjectAltName value is empty or malformed for its kind (see ``DevelopmentSAN``).
        public static let invalidSubjectAlternativeName = Code("invalidSubjectAlternativeName")
        /// A validity period is empty or out of range (notAfter not after notBefore, days outside 1…397).
        public static let invalidValidity = Code("invalidValidity")
        /// A stored CA certificate or key cannot serve: unreadable PEM, not a CA, key does not match, or an
        /// unsupported key algorithm.
        public static let invalidAuthority = Code("invalidAuthority")
        /// A public key to certify is not a DER SubjectPublicKeyInfo of a ``DevelopmentKeyType``, or is longer
        /// than ``DevelopmentCertificateAuthority/maximumSubjectPublicKeyInfoBytes``.
        public static let invalidPublicKey = Code("invalidPublicKey")
        /// A file to be written already exists and overwriting was not asked for.
        public static let outputExists = Code("outputExists")
        /// A directory or file cannot be created, written, synced or renamed.
        public static let cannotWrite = Code("cannotWrite")
        /// A file of a stored PKI cannot be read.
        public static let cannotRead = Code("cannotRead")
        /// An OpenSSL call failed (key generation, signing, encoding).
        public static let openSSL = Code("openSSL")

    }
}
