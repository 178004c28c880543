import Foundation

/// The files: the store's private directory, and its database file and the `-wal` and `-shm` files SQLite
/// makes beside it, checked before and after SQLite opens them.
extension EncryptedRecordStore {
    /// Creates the database file (0600) when it does not exist, checks that it and its `-wal` and `-shm`
    /// files are private regular files, and returns its identity: what every connection checks again.
    /// - Throws: ``RecordStoreError/Code/storage``.
    static func prepareDatabaseFile(_ path: String) throws -> (device: UInt64, inode: UInt64) {
        // Created 0600 before SQLite opens it; SQLite gives its -wal and -shm files the same mode. An existing
        // database is only looked at (lstat), never opened and closed here: closing any descriptor of a file
        // drops every POSIX lock this process holds on it, including those of another store instance's
        // SQLite connections (sqlite.org/howtocorrupt.html §2.2).
        var info = stat()
        if lstat(path, &info) != 0 {
            guard errno == ENOENT else { throw RecordStoreError(.storage, "cannot stat \(path): errno \(errno)") }
            let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else { throw RecordStoreError(.storage, "cannot create \(path): errno \(errno)") }
            close(fd)
            guard lstat(path, &info) == 0 else {
                throw RecordStoreError(.storage, "cannot stat \(path): errno \(errno)")
            }
        }
        guard info.st_mode & S_IFMT == S_IFREG, info.st_mode & 0o077 == 0 else {
            throw RecordStoreError(.storage, "\(path) must be a regular file of mode 0600, not a link")
        }
        let file = (device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        try Self.checkDatabaseFiles(path, file: file)
        return file
    }

    /// The database must still be the regular file judged when the store was opened (same device and inode),
    /// and its `-wal` and `-shm` files, which SQLite opens itself, following links, must be private regular
    /// files when they exist.
    static func checkDatabaseFiles(_ path: String, file: (device: UInt64, inode: UInt64)) throws {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG,
            UInt64(info.st_dev) == file.device, UInt64(info.st_ino) == file.inode
        else {
            throw RecordStoreError(.storage, "\(path) was replaced since the store was opened (or is a link)")
        }
        for suffix in ["-wal", "-shm"] {
            guard lstat(path + suffix, &info) == 0 else {
                guard errno == ENOENT else {
                    throw RecordStoreError(.storage, "cannot stat \(path + suffix): errno \(errno)")
                }
                continue
            }
            guard info.st_mode & S_IFMT == S_IFREG, info.st_mode & 0o077 == 0 else {
                throw RecordStoreError(.storage, "\(path + suffix) must be a regular file of mode 0600, not a link")
            }
        }
    }

    static func preparePrivateDirectory(_ path: String) throws {
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw RecordStoreError(.storage, "cannot create \(path): errno \(errno)")
        }
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw RecordStoreError(.storage, "\(path) is not a directory")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw RecordStoreError(
                .storage,
                "the record store \(path) is accessible to others (mode \(String(info.st_mode & 0o777, radix: 8))); it must be 0700"
            )
        }
    }
}
