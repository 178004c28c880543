public import SaMDCrypto

/// An error of a device's outbox (``Outbox``). Compare by ``code``, which is stable; ``reason`` is words for
/// people and carries no subject id, record id or record content.
public struct OutboxError: CodedError {
    /// The stable identity of the error.
    public let code: Code
    /// What went wrong, in words.
    public let reason: String
    /// Where the error was raised (`#fileID`).
    public let file: String
    /// Where the error was raised (`#line`).
    public let line: Int

    /// Makes an error; the outbox raises these itself, the initializer is public for tests.
    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    /// The stable identity of an ``OutboxError``. New codes may be added.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's name, as its property is spelled (`busy`…).
        public let description: String

        private init(_ description: String) {
            self.description = description
        }

        /// Another process holds the outbox's lock (another `samd-agent` is queueing or delivering), past the
        /// wait. Trying again later may succeed.
        public static let busy = Code("busy")
        /// Queueing the file would take the outbox past its quota (``Outbox/maximumByteCount``): the file was not
        /// queued and nothing was written. Entries already queued are unaffected.
        public static let quotaExceeded = Code("quotaExceeded")
        /// The outbox directory is not safe to use: not a directory (a symbolic link included), not owned by
        /// this user, or writable by its group or others.
        public static let unsafeDirectory = Code("unsafeDirectory")
        /// An input file cannot be opened or read, or is not a regular file. Nothing was queued for it.
        public static let inputUnreadable = Code("inputUnreadable")
        /// Reading or writing the outbox failed (disk full, I/O error); an entry being written was removed.
        public static let io = Code("io")
        /// An entry file is not a well-formed `SMDQ` version 1 entry: it is set aside in `refused/`.
        public static let malformedEntry = Code("malformedEntry")
        /// The record cannot be sealed (its address makes no encryption context, the recipient key is unusable).
        public static let sealingFailed = Code("sealingFailed")
    }
}
