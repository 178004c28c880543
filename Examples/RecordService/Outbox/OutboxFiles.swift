#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The file-system steps of ``Outbox``, on POSIX calls: private directories, the lock, atomic entries (a
/// temporary file written, fsynced, renamed, the directory fsynced), bounded reads.
enum OutboxFiles {
    /// Makes `path` a directory (0700) when absent; refuses one that is a symbolic link, not a directory, not
    /// owned by this user, or writable by its group or others.
    /// - Throws: ``OutboxError/Code/unsafeDirectory``, ``OutboxError/Code/io``.
    static func makePrivateDirectory(_ path: String) throws {
        if mkdir(path, 0o700) != 0, errno != EEXIST {
            throw OutboxError(.io, "cannot make \(path): \(self.describe(errno))")
        }
        var status = stat()
        guard lstat(path, &status) == 0 else {
            throw OutboxError(.io, "cannot examine \(path): \(self.describe(errno))")
        }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            throw OutboxError(
                .unsafeDirectory, "\(path) is not a directory (the outbox and its refused/ must be real directories)")
        }
        guard status.st_uid == geteuid() else {
            throw OutboxError(.unsafeDirectory, "\(path) belongs to another user")
        }
        guard status.st_mode & 0o022 == 0 else {
            throw OutboxError(.unsafeDirectory, "\(path) is writable by its group or others")
        }
    }

    /// Opens (making it 0600 when absent) a lock file; not locked yet.
    /// - Throws: ``OutboxError/Code/io``.
    static func openLockFile(_ path: String) throws -> Int32 {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw OutboxError(.io, "cannot open the outbox's lock file: \(self.describe(errno))")
        }
        return descriptor
    }

    /// Takes an exclusive `flock(2)` on `descriptor`, trying every 20 ms until `timeout`.
    /// - Parameter holder: what the process holding it is doing, for the error.
    /// - Throws: ``OutboxError/Code/busy`` past the timeout; ``OutboxError/Code/io``.
    static func lock(_ descriptor: Int32, timeout: Duration, holder: String) throws {
        let deadline = ContinuousClock.now + timeout
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let failure = errno
            guard failure == EWOULDBLOCK || failure == EINTR else {
                throw OutboxError(.io, "cannot lock the outbox: \(self.describe(failure))")
            }
            guard ContinuousClock.now < deadline else {
                throw OutboxError(.busy, "another process holds the outbox's lock (another samd-agent is \(holder))")
            }
            usleep(20_000)
        }
    }

    /// Removes the temporary file at `path` when no process holds it locked (its writer was killed); leaves
    /// anything else (a file being written, a directory).
    /// - Returns: whether it was removed.
    static func removeIfAbandoned(_ path: String) -> Bool {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG,
            flock(descriptor, LOCK_EX | LOCK_NB) == 0
        else { return false }
        return unlink(path) == 0
    }

    /// Moves `source` into `directory` as `name`, or `name.1`, `name.2`… — never replacing a file there
    /// (`link(2)`, which fails on an existing name, then `unlink(2)` of the source).
    /// - Throws: ``OutboxError/Code/io``.
    static func moveWithoutReplacing(_ source: String, into directory: String, as name: String) throws {
        for suffix in 0..<1_000 {
            let target = directory + "/" + name + (suffix == 0 ? "" : ".\(suffix)")
            if link(source, target) == 0 {
                unlink(source)
                return
            }
            guard errno == EEXIST else {
                throw OutboxError(.io, "cannot move an entry to refused/: \(self.describe(errno))")
            }
        }
        throw OutboxError(.io, "cannot move an entry to refused/: a thousand names taken")
    }

    /// The names in a directory, without `.` and `..`.
    /// - Throws: ``OutboxError/Code/io``.
    static func names(in directory: String) throws -> [String] {
        guard let handle = opendir(directory) else {
            throw OutboxError(.io, "cannot read the outbox directory: \(self.describe(errno))")
        }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The size of the regular file at `path` (not following a symbolic link), or `nil`.
    static func size(of path: String) -> Int64? {
        var status = stat()
        guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        return Int64(status.st_size)
    }

    /// Opens a file to be queued: a regular file, read-only.
    /// - Throws: ``OutboxError/Code/inputUnreadable``.
    static func openInput(_ path: String) throws -> (descriptor: Int32, byteCount: Int64) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard descriptor >= 0 else {
            throw OutboxError(.inputUnreadable, "the file cannot be opened: \(self.describe(errno))")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw OutboxError(.inputUnreadable, "not a regular file")
        }
        return (descriptor, Int64(status.st_size))
    }

    /// Reads what is next in an input file into `buffer`; 0 at its end.
    /// - Throws: ``OutboxError/Code/inputUnreadable``.
    static func readInput(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let count = read(descriptor, buffer.baseAddress!, buffer.count)
            if count >= 0 { return count }
            guard errno == EINTR else {
                throw OutboxError(.inputUnreadable, "reading the file failed: \(self.describe(errno))")
            }
        }
    }

    /// Makes a new temporary file (0600, exclusive, `prefix` + random hexadecimal digits) in `directory`, locked
    /// (`flock(2)`) by this process until its descriptor is closed.
    /// - Throws: ``OutboxError/Code/io``.
    static func makeTemporary(in directory: String, prefix: String) throws -> (descriptor: Int32, path: String) {
        for _ in 0..<8 {
            let path = directory + "/" + prefix + String(UInt64.random(in: 0...UInt64.max), radix: 16)
            let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            if descriptor >= 0 {
                // Its writer's: an opening process removes only temporary files nobody holds locked.
                flock(descriptor, LOCK_EX | LOCK_NB)
                return (descriptor, path)
            }
            guard errno == EEXIST else {
                throw OutboxError(.io, "cannot make an entry in the outbox: \(self.describe(errno))")
            }
        }
        throw OutboxError(.io, "cannot make an entry in the outbox: names taken")
    }

    /// Writes all of `bytes`.
    /// - Throws: ``OutboxError/Code/io`` (a full disk included).
    static func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) throws {
        var done = 0
        while done < bytes.count {
            let count = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            guard count > 0 else {
                if count < 0, errno == EINTR { continue }
                throw OutboxError(.io, "writing an outbox entry failed: \(self.describe(errno))")
            }
            done += count
        }
    }

    /// Writes all of `bytes`.
    /// - Throws: ``OutboxError/Code/io``.
    static func write(_ bytes: [UInt8], to descriptor: Int32) throws {
        try bytes.withUnsafeBytes { try self.write($0, to: descriptor) }
    }

    /// `fsync(2)`.
    /// - Throws: ``OutboxError/Code/io``.
    static func sync(_ descriptor: Int32) throws {
        guard fsync(descriptor) == 0 else {
            throw OutboxError(.io, "cannot make an outbox entry durable: \(self.describe(errno))")
        }
    }

    /// `fsync(2)` of a directory: makes the names made, renamed or removed in it durable.
    /// - Throws: ``OutboxError/Code/io``.
    static func syncDirectory(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw OutboxError(.io, "cannot open the outbox directory: \(self.describe(errno))")
        }
        defer { close(descriptor) }
        try self.sync(descriptor)
    }

    /// The first `count` bytes (or fewer, the whole file) of the regular file at `path`, and its size; a
    /// symbolic link is refused.
    /// - Throws: ``OutboxError/Code/malformedEntry`` for what is not a regular file; ``OutboxError/Code/io``.
    static func readPrefix(_ path: String, count: Int) throws -> (bytes: [UInt8], fileByteCount: Int64) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        guard descriptor >= 0 else {
            if errno == ELOOP { throw OutboxError(.malformedEntry, "an entry is a symbolic link") }
            throw OutboxError(.io, "cannot open an outbox entry: \(self.describe(errno))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw OutboxError(.malformedEntry, "an entry is not a regular file")
        }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let read = bytes.withUnsafeMutableBytes {
                pread(descriptor, $0.baseAddress! + done, count - done, off_t(done))
            }
            if read == 0 { break }
            guard read > 0 else {
                if errno == EINTR { continue }
                throw OutboxError(.io, "cannot read an outbox entry: \(self.describe(errno))")
            }
            done += read
        }
        return (Array(bytes[..<done]), Int64(status.st_size))
    }

    /// `strerror(3)` of `code`.
    static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
