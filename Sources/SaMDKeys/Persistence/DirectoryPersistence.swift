import Foundation
import SaMDEnvelope

/// A key store kept in a private directory (0700): `keystore.json` (0600), one file per subject key under
/// `subjects/` (`s-….json`, each with its lock `s-….lock`), receipts under `receipts/`, and the store lock
/// (`lock`, with `lock.queue` for writer preference).
///
/// Every write is atomic (temporary file, fsync, rename, directory fsync); locks are `flock(2)`s waited for
/// at most ``lockTimeout``; a file or directory readable by others is refused. See <doc:KeyStoreFormat>.
public struct DirectoryPersistence: KeyMetadataPersistence {
    /// The store's directory.
    public let directory: String
    public let lockTimeout: Duration

    public var location: String { self.directory }
    var metadataPath: String { self.directory + "/keystore.json" }
    var subjectsDirectory: String { self.directory + "/subjects" }
    var receiptsDirectory: String { self.directory + "/receipts" }

    /// The persistence of a new store in `directory` (created by ``create(metadata:)``).
    public init(directory: String, lockTimeout: Duration) {
        self.directory = directory
        self.lockTimeout = lockTimeout
    }

    /// The persistence of the store in `directory`, checked: the directory and its `subjects/` and
    /// `receipts/` (when present) are private.
    /// - Throws: `EnvelopeError.Code.keyStore` when there is no directory, or others can enter or read one.
    public init(opening directory: String, lockTimeout: Duration) throws {
        try StoreFile.checkPrivateDirectory(directory)
        for sub in ["/subjects", "/receipts"] where FileManager.default.fileExists(atPath: directory + sub) {
            try StoreFile.checkPrivateDirectory(directory + sub)
        }
        self.init(directory: directory, lockTimeout: lockTimeout)
    }

    public func create(metadata document: [UInt8]) throws {
        try StoreFile.makePrivateDirectory(self.directory)
        let lock = try self.lockStore(.exclusive)
        defer { withExtendedLifetime(lock) {} }
        guard (try? StoreFile.list(self.directory).contains("keystore.json")) != true else {
            throw EnvelopeError(.keyStore, "\(self.directory) already holds a key store")
        }
        try StoreFile.writeAtomically(document, to: self.metadataPath)
        try StoreFile.makePrivateDirectory(self.subjectsDirectory)
        try StoreFile.makePrivateDirectory(self.receiptsDirectory)
    }

    public func readMetadata(maximumByteCount: Int) throws -> (document: [UInt8], revision: MetadataRevision?) {
        // The revision is taken before the file is read: if another process replaces it meanwhile, the
        // next operation sees a different revision and reads it again.
        let revision = self.metadataRevision()
        do {
            return (try StoreFile.read(self.metadataPath, limit: maximumByteCount), revision)
        } catch let error as EnvelopeError where error.code == .keyNotFound {
            throw EnvelopeError(.keyStore, "no key store file at \(self.metadataPath)")
        }
    }

    public func metadataRevision() -> MetadataRevision? {
        StoreFile.identity(self.metadataPath).map {
            MetadataRevision([
                Int64(bitPattern: $0.device), Int64(bitPattern: $0.inode), $0.size, Int64($0.modifiedSeconds),
                Int64($0.modifiedNanoseconds),
            ])
        }
    }

    public func writeMetadata(_ document: [UInt8]) throws -> MetadataRevision? {
        StoreFile.removeStaleTemporaries(of: self.metadataPath)
        try StoreFile.writeAtomically(document, to: self.metadataPath)
        return self.metadataRevision()
    }

    public func lockStore(_ mode: KeyStoreLockMode) throws -> any KeyStoreLock {
        try StoreLock(
            directory: self.directory, mode: mode == .shared ? .shared : .exclusive, timeout: self.lockTimeout)
    }

    public func lockSubject(named name: String, _ mode: KeyStoreLockMode) throws -> any KeyStoreLock {
        try StoreLock(
            path: "\(self.subjectsDirectory)/\(name).lock", mode: mode == .shared ? .shared : .exclusive,
            timeout: self.lockTimeout)
    }

    public func subjectRevision(named name: String) -> MetadataRevision? {
        StoreFile.identity(self.subjectPath(name)).map {
            MetadataRevision([
                Int64(bitPattern: $0.device), Int64(bitPattern: $0.inode), $0.size, Int64($0.modifiedSeconds),
                Int64($0.modifiedNanoseconds),
            ])
        }
    }

    public func subjectNames() throws -> [String] {
        try StoreFile.list(self.subjectsDirectory).filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }
            .sorted()
    }

    func subjectPath(_ name: String) -> String {
        "\(self.subjectsDirectory)/\(name).json"
    }

    public func readSubject(named name: String, maximumByteCount: Int) throws -> [UInt8]? {
        do {
            return try StoreFile.read(self.subjectPath(name), limit: maximumByteCount)
        } catch let error as EnvelopeError where error.code == .keyNotFound {
            return nil
        }
    }

    /// Each subject file is written under its subject's lock, so its temporary has a fixed name and a killed
    /// writer's is replaced in constant time — not found by listing a directory of every subject, which made
    /// each write cost more as the store grew (whole-store rotation and re-key were quadratic in the number
    /// of subjects).
    public func writeSubjects(_ records: [(name: String, document: [UInt8])]) throws {
        try StoreFile.writeAtomically(
            records.map { ($0.document, self.subjectPath($0.name)) }, lockedTemporary: true)
    }

    public func eraseLeftovers(ofSubject name: String) {
        StoreFile.removeStaleTemporaries(of: self.subjectPath(name))
    }

    public func keepReceipts(_ receipts: [(name: String, document: [UInt8])]) throws {
        try StoreFile.makePrivateDirectory(self.receiptsDirectory)
        try StoreFile.writeAtomically(receipts.map { ($0.document, "\(self.receiptsDirectory)/\($0.name)") })
    }
}

extension StoreLock: KeyStoreLock {}
