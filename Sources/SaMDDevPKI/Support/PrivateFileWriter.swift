// Writes PKI files so that a reader never sees half a file and a key is never readable by others, not
// even for a moment: each file is a temporary file created with its final mode, fsynced, then renamed.

import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

enum PrivateFileWriter {
    /// One file to write: its name inside the directory, its text, and its permission bits.
    struct Item {
        let name: String
        let text: String
        let mode: mode_t
    }

    /// Writes `items` into `directory` (created with mode 0700 if absent, set to 0700 if present).
    ///
    /// Each file is written to a temporary file in the same directory, created `O_EXCL` with its final
    /// mode, fsynced, then renamed over the target (`replacing`) or hard-linked to it (otherwise, so an
    /// existing file is never replaced, even one created meanwhile); the directory is fsynced at the end.
    /// - Throws: ``DevelopmentPKIError/Code/outputExists`` when not `replacing` and a target exists (nothing
    ///   is written then, unless the file appeared while writing); ``DevelopmentPKIError/Code/cannotWrite``
    ///   for any failing system call.
    static func write(_ items: [Item], to directory: URL, replacing: Bool) throws {
        try self.prepareDirectory(directory)
        if !replacing {
            let present = self.existing(items.map(\.name), in: directory)
            if !present.isEmpty {
                throw DevelopmentPKIError(
                    .outputExists, "\(directory.path) already holds \(present.joined(separator: ", "))")
            }
        }
        for item in items {
            try self.write(item, in: directory, replacing: replacing)
        }
        try self.syncDirectory(directory)
    }

    /// The names among `names` that exist in `directory` (as any kind of file, symbolic links included).
    static func existing(_ names: [String], in directory: URL) -> [String] {
        names.filter { name in
            var status = stat()
            return lstat(directory.appendingPathComponent(name).path, &status) == 0
        }
    }

    /// Creates `directory` (and missing parents) and sets its mode to 0700.
    static func prepareDirectory(_ directory: URL) throws {
        let path = directory.path
        var status = stat()
        if stat(path, &status) != 0 {
            let parent = directory.deletingLastPathComponent()
            do {
                try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
            } catch {
                throw DevelopmentPKIError(.cannotWrite, "cannot create \(parent.path): \(error.localizedDescription)")
            }
            guard mkdir(path, 0o700) == 0 || errno == EEXIST else { throw self.systemError("mkdir", path) }
            guard stat(path, &status) == 0 else { throw self.systemError("stat", path) }
        }
        guard (status.st_mode & S_IFMT) == S_IFDIR else {
            throw DevelopmentPKIError(.cannotWrite, "\(path) exists and is not a directory")
        }
        guard chmod(path, 0o700) == 0 else { throw self.systemError("chmod 0700", path) }
    }

    private static func write(_ item: Item, in directory: URL, replacing: Bool) throws {
        let target = directory.appendingPathComponent(item.name).path
        let temporary = directory.appendingPathComponent(".\(item.name).\(UInt64.random(in: 1...UInt64.max)).tmp").path
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, item.mode)
        guard descriptor >= 0 else { throw self.systemError("open", temporary) }
        var linked = false
        defer { if !linked { unlink(temporary) } }
        do {
            defer { close(descriptor) }
            // The umask may have narrowed the mode given to open; set it exactly.
            guard fchmod(descriptor, item.mode) == 0 else { throw self.systemError("fchmod", temporary) }
            try Array(item.text.utf8).withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = systemWrite(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw self.systemError("write", temporary)
                    }
                    offset += written
                }
            }
            guard fsync(descriptor) == 0 else { throw self.systemError("fsync", temporary) }
        }
        if replacing {
            guard rename(temporary, target) == 0 else { throw self.systemError("rename", target) }
            linked = true
        } else {
            guard link(temporary, target) == 0 else {
                if errno == EEXIST { throw DevelopmentPKIError(.outputExists, "\(target) already exists") }
                throw self.systemError("link", target)
            }
            // The temporary name is removed by the deferred unlink.
        }
    }

    private static func syncDirectory(_ directory: URL) throws {
        let descriptor = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw self.systemError("open", directory.path) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw self.systemError("fsync", directory.path) }
    }

    private static func systemError(_ call: String, _ path: String) -> DevelopmentPKIError {
        let code = errno
        return DevelopmentPKIError(.cannotWrite, "\(call) \(path): \(String(cString: strerror(code)))")
    }
}

/// write(2), named apart from the many Swift `write` methods in scope.
private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Darwin)
        Darwin.write(descriptor, buffer, count)
    #elseif canImport(Musl)
        Musl.write(descriptor, buffer, count)
    #else
        Glibc.write(descriptor, buffer, count)
    #endif
}
