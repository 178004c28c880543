import Foundation
import SaMDEnvelope
import Synchronization

/// Subject-key records (``StoreFormat/Subject``) as the persistence keeps them: their locks, reading and
/// bounds-checking, writing.
extension FileKeyStore {
    /// Subject key names start with this: `s-` and 32 hex digits.
    static let subjectPrefix = "s-"

    /// The store lock, shared, then `name`'s own lock: what every read-modify-write of one subject key holds.
    /// - Throws: `EnvelopeError.Code.keyUnavailable` past ``lockTimeout``.
    func subjectLock(_ name: String) throws -> (store: any KeyStoreLock, subject: any KeyStoreLock) {
        let store = try self.storeLock(.shared)
        return (store, try self.lockOfSubject(name))
    }

    /// A subject's own lock alone, for a caller that already holds the store lock shared: a batch takes the
    /// store lock once for all its subjects. Taking it again per subject, while holding the subjects before,
    /// deadlocked with a writer of `keystore.json` waiting in the store lock's queue (each waited for the other
    /// until the lock timeout).
    func lockOfSubject(_ name: String) throws -> any KeyStoreLock {
        try self.persistence.lockSubject(named: name, .exclusive)
    }

    func readSubject(_ name: String) throws -> StoreFormat.Subject? {
        guard let bytes = try self.persistence.readSubject(named: name, maximumByteCount: StoreFormat.subjectFileLimit)
        else { return nil }
        do {
            let subject = try StoreFormat.decoder.decode(StoreFormat.Subject.self, from: Data(bytes))
            guard subject.id == name else { throw EnvelopeError(.keyStore, "subject file \(name) names \(subject.id)") }
            return subject
        } catch let error as EnvelopeError {
            throw error
        } catch {
            throw EnvelopeError(.keyStore, "subject file \(name) is corrupted or truncated")
        }
    }

    /// Writes a subject key's record atomically; called with the subject's lock held (``subjectLock(_:)``).
    func writeSubject(_ subject: StoreFormat.Subject) throws {
        try self.writeSubjects([subject])
    }

    /// Writes several subject key files, each atomically, with one directory sync for them all; called with
    /// every one's lock held.
    func writeSubjects(_ subjects: [StoreFormat.Subject]) throws {
        // Whatever is written (rewrapped, re-keyed, shredded, a new version), the cached keys of these subjects
        // are dropped first: a key is cached again from what was written, never kept across a change.
        for subject in subjects { self.subjectKeys.removeSubjectKey(named: subject.id) }
        try self.persistence.writeSubjects(
            try subjects.map { ($0.id, Array(try StoreFormat.encoder.encode($0))) })
    }

    /// What a cached key of subject `name` is valid for: the revision of the metadata document (any KEK change)
    /// and of the subject's record (any change of the subject key). `nil` when either cannot be read: not cached.
    func subjectKeyValidity(_ name: String) -> SubjectKeyCache.Validity? {
        self.subjectKeyValidityAndRevision(name)?.validity
    }

    /// ``subjectKeyValidity(_:)`` with the subject record's revision it was made from.
    func subjectKeyValidityAndRevision(_ name: String) -> (
        validity: SubjectKeyCache.Validity, revision: MetadataRevision
    )? {
        guard let metadata = self.cached.withLock({ $0.revision }),
            let subject = self.persistence.subjectRevision(named: name)
        else { return nil }
        return ((metadata.components + subject.components).map { UInt64(bitPattern: $0) }, subject)
    }
}
