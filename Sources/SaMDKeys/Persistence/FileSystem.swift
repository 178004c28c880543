import CSaMDShims
import SaMDEnvelope
import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A key store file's identity (which version of it is on disk): beside ``StoreFile``, which SaMDEnvelope owns.
extension StoreFile {
    /// What identifies one version of a file: replaced atomically, a file gets a new inode.
    struct Identity: Equatable, Sendable {
        let device: UInt64
        let inode: UInt64
        let size: Int64
        let modifiedSeconds: Int
        let modifiedNanoseconds: Int
    }

    static func identity(_ path: String) -> Identity? {
        var out = [Int64](repeating: 0, count: 5)
        guard CSaMDShims_file_identity(path, &out) == 0 else { return nil }
        return Identity(
            device: UInt64(bitPattern: out[0]),
            inode: UInt64(bitPattern: out[1]),
            size: out[2],
            modifiedSeconds: Int(out[3]),
            modifiedNanoseconds: Int(out[4])
        )
    }
}

/// A `flock(2)` on a key store's lock file, shared or exclusive, waited for at most a deadline: serialises
/// writers across threads and processes (each lock opens its own file description, so two locks in one
/// process exclude each other like two processes).
///
/// - `lock` in the store's directory: taken **exclusive** by whatever rewrites `keystore.json` (rotate,
///   activate, retire, destroy…), **shared** by every operation on one subject key — so subjects are worked on
///   side by side, and a KEK never changes state in the middle of one.
/// - `subjects/s-….lock`: taken exclusive (after the shared store lock) by every operation that reads and
///   writes that subject's key file.
///
/// A lock not had by the deadline throws `EnvelopeError.Code.keyUnavailable`: a holder that is stopped
/// (SIGSTOP), or a long operation, never blocks a caller for longer.
final class StoreLock {
    enum Mode {
        case shared, exclusive
    }

    private let fd: Int32

    /// Locks `path` (created 0600 if missing).
    /// - Throws: `EnvelopeError.Code.keyUnavailable` when the lock is not had within `timeout`;
    ///   `EnvelopeError.Code.keyStore` when the lock file cannot be opened or is not a private regular file.
    init(path: String, mode: Mode, timeout: Duration) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw EnvelopeError(.keyStore, "cannot open the key store's lock file: \(Errno(rawValue: errno))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_mode & 0o077 == 0 else {
            close(fd)
            throw EnvelopeError(.keyStore, "the key store's lock file must be a regular file of mode 0600")
        }
        // Linux has no timed flock: try without blocking, and sleep between tries (1 ms, doubling to 20 ms).
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var pause = Duration.milliseconds(1)
        while flock(fd, (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let error = Errno(rawValue: errno)
                close(fd)
                throw EnvelopeError(.keyStore, "cannot lock the key store: \(error)")
            }
            let now = clock.now
            guard now < deadline else {
                close(fd)
                throw EnvelopeError(
                    .keyUnavailable,
                    "the key store is locked by another operation or process; not had within \(timeout), try again later"
                )
            }
            let wait = min(pause, deadline - now)
            let (seconds, attoseconds) = wait.components
            CSaMDShims_sleep_nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
            pause = min(pause * 2, .milliseconds(20))
        }
        self.fd = fd
    }

    /// The store-wide lock, `lock` in `directory`, with writer preference: flock lets a new shared holder in
    /// whenever another one holds the lock, so under a steady stream of subject operations an exclusive
    /// waiter (a rotation) could wait for ever. Both modes first take `lock.queue` exclusive: a shared taker
    /// releases it at once, an exclusive one only once it holds `lock` — so shared takers queue behind it.
    convenience init(directory: String, mode: Mode = .exclusive, timeout: Duration) throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        let queue = try StoreLock(path: directory + "/lock.queue", mode: .exclusive, timeout: timeout)
        try self.init(path: directory + "/lock", mode: mode, timeout: max(.zero, deadline - clock.now))
        withExtendedLifetime(queue) {}
    }

    /// Runs `body` with the lock held, then releases it.
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        try withExtendedLifetime(self) { try body() }
    }

    deinit {
        flock(self.fd, LOCK_UN)
        close(self.fd)
    }
}
