import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDTestSupport
import Testing

@testable import SaMDKeys

/// `flock` waited without a deadline, and whole-store operations held the store-wide lock for their whole run:
/// one stopped holder, or one long rewrap, stopped every writer.
@Suite("Key store locks are per subject and bounded")
struct KeyStoreLockTests {
    /// Each lock below is its own open file description, so it excludes the store's operations as another
    /// process's lock would.
    @Test(.timeLimit(.minutes(2)))
    func aHeldLockIsWaitedForAtMostTheTimeoutAndOnlyItsSubjectWaits() throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let keys = try FileKeyStore.create(
            at: fixture.directory, passphrase: fixture.passphrase, kdf: StoreFixture.fastKDF, lockTimeout: .milliseconds(300), logger: fixture.log.logger
        )
        _ = try keys.subjectSealingKey(subject: "a")
        _ = try keys.subjectSealingKey(subject: "b")
        let a = "s-" + (try keys.subjectIndex(of: "a"))

        // Subject a's lock held: a waits at most the timeout, b does not wait at all.
        var holder: StoreLock? = try StoreLock(path: "\(keys.subjectsDirectory)/\(a).lock", mode: .exclusive, timeout: .seconds(1))
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
        let sealed = try Envelope.seal(Array("record".utf8), context: try EncryptionContext([("k", "v")]), to: try keys.subjectSealingKey(subject: "b"))
        holder = try StoreLock(directory: fixture.directory, mode: .exclusive, timeout: .seconds(1))
        #expect(envelopeCode { try keys.subjectSealingKey(subject: "b") } == .keyUnavailable)
        #expect(envelopeCode { try keys.rotate(named: FileKeyStore.defaultKeyName) } == .keyUnavailable)
        #expect(try Envelope.open(sealed, context: try EncryptionContext([("k", "v")]), keys: keys) == Array("record".utf8))
        holder = nil
        _ = try keys.subjectSealingKey(subject: "b")
        withExtendedLifetime(holder) {}
    }

    /// Destroying a KEK version reads every subject key file; it no longer holds the store lock meanwhile,
    /// and still refuses while a subject key depends on the version.
    @Test(.timeLimit(.minutes(2)))
    func destroyScansSubjectsWithoutTheStoreLockAndStillRefusesWhatTheyDependOn() throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let keys = try fixture.create()
        _ = try keys.subjectSealingKey(subject: "a")
        let old = try keys.sealingKey(named: FileKeyStore.defaultKeyName).identifier
        _ = try keys.rotate(named: FileKeyStore.defaultKeyName)
        #expect(envelopeCode { try keys.destroy(old) } == .keyNotUsable)
        _ = try keys.rewrapSubjectKeys(named: FileKeyStore.defaultKeyName)
        #expect(try keys.destroy(old).key == old)
    }
}
