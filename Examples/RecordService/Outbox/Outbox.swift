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
/// - Delivery (``deliver(with:policy:onRetry:report:)``) sends entries oldest first as sealed uploads and removes
///   each once the gateway answered 2xx; a gateway that already stored the very envelope answers 200
///   `SaMD-Already-Stored: true`, so an entry delivered again after a crash between the answer and its removal
///   is not stored twice. Entries the gateway refuses for good (400, 410, 413, 415) are moved to `refused/` and
///   reported; any other failure stops delivery and keeps every remaining entry.
/// - Several processes may queue at once, and queueing never waits for a delivery: `.lock` (an exclusive
///   `flock(2)`, waited for at most a deadline) is held only while names change — an entry put in place, removed
///   or set aside, the directory listed. One process delivers at a time (`.deliver.lock`). An entry being written
///   is locked by its writer, so that no other process takes it for a killed run's.
/// - A quota (``maximumByteCount``) bounds the directory's entries, `refused/` included: a file that would take
///   the outbox past it is refused before anything is written.
///
/// Not `Sendable`: one task uses an outbox, then ``close()``s it.
public final class Outbox {
    /// The default quota: 1 GiB.
    public static let defaultMaximumByteCount: Int64 = 1 << 30
    /// The subdirectory that entries refused by the gateway, or malformed, are moved to: `refused`.
    public static let refusedDirectoryName = "refused"
    /// The lock file held while names change: `.lock`.
    static let lockFileName = ".lock"
    /// The lock file held by the one process delivering: `.deliver.lock`.
    static let deliveryLockFileName = ".deliver.lock"
    /// The prefix of an entry being written: `.tmp-`.
    static let temporaryPrefix = ".tmp-"

    /// The outbox's directory.
    public let directory: String
    /// The most bytes the outbox's entries (`refused/` included) may take.
    public let maximumByteCount: Int64
    /// Entries found malformed since the outbox was opened, moved to `refused/` (file names).
    public private(set) var setAside: [String] = []
    /// How long a lock is waited for.
    let lockTimeout: Duration
    /// The descriptor of `.lock`, locked only inside ``withNamesLocked(_:)``.
    private var namesLock: Int32
    let logger: Logger

    /// Opens (making it, 0700, when absent) the outbox in `directory`; removes temporary files left by a killed
    /// run and moves malformed entries to `refused/`.
    /// - Parameters:
    ///   - directory: the outbox's directory; its parent must exist.
    ///   - maximumByteCount: the quota, in bytes (at least 1).
    ///   - lockTimeout: how long to wait for another process's lock (held for milliseconds while it changes
    ///     names; ``deliver(with:policy:onRetry:report:)`` waits this long for another process's delivery).
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
        self.lockTimeout = lockTimeout
        self.namesLock = try OutboxFiles.openLockFile(directory + "/" + Self.lockFileName)
        do {
            try self.withNamesLocked { try self.recover() }
        } catch {
            self.close()
            throw error
        }
    }

    deinit {
        self.close()
    }

    /// Releases the outbox's locks. The outbox is not used afterwards.
    public func close() {
        guard self.namesLock >= 0 else { return }
        Glibc.close(self.namesLock)
        self.namesLock = -1
    }

    /// Runs `body` holding `.lock`.
    /// - Throws: ``OutboxError/Code/busy`` when another process holds it past the lock timeout; what `body` throws.
    func withNamesLocked<T>(_ body: () throws -> T) throws -> T {
        guard self.namesLock >= 0 else { throw OutboxError(.io, "the outbox is closed") }
        try OutboxFiles.lock(self.namesLock, timeout: self.lockTimeout, holder: "changing the outbox")
        defer { flock(self.namesLock, LOCK_UN) }
        return try body()
    }

    /// The entries waiting, oldest first.
    /// - Throws: ``OutboxError/Code/io`` when the directory cannot be read. A malformed entry found now is moved
    ///   to `refused/`, not returned.
    public func entries() throws -> [OutboxEntry] {
        try self.withNamesLocked { try self.listEntries() }
    }

    /// ``entries()``, with `.lock` held by the caller. Any other name ending in `.smdq` is malformed.
    private func listEntries() throws -> [OutboxEntry] {
        var entries: [OutboxEntry] = []
        for name in try OutboxFiles.names(in: self.directory) where name.hasSuffix(OutboxEntry.suffix) {
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
        let refused = self.directory + "/" + Self.refusedDirectoryName
        let files =
            try OutboxFiles.names(in: self.directory).filter { $0.hasSuffix(OutboxEntry.suffix) }
            .map { self.directory + "/" + $0 }
            + ((try? OutboxFiles.names(in: refused)) ?? []).map { refused + "/" + $0 }
        for path in files {
            // Apparent sizes (a sparse file counts whole), added without overflow.
            total = Self.adding(total, OutboxFiles.size(of: path) ?? 0)
        }
        return total
    }

    /// `a + b`, at most `Int64.max`.
    static func adding(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : sum
    }

    /// Seals the file at `path` into a new entry, the newest.
    /// - Parameters:
    ///   - path: the record's file; read once, as it is now, in pieces (constant memory).
    ///   - subject: the patient's id (``RecordIdentifiers/isValid(_:)``).
    ///   - recordID: the record's id (the same rule).
    ///   - recordType: the record's media type (``RecordTypes/isValid(_:)``).
    ///   - key: the gateway's recipient key (`SealingKey.recipient`, from `RecipientPublicKey.sealingKey`); a
    ///     key-encryption key is refused.
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
        // The largest entry this file can make: checked against the quota before anything is written (a file
        // larger than the quota is refused before its sealed size is computed, which then cannot overflow).
        let projected =
            input.byteCount > self.maximumByteCount
            ? Int64.max
            : Int64(header.count + EnvelopeHeader.maximumByteCount)
                + Int64(ChunkedPayload.sealedByteCount(plaintextCount: Int(input.byteCount)))
        let used = try self.byteCount()
        guard Self.adding(used, projected) <= self.maximumByteCount else {
            self.quotaReached(used: used, needed: projected)
            throw OutboxError(
                .quotaExceeded,
                projected == Int64.max
                    ? "the file (\(input.byteCount) bytes) is larger than the outbox's quota of \(self.maximumByteCount) bytes"
                    : "the outbox holds \(used) bytes; this file needs up to \(projected) more, past its quota of \(self.maximumByteCount)"
            )
        }

        // Locked by this process (flock) until it is in place: another process's open does not take it for a
        // killed run's.
        let temporary = try OutboxFiles.makeTemporary(in: self.directory, prefix: Self.temporaryPrefix)
        defer { Glibc.close(temporary.descriptor) }
        let name: String
        do {
            try OutboxFiles.write(header, to: temporary.descriptor)
            _ = try Self.seal(
                input.descriptor, into: temporary.descriptor, context: context, key: key,
                limit: self.maximumByteCount - used - Int64(header.count))
            try OutboxFiles.sync(temporary.descriptor)
            name = try self.withNamesLocked {
                let existing = try self.listEntries()
                let name = OutboxEntry.name(for: try Self.nextSequence(after: existing))
                guard rename(temporary.path, self.directory + "/" + name) == 0 else {
                    throw OutboxError(.io, "cannot move the new entry into place: \(OutboxFiles.describe(errno))")
                }
                try OutboxFiles.syncDirectory(self.directory)
                // The newest content of a record supersedes what was queued for it before.
                let superseded = existing.filter { $0.subject == subject && $0.recordID == recordID }
                for old in superseded {
                    unlink(self.directory + "/" + old.name)
                }
                if !superseded.isEmpty { try OutboxFiles.syncDirectory(self.directory) }
                return name
            }
        } catch {
            unlink(temporary.path)
            if let error = error as? OutboxError, error.code == .quotaExceeded {
                self.quotaReached(used: used, needed: projected)
            }
            throw error
        }
        let entry = try self.readEntry(name)
        self.logger.info(
            "record queued",
            metadata: [
                "event": "samd.agent.queued", "entry": "\(name)", "bytes": "\(entry.envelope.byteCount)",
                "record_type": "\(recordType)",
            ])
        return entry
    }

    /// Removes an entry the gateway stored (its answer was 2xx).
    /// - Throws: ``OutboxError/Code/io``.
    public func remove(_ entry: OutboxEntry) throws {
        try self.withNamesLocked {
            guard unlink(self.directory + "/" + entry.name) == 0 || errno == ENOENT else {
                throw OutboxError(.io, "cannot remove a delivered entry: \(OutboxFiles.describe(errno))")
            }
            try OutboxFiles.syncDirectory(self.directory)
        }
    }

    /// Moves an entry the gateway refused for good to `refused/` (kept for an operator, counted in the quota).
    /// - Throws: ``OutboxError/Code/io``.
    public func setAside(_ entry: OutboxEntry) throws {
        try self.withNamesLocked { try self.moveToRefused(entry.name) }
    }

    // MARK: - Internals

    /// At open, `.lock` held: removes what a killed run was writing (a temporary file no process holds locked),
    /// and sets malformed entries aside.
    private func recover() throws {
        var removed = false
        for name in try OutboxFiles.names(in: self.directory) where name.hasPrefix(Self.temporaryPrefix) {
            if OutboxFiles.removeIfAbandoned(self.directory + "/" + name) { removed = true }
        }
        if removed { try OutboxFiles.syncDirectory(self.directory) }
        _ = try self.listEntries()
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

    /// Moves `name` into `refused/` under a name no file there has (`name`, else `name.1`, `name.2`…): a set-aside
    /// entry is never replaced. `.lock` held by the caller.
    private func moveToRefused(_ name: String) throws {
        let refused = self.directory + "/" + Self.refusedDirectoryName
        try OutboxFiles.makePrivateDirectory(refused)
        try OutboxFiles.moveWithoutReplacing(self.directory + "/" + name, into: refused, as: name)
        try OutboxFiles.syncDirectory(refused)
        try OutboxFiles.syncDirectory(self.directory)
    }

    /// The sequence number of a new entry: the time in microseconds since 1970, or one more than the largest
    /// entry's when that is later (a clock set back keeps delivery order). Names are not reused after the outbox
    /// empties, and nothing in `refused/` bears on them.
    private static func nextSequence(after entries: [OutboxEntry]) throws -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let microseconds = UInt64(max(0, now.tv_sec)) &* 1_000_000 &+ UInt64(max(0, now.tv_nsec) / 1_000)
        guard let largest = entries.map(\.sequence).max() else { return microseconds }
        guard largest < UInt64.max else { throw OutboxError(.io, "an entry holds the largest sequence number") }
        return max(largest + 1, microseconds)
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
