import CSaMDShims

/// An error from the PKCS#11 layer: loading a module, finding a token, logging in, sessions, and the token's
/// objects and mechanisms.
///
/// Compare errors by ``code``, which is stable; ``reason`` names the operation and, when the token answered,
/// its `CK_RV` by name and value (`CKR_PIN_INCORRECT (0xA0)`). No message ever holds a PIN, key bytes or
/// plaintext. Two errors are equal when their codes are (SaMDCrypto makes this type a `CodedError`).
public struct PKCS11Error: Error, Sendable, Hashable, CustomStringConvertible {
    /// The stable identity of the error. Switch or compare on this.
    public let code: Code
    /// What went wrong, in words, without secrets.
    public let reason: String
    /// The `CK_RV` the module returned, when the error comes from a PKCS#11 call.
    public let returnValue: UInt?
    /// Where the error was raised (`#fileID`).
    public let file: String
    /// Where the error was raised (`#line`).
    public let line: Int

    init(_ code: Code, _ reason: String, returnValue: UInt? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.returnValue = returnValue
        self.file = file
        self.line = line
    }

    /// The error for `returnValue` from `operation` (a PKCS#11 function name and what it was doing): the code
    /// the return value maps to, or `other` with the fallback `code` given.
    static func call(
        _ operation: String, _ returnValue: UInt, otherwise code: Code = .moduleFailure, file: String = #fileID,
        line: Int = #line
    ) -> PKCS11Error {
        PKCS11Error(
            Self.code(for: returnValue) ?? code, "\(operation): \(PKCS11ReturnValue.describe(returnValue))",
            returnValue: returnValue, file: file, line: line)
    }

    /// The code a return value maps to whatever the call, or `nil` when it depends on the call.
    static func code(for returnValue: UInt) -> Code? {
        switch returnValue {
        case CKR_PIN_INCORRECT, CKR_PIN_LEN_RANGE: .pinIncorrect
        case CKR_PIN_LOCKED: .pinLocked
        case CKR_USER_NOT_LOGGED_IN: .notLoggedIn
        case CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_REMOVED, CKR_SLOT_ID_INVALID,
            CKR_TOKEN_NOT_RECOGNIZED:
            .tokenAbsent
        case CKR_MECHANISM_INVALID, CKR_MECHANISM_PARAM_INVALID: .mechanismUnsupported
        case CKR_SESSION_COUNT: .sessionLimit
        case CKR_OBJECT_HANDLE_INVALID, CKR_KEY_HANDLE_INVALID: .objectNotFound
        default: nil
        }
    }

    public static func == (lhs: PKCS11Error, rhs: PKCS11Error) -> Bool {
        lhs.code == rhs.code
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
    }

    public var description: String {
        "PKCS11Error.\(self.code): \(self.reason)"
    }
}

extension PKCS11Error {
    /// The stable identity of a ``PKCS11Error``. New codes may be added.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's name, as its property is spelled (`pinIncorrect`…).
        public let description: String

        private init(_ description: String) {
            self.description = description
        }

        /// No file at the module's path, or `dlopen` could not load it (the message names the path).
        public static let moduleMissing = Code("moduleMissing")
        /// The shared object loaded but is not a PKCS#11 module: no `C_GetFunctionList`, or it or
        /// `C_Initialize` failed.
        public static let notAPKCS11Module = Code("notAPKCS11Module")
        /// No slot holds a token with that label (RFC 7512 `token=`), or the token went away
        /// (`CKR_TOKEN_NOT_PRESENT`, `CKR_DEVICE_REMOVED`, `CKR_SLOT_ID_INVALID`, `CKR_TOKEN_NOT_RECOGNIZED`).
        public static let tokenAbsent = Code("tokenAbsent")
        /// More than one slot holds a token with that label.
        public static let tokenAmbiguous = Code("tokenAmbiguous")
        /// The token refused the PIN (`CKR_PIN_INCORRECT`, `CKR_PIN_LEN_RANGE`).
        public static let pinIncorrect = Code("pinIncorrect")
        /// The PIN is locked after too many failures (`CKR_PIN_LOCKED`); only the security officer can unlock it.
        public static let pinLocked = Code("pinLocked")
        /// The operation needs a logged-in user (`CKR_USER_NOT_LOGGED_IN`): every session was closed, which logs
        /// the application out.
        public static let notLoggedIn = Code("notLoggedIn")
        /// The token does not offer the mechanism or refused its parameters (`CKR_MECHANISM_INVALID`,
        /// `CKR_MECHANISM_PARAM_INVALID`).
        public static let mechanismUnsupported = Code("mechanismUnsupported")
        /// The token opens no more sessions (`CKR_SESSION_COUNT`).
        public static let sessionLimit = Code("sessionLimit")
        /// No object has that label, or the object is gone (`CKR_OBJECT_HANDLE_INVALID`, `CKR_KEY_HANDLE_INVALID`).
        public static let objectNotFound = Code("objectNotFound")
        /// More than one object has that label, where exactly one was expected.
        public static let objectAmbiguous = Code("objectAmbiguous")
        /// An AES-GCM tag did not verify: the ciphertext, IV, tag or associated data was changed, or the key is
        /// not the one it was sealed with (`CKR_ENCRYPTED_DATA_INVALID`, `CKR_AEAD_DECRYPT_FAILED`). Never retry.
        public static let authenticationFailed = Code("authenticationFailed")
        /// No session of the pool became free before the deadline.
        public static let timeout = Code("timeout")
        /// An argument is outside what SaMDKit or PKCS#11 accepts (a label too long, a sealed value too short).
        public static let invalidInput = Code("invalidInput")
        /// Any other `CK_RV`: the message names it (`CKR_…`) and gives its value.
        public static let moduleFailure = Code("moduleFailure")
    }
}
