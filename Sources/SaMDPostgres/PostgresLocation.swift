import Foundation

/// Where a PostgreSQL database is, from a `postgresql://` URL (libpq's connection URI, RFC 3986): host, port,
/// role, database, and how the server is verified. Holds no password: a URL is printed, logged and seen in
/// process listings, so one with a password is refused — the password comes from `PGPASSWORD` or the password
/// file (``PostgresCredentials``).
///
/// Accepted: `postgresql://ROLE@HOST[:PORT]/DATABASE?sslmode=verify-full&sslrootcert=CA.pem`, also with the
/// scheme `postgres://`. `HOST` is a DNS name or an IP address (`[…]` for IPv6); the server's certificate must
/// name it (a DNS or IP subject alternative name, as libpq's `verify-full` checks). Parameters:
/// - `sslmode`: `verify-full` only (also the default): the connection is TLS 1.3 through SaMDTLS on the system
///   OpenSSL, the chain verified to `sslrootcert` and the name checked. Every other mode is refused.
/// - `sslrootcert`: the CA certificates (PEM) the server's chain must lead to; required.
/// - `connect_timeout`: seconds to connect, negotiate TLS and authenticate (default 10; 1…600).
/// - `application_name`: sent to the server (`pg_stat_activity`); printable ASCII, at most 63 bytes.
///
/// Anything else — a password in the user part, `password=`, `sslpassword=`, an unknown parameter, a Unix
/// socket path, several hosts — is refused with ``PostgresStoreError``: SaMDKit does not guess.
public struct PostgresLocation: Sendable, Hashable, CustomStringConvertible {
    /// The server's host: a DNS name or an IP address literal (without brackets).
    public let host: String
    /// The server's TCP port (5432 by default).
    public let port: Int
    /// The role to log in as.
    public let user: String
    /// The database (the role's name when the URL names none).
    public let database: String
    /// The CA certificates (PEM file) the server is verified against.
    public let rootCertificatePath: String
    /// How long connecting, TLS and authentication may take together.
    public let connectTimeout: Duration
    /// The `application_name` sent at startup, if any.
    public let applicationName: String?

    /// Whether `text` is meant as a PostgreSQL URL rather than a directory: it starts with `postgres` in any case
    /// (`postgresql://`, `postgres://`, and misspellings of them such as `POSTGRESQL://` or `postgresql:/`), or holds
    /// `://` — so that a mistyped URL is refused as one, never taken for a directory and echoed with what it holds.
    public static func isURL(_ text: String) -> Bool {
        let trimmed = text.drop { $0 == " " || $0 == "\t" }
        return trimmed.lowercased().hasPrefix("postgres") || text.contains("://")
    }

    /// Parses a `postgresql://` URL.
    /// - Throws: ``PostgresStoreError`` (``PostgresStoreError/Code/invalidLocation``) for anything outside the
    ///   shapes above; the message never repeats a password.
    public init(_ text: String) throws {
        guard text.hasPrefix("postgresql://") || text.hasPrefix("postgres://") else {
            // Not echoed: a mistyped URL may hold a password.
            throw PostgresStoreError(
                .invalidLocation, "a PostgreSQL location starts with postgresql:// or postgres:// (lowercase)")
        }
        guard text.utf8.count <= 4096, !text.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7f })
        else {
            throw PostgresStoreError(
                .invalidLocation, "a PostgreSQL URL is at most 4096 bytes, without spaces or control characters")
        }
        guard let components = URLComponents(string: text) else {
            throw PostgresStoreError(.invalidLocation, "the PostgreSQL URL does not parse (RFC 3986)")
        }
        guard components.fragment == nil else {
            throw PostgresStoreError(
                .invalidLocation, "the PostgreSQL URL has a fragment (#…), which SaMDKit does not use")
        }
        guard components.password == nil, components.percentEncodedPassword == nil else {
            throw PostgresStoreError(
                .invalidLocation,
                "the PostgreSQL URL holds a password; give it in PGPASSWORD or a password file (PGPASSFILE) instead")
        }
        guard var host = components.host, !host.isEmpty, !host.contains(","), !host.hasPrefix("/") else {
            throw PostgresStoreError(
                .invalidLocation, "the PostgreSQL URL names no host (one TCP host, no socket path)")
        }
        // An IPv6 literal comes with its brackets.
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let user = components.user, !user.isEmpty, user.utf8.count <= 63 else {
            throw PostgresStoreError(.invalidLocation, "the PostgreSQL URL names no role (postgresql://ROLE@HOST/DB)")
        }
        // `ROLE%3Asecret@` decodes to a role with a colon: a password in disguise, refused like one.
        guard !user.contains(":"), !user.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw PostgresStoreError(
                .invalidLocation,
                "the PostgreSQL URL's role holds a colon or a control character; give a password in PGPASSWORD or PGPASSFILE"
            )
        }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.contains("/"), path.utf8.count <= 63 else {
            throw PostgresStoreError(.invalidLocation, "the PostgreSQL URL's database is one name of at most 63 bytes")
        }
        var sslMode = "verify-full"
        var rootCertificate: String?
        var connectTimeout = Duration.seconds(10)
        var applicationName: String?
        var seen = Set<String>()
        for item in components.queryItems ?? [] {
            guard seen.insert(item.name).inserted else {
                throw PostgresStoreError(.invalidLocation, "the PostgreSQL URL gives \(item.name) twice")
            }
            let value = item.value ?? ""
            switch item.name {
            case "sslmode": sslMode = value
            case "sslrootcert": rootCertificate = value
            case "connect_timeout":
                guard let seconds = Int(value), (1...600).contains(seconds) else {
                    throw PostgresStoreError(.invalidLocation, "connect_timeout is 1 to 600 seconds")
                }
                connectTimeout = .seconds(seconds)
            case "application_name":
                guard value.utf8.count <= 63, value.unicodeScalars.allSatisfy({ (0x20...0x7e).contains($0.value) })
                else {
                    throw PostgresStoreError(
                        .invalidLocation, "application_name is printable ASCII of at most 63 bytes")
                }
                applicationName = value
            case "password", "sslpassword", "passfile":
                throw PostgresStoreError(
                    .invalidLocation,
                    "the PostgreSQL URL holds \(item.name); give the password in PGPASSWORD or PGPASSFILE instead")
            default:
                throw PostgresStoreError(
                    .invalidLocation,
                    "the PostgreSQL URL has the parameter \(Self.printable(item.name)), which SaMDKit does not use")
            }
        }
        guard sslMode == "verify-full" else {
            throw PostgresStoreError(
                .invalidLocation,
                "sslmode=\(Self.printable(sslMode)) is refused: SaMDKit connects to PostgreSQL with TLS and verify-full only"
            )
        }
        guard let rootCertificate, !rootCertificate.isEmpty else {
            throw PostgresStoreError(
                .invalidLocation,
                "the PostgreSQL URL needs sslrootcert=PATH: the CA that issued the server's certificate")
        }
        self.host = host
        self.port = components.port ?? 5432
        guard (1...65_535).contains(self.port) else {
            throw PostgresStoreError(.invalidLocation, "the PostgreSQL URL's port is 1 to 65535")
        }
        self.user = user
        self.database = path.isEmpty ? user : path
        self.rootCertificatePath = rootCertificate
        self.connectTimeout = connectTimeout
        self.applicationName = applicationName
    }

    /// The URL without anything secret (there is none): role, host, port, database and the CA file, with
    /// control characters escaped. For logs and errors.
    public var description: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return Self.printable("postgresql://\(self.user)@\(host):\(self.port)/\(self.database)")
    }

    static func printable(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars.prefix(256) {
            if scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) {
                result += String(format: "\\u{%X}", scalar.value)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
