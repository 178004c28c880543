import Foundation

/// An exclusive, non-blocking `flock` on a file: one rotation or re-key job per store
/// (``EncryptedRecordStore/lockForKeyJob()``); closing the file, when this object is released or the process
/// ends, releases it.
final class JobLock: KeyJobLock {
    private let fd: Int32

    init(path: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw RecordStoreError(.storage, "cannot open \(path): errno \(errno)") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw RecordStoreError(.conflict, "another key rotation job is running on this store")
        }
        self.fd = fd
    }

    deinit {
        close(self.fd)
    }
}
