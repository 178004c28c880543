public import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The password a ``PostgresLocation``'s role logs in with, found as libpq finds it: the `PGPASSWORD`
/// environment variable, else the password file — `PGPASSFILE`, or `~/.pgpass` — whose first line matching
/// host, port, database and role (`*` matches anything; `\:` and `\\` escape) gives it. None found: the
/// connection is tried without one (the server may not ask).
///
/// Stricter than libpq in one way: a password file that others can read or write (any group or other
/// permission bit), that is not a regular file, or that is larger than 1 MiB is refused with an error rather
/// than skipped with a warning — a misconfigured secret is not silently ignored. The password is never
/// logged, printed or put in an error.
public struct PostgresCredentials: Sendable {
    /// The password, if one was found. Not printed by `description`.
    let password: String?
    /// Where it came from, for messages: `PGPASSWORD`, the file's path, or `none`.
    public let source: String

    /// The largest password file read.
    static let maximumPasswordFileByteCount = 1 << 20

    /// A password given directly (tests, or a secret manager's answer).
    public init(password: String?) {
        self.password = password
        self.source = password == nil ? "none" : "given"
    }

    /// The password for `location`, from `environment` (`PGPASSWORD`, `PGPASSFILE`, `HOME`).
    /// - Throws: ``PostgresStoreError`` (``PostgresStoreError/Code/invalidLocation``) for a password file that
    ///   is not private, not a regular file, or too large.
    public static func resolve(
        for location: PostgresLocation, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> PostgresCredentials {
        if let password = environment["PGPASSWORD"], !password.isEmpty {
            return PostgresCredentials(password: password, source: "PGPASSWORD")
        }
        let path: String
        if let given = environment["PGPASSFILE"], !given.isEmpty {
            path = given
        } else if let home = environment["HOME"], !home.isEmpty {
            path = home + "/.pgpass"
        } else {
            return PostgresCredentials(password: nil, source: "none")
        }
        guard let text = try Self.readPasswordFile(path, explicitlyNamed: environment["PGPASSFILE"] != nil) else {
            return PostgresCredentials(password: nil, source: "none")
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("#") { continue }
            let fields = Self.fields(of: Substring(line.hasSuffix("\r") ? line.dropLast() : line))
            guard fields.count >= 5 else { continue }
            let wanted = [location.host, "\(location.port)", location.database, location.user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) {
                // As libpq: the rest of the line is the password, an unescaped `:` included.
                return PostgresCredentials(password: fields[4...].joined(separator: ":"), source: path)
            }
        }
        return PostgresCredentials(password: nil, source: "none")
    }

    private init(password: String?, source: String) {
        self.password = password
        self.source = source
    }

    /// The file's text, or `nil` when it does not exist (and was not named explicitly).
    private static func readPasswordFile(_ path: String, explicitlyNamed: Bool) throws -> String? {
        // Non-blocking: a FIFO named as the file must not hang the program (it is refused below, not read).
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard descriptor >= 0 else {
            if errno == ENOENT && !explicitlyNamed { return nil }
            throw PostgresStoreError(
                .invalidLocation,
                "the PostgreSQL password file \(PostgresLocation.printable(path)) cannot be opened (errno \(errno); a link is refused)"
            )
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw PostgresStoreError(
                .invalidLocation,
                "the PostgreSQL password file \(PostgresLocation.printable(path)) is not a regular file")
        }
        guard status.st_mode & 0o077 == 0 else {
            throw PostgresStoreError(
                .invalidLocation,
                "the PostgreSQL password file \(PostgresLocation.printable(path)) is accessible to others; chmod 0600 it"
            )
        }
        guard status.st_size <= Self.maximumPasswordFileByteCount else {
            throw PostgresStoreError(
                .invalidLocation, "the PostgreSQL password file \(PostgresLocation.printable(path)) is over 1 MiB")
        }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + done, $0.count - done) }
            if count == 0 { break }
            guard count > 0 else {
                if errno == EINTR { continue }
                throw PostgresStoreError(
                    .invalidLocation, "the PostgreSQL password file \(PostgresLocation.printable(path)) cannot be read")
            }
            done += count
        }
        return String(decoding: bytes.prefix(done), as: UTF8.self)
    }

    /// The `:`-separated fields of a password file line, with `\:` and `\\` unescaped.
    static func fields(of line: Substring) -> [String] {
        var fields: [String] = []
        var current = ""
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == ":" {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        return fields
    }
}
