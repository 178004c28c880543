public import SaMDCrypto

/// An error of SaMDPostgres's own: a location refused, a server that cannot be reached, refuses TLS, fails
/// verification or authentication, or answers outside the protocol. The record store turns these into
/// `RecordStoreError`s (``Code/unavailable`` → `unavailable`), the key persistence into `EnvelopeError`s.
///
/// Compare by ``code``, which is stable. No reason carries a password or anything a query bound.
public struct PostgresStoreError: CodedError {
    public let code: Code
    public let reason: String
    /// The server's SQLSTATE (five characters, e.g. `23505`) when the server refused a statement.
    public let sqlState: String?
    public let file: String
    public let line: Int

    package init(_ code: Code, _ reason: String, sqlState: String? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.sqlState = sqlState
        self.file = file
        self.line = line
    }

    public var description: String { "\(self.code): \(self.reason)" }

    /// The stable identity of a ``PostgresStoreError``.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let description: String

        private init(_ description: String) {
            self.description = description
        }

        /// A `postgresql://` URL or password file refused (see ``PostgresLocation``, ``PostgresCredentials``).
        public static let invalidLocation = Code("invalidLocation")
        /// The server cannot be reached now: refused, reset, unreachable, down, or not answering within the
        /// deadline; every pooled connection busy past the wait allowed. Retry later.
        public static let unavailable = Code("unavailable")
        /// The server refused TLS (it answered `N` to the SSLRequest), sent bytes before the TLS handshake
        /// (CVE-2021-23222), or its certificate failed verification: never retried in the clear.
        public static let tlsRefused = Code("tlsRefused")
        /// The server refused the role's login (wrong password, no such role, `pg_hba.conf`).
        public static let authenticationFailed = Code("authenticationFailed")
        /// A statement failed in a way the caller did not expect (the server's SQLSTATE is in the reason), or
        /// a row is not what SaMDKit writes.
        public static let query = Code("query")
        /// The database's schema is newer than this program, or not SaMDKit's.
        public static let schema = Code("schema")
        /// A key store in PostgreSQL was given a custody other than a PKCS#11 token (``PostgresKeyStore``): KEK
        /// material cannot be shared by several instances through the database.
        public static let custodyRefused = Code("custodyRefused")
    }
}
