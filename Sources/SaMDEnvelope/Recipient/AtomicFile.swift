package import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Atomic replacement of files: the one way the package writes a file that must be whole or absent (key-store
/// files in SaMDKeys, a recipient public key here).
package enum AtomicFile {
    /// Writes several files of one directory atomically each, with one directory fsync for them all: every
    /// temporary is written (mode `permissions`) and fsync'd first (a failure there changes no file), then each
    /// is renamed over its file, then the directory is fsync'd. A crash leaves each file old or new.
    ///
    /// - Parameter lockedTemporary: the caller holds the lock that every writer of the paths takes: the
    ///   temporary is then `path.tmp`, and one left by a writer that was killed mid-write is removed first.
    ///   Without it the temporary gets a unique name.
    /// - Throws: `EnvelopeError.Code.io`; when a rename fails, the files renamed before it are new.
    package static func write(
        _ files: [(bytes: [UInt8], path: String)], lockedTemporary: Bool = false,
        permissions: FilePermissions = [.ownerRead, .ownerWrite]
    ) throws {
        guard let first = files.first else { return }
        let directory = Self.directory(of: first.path)
        precondition(files.allSatisfy { Self.directory(of: $0.path) == directory }, "one directory per batch")
        var temporaries: [String] = []
        do {
            for (bytes, path) in files {
                let temporary =
                    lockedTemporary ? "\(path).tmp" : "\(path).tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
                if lockedTemporary { unlink(temporary) }
                let fd = try FileDescriptor.open(
                    FilePath(temporary), .writeOnly, options: [.create, .exclusiveCreate], permissions: permissions)
                temporaries.append(temporary)
                _ = try fd.closeAfter {
                    // The umask may have taken bits the caller asked for (0644 for a public file).
                    guard fchmod(fd.rawValue, mode_t(permissions.rawValue)) == 0 else { throw Errno(rawValue: errno) }
                    var offset = 0
                    try bytes.withUnsafeBytes { bytes in
                        while offset < bytes.count {
                            offset += try fd.write(
                                UnsafeRawBufferPointer(rebasing: bytes[offset...]), retryOnInterrupt: true)
                        }
                    }
                    guard fsync(fd.rawValue) == 0 else { throw Errno(rawValue: errno) }
                }
            }
            for (index, file) in files.enumerated() {
                guard rename(temporaries[index], file.path) == 0 else { throw Errno(rawValue: errno) }
                temporaries[index] = ""
            }
            let directoryFD = try FileDescriptor.open(FilePath(directory), .readOnly)
            defer { try? directoryFD.close() }
            // EINVAL: a file system that cannot sync a directory (the renames are then as durable as it makes them).
            guard fsync(directoryFD.rawValue) == 0 || errno == EINVAL else { throw Errno(rawValue: errno) }
        } catch {
            for temporary in temporaries where !temporary.isEmpty { unlink(temporary) }
            throw EnvelopeError(
                .io, "cannot write \(files.count == 1 ? first.path : "\(files.count) files in \(directory)"): \(error)")
        }
    }

    /// The directory part of `path` (`.` for a bare name, `/` for a file at the root).
    package static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
