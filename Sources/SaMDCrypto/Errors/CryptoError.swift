/// An error from SaMDCrypto.
///
/// Compare errors by ``code``, which is stable across releases; ``reason`` and
/// ``openSSLErrors`` are for people reading logs and may change. No message
/// ever holds key bytes, plaintext or other secret input.
///
/// When an OpenSSL call fails, the thread's OpenSSL error queue is drained into
/// ``openSSLErrors`` at that call site, so the queue never carries a stale error
/// into an unrelated later call.
public struct CryptoError: CodedError {
    /// The stable identity of the error. Switch or compare on this.
    public let code: Code
    /// What went wrong, in words, without secrets.
    public let reason: String
    /// The OpenSSL error queue at the failing call, oldest first; empty when OpenSSL was not involved.
    public let openSSLErrors: [OpenSSLErrorEntry]
    /// Where the error was raised (`#fileID`).
    public let file: String
    /// Where the error was raised (`#line`).
    public let line: Int

    init(
        _ code: Code,
        _ reason: String,
        openSSLErrors: [OpenSSLErrorEntry] = [],
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.reason = reason
        self.openSSLErrors = openSSLErrors
        self.file = file
        self.line = line
    }

    public var description: String {
        var text = "CryptoError.\(self.code): \(self.reason)"
        if !self.openSSLErrors.isEmpty {
            text += " [OpenSSL: " + self.openSSLErrors.map(\.description).joined(separator: "; ") + "]"
        }
        return text
    }
}

extension CryptoError {
    /// The stable identity of a ``CryptoError``. New codes may be added in minor releases.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's name, as its property is spelled (`authenticationFailed`…).
        public let description: String

        private init(_ description: String) {
            self.description = description
        }

        /// An AEAD tag, key-wrap integrity check or sealed box did not verify: the input was
        /// tampered with, or the key, nonce or associated data is not the one it was sealed with.
        /// These causes are indistinguishable by design. Never retry.
        public static let authenticationFailed = Code("authenticationFailed")
        /// A key has a length the algorithm does not accept.
        public static let invalidKeySize = Code("invalidKeySize")
        /// A nonce has a length other than the algorithm's one supported length.
        public static let unsupportedNonceSize = Code("unsupportedNonceSize")
        /// An authentication tag has a length other than 16 bytes (128 bits).
        public static let unsupportedTagSize = Code("unsupportedTagSize")
        /// An input is malformed or outside what the algorithm defines (for example a key-wrap
        /// input that is not a multiple of 8 bytes, or an HKDF output length over 255 hash lengths).
        public static let invalidInput = Code("invalidInput")
        /// An input is longer than the algorithm or SaMDKit allows.
        public static let inputTooLarge = Code("inputTooLarge")
        /// A caller-supplied output buffer is shorter than the output.
        public static let outputBufferTooSmall = Code("outputBufferTooSmall")
        /// A public key is malformed or of small order (X25519 all-zero shared secret).
        public static let invalidPublicKey = Code("invalidPublicKey")
        /// A signature did not verify.
        public static let invalidSignature = Code("invalidSignature")
        /// The CSPRNG failed to produce bytes.
        public static let randomGenerationFailed = Code("randomGenerationFailed")
        /// Guarded memory for key material could not be allocated.
        public static let allocationFailed = Code("allocationFailed")
        /// The OpenSSL or libsodium loaded at run time is older than SaMDKit supports
        /// (OpenSSL 3.0, libsodium 1.0.18), or libsodium failed to initialise.
        public static let unsupportedLibraryVersion = Code("unsupportedLibraryVersion")
        /// A FIPS profile was requested but no OpenSSL FIPS provider could be loaded and activated.
        public static let fipsProviderUnavailable = Code("fipsProviderUnavailable")
        /// The algorithm is not allowed under the active ``CryptoProfile`` (for example a libsodium
        /// algorithm, which no FIPS module covers, under `nist`).
        public static let notAllowedInProfile = Code("notAllowedInProfile")
        /// An OpenSSL call failed for a reason not covered by a more specific code.
        public static let openSSLFailure = Code("openSSLFailure")
        /// A libsodium call failed for a reason not covered by a more specific code.
        public static let sodiumFailure = Code("sodiumFailure")
    }
}

/// One entry of the OpenSSL error queue.
public struct OpenSSLErrorEntry: Sendable, Hashable, CustomStringConvertible {
    /// The packed OpenSSL error code (`ERR_get_error`).
    public let code: UInt
    /// The library that raised it, e.g. "digital envelope routines".
    public let library: String?
    /// The reason, e.g. "bad decrypt".
    public let reason: String?
    /// Extra text OpenSSL attached to the error, if any (never key material).
    public let data: String?

    public var description: String {
        var text = "error:\(String(self.code, radix: 16, uppercase: true))"
        if let library { text += ":\(library)" }
        if let reason { text += ":\(reason)" }
        if let data, !data.isEmpty { text += " (\(data))" }
        return text
    }
}
