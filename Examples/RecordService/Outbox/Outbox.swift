public import Logging
public import SaMDEnvelope

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A device's outbox: records sealed to the gateway's recipient key, kept in a directory until the gateway
/// has stored them (Examples/RecordService/SaMDRecordService.docc/DeviceOutbox.md).
///
/// - Queueing (``queue(file:subject:recordID:recordType:to:)``) seals a file into a new entry
///   (``OutboxEntry``, `<sequence>.smdq`) as an envelope to the recipient public key, under the encryption context
///   the store binds (`subject`, `record`, `type`): written to a temporary file, fsynced, renamed into place, and
///   the directory fsynced — a crash leaves the entry whole or absent (a temporary file left by a killed run is
///   removed by the next open). The device cannot read an entry back. An older entry for the same record is
///   removed once the new one is in place: the newest content is what a put stores.
/// - Delivery (``deliver(with:policy:onRetry:)``) sends entries oldest first as sealed uploads and removes
///   each once the gateway answered 2xx; a gateway that already stored the very envelope answers 200
///   `SaMD-Already-Stored: true`, so an entry delivered again after a crash between the answer and its removal
///   is not stored twice. Entries the gateway refuses for good (400, 410, 413, 415) are moved to `refused/` and
///   reported; any other failure stops delivery and keeps every remaining entry.
/// - One process at a time: an exclusive `flock(2)` on `.lock`, waited for at most a deadline.
/// - A quota (``maximumByteCount``) bounds the directory's entries, `refused/` included: a file that would take
///   the outbox past it is refused before anything is written.
///
/// Not `Sendable`: one task uses an outbox, then ``close()``s it.
public final class Outbox {
    /// The default quota: 1 GiB.
    public static let defaultMaximumByteCount: Int64 = 1 << 30
    /// The subdirectory that entries refused by the gateway, or malformed, are moved to: `refused`.
    public static let refusedDirectoryName = "refused"
    /// The lock file's name: `.lock`.
    static let lockFileName = ".lock"
    /// The prefix of an entry being written: `.tmp-`.
    static let temporaryPrefix = ".tmp-"

    /// The outbox's directory.
    public let directory: String
    /// The most bytes the outbox's entries (`refused/` included) may take.
    public let maximumByteCount: Int64
    /// Entries found malformed when the outbox was opened, moved to `refused/` (file names).
    public private(set) var setAside: [String] = []
    private var lockDescriptor: Int32
    let logger: Logger

    /// Opens (making it, 0700, when absent) the outbox in `directory` and takes its lock; removes temporary
    /// files left by a killed run and moves malformed entries to `refused/`.
    /// - Parameters:
    ///   - directory: the outbox's directory; its parent must exist.
    ///   - maximumByteCount: the quota, in bytes (at least 1).
    ///   - lockTimeout: how long to wait for another process's lock.
    ///   - logger: where the `samd.agent.*` events go.
    /// - Throws: ``OutboxError/Code/unsafeDirectory``; ``OutboxError/Code/busy`` when the lock stays taken past
    ///   `lockTimeout`; ``OutboxError/Code/io``.
    public init(
        directory: String,
        maximumByteCount: Int64 = Outbox.defaultMaximumByteCount,
        lockTimeout: Duration = .seconds(2),
        logger: Logger
    ) throws {
        self.directory = directory
        self.maximumByteCount = max(1, maximumByteCount)
        self.logger = logger
        try OutboxFiles.makePrivateDirectory(directory)
        self.lockDescriptor = try OutboxFiles.lock(directory + "/" + Self.lockFileName, timeout: lockTimeout)
        do {
            try self.recover()
        } catch {
            self.close()
            throw error
        }
    }

    deinit {
        self.close()
    }

    /// Releases the lock. The outbox is not used afterwards.
    public func close() {
        guard self.lockDescriptor >= 0 else { return }
        Glibc.close(self.lockDescriptor) // releases the flock
        self.lockDescriptor = -1
    }

    /// The entries waiting, oldest first.
    /// - Throws: ``OutboxError/Code/io`` when the directory cannot be read. A malformed entry found now is moved
    ///   to `refused/`, not returned.
    public func entries() throws -> [OutboxEntry] {
        var entries: [OutboxEntry] = []
        for name in try OutboxFiles.names(in: self.directory) where OutboxEntry.sequence(ofName: name) != nil {
            do {
                entries.append(try self.readEntry(name))
            } catch let error as OutboxError where error.code == .malformedEntry {
                try self.setAsideMalformed(name, error)
            }
        }
        return entries.sorted { $0.sequence < $1.sequence }
    }

    /// The bytes the outbox's files take now: entries and `refused/`.
    /// - Throws: ``OutboxError/Code/io``.
    public func byteCount() throws -> Int64 {
        var total: Int64 = 0
        for name in try OutboxFiles.names(in: self.directory) where OutboxEntry.sequence(ofName: name) != nil {
            total += OutboxFiles.size(of: self.directory + "/" + name) ?? 0
        }
        let refused = self.directory + "/" + Self.refusedDirectoryName
        for name in (try? OutboxFiles.names(in: refused)) ?? [] {
            total += OutboxFiles.size(of: refused + "/" + name) ?? 0
        }
        return total
    }

    /// Seals the file at `path` into a new entry, the newest.
    /// - Parameters:
    ///   - path: the record's file; read once, as it is now, in pieces (constant memory).
    ///   - subject: the patient's id (``RecordIdentifiers/isValid(_:)``).
    ///   - recordID: the record's id (the same rule).
    ///   - recordType: the record's media type (``RecordTypes/isValid(_:)``).
    ///   - key: the gateway's recipient key (``SealingKey/recipient(_:_:)``); a key-encryption key is refused.
    /// - Returns: the entry queued.
    /// - Throws: ``OutboxError/Code/inputUnreadable``; ``OutboxError/Code/quotaExceeded`` (nothing written);
    ///   ``OutboxError/Code/sealingFailed`` for an address the store refuses or a key that is not a recipient's;
    ///   ``OutboxError/Code/io`` (the partial entry removed).
    @discardableResult
    public func queue(
        file path: String, subject: String, recordID: String, recordType: String, to key: SealingKey
    ) throws -> OutboxEntry {
        guard case .recipient = key else {
            throw OutboxError(.sealingFailed, "an outbox seals to a recipient public key only")
        }
        guard RecordIdentifiers.isValid(subject), RecordIdentifiers.isValid(recordID) else {
            throw OutboxError(.sealingFailed, "a subject or record id is \(RecordIdentifiers.rule)")
        }
        guard RecordTypes.isValid(recordType) else {
            throw OutboxError(.sealingFailed, "the record type is not a media type the store accepts")
        }
        let context: EncryptionContext
        do {
            context = try RecordAddress.encryptionContext(subject: subject, recordID: recordID, recordType: recordType)
        } catch {
            throw OutboxError(.sealingFailed, "the record's address makes no encryption context")
        }
        let input = try OutboxFiles.openInput(path)
        defer { Glibc.close(input.descriptor) }

        let header = OutboxEntry.header(subject: subject, recordID: recordID, recordType: recordType)
        // The largest entry this file can make: checked against the quota before anything is written.
        let projected =
            Int64(header.count + EnvelopeHeader.maximumByteCount)
            + Int64(ChunkedPayload.sealedByteCount(plaintextCount: Int(input.byteCount)))
        let used = try self.byteCount()
        guard used + projected <= self.maximumByteCount else {
            self.quotaReached(used: used, needed: projected)
            throw OutboxError(
                .quotaExceeded,
                "the outbox holds \(used) bytes; this file needs up to \(projected) more, past its quota of \(self.maximumByteCount)"
            )
        }

        let temporary = try OutboxFiles.makeTemporary(in: self.directory, prefix: Self.temporaryPrefix)
        var written: Int64 = 0
        do {
            defer { Glibc.close(temporary.descriptor) }
            try OutboxFiles.write(header, to: temporary.descriptor)
            written =
                try Self.seal(
                    input.descriptor, into: temporary.descriptor, context: context, key: key,
                    limit: self.maximumByteCount - used - Int64(header.count)) + Int64(header.count)
            try OutboxFiles.sync(temporary.descriptor)
        } catch {
            unlink(temporary.path)
            if let error = error as? OutboxError, error.code == .quotaExceeded {
                self.quotaReached(used: used, needed: projected)
            }
            throw error
        }
        let existing: [OutboxEntry]
        let sequence: UInt64
        do {
            existing = try self.entries()
            sequence = try self.nextSequence(after: existing)
        } catch {
            unlink(temporary.path)
            throw error
        }
        let name = OutboxEntry.name(for: sequence)
        guard rename(temporary.path, self.directory + "/" + name) == 0 else {
            let failure = errno
            unlink(temporary.path)
            throw OutboxError(.io, "cannot move the new entry into place: \(OutboxFiles.describe(failure))")
        }
        try OutboxFiles.syncDirectory(self.directory)
        self.logger.info(
            "record queued",
            metadata: [
                "event": "samd.agent.queued", "entry": "\(name)", "bytes": "\(written)",
                "record_type": "\(recordType)",
            ])
        // The newest content of a record supersedes what was queued for it before.
        let superseded = existing.filter { $0.subject == subject && $0.recordID == recordID }
        for old in superseded {
            unlink(self.directory + "/" + old.name)
        }
        if !superseded.isEmpty { try OutboxFiles.syncDirectory(self.directory) }
        return try self.readEntry(name)
    }

    /// Removes an entry the gateway stored (its answer was 2xx).
    /// - Throws: ``OutboxError/Code/io``.
    public func remove(_ entry: OutboxEntry) throws {
        guard unlink(self.directory + "/" + entry.name) == 0 || errno == ENOENT else {
            throw OutboxError(.io, "cannot remove a delivered entry: \(OutboxFiles.describe(errno))")
        }
        try OutboxFiles.syncDirectory(self.directory)
    }

    /// Moves an entry the gateway refused for good to `refused/` (kept for an operator, counted in the quota).
    /// - Throws: ``OutboxError/Code/io``.
    public func setAside(_ entry: OutboxEntry) throws {
        try self.moveToRefused(entry.name)
    }

    // MARK: - Internals

    /// At open: removes what a killed run was writing, and sets malformed entries aside.
    private func recover() throws {
        var removed = false
        for name in try OutboxFiles.names(in: self.directory) where name.hasPrefix(Self.temporaryPrefix) {
            unlink(self.directory + "/" + name)
            removed = true
        }
        if removed { try OutboxFiles.syncDirectory(self.directory) }
        _ = try self.entries()
    }

    private func readEntry(_ name: String) throws -> OutboxEntry {
        let path = self.directory + "/" + name
        let (prefix, size) = try OutboxFiles.readPrefix(path, count: OutboxEntry.maximumHeaderByteCount)
        return try OutboxEntry.parse(prefix: prefix, fileByteCount: size, name: name, path: path)
    }

    private func setAsideMalformed(_ name: String, _ error: OutboxError) throws {
        try self.moveToRefused(name)
        self.setAside.append(name)
        self.logger.error(
            "an outbox entry is malformed; set aside",
            metadata: [
                "event": "samd.agent.refused", "entry": "\(name)", "error": "malformed-entry",
                "reason": "\(error.reason)",
            ])
    }

    private func moveToRefused(_ name: String) throws {
        let refused = self.directory + "/" + Self.refusedDirectoryName
        try OutboxFiles.makePrivateDirectory(refused)
        guard rename(self.directory + "/" + name, refused + "/" + name) == 0 else {
            throw OutboxError(.io, "cannot move an entry to refused/: \(OutboxFiles.describe(errno))")
        }
        try OutboxFiles.syncDirectory(refused)
        try OutboxFiles.syncDirectory(self.directory)
    }

    /// One more than the largest sequence in the outbox and in `refused/` (so a set-aside entry's name is
    /// never taken again).
    private func nextSequence(after entries: [OutboxEntry]) throws -> UInt64 {
        let refused = (try? OutboxFiles.names(in: self.directory + "/" + Self.refusedDirectoryName)) ?? []
        let largest = (entries.map(\.sequence) + refused.compactMap(OutboxEntry.sequence(ofName:))).max() ?? 0
        guard largest < UInt64.max else { throw OutboxError(.io, "the outbox's sequence numbers are used up") }
        return largest + 1
    }

    private func quotaReached(used: Int64, needed: Int64) {
        self.logger.warning(
            "the outbox is full; a file was not queued",
            metadata: [
                "event": "samd.agent.quota-reached", "bytes": "\(used)", "needed": "\(needed)",
                "limit": "\(self.maximumByteCount)",
            ])
    }

    /// Seals everything readable from `input` into `output` (after the entry header) as an envelope.
    /// - Returns: the envelope's size in bytes.
    /// - Throws: ``OutboxError/Code/quotaExceeded`` when the envelope would pass `limit` bytes (the file grew
    ///   since it was measured); ``OutboxError/Code/inputUnreadable``, ``OutboxError/Code/io``,
    ///   ``OutboxError/Code/sealingFailed``.
    private static func seal(
        _ input: Int32, into output: Int32, context: EncryptionContext, key: SealingKey, limit: Int64
    ) throws -> Int64 {
        var written: Int64 = 0
        func emit(_ bytes: UnsafeRawBufferPointer) throws {
            written += Int64(bytes.count)
            guard written <= limit else {
                throw OutboxError(.quotaExceeded, "the file grew while it was sealed, past the outbox's quota")
            }
            try OutboxFiles.write(bytes, to: output)
        }
        let sealer: EnvelopeSealer
        do {
            sealer = try EnvelopeSealer(context: context, to: key)
        } catch {
            throw OutboxError(.sealingFailed, "the record cannot be sealed: \(error)")
        }
        try sealer.header.withUnsafeBytes { try emit($0) }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try OutboxFiles.readInput(input, into: $0) }
            if count == 0 { break }
            try buffer.withUnsafeBytes { piece in
                do {
                    try sealer.update(UnsafeRawBufferPointer(rebasing: piece[..<count])) { try emit($0) }
                } catch let error as OutboxError {
                    throw error
                } catch {
                    throw OutboxError(.sealingFailed, "the record cannot be sealed: \(error)")
                }
            }
        }
        do {
            try sealer.finish { try emit($0) }
        } catch let error as OutboxError {
            throw error
        } catch {
            throw OutboxError(.sealingFailed, "the record cannot be sealed: \(error)")
        }
        return written
    }
}
