import Foundation

/// An exclusive, non-blocking `flock` on a file: one rotation or re-key job per store
/// (``EncryptedRecordStore/lockForKeyJob()``); closing the file, when this object is released or the process
/// ends, releases it.
///
/// A lock just released can still be held for a moment by a process being spawned meanwhile by another thread:
/// between its fork and its exec the child holds a copy of every descriptor, close-on-exec ones included, and
/// an `flock` belongs to the open file, not the process. So a refused attempt is retried every 5 ms for up to
/// ``settleTimeout`` before the job is refused as a conflict (a second job in the same process, run right after
/// the first, was refused once while the test suite spawned processes in parallel).
final class JobLock: KeyJobLock {
    /// How long a lock held by another open file is retried before ``RecordStoreError/Code/conflict``.
    static let settleTimeout: Duration = .seconds(2)

    private let fd: Int32

    init(path: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw RecordStoreError(.storage, "cannot open \(path): errno \(errno)") }
        let deadline = ContinuousClock.now + Self.settleTimeout
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let failure = errno
            guard failure == EWOULDBLOCK || failure == EINTR, ContinuousClock.now < deadline else {
                close(fd)
                if failure == EWOULDBLOCK {
                    throw RecordStoreError(.conflict, "another key rotation job is running on this store")
                }
                throw RecordStoreError(.storage, "cannot lock \(path): errno \(failure)")
            }
            usleep(5_000)
        }
        self.fd = fd
    }

    deinit {
        close(self.fd)
    }
}
