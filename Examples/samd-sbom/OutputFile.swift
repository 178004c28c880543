import Foundation
import SaMDExampleSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `--output`: the document replaces FILE atomically (a temporary file beside it, then rename), keeping the
/// permission bits of the file it replaces; a new file gets 0666 less the umask, as any file the user creates.
enum OutputFile {
    /// Why FILE could not be replaced: printed, exit 73.
    struct Failure: Error {
        var reason: String
    }

    static func replace(_ path: String, with data: Data) throws(Failure) {
        // Only a regular file (or nothing) may be there, never a device, FIFO, directory or link, which the
        // rename would replace.
        var status = stat()
        var keptMode: mode_t?
        if lstat(path, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFREG else {
                throw Failure(reason: "not a regular file (write to standard output and redirect instead)")
            }
            keptMode = status.st_mode & 0o7777
        }
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp").path
        // The temporary file is never readable beyond the kept mode, not even for the moment of the write.
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, keptMode ?? 0o666)
        guard descriptor >= 0 else { throw Failure(reason: String(cString: strerror(errno))) }
        var written = false
        defer { if !written { unlink(temporary) } }
        do {
            let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            // The umask may have cleared bits of the kept mode at creation: set it exactly.
            if let keptMode, fchmod(descriptor, keptMode) != 0 {
                throw Failure(reason: String(cString: strerror(errno)))
            }
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(reason: error.localizedDescription)
        }
        guard rename(temporary, path) == 0 else { throw Failure(reason: String(cString: strerror(errno))) }
        written = true
    }
}
