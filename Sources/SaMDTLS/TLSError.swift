public import SaMDCrypto

/// An error from SaMDTLS: a refused certificate, a failed handshake, a broken channel or an invalid
/// configuration.
///
/// Compare errors by ``code``, which is stable across releases; ``reason`` is for people reading logs
/// and may change. No error carries key bytes, passphrases or application data.
///
/// Certificate errors (``isCertificateError``) mean one side refused the other's certificate — by the
/// local verification (``origin`` `.local`) or by the peer's alert (``origin`` `.peer`). They are never
/// worth retrying: the same certificate will be refused again. In TLS 1.3 a client learns that the server
/// refused its certificate only on its first read after the handshake; that error is the same typed
/// certificate error, delivered to the inbound stream.
public struct TLSError: CodedError {
    /// Who detected the failure.
    public enum Origin: String, Sendable, Hashable {
        /// This side: its own verification, configuration or parser.
        case local
        /// The peer, which sent a TLS alert (``alert``).
        case peer
    }

    /// The stable identity of the error. Switch or compare on this.
    public let code: Code
    /// Who detected the failure.
    public let origin: Origin
    /// The TLS alert number (RFC 8446 §6) that was received (origin `.peer`) or that this side's
    /// failure maps to, when there is one.
    public let alert: UInt8?
    /// What went wrong, in words, without secrets.
    public let reason: String
    /// Where the error was raised (`#fileID`).
    public let file: String
    /// Where the error was raised (`#line`).
    public let line: Int

    /// Makes an error; SaMDTLS raises these itself, the initializer is public for tests and adapters.
    public init(
        _ code: Code,
        origin: Origin = .local,
        alert: UInt8? = nil,
        _ reason: String,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.origin = origin
        self.alert = alert ?? code.alert
        self.reason = reason
        self.file = file
        self.line = line
    }

    /// Whether a certificate was refused (by either side); such errors must not be retried.
    public var isCertificateError: Bool { self.code.isCertificateError }

    /// Whether trying the same connection again may succeed (a network-level failure), as opposed to a
    /// refusal that will repeat (certificates, policy, protocol version, configuration).
    public var isRetryable: Bool { self.code.isRetryable }

    public var description: String {
        var text = "TLSError.\(self.code)"
        if self.origin == .peer {
            text += " (from the peer"
            if let alert { text += ", alert \(alert)" }
            text += ")"
        }
        return text + ": \(self.reason)"
    }
}

extension TLSError {
    /// The stable identity of a ``TLSError``. New codes may be added in minor releases.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Backing: String, Sendable, Hashable {
            case certificateRequired
            case certificateExpired
            case certificateNotYetValid
            case unknownCA
            case badCertificate
            case unsupportedCertificate
            case certificateRevoked
            case crlUnavailable
            case hostnameMismatch
            case ipAddressMismatch
            case peerNotAllowed
            case handshakeFailure
            case protocolVersion
            case noApplicationProtocol
            case notTLS
            case uncleanShutdown
            case handshakeTimeout
            case connectionClosed
            case peerAlert
            case protocolError
            case invalidConfiguration
            case invalidIdentity
            case fipsProviderUnavailable
            case io
            case unreachable
            case pkcs11EngineUnavailable
            case pkcs11ModuleUnavailable
            case pkcs11TokenAbsent
            case pkcs11PINIncorrect
            case pkcs11PINLocked
            case pkcs11PINUnavailable
            case pkcs11KeyNotFound
            case pkcs11KeyMismatch
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// A server required a client certificate and none was sent (alert 116, `certificate_required`).
        public static let certificateRequired = Code(.certificateRequired)
        /// The certificate (or one in its chain) has expired (alert 45, `certificate_expired`).
        public static let certificateExpired = Code(.certificateExpired)
        /// The certificate (or one in its chain) is not valid yet (alert 45).
        public static let certificateNotYetValid = Code(.certificateNotYetValid)
        /// The chain does not lead to a trust root: unknown issuer, missing intermediate, self-signed
        /// (alert 48, `unknown_ca`).
        public static let unknownCA = Code(.unknownCA)
        /// The certificate is malformed, badly signed or otherwise refused (alert 42, `bad_certificate`,
        /// or 46, `certificate_unknown`).
        public static let badCertificate = Code(.badCertificate)
        /// The certificate is not for this use: wrong or missing extended key usage (serverAuth for servers,
        /// clientAuth for clients), a CA certificate as a leaf, or a keyUsage extension without
        /// digitalSignature, so that its key may not sign the handshake (RFC 5280 §4.2.1.3,
        /// RFC 8446 §4.4.2.2) (alert 43, `unsupported_certificate`).
        public static let unsupportedCertificate = Code(.unsupportedCertificate)
        /// A CRL lists the certificate as revoked (alert 44, `certificate_revoked`).
        public static let certificateRevoked = Code(.certificateRevoked)
        /// CRL checking is on and no current, valid CRL from the issuer was found (missing, expired, not yet
        /// valid, bad signature): fail closed. ``TLSError/alert`` names the alert OpenSSL sends for the cause:
        /// 48 (missing), 45 (expired), 42 (not yet valid), 51 (bad signature). A CRL that can never be used
        /// (no CRL number, no nextUpdate) is refused when loaded, as ``invalidConfiguration``.
        public static let crlUnavailable = Code(.crlUnavailable)
        /// The server's certificate has no DNS SAN matching the name the client asked for.
        public static let hostnameMismatch = Code(.hostnameMismatch)
        /// The server's certificate has no IP SAN matching the address the client connected to (an IP
        /// written in a DNS SAN does not count).
        public static let ipAddressMismatch = Code(.ipAddressMismatch)
        /// The chain verified, but the peer policy's allow-lists (SAN URIs, DNS names, subjects, SPKI pins)
        /// do not name this peer. The peer receives alert 42.
        public static let peerNotAllowed = Code(.peerNotAllowed)
        /// No common parameters, or the peer refused the handshake without a more precise alert
        /// (alert 40, `handshake_failure`).
        public static let handshakeFailure = Code(.handshakeFailure)
        /// No common TLS version: for example a TLS 1.2-only peer against the TLS 1.3-only default
        /// (alert 70, `protocol_version`).
        public static let protocolVersion = Code(.protocolVersion)
        /// No common ALPN protocol (alert 120, `no_application_protocol`, RFC 7301).
        public static let noApplicationProtocol = Code(.noApplicationProtocol)
        /// The peer is not speaking TLS: its first bytes are not a TLS record (for example an HTTP request
        /// or a plaintext server's banner).
        public static let notTLS = Code(.notTLS)
        /// The connection ended without the peer's close_notify: the data may have been truncated
        /// (RFC 8446 §6.1). Never reported as a clean end of stream.
        public static let uncleanShutdown = Code(.uncleanShutdown)
        /// The handshake did not finish within the configured time.
        public static let handshakeTimeout = Code(.handshakeTimeout)
        /// The connection closed during the handshake, or an operation was attempted on a closed channel.
        public static let connectionClosed = Code(.connectionClosed)
        /// The peer sent another fatal alert (``TLSError/alert`` holds its number).
        public static let peerAlert = Code(.peerAlert)
        /// The peer broke the TLS protocol (bad record MAC, unexpected message, decode error).
        public static let protocolError = Code(.protocolError)
        /// The configuration is invalid or unsafe (for example TLS 1.2 suites that are not ECDHE + AEAD).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The certificate chain or private key cannot serve: empty chain, key does not match the
        /// certificate, leaf expired or not yet valid, chain out of order, wrong EKU, a keyUsage without
        /// digitalSignature, unreadable or wrongly encrypted key.
        public static let invalidIdentity = Code(.invalidIdentity)
        /// The `nist` profile was asked for and no FIPS provider can be loaded: fail closed.
        public static let fipsProviderUnavailable = Code(.fipsProviderUnavailable)
        /// A file could not be read, or a local I/O operation failed. Not retryable as such: fix the cause.
        public static let io = Code(.io)
        /// The peer could not be reached: connection refused, no route, name not resolved, connect timeout.
        public static let unreachable = Code(.unreachable)
        /// A private key in a PKCS #11 token was asked for and OpenSSL's `pkcs11` engine cannot be loaded (Debian and
        /// Ubuntu: install `libengine-pkcs11-openssl`).
        public static let pkcs11EngineUnavailable = Code(.pkcs11EngineUnavailable)
        /// The PKCS #11 module (`module-path`) is missing, not a regular file, or not a PKCS #11 module
        /// (no `C_GetFunctionList`).
        public static let pkcs11ModuleUnavailable = Code(.pkcs11ModuleUnavailable)
        /// No token with the URI's label is present in the module (`CKR_TOKEN_NOT_PRESENT`, `CKR_DEVICE_REMOVED`,
        /// or no slot holds it).
        public static let pkcs11TokenAbsent = Code(.pkcs11TokenAbsent)
        /// The token refused the user PIN (`CKR_PIN_INCORRECT`). The PIN is in no message.
        public static let pkcs11PINIncorrect = Code(.pkcs11PINIncorrect)
        /// The token's user PIN is locked after too many wrong PINs (`CKR_PIN_LOCKED`).
        public static let pkcs11PINLocked = Code(.pkcs11PINLocked)
        /// No PIN could be had from its source (unset variable, unsafe or unreadable PIN file).
        public static let pkcs11PINUnavailable = Code(.pkcs11PINUnavailable)
        /// The token is present but holds no private key that the URI names.
        public static let pkcs11KeyNotFound = Code(.pkcs11KeyNotFound)
        /// The token's private key does not match the certificate's public key.
        public static let pkcs11KeyMismatch = Code(.pkcs11KeyMismatch)

        /// The TLS alert this failure is sent or received as, when it has one.
        public var alert: UInt8? {
            switch self.backing {
            case .certificateRequired: 116
            case .certificateExpired, .certificateNotYetValid: 45
            case .unknownCA: 48
            case .badCertificate, .peerNotAllowed: 42
            case .unsupportedCertificate: 43
            case .certificateRevoked: 44
            case .handshakeFailure: 40
            case .protocolVersion: 70
            case .noApplicationProtocol: 120
            default: nil
            }
        }

        /// Whether the code means a certificate was refused.
        public var isCertificateError: Bool {
            switch self.backing {
            case .certificateRequired, .certificateExpired, .certificateNotYetValid, .unknownCA, .badCertificate,
                .unsupportedCertificate, .certificateRevoked, .crlUnavailable, .hostnameMismatch,
                .ipAddressMismatch, .peerNotAllowed:
                true
            default:
                false
            }
        }

        /// Whether a new attempt may succeed.
        public var isRetryable: Bool {
            switch self.backing {
            case .handshakeTimeout, .connectionClosed, .uncleanShutdown, .unreachable: true
            default: false
            }
        }

        public var description: String {
            self.backing.rawValue
        }
    }
}

extension TLSError {
    /// The code that an alert received from the peer maps to.
    static func code(forReceivedAlert alert: UInt8) -> Code {
        switch alert {
        case 116: .certificateRequired
        case 45: .certificateExpired
        case 48: .unknownCA
        case 42, 46: .badCertificate
        case 43: .unsupportedCertificate
        case 44: .certificateRevoked
        case 40: .handshakeFailure
        case 70: .protocolVersion
        case 120: .noApplicationProtocol
        default: .peerAlert
        }
    }

    /// The standard name of a TLS alert (RFC 8446 §6, RFC 7301), for messages.
    static func alertName(_ alert: UInt8) -> String {
        switch alert {
        case 0: "close_notify"
        case 10: "unexpected_message"
        case 20: "bad_record_mac"
        case 22: "record_overflow"
        case 40: "handshake_failure"
        case 42: "bad_certificate"
        case 43: "unsupported_certificate"
        case 44: "certificate_revoked"
        case 45: "certificate_expired"
        case 46: "certificate_unknown"
        case 47: "illegal_parameter"
        case 48: "unknown_ca"
        case 49: "access_denied"
        case 50: "decode_error"
        case 51: "decrypt_error"
        case 70: "protocol_version"
        case 71: "insufficient_security"
        case 80: "internal_error"
        case 86: "inappropriate_fallback"
        case 90: "user_canceled"
        case 109: "missing_extension"
        case 110: "unsupported_extension"
        case 112: "unrecognized_name"
        case 113: "bad_certificate_status_response"
        case 115: "unknown_psk_identity"
        case 116: "certificate_required"
        case 120: "no_application_protocol"
        default: "alert \(alert)"
        }
    }
}
