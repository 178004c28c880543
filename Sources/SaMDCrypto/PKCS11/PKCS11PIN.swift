// Where a PKCS #11 user PIN comes from: the environment or a private file, never a URI or a command line.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The user PIN of a PKCS #11 token (PKCS #11 v2.40 §5.6 `C_Login` with `CKU_USER`), from the environment variable
/// `SAMD_PKCS11_PIN` or a PIN file — never from a command-line argument or a URI's `pin-value` (RFC 7512 §2.3),
/// which other users can read in the process list, shell histories and logs.
///
/// A PIN file is read as SaMDKeys reads a passphrase file (`Passphrase.fromFile`): a regular file, not a symbolic
/// link, owned by the effective user, with no permission for group or others (mode 0600 or 0400), at most
/// ``maximumFileBytes`` bytes; one trailing newline (LF or CRLF) is dropped. The PIN is 1 to ``maximumLengthBytes``
/// bytes without NUL. It is returned as ``SecureBytes`` (zeroed when released); the buffers used to read it are
/// zeroed. No error message holds the PIN.
public enum PKCS11PIN {
    /// The environment variable SaMDKit programs read the PIN from: `SAMD_PKCS11_PIN`.
    public static let environmentVariable = "SAMD_PKCS11_PIN"
    /// The longest PIN accepted, in bytes (tokens report far less in `ulMaxPinLen`).
    public static let maximumLengthBytes = 256
    /// The largest PIN file read, in bytes: the longest PIN and a CRLF.
    public static let maximumFileBytes = maximumLengthBytes + 2

    /// The PIN in the environment variable `variable`.
    /// - Throws: ``PKCS11PINError/Code/missing`` when it is unset or empty; ``PKCS11PINError/Code/invalid`` when it
    ///   is longer than ``maximumLengthBytes``.
    public static func fromEnvironment(_ variable: String = environmentVariable) throws -> SecureBytes {
        guard let value = getenv(variable), value.pointee != 0 else {
            throw PKCS11PINError(.missing, "no PIN: set \(variable) or give a PIN file")
        }
        return try self.secure(UnsafeRawBufferPointer(start: value, count: strlen(value)), what: variable)
    }

    /// The PIN in the file at `path` (see the type's rules).
    /// - Throws: ``PKCS11PINError/Code/unsafeFile`` for a file that is not regular, is a link, is not owned by the
    ///   effective user, or that group or others may access; ``PKCS11PINError/Code/unreadable`` when it cannot be
    ///   opened or read (missing included); ``PKCS11PINError/Code/invalid`` for an empty or oversized PIN or one
    ///   holding NUL.
    public static func fromFile(_ path: String) throws -> SecureBytes {
        let printablePath = Self.printable(path)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else {
            let cause = errno
            if cause == ELOOP { throw PKCS11PINError(.unsafeFile, "the PIN file \(printablePath) is a symbolic link") }
            throw PKCS11PINError(
                .unreadable, "cannot open the PIN file \(printablePath): \(String(cString: strerror(cause)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw PKCS11PINError(.unreadable, "cannot stat the PIN file \(printablePath)")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw PKCS11PINError(.unsafeFile, "the PIN file \(printablePath) is not a regular file")
        }
        guard info.st_uid == geteuid() else {
            throw PKCS11PINError(.unsafeFile, "the PIN file \(printablePath) is not owned by this user")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw PKCS11PINError(
                .unsafeFile,
                "the PIN file \(printablePath) is accessible to others (mode \(String(info.st_mode & 0o777, radix: 8))); it must be 0600 or 0400"
            )
        }
        guard Int(info.st_size) <= Self.maximumFileBytes else {
            throw PKCS11PINError(.invalid, "the PIN file \(printablePath) is over \(Self.maximumFileBytes) bytes")
        }
        var buffer = [UInt8](repeating: 0, count: Self.maximumFileBytes + 1)
        defer { SecureMemory.zero(&buffer) }
        var count = 0
        while count < buffer.count {
            let got = buffer.withUnsafeMutableBytes { bytes in
                read(fd, bytes.baseAddress! + count, bytes.count - count)
            }
            if got == 0 { break }
            if got < 0 {
                if errno == EINTR { continue }
                throw PKCS11PINError(.unreadable, "cannot read the PIN file \(printablePath)")
            }
            count += got
        }
        guard count <= Self.maximumFileBytes else {
            throw PKCS11PINError(.invalid, "the PIN file \(printablePath) is over \(Self.maximumFileBytes) bytes")
        }
        if count > 0, buffer[count - 1] == 0x0A {
            count -= 1
            if count > 0, buffer[count - 1] == 0x0D { count -= 1 }
        }
        return try buffer.withUnsafeBytes {
            try self.secure(UnsafeRawBufferPointer(rebasing: $0[..<count]), what: "the PIN file \(printablePath)")
        }
    }

    /// The PIN from an RFC 7512 `pin-source` value: only a local file, `file:/path` or `file:///path`, read by
    /// ``fromFile(_:)``. A command (`|/path`) or any other scheme is refused.
    /// - Throws: ``PKCS11PINError/Code/unsupportedSource`` for anything but an absolute `file:` path; otherwise as
    ///   ``fromFile(_:)``.
    public static func fromPINSource(_ source: String) throws -> SecureBytes {
        var path = Substring(source)
        guard path.hasPrefix("file:") else {
            throw PKCS11PINError(
                .unsupportedSource, "pin-source \(Self.printable(source)) is not a file: URI; only local files are read"
            )
        }
        path = path.dropFirst("file:".count)
        if path.hasPrefix("//") {
            path = path.dropFirst(2) // file://host/path: only an empty host (file:///path)
            guard path.hasPrefix("/") else {
                throw PKCS11PINError(.unsupportedSource, "pin-source \(Self.printable(source)) names a remote host")
            }
        }
        guard path.hasPrefix("/") else {
            throw PKCS11PINError(.unsupportedSource, "pin-source \(Self.printable(source)) is not an absolute path")
        }
        return try self.fromFile(String(path))
    }

    /// The PIN from the first source given: `file` (a `--pin-file` option), else the URI's `pin-source`, else the
    /// environment variable ``environmentVariable``.
    /// - Throws: as ``fromFile(_:)``, ``fromPINSource(_:)`` or ``fromEnvironment(_:)``.
    public static func resolve(file: String?, pinSource: String? = nil) throws -> SecureBytes {
        if let file { return try self.fromFile(file) }
        if let pinSource { return try self.fromPINSource(pinSource) }
        return try self.fromEnvironment()
    }

    /// Where to read a PIN, each time it is needed (a TLS identity reads it again at each reload).
    public enum Source: Sendable {
        /// An environment variable, by default ``PKCS11PIN/environmentVariable`` (`SAMD_PKCS11_PIN`).
        case environment(String = PKCS11PIN.environmentVariable)
        /// A PIN file (see ``PKCS11PIN``'s rules).
        case file(String)
        /// An RFC 7512 `pin-source` value (`file:` only, see ``PKCS11PIN/fromPINSource(_:)``).
        case pinSource(String)
        /// A PIN already held, e.g. read once by the caller.
        case value(SecureBytes)

        /// The PIN.
        /// - Throws: ``PKCS11PINError`` as the matching `PKCS11PIN.from…` function.
        public func read() throws -> SecureBytes {
            switch self {
            case .environment(let variable): try PKCS11PIN.fromEnvironment(variable)
            case .file(let path): try PKCS11PIN.fromFile(path)
            case .pinSource(let source): try PKCS11PIN.fromPINSource(source)
            case .value(let pin): pin
            }
        }

        /// The source a program uses: `file` (its `--pin-file` option) if given, else the URI's `pin-source` if
        /// any, else the environment variable `SAMD_PKCS11_PIN`.
        public static func choose(file: String?, pinSource: String?) -> Source {
            if let file { return .file(file) }
            if let pinSource { return .pinSource(pinSource) }
            return .environment()
        }
    }

    private static func secure(_ bytes: UnsafeRawBufferPointer, what: String) throws -> SecureBytes {
        guard !bytes.isEmpty else { throw PKCS11PINError(.invalid, "\(what): the PIN is empty") }
        guard bytes.count <= Self.maximumLengthBytes else {
            throw PKCS11PINError(.invalid, "\(what): a PIN is at most \(Self.maximumLengthBytes) bytes")
        }
        guard !bytes.contains(0) else { throw PKCS11PINError(.invalid, "\(what): a PIN holds no NUL byte") }
        do {
            return try SecureBytes(copying: bytes)
        } catch {
            throw PKCS11PINError(.unreadable, "cannot hold the PIN in guarded memory")
        }
    }

    /// A path for a message: control characters and non-ASCII escaped, at most 256 characters.
    private static func printable(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars.prefix(256) {
            if scalar.value < 0x20 || scalar.value >= 0x7F {
                result += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result + (text.unicodeScalars.count > 256 ? "…" : "")
    }
}

/// A PKCS #11 PIN that cannot be had: none given, an unsafe or unreadable file, an invalid PIN.
///
/// No error holds the PIN. Compare by ``code``.
public struct PKCS11PINError: CodedError {
    /// The stable identity of the error.
    public let code: Code
    /// What went wrong, in words, without the PIN.
    public let reason: String
    /// Where the error was raised (`#fileID`).
    public let file: String
    /// Where the error was raised (`#line`).
    public let line: Int

    init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    /// The stable identity of a ``PKCS11PINError``. New codes may be added in minor releases.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's name, as its property is spelled.
        public let description: String
        private init(_ description: String) { self.description = description }

        /// No PIN given: no PIN file and the environment variable unset or empty.
        public static let missing = Code("missing")
        /// The PIN file is a link, not a regular file, not the user's, or open to group or others.
        public static let unsafeFile = Code("unsafeFile")
        /// The PIN file cannot be opened or read.
        public static let unreadable = Code("unreadable")
        /// The PIN is empty, too long or holds NUL.
        public static let invalid = Code("invalid")
        /// A `pin-source` other than a local `file:` URI.
        public static let unsupportedSource = Code("unsupportedSource")
    }
}
