import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDKeysTestSupport
import SaMDTestSupport
import Synchronization
import Testing

@testable import SaMDKeys

/// `flock` waited without a deadline, and whole-store operations held the store-wide lock for their whole run:
/// one stopped holder, or one long rewrap, stopped every writer.
@Suite("Key store locks are per subject and bounded")
struct KeyStoreLockTests {
    /// Each lock below is its own open file description, so it excludes the store's operations as another
    /// process's lock would.
    @Test(.timeLimit(.minutes(2)), arguments: KeyStoreCustody.allCases)
    func aHeldLockIsWaitedForAtMostTheTimeoutAndOnlyItsSubjectWaits(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        // Without the subject-key cache, every operation takes the locks (with it, a known subject seals without
        // them: see the test below).
        let keys = try fixture.create(lockTimeout: .milliseconds(300), subjectKeyCache: .disabled)
        _ = try keys.subjectSealingKey(subject: "a")
        _ = try keys.subjectSealingKey(subject: "b")
        let a = "s-" + (try keys.subjectIndex(of: "a"))

        // Subject a's lock held: a waits at most the timeout, b does not wait at all.
        var holder: StoreLock? = try StoreLock(
            path: "\(keys.directory)/subjects/\(a).lock", mode: .exclusive, timeout: .seconds(1))
        let clock = ContinuousClock()
        let started = clock.now
        #expect(envelopeCode { try keys.subjectSealingKey(subject: "a") } == .keyUnavailable)
        #expect(envelopeCode { try keys.shred(subject: "a") } == .keyUnavailable)
        let waited = clock.now - started
        #expect(waited >= .milliseconds(500) && waited < .seconds(20), "\(waited)")
        _ = try keys.subjectSealingKey(subject: "b")
        // A whole-store rewrap goes past the held subject: it is reported, the others are rewrapped.
        _ = try keys.rotate(named: FileKeyStore.defaultKeyName)
        let report = try keys.rewrapSubjectKeys(named: FileKeyStore.defaultKeyName)
        #expect(report.rewrapped == 1)
        #expect(report.failed.map(\.key) == [a])
        #expect(report.failed.first?.reason.hasPrefix("keyUnavailable") == true)
        holder = nil
        #expect(try keys.rewrapSubjectKey(named: a, toActiveVersionOf: FileKeyStore.defaultKeyName) == 1)

        // The store lock held exclusive (a KEK changing state elsewhere): every operation waits at most the
        // timeout; reading and opening need no lock.
        let sealed = try Envelope.seal(
            Array("record".utf8), context: try EncryptionContext([("k", "v")]),
            to: try keys.subjectSealingKey(subject: "b"))
        holder = try StoreLock(directory: fixture.directory, mode: .exclusive, timeout: .seconds(1))
        #expect(envelopeCode { try keys.subjectSealingKey(subject: "b") } == .keyUnavailable)
        #expect(envelopeCode { try keys.rotate(named: FileKeyStore.defaultKeyName) } == .keyUnavailable)
        #expect(
            try Envelope.open(sealed, context: try EncryptionContext([("k", "v")]), keys: keys) == Array("record".utf8))
        holder = nil
        _ = try keys.subjectSealingKey(subject: "b")
        withExtendedLifetime(holder) {}
    }

    /// The data path of a known subject takes no store-wide lock: with the store lock held exclusive (a KEK
    /// changing state in another process), a cached subject key seals and its record is made durable; a subject
    /// held by an administrator (its lock exclusive: shredding, re-keying) waits for it, then sees the change.
    @Test(.timeLimit(.minutes(2)), arguments: KeyStoreCustody.allCases)
    func aKnownSubjectSealsWithoutTheStoreLock(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        let keys = try fixture.create(lockTimeout: .milliseconds(300))
        let first = try keys.subjectSealingKey(subject: "a")
        var holder: StoreLock? = try StoreLock(directory: fixture.directory, mode: .exclusive, timeout: .seconds(1))
        let again = try keys.subjectSealingKey(subject: "a")
        #expect(again.identifier == first.identifier)
        #expect(try keys.whileSealingKeyIsCurrent(again.identifier) { 42 } == 42)
        // An unknown subject still needs the locks.
        #expect(envelopeCode { try keys.subjectSealingKey(subject: "c") } == .keyUnavailable)
        holder = nil

        // The subject's own lock held exclusive: the record waits for it (at most the timeout).
        let a = "s-" + (try keys.subjectIndex(of: "a"))
        holder = try StoreLock(path: "\(keys.directory)/subjects/\(a).lock", mode: .exclusive, timeout: .seconds(1))
        #expect(envelopeCode { try keys.whileSealingKeyIsCurrent(again.identifier) { 0 } } == .keyUnavailable)
        holder = nil
        // Shredded meanwhile (here, by this store): the cached key is no longer current; a new one is made.
        _ = try keys.shred(subject: "a")
        #expect(envelopeCode { try keys.whileSealingKeyIsCurrent(again.identifier) { 0 } } == .keyNotUsable)
        #expect(try keys.subjectSealingKey(subject: "a").identifier.version == first.identifier.version + 1)
        withExtendedLifetime(holder) {}
    }

    /// A batch of subjects (a re-key) took the store lock shared again for each subject, holding the ones
    /// before: a writer of `keystore.json` (retire, rotate) that came in between held the lock's queue while
    /// waiting for the batch's shared lock, the batch waited in that queue for its next subject, and both
    /// waited until the timeout (seen with `samd-vault keys retire` beside `rotate --rekey-subjects`: exit 75
    /// after 5 s, and a bystander subject failed). A batch now takes the store lock once.
    @Test(.timeLimit(.minutes(2)), arguments: KeyStoreCustody.allCases)
    func aKeystoreWriterArrivingMidBatchNeitherDeadlocksNorFailsASubject(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        let keys = try fixture.create(lockTimeout: .seconds(3))
        let names = try ["a", "b", "c"].map { subject in
            _ = try keys.subjectSealingKey(subject: subject)
            return "s-" + (try keys.subjectIndex(of: subject))
        }.sorted()
        let spare = try keys.generate(named: "spare")
        // The batch stops at its second subject, whose lock the test holds for a moment.
        var holder: StoreLock? = try StoreLock(
            path: "\(keys.directory)/subjects/\(names[1]).lock", mode: .exclusive, timeout: .seconds(1))
        let batch = Mutex<[String: Result<SubjectRekey?, EnvelopeError>]?>(nil)
        let writer = Mutex<EnvelopeError.Code??>(nil)
        let batchThread = Thread { batch.withLock { $0 = keys.rekeySubjectKeys(named: names, notBefore: Date()) } }
        batchThread.start()
        usleep(300_000)
        // A keystore.json writer now: it queues for the store lock, which the batch holds shared.
        let writerThread = Thread {
            writer.withLock { $0 = .some(envelopeCode { _ = try keys.retire(spare.identifier) }) }
        }
        writerThread.start()
        usleep(300_000)
        let released = ContinuousClock().now
        holder = nil
        // Bounded waits: both are done well within the 3 s lock timeout.
        var done = false
        for _ in 0..<400 where !done {
            usleep(10_000)
            done = batch.withLock { $0 != nil } && writer.withLock { $0 != nil }
        }
        let waited = ContinuousClock().now - released
        #expect(done)
        #expect(waited < .seconds(2), "\(waited)")
        let results = try #require(batch.withLock { $0 })
        for name in names {
            #expect((try? results[name]?.get()) != nil, "\(name): \(String(describing: results[name]))")
        }
        #expect(
            writer.withLock { $0 } == .some(nil),
            "the keystore.json writer failed: \(String(describing: writer.withLock { $0 }))")
        withExtendedLifetime(holder) {}
    }

    /// Destroying a KEK version reads every subject key file; it no longer holds the store lock meanwhile,
    /// and still refuses while a subject key depends on the version.
    @Test(.timeLimit(.minutes(2)), arguments: KeyStoreCustody.allCases)
    func destroyScansSubjectsWithoutTheStoreLockAndStillRefusesWhatTheyDependOn(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        let keys = try fixture.create()
        _ = try keys.subjectSealingKey(subject: "a")
        let old = try keys.sealingKEKIdentifier(named: FileKeyStore.defaultKeyName)
        _ = try keys.rotate(named: FileKeyStore.defaultKeyName)
        #expect(envelopeCode { try keys.destroy(old) } == .keyNotUsable)
        _ = try keys.rewrapSubjectKeys(named: FileKeyStore.defaultKeyName)
        #expect(try keys.destroy(old).key == old)
    }
}
