import Foundation

/// A record's sealed envelope on its way into the database: an unnamed file in the store's (private) directory,
/// written as the body arrives and read back into the row in pieces. It holds ciphertext only — the sealer
/// writes into it — and it has no name: made with `mkstemp` (0600) and unlinked at once, it disappears with its
/// descriptor, also when the process is killed. Not `Sendable`: one task writes it, then one commit reads it
/// (wrapped by ``EncryptedRecordStore/put(streaming:subject:recordID:recordType:expectedRevision:)``).
package final class RecordSpool {
    private let descriptor: Int32
    /// Bytes written so far.
    package private(set) var byteCount = 0

    /// - Throws: ``RecordStoreError/Code/storage`` when the file cannot be made.
    package init(directory: String) throws {
        var template = Array((directory + "/.spool-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw RecordStoreError(.storage, "cannot make a spool file in the record store: errno \(errno)")
        }
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard unlink(path) == 0 else {
            let failure = errno
            close(descriptor)
            throw RecordStoreError(.storage, "cannot unlink the record store's spool file: errno \(failure)")
        }
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        self.descriptor = descriptor
    }

    deinit {
        close(self.descriptor)
    }

    /// Appends `bytes`.
    /// - Throws: ``RecordStoreError/Code/storage`` (disk full, I/O error).
    package func append(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let written = write(self.descriptor, bytes.baseAddress! + done, bytes.count - done)
            guard written > 0 else {
                if written < 0, errno == EINTR { continue }
                throw RecordStoreError(.storage, "cannot write the record store's spool file: errno \(errno)")
            }
            done += written
        }
        self.byteCount += bytes.count
    }

    /// Reads into `buffer` from `offset`; returns the bytes read (fewer than `buffer.count` only at the end).
    /// - Throws: ``RecordStoreError/Code/storage``.
    package func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var done = 0
        while done < buffer.count {
            let count = pread(self.descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if count == 0 { break }
            guard count > 0 else {
                if errno == EINTR { continue }
                throw RecordStoreError(.storage, "cannot read the record store's spool file: errno \(errno)")
            }
            done += count
        }
        return done
    }
}
