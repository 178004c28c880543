import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Private files: atomic replacement, private permissions, bounded reads — the key store's files, a passphrase
/// file, a device's outbox. Package-level: the one implementation the package's modules share.
package enum StoreFile {
    /// Writes `bytes` to `path` atomically: a new temporary file (0600) in the same directory, written,
    /// fsync'd, renamed over `path`, and the directory fsync'd. A crash leaves the old file or the new one.
    ///
    /// - Parameter lockedTemporary: the caller holds the lock that every writer of `path` takes (a subject's
    ///   lock, the store lock for `keystore.json`): the temporary is then `path.tmp`, and one left by a writer
    ///   that was killed mid-write — it may hold key material that a later shredding is meant to erase — is
    ///   removed first, in constant time. Without it (a file of its own name, such as a receipt) the temporary
    ///   gets a unique name.
    package static func writeAtomically(_ bytes: [UInt8], to path: String, lockedTemporary: Bool = false) throws {
        try self.writeAtomically([(bytes, path)], lockedTemporary: lockedTemporary)
    }

    /// Writes several files of one directory atomically each, with one directory fsync for them all: every
    /// temporary is written and fsync'd first (a failure there changes no file), then each is renamed over
    /// its file, then the directory is fsync'd. A crash leaves each file old or new. The caller holds what
    /// makes the batch consistent (the subjects' locks) until this returns.
    /// - Throws: `EnvelopeError.Code.io`; when a rename fails, the files renamed before it are new.
    package static func writeAtomically(_ files: [(bytes: [UInt8], path: String)], lockedTemporary: Bool = false) throws
    {
        try AtomicFile.write(files, lockedTemporary: lockedTemporary)
    }

    /// Reads a store file whole, refusing one that others can read or write, or one over `limit` bytes.
    package static func read(_ path: String, limit: Int) throws -> [UInt8] {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { throw EnvelopeError(.keyNotFound, "\(path) does not exist") }
            throw EnvelopeError(.io, "cannot stat \(path): \(Errno(rawValue: errno))")
        }
        // Not a link, FIFO, device or directory: a FIFO would block, a link could point anywhere.
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw EnvelopeError(.keyStore, "\(path) is not a regular file")
        }
        do {
            let fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.noFollow, .nonBlocking])
            return try fd.closeAfter {
                // Judge the file actually opened: another writer may have renamed a new one in since lstat.
                guard fstat(fd.rawValue, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
                    throw EnvelopeError(.keyStore, "\(path) is not a regular file")
                }
                guard info.st_mode & 0o077 == 0 else {
                    throw EnvelopeError(
                        .keyStore,
                        "\(path) is readable or writable by others (mode \(String(info.st_mode & 0o777, radix: 8))); it must be 0600"
                    )
                }
                guard Int(info.st_size) <= limit else {
                    throw EnvelopeError(.keyStore, "\(path) is \(info.st_size) bytes, over the \(limit)-byte limit")
                }
                // Read to the end, not just the size seen, but never past the limit.
                var bytes: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: min(Int(info.st_size) + 4096, limit + 1))
                while bytes.count <= limit {
                    let read = try chunk.withUnsafeMutableBytes { try fd.read(into: $0, retryOnInterrupt: true) }
                    if read == 0 { break }
                    bytes += chunk[..<read]
                }
                guard bytes.count <= limit else {
                    throw EnvelopeError(.keyStore, "\(path) is over the \(limit)-byte limit")
                }
                return bytes
            }
        } catch let error as EnvelopeError {
            throw error
        } catch Errno.noSuchFileOrDirectory {
            throw EnvelopeError(.keyNotFound, "\(path) does not exist")
        } catch {
            throw EnvelopeError(.io, "cannot read \(path): \(error)")
        }
    }

    /// Refuses a store directory that others can enter or read.
    package static func checkPrivateDirectory(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw EnvelopeError(.keyStore, "no key store at \(path)")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw EnvelopeError(.keyStore, "\(path) is not a directory")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw EnvelopeError(
                .keyStore,
                "the key store \(path) is accessible to others (mode \(String(info.st_mode & 0o777, radix: 8))); it must be 0700"
            )
        }
    }

    package static func makePrivateDirectory(_ path: String) throws {
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw EnvelopeError(.io, "cannot create \(path): \(Errno(rawValue: errno))")
        }
        try self.checkPrivateDirectory(path)
    }

    package static func directory(of path: String) -> String {
        AtomicFile.directory(of: path)
    }

    /// Removes every temporary that writers killed mid-write left of `path`: `path.tmp`, and `path.tmp-…` that
    /// earlier releases left (they named every temporary uniquely). Lists the whole directory, so it runs where
    /// erasure is the point (shredding a subject) or the directory is small (the store's root), never on every
    /// write: ``writeAtomically(_:to:lockedTemporary:)`` removes `path.tmp` itself. Called only with the lock
    /// every writer of `path` takes held, so any such file belongs to a writer that died.
    package static func removeStaleTemporaries(of path: String) {
        let base = String(path.split(separator: "/").last ?? "")
        guard let names = try? self.list(self.directory(of: path)) else { return }
        for name in names where name == base + ".tmp" || name.hasPrefix(base + ".tmp-") {
            unlink(self.directory(of: path) + "/" + name)
        }
    }

    package static func list(_ directory: String) throws -> [String] {
        guard let handle = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw EnvelopeError(.io, "cannot list \(directory): \(Errno(rawValue: errno))")
        }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = Self.name(of: entry)
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// The name of a directory entry, read up to its NUL through a pointer into the entry. A `dirent` is only
    /// `d_reclen` bytes long, not the size of the structure: copying its whole 256-byte `d_name` array read past
    /// an entry at the end of `readdir`'s buffer (and crashed when that was the end of a mapped page).
    /// - Parameter entry: a `dirent` as `readdir` returns it (raw, as `dirent` is not a package-visible type here).
    package static func name(of entry: UnsafeRawPointer) -> String {
        let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        return String(cString: (entry + offset).assumingMemoryBound(to: CChar.self))
    }
}
