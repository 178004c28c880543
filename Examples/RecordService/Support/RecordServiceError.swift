public import SaMDCrypto

/// An error of the record service itself — the gateway's configuration, or a gateway's answer the client
/// cannot use. Network and TLS failures are `TLSError`s; the store's refusals are HTTP statuses in a
/// ``RecordResponse``.
///
/// Compare by ``code``, which is stable; ``reason`` is words for people and carries no subject id, record id
/// or record content.
public struct RecordServiceError: CodedError {
    /// The stable identity of the error.
    public let code: Code
    /// What went wrong, in words.
    public let reason: String
    /// Where the error was raised (`#fileID`).
    public let file: String
    /// Where the error was raised (`#line`).
    public let line: Int

    /// Makes an error; the record service raises these itself, the initializer is public for tests.
    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    /// Whether the same request may succeed when tried again: only ``Code/timedOut``.
    public var isRetryable: Bool { self.code == .timedOut }

    /// The stable identity of a ``RecordServiceError``. New codes may be added.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's name, as its property is spelled (`timedOut`…).
        public let description: String

        private init(_ description: String) {
            self.description = description
        }

        /// A gateway or client configuration that cannot work: a TLS context of the wrong role, a server
        /// context that does not require client certificates, an empty or IP-address role entry, a limit or
        /// timeout out of range.
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// A request the client refuses to send: a subject or record id the store's rule refuses
        /// (``RecordIdentifiers/isValid(_:)``) — `.` and `..` above all, which any HTTP client or proxy on the
        /// way would normalise out of the path, sending the request to another resource. Never retried.
        public static let invalidRequest = Code("invalidRequest")
        /// A request body read from a file (``RecordUploadFile``) cannot be sent: the file cannot be opened or
        /// read, is not a regular file, does not hold the range, or changed size while it was sent (the
        /// request was cut short, so the gateway stored nothing). Never retried.
        public static let bodyUnreadable = Code("bodyUnreadable")
        /// The server's answer is not HTTP/1.1 as expected (a parse error, an unexpected status line).
        public static let invalidResponse = Code("invalidResponse")
        /// The server's answer is larger than the client's ``RecordClient/maximumResponseByteCount``.
        public static let responseTooLarge = Code("responseTooLarge")
        /// No complete answer arrived within the client's request timeout; the connection was closed.
        public static let timedOut = Code("timedOut")
    }
}
