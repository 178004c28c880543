import ArgumentParser
import Foundation
import Logging
import SaMDCrypto
import SaMDEnvelope
import SaMDExampleStorage
import SaMDExampleSupport
import SaMDKeys
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

extension ExitStatus {
    /// The exit code for a library error.
    static func code(for error: EnvelopeError) -> Int32 {
        switch error.code {
        case .authenticationFailed, .truncated, .malformed, .unsupportedVersion, .unsupportedSuite, .limitExceeded:
            dataError
        case .invalidContext: usage
        case .keyNotFound, .keyDestroyed, .keyNotUsable, .keyStore: unavailable
        // The key store's lock held past its timeout by another process: try again later.
        case .keyUnavailable: temporaryFailure
        // A key store in a database that cannot be reached now.
        case .storeUnavailable: unavailable
        case .io: ioError
        default: software
        }
    }
}

/// A failure that has been reported on stderr and carries its exit code.
struct Failure: Error {
    let status: Int32
    let message: String
}

/// Runs a subcommand body: any failure becomes one line on stderr and a sysexits code.
func runReporting(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let failure as Failure {
        printError("\(failure.message)")
        throw ExitCode(failure.status)
    } catch let error as EnvelopeError {
        printError("\(error.code): \(error.reason)")
        throw ExitCode(ExitStatus.code(for: error))
    } catch let error as KeyStoreAccessError {
        printError(error.reason)
        throw ExitCode(error.exitStatus)
    } catch let error as CryptoError {
        printError("\(error.code): \(error.reason)")
        throw ExitCode(ExitStatus.software)
    } catch let error as Errno {
        printError("I/O error: \(error)")
        throw ExitCode(ExitStatus.ioError)
    } catch let error as ExitCode {
        throw error
    } catch {
        printError("\(error)")
        throw ExitCode(ExitStatus.software)
    }
}

/// Options shared by every command that opens a key store: where it is (a directory, or a PostgreSQL database) and
/// the secret of its custody — the passphrase of a store under a passphrase, or the user PIN of the PKCS #11 token a
/// store's KEKs are in. Which one is read is found in the store's own record
/// (``openKeyStore(at:passphraseFile:pinFile:pinFileHasOtherUse:lockTimeout:logger:)``). A database's password comes
/// from `PGPASSWORD` or the password file (`PGPASSFILE`, `~/.pgpass`), never from the URL.
struct KeyStoreOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The key store: a directory, or a PostgreSQL URL postgresql://ROLE@HOST:PORT/DB?sslrootcert=CA.pem (TLS verify-full; password from PGPASSWORD or PGPASSFILE; its KEKs in a PKCS #11 token).",
            valueName: "dir|url"))
    var keystore: String

    @Option(
        name: .long,
        help:
            "A file holding the passphrase of a key store under a passphrase (mode 0600). Default: the SAMD_PASSPHRASE environment variable."
    )
    var passphraseFile: String?

    @OptionGroup var pin: PKCS11PINOption

    func passphrase() throws -> SecureBytes {
        if let file = self.passphraseFile {
            return try Passphrase.fromFile(file)
        }
        return try Passphrase.fromEnvironment()
    }

    /// Where the key store is.
    /// - Throws: ``Failure`` (64) for a PostgreSQL URL that is refused.
    func location() throws -> StorageLocation {
        do {
            return try StorageLocation(self.keystore)
        } catch let error as StorageAccessError {
            throw Failure(status: error.exitStatus, message: error.reason)
        }
    }

    /// The store with the custody it records; the caller closes it (``OpenedKeys/closeNow()``).
    /// - Throws: `KeyStoreAccessError` (a secret option that does not fit, no PIN, the token unavailable);
    ///   ``Failure`` for a database's errors; `EnvelopeError`.
    func open() throws -> OpenedKeys {
        let location = try self.location()
        let (passphraseFile, pinFile) = (self.passphraseFile, self.pin.file)
        do {
            return try waitFor {
                try await openKeys(
                    at: location, passphraseFile: passphraseFile, pinFile: pinFile, logger: .quietKeys,
                    databaseLogger: .quietDatabase)
            }
        } catch let error as StorageAccessError {
            throw Failure(status: error.exitStatus, message: error.reason)
        }
    }
}

/// The encryption-context options of seal and open.
struct ContextOptions: ParsableArguments {
    @Option(
        name: .customLong("context"),
        help: "An encryption-context pair KEY=VALUE (repeatable). Never stored; needed again to open.")
    var pairs: [String] = []

    @Option(
        name: .long,
        help: "The subject (patient) id: seals under that subject's key and binds subject=ID into the context.")
    var subject: String?

    func context() throws -> EncryptionContext {
        var pairs: [(String, String)] = []
        for pair in self.pairs {
            guard let equals = pair.firstIndex(of: "=") else {
                // The value may be a patient identifier: never echo it.
                throw Failure(status: ExitStatus.usage, message: "a --context pair is KEY=VALUE; one has no '='")
            }
            pairs.append((String(pair[..<equals]), String(pair[pair.index(after: equals)...])))
        }
        if let subject = self.subject {
            pairs.append(("subject", subject))
        }
        return try EncryptionContext(pairs)
    }
}

/// An input file or standard input.
func openInput(_ path: String) throws -> FileDescriptor {
    if path == "-" { return .standardInput }
    let descriptor: FileDescriptor
    do {
        descriptor = try FileDescriptor.open(FilePath(path), .readOnly)
    } catch Errno.noSuchFileOrDirectory {
        throw Failure(status: ExitStatus.noInput, message: "\(path): no such file")
    } catch {
        throw Failure(status: ExitStatus.noInput, message: "\(path): cannot open: \(error)")
    }
    var info = stat()
    if fstat(descriptor.rawValue, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
        try? descriptor.close()
        throw Failure(status: ExitStatus.noInput, message: "\(path) is a directory")
    }
    return descriptor
}

/// Runs `body` with `path` (a file, or `-` for standard input) open for reading, and closes it afterwards
/// unless it is standard input.
/// - Throws: ``Failure`` (exit 66) when the file cannot be opened or is a directory; what `body` throws.
func withInput<Result>(_ path: String, _ body: (FileDescriptor) throws -> Result) throws -> Result {
    let input = try openInput(path)
    defer { if path != "-" { try? input.close() } }
    return try body(input)
}

/// Runs `body` for a command that turns IN into OUT: IN (a file, or `-`) open for reading (``withInput(_:_:)``)
/// and OUT (a file, or `-` for standard output) pending (``PendingOutput``) — opened in that order, before
/// anything else is done, so that a missing input or an impossible output fails early. Nothing reaches OUT
/// unless `body` commits it.
/// - Throws: ``Failure`` when IN cannot be opened or OUT cannot be created; what `body` throws.
func withInputAndPendingOutput<Result>(
    _ input: String, _ output: String, _ body: (FileDescriptor, PendingOutput) throws -> Result
) throws -> Result {
    try withInput(input) { descriptor in
        try body(descriptor, try PendingOutput(output))
    }
}

/// Where output goes until it is complete: a private temporary file beside OUT that replaces OUT only on
/// success (fsync, rename), or — for standard output — an unlinked temporary file copied out on success.
/// On failure nothing is created and an existing OUT is untouched.
final class PendingOutput {
    let descriptor: FileDescriptor
    let destination: String
    /// Whether the output goes to standard output (spooled) rather than to a file.
    var isStandardOutput: Bool { self.destination == "-" }
    private let temporary: String?
    private var done = false

    /// - Parameter mode: permissions for the new file (default 0600).
    init(_ destination: String, mode: mode_t = 0o600) throws {
        self.destination = destination
        var info = stat()
        if destination != "-" {
            if destination.hasSuffix("/") || (stat(destination, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR) {
                throw Failure(
                    status: ExitStatus.cannotCreate, message: "\(destination) is a directory; name the output file")
            }
            // The output replaces OUT by rename: a device, FIFO, socket or link there would be replaced by
            // a regular file (as root, /dev/null itself). Write to - and redirect instead.
            if lstat(destination, &info) == 0, info.st_mode & S_IFMT != S_IFREG {
                throw Failure(
                    status: ExitStatus.cannotCreate,
                    message: "\(destination) exists and is not a regular file; use - and redirect")
            }
        }
        let directory: String
        if destination == "-" {
            directory = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        } else {
            directory = parentDirectory(of: destination)
        }
        // The name is chosen and registered for removal before the file exists, so a signal at any moment
        // either finds no file yet or removes it (mkstemp would create it before it could be registered).
        PendingCleanup.installHandlers()
        var fd: Int32 = -1
        var path = ""
        for _ in 0..<16 {
            path = "\(directory)/.samd-vault-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
            PendingCleanup.register(path)
            fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else {
            let failure = errno
            PendingCleanup.unregister()
            throw Failure(
                status: ExitStatus.cannotCreate,
                message: "\(destination): cannot create output in \(directory): \(Errno(rawValue: failure))")
        }
        fchmod(fd, mode)
        if destination == "-" {
            unlink(path) // unnamed: gone when closed, whatever happens
            PendingCleanup.unregister()
            self.temporary = nil
        } else {
            self.temporary = path
        }
        self.descriptor = FileDescriptor(rawValue: fd)
    }

    /// Makes the output visible: rename over OUT, or copy to standard output. With `replacing`, the rename
    /// happens only if OUT is still that very file (device and inode); otherwise nothing is replaced and
    /// this throws (exit 75, try again).
    func commit(replacing expected: (device: UInt64, inode: UInt64)? = nil) throws {
        if let expected, let temporary = self.temporary {
            var info = stat()
            guard stat(self.destination, &info) == 0, UInt64(info.st_dev) == expected.device,
                UInt64(info.st_ino) == expected.inode
            else {
                unlink(temporary)
                self.done = true
                PendingCleanup.unregister()
                throw Failure(
                    status: ExitStatus.temporaryFailure,
                    message: "\(self.destination) changed while it was being rewrapped; left as it is, try again")
            }
        }
        guard fsync(self.descriptor.rawValue) == 0 else {
            throw Failure(
                status: ExitStatus.ioError, message: "\(self.destination): fsync failed: \(Errno(rawValue: errno))")
        }
        if let temporary = self.temporary {
            guard rename(temporary, self.destination) == 0 else {
                throw Failure(
                    status: ExitStatus.cannotCreate,
                    message: "\(self.destination): cannot create: \(Errno(rawValue: errno))")
            }
            PendingCleanup.unregister()
            // Make the rename itself durable.
            let directory = open(parentDirectory(of: self.destination), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if directory >= 0 {
                _ = fsync(directory)
                close(directory)
            }
        } else {
            do {
                _ = try self.descriptor.seek(offset: 0, from: .start)
                var buffer = [UInt8](repeating: 0, count: 64 << 10)
                while true {
                    let count = try buffer.withUnsafeMutableBytes {
                        try self.descriptor.read(into: $0, retryOnInterrupt: true)
                    }
                    if count == 0 { break }
                    try buffer.withUnsafeBytes { bytes in
                        var offset = 0
                        while offset < count {
                            offset += try FileDescriptor.standardOutput.write(
                                UnsafeRawBufferPointer(rebasing: bytes[offset..<count]), retryOnInterrupt: true)
                        }
                    }
                }
            } catch {
                throw Failure(status: ExitStatus.ioError, message: "writing to standard output failed: \(error)")
            }
        }
        self.done = true
    }

    deinit {
        try? self.descriptor.close()
        if !self.done, let temporary = self.temporary {
            unlink(temporary)
            PendingCleanup.unregister()
        }
    }
}

/// Removes a pending output's temporary file when the process is interrupted (SIGINT, SIGTERM,
/// SIGHUP, SIGPIPE), so a killed `open` leaves no plaintext behind. SIGKILL cannot be caught: the
/// temporary file is then left as `.samd-vault-…` beside OUT, mode 0600.
enum PendingCleanup {
    /// The path, as a C string the handler can use without allocating (signal-safe).
    nonisolated(unsafe) static var path: UnsafeMutablePointer<CChar>?

    static func register(_ temporary: String) {
        self.installHandlers()
        let copy = strdup(temporary)
        let previous = self.path
        self.path = copy
        free(previous)
    }

    static func unregister() {
        let previous = self.path
        self.path = nil
        free(previous)
    }

    nonisolated(unsafe) static var installed = false

    static func installHandlers() {
        guard !self.installed else { return }
        self.installed = true
        for signalNumber in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] {
            signal(signalNumber) { received in
                if let path = PendingCleanup.path { unlink(path) }
                _exit(128 + received)
            }
        }
    }
}

/// The directory a path's file is in ("." for a bare name). (Foundation's `deletingLastPathComponent`
/// traps on one-character paths on Linux.)
func parentDirectory(of path: String) -> String {
    let parent = FilePath(path).removingLastComponent().string
    return parent.isEmpty ? "." : parent
}

extension Logger {
    /// The key store's logger in samd-vault: its security events (notice and above), not its operational
    /// information (a database listener started).
    static var quietKeys: Logger {
        var logger = Logger(label: "samdkit.keys")
        logger.logLevel = .notice
        return logger
    }

    /// The logger of samd-vault's database pools: warnings and errors only. A one-shot command does not report
    /// each connection's TLS handshake (info) among its own output.
    static var quietDatabase: Logger {
        var logger = Logger(label: "samdkit.postgres")
        logger.logLevel = .warning
        return logger
    }
}
