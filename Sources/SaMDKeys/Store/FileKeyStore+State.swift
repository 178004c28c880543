import Foundation
import Logging
import SaMDCrypto
import SaMDEnvelope
import Synchronization

/// The store's state (``StoreFormat/State``): read from the persisted metadata document and authenticated
/// by the custody, cached while the document is unchanged, and changed under the store lock.
extension FileKeyStore {
    /// Runs `body` on the current persisted state under the store lock, then writes it atomically — in
    /// format version 3 (``StoreFormat/EnvelopeV2``'s shape), whatever version it was read in: the first write of
    /// a version 1 or 2 store migrates it (logged as `samd.keys.store-migrated`). Live recipient key versions are
    /// brought under the KEK version that seals now (``rewrapRecipientKeys(in:)``), so a rotation or activation
    /// rewraps them in the same write.
    @discardableResult
    func mutate<T>(_ body: (inout StoreFormat.State, Date) throws -> T) throws -> T {
        let lock = try self.storeLock(.exclusive)
        defer { withExtendedLifetime(lock) {} }
        var state = try self.reload()
        let readVersion = self.cached.withLock { $0.formatVersion }
        let result = try body(&state, self.now())
        self.rewrapRecipientKeys(in: &state)
        state.generation += 1
        // Every KEK change (rotate, retire, destroy, compromise, minimum versions) empties the subject-key cache.
        self.subjectKeys.removeAll()
        let revision = try self.persistence.writeMetadata(try StoreDocument.encode(state, custody: self.custody))
        self.cached.withLock { $0 = (state, revision, StoreFormat.formatVersion) }
        if readVersion < StoreFormat.formatVersion {
            self.logger.notice(
                "key store migrated to \(StoreFormat.format)",
                metadata: [
                    "event": "samd.keys.store-migrated", "store": "\(self.persistence.location)",
                    "from": "samd-keystore-v\(readVersion)", "to": "\(StoreFormat.format)",
                ])
        }
        return result
    }

    /// The store's state as persisted now: the cached state while the document is the one it was read
    /// from (same revision — every write makes a new one), otherwise the document read and authenticated
    /// again. So a rotation, retirement or destruction by another process is seen by the next operation here.
    func current() throws -> StoreFormat.State {
        let revision = self.persistence.metadataRevision()
        let cached = self.cached.withLock { $0 }
        if let revision, cached.revision == revision {
            return cached.state
        }
        return try self.reload()
    }

    /// Reads and authenticates the metadata document again.
    @discardableResult
    func reload() throws -> StoreFormat.State {
        let (bytes, revision) = try self.persistence.readMetadata(maximumByteCount: StoreFormat.storeFileLimit)
        let document = try StoreDocument.parse(bytes, location: self.persistence.location)
        guard document.custody == self.custody.record else {
            throw EnvelopeError(.keyStore, "the key store's custody (KDF parameters) changed underneath this process")
        }
        // Once this process has read or written a version, a document of an older version is an older copy put
        // back (its MAC is valid: the keys did not change): refused, as a rollback.
        guard document.formatVersion >= self.cached.withLock({ $0.formatVersion }) else {
            throw EnvelopeError(
                .keyStore,
                "keystore.json went back to format version \(document.formatVersion) after this process read a later one: an older copy was put back"
            )
        }
        let state = try document.authenticate(with: self.custody)
        self.cached.withLock { $0 = (state, revision, document.formatVersion) }
        return state
    }
}
