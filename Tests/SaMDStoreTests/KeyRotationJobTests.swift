import Foundation
import GRDB
import SaMDEnvelope
import SaMDKeys
import SaMDKeysTestSupport
import SaMDStore
import SaMDTestSupport
import Synchronization
import Testing

@Suite("KeyRotationJob")
struct KeyRotationJobTests {
    /// Seals `count` subjects with two records each.
    static func populate(_ store: EncryptedRecordStore, subjects count: Int) throws -> [String: [UInt8]] {
        var written: [String: [UInt8]] = [:]
        for subject in 0..<count {
            for record in 0..<2 {
                let bytes = Array("subject \(subject) record \(record)".utf8)
                try store.put(bytes, subject: "p-\(subject)", recordID: "r-\(record)", recordType: "text/plain")
                written["p-\(subject)/r-\(record)"] = bytes
            }
        }
        return written
    }

    static func expectAllOpen(_ store: EncryptedRecordStore, _ written: [String: [UInt8]]) throws {
        for (address, bytes) in written {
            let parts = address.split(separator: "/", maxSplits: 1).map(String.init)
            #expect(try store.get(subject: parts[0], recordID: parts[1]).payload == bytes, "\(address)")
        }
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func aRotationRewrapsEverySubjectKeyInBatchesWithProgressThenTheOldKEKCanBeDestroyed(_ custody: KeyStoreCustody)
        throws
    {
        let fixture = try StoreFixture(custody)
        let written = try Self.populate(fixture.store, subjects: 23)
        let old = try fixture.keyStore.sealingKEKIdentifier(named: FileKeyStore.defaultKeyName)
        // Refused before the rotation: subject keys depend on the active version.
        #expect(envelopeCode { try fixture.keyStore.destroy(old) } != nil)

        var seen: [KeyRotationProgress] = []
        let report = try KeyRotationJob(store: fixture.store, batchSize: 5).run(newKEKVersion: true) { seen.append($0) }
        #expect(report.finished && !report.resumed)
        #expect(report.target.version == old.version + 1)
        #expect(report.subjectKeyCount == 23)
        #expect(report.rewrapped == 23)
        #expect(report.failed.isEmpty)
        #expect(seen.map(\.done) == [5, 10, 15, 20, 23])
        #expect(seen.allSatisfy { $0.total == 23 && $0.target == report.target && $0.rate >= 0 })

        _ = try fixture.keyStore.destroy(old)
        try Self.expectAllOpen(fixture.store, written)
        // Nothing left to do: a second run without a new version rewraps nothing.
        let again = try KeyRotationJob(store: fixture.store).run(newKEKVersion: false)
        #expect(again.finished && again.rewrapped == 0 && again.target == report.target)
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func twoWritersAndARotationInterleaveWithoutLosingAWrite(_ custody: KeyStoreCustody) async throws {
        let fixture = try StoreFixture(custody)
        var written = try Self.populate(fixture.store, subjects: 40)
        let old = try fixture.keyStore.sealingKEKIdentifier(named: FileKeyStore.defaultKeyName)
        let store = fixture.store
        let rotationDone = Flag()

        // Two writers, each overwriting existing records and creating new subjects, until the rotation ends
        // (and at least 30 writes each, so they overlap it).
        async let first = Self.writer(store, name: "a", until: rotationDone)
        async let second = Self.writer(store, name: "b", until: rotationDone)
        let report = try await Task.detached {
            defer { rotationDone.value.store(true, ordering: .sequentiallyConsistent) }
            return try KeyRotationJob(store: store, batchSize: 1).run(newKEKVersion: true)
        }.value
        let writes = try await first.merging(try await second) { _, new in new }
        #expect(report.finished, "\(report.failed)")
        written.merge(writes) { _, new in new }

        // Every subject key is under the new version: destroying the old one loses nothing.
        _ = try fixture.keyStore.destroy(old)
        try Self.expectAllOpen(store, written)
        let (_, reopened) = try fixture.reopen()
        try Self.expectAllOpen(reopened, written)
    }

    /// Writes until `until` is set (at least 30 times): the last bytes written per address.
    static func writer(_ store: EncryptedRecordStore, name: String, until: Flag) async throws -> [String: [UInt8]] {
        try await Task.detached {
            var written: [String: [UInt8]] = [:]
            var count = 0
            while count < 30 || !until.value.load(ordering: .sequentiallyConsistent), count < 5_000 {
                let (subject, record) =
                    count % 2 == 0 ? ("p-\(count % 40)", "r-\(name)") : ("new-\(name)-\(count)", "r-0")
                let bytes = Array("writer \(name) write \(count)".utf8)
                try store.put(bytes, subject: subject, recordID: record, recordType: "text/plain")
                written["\(subject)/\(record)"] = bytes
                count += 1
            }
            return written
        }.value
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func aJobInterruptedAfterItsIntentMakesExactlyOneNewVersion(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        let written = try Self.populate(fixture.store, subjects: 4)
        let database = try DatabaseQueue(path: fixture.storeDirectory + "/" + EncryptedRecordStore.databaseFileName)
        // Killed after committing the intent, before the key store made the version.
        try database.write { db in
            try db.execute(
                sql: "INSERT INTO rotation_checkpoint (kek_name, from_version, started_at) VALUES ('records', 1, 0)")
        }
        let report = try KeyRotationJob(store: fixture.store).run(newKEKVersion: true)
        #expect(report.resumed && report.finished && report.target.version == 2)
        #expect(try fixture.keyStore.list().map(\.identifier.version) == [1, 2])

        // Killed after the key store made version 3, before the target was committed.
        try database.write { db in
            try db.execute(
                sql:
                    "UPDATE rotation_checkpoint SET from_version = 2, target_version = NULL, cursor = NULL, finished_at = NULL"
            )
        }
        _ = try fixture.keyStore.rotate(named: FileKeyStore.defaultKeyName)
        let resumed = try KeyRotationJob(store: fixture.store).run(newKEKVersion: true)
        #expect(resumed.resumed && resumed.finished && resumed.target.version == 3)
        #expect(
            try fixture.keyStore.list().map(\.identifier.version) == [1, 2, 3],
            "a resumed job must not make another version")
        _ = try fixture.keyStore.destroy(KeyIdentifier(name: "records", version: 1))
        _ = try fixture.keyStore.destroy(KeyIdentifier(name: "records", version: 2))
        try Self.expectAllOpen(fixture.store, written)
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func aResumedJobStartsAfterItsLastCommittedBatch(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        _ = try Self.populate(fixture.store, subjects: 10)
        _ = try fixture.keyStore.rotate(named: FileKeyStore.defaultKeyName)
        let names = try fixture.keyStore.subjectKeyNames()
        // The first six rewrapped and committed, then the process died.
        for name in names.prefix(6) {
            #expect(try fixture.keyStore.rewrapSubjectKey(named: name, toActiveVersionOf: "records") == 1)
        }
        let database = try DatabaseQueue(path: fixture.storeDirectory + "/" + EncryptedRecordStore.databaseFileName)
        try database.write { db in
            try db.execute(
                sql:
                    "INSERT INTO rotation_checkpoint (kek_name, from_version, target_version, cursor, done, started_at) VALUES ('records', 1, 2, ?, 6, 0)",
                arguments: [names[5]]
            )
        }
        var first: KeyRotationProgress?
        let report = try KeyRotationJob(store: fixture.store, batchSize: 100).run(newKEKVersion: true) {
            first = first ?? $0
        }
        #expect(report.resumed && report.finished && report.target.version == 2)
        #expect(report.rewrapped == 4, "only the four after the checkpoint were left")
        #expect(first?.done == 10 && first?.total == 10)
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func oneJobAtATime(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        let path = fixture.storeDirectory + "/rotation.lock"
        let fd = open(path, O_RDWR | O_CREAT, 0o600)
        #expect(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        defer { close(fd) }
        #expect(storeCode { try KeyRotationJob(store: fixture.store).run(newKEKVersion: true) } == .conflict)
        #expect(try fixture.keyStore.list().count == 1, "a refused job must not rotate")
    }

    /// A lock released a moment later by another open file of rotation.lock — as a child process spawned by
    /// another thread while a job ran holds that job's descriptor until its exec — is waited for, within
    /// `JobLock.settleTimeout`: a second job run right after the first was once refused as a conflict.
    @Test func aLockReleasedAMomentLaterIsWaitedForNotAConflict() throws {
        let fixture = try StoreFixture(.passphrase)
        let fd = open(fixture.storeDirectory + "/rotation.lock", O_RDWR | O_CREAT, 0o600)
        try #require(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        let released = Thread {
            usleep(300_000)
            close(fd)
        }
        released.start()
        let report = try KeyRotationJob(store: fixture.store).run(newKEKVersion: true)
        #expect(report.finished && report.target.version == 2)
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func aDamagedSubjectKeyIsReportedAndTheJobDoesNotClaimToHaveFinished(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        _ = try Self.populate(fixture.store, subjects: 3)
        let victim = try #require(try fixture.keyStore.subjectKeyNames().first)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: fixture.keysDirectory + "/subjects/\(victim).json"))
        let report = try KeyRotationJob(store: fixture.store).run(newKEKVersion: true)
        #expect(!report.finished)
        #expect(report.failed.map(\.key) == [victim])
        #expect(report.rewrapped == 2)
        // The old version stays: the key store refuses to destroy it while it cannot tell.
        #expect(envelopeCode { try fixture.keyStore.destroy(KeyIdentifier(name: "records", version: 1)) } == .keyStore)
    }
}

/// A flag shared between tasks.
final class Flag: Sendable {
    let value = Atomic<Bool>(false)
}
