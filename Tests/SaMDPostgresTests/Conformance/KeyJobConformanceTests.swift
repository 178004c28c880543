import Foundation
import SaMDEnvelope
import SaMDKeys
import SaMDStore
import Testing

/// The key jobs — KEK rotation and subject re-key — over each record store (`KeyJobStore`).
@Suite("Key jobs over every record store")
struct KeyJobConformanceTests {
    static let records = (0..<24).map { ("MRN-\($0 % 6)", "record-\($0)", Array("payload \($0)".utf8)) }

    static func fill(_ store: any RecordStore) async throws {
        for (subject, record, payload) in Self.records {
            try await store.put(payload, subject: subject, recordID: record, recordType: "text/plain")
        }
    }

    static func checkAll(_ store: any RecordStore) async throws {
        for (subject, record, payload) in Self.records {
            #expect(try await store.get(subject: subject, recordID: record).payload == payload)
        }
    }

    static func jobStore(_ fixture: ConformanceStore) throws -> any KeyJobStore {
        try #require(fixture.store as? any KeyJobStore)
    }

    @Test(
        "a rotation makes a new KEK version and rewraps every subject key; records still open",
        arguments: RecordStoreBackend.allCases)
    func rotation(_ backend: RecordStoreBackend) async throws {
        let fixture = try await backend.make()
        try await Self.fill(fixture.store)
        let store = try Self.jobStore(fixture)
        let report = try await Task.detached { try KeyRotationJob(store: store, batchSize: 4).run(newKEKVersion: true) }
            .value
        #expect(report.finished)
        #expect(report.target.version == 2)
        #expect(report.subjectKeyCount == 6)
        #expect(report.rewrapped == 6)
        try await Self.checkAll(fixture.store)
        // Nothing depends on version 1 any more: it can be destroyed, and every record still opens.
        _ = try fixture.keyStore.destroy(try KeyIdentifier(name: FileKeyStore.defaultKeyName, version: 1))
        try await Self.checkAll(fixture.store)
        await fixture.close()
    }

    @Test(
        "a re-key rewraps every record to fresh subject keys and destroys the old versions",
        arguments: RecordStoreBackend.allCases)
    func rekey(_ backend: RecordStoreBackend) async throws {
        let fixture = try await backend.make()
        try await Self.fill(fixture.store)
        let store = try Self.jobStore(fixture)
        let report = try await Task.detached { try SubjectRekeyJob(store: store, batchSize: 4).run() }.value
        #expect(report.finished)
        #expect(report.recordsRewrapped == Self.records.count)
        #expect(report.versionsDestroyed == 6)
        try await Self.checkAll(fixture.store)
        let replaced = try await fixture.store.put(
            Array("after".utf8), subject: "MRN-0", recordID: "record-0", recordType: "text/plain")
        #expect(replaced.key.version == 2)
        await fixture.close()
    }

    /// A row larger than any record the store may hold — tampered with, or written by an instance with a larger
    /// limit — read alone by the re-key failed the whole batch: no subject was re-keyed, on every rerun.
    @Test(
        "a re-key passes a row too large to be a record as its subject's damage; the other subjects are re-keyed",
        arguments: RecordStoreBackend.allCases)
    func rekeyPastAnOversizedRow(_ backend: RecordStoreBackend) async throws {
        let fixture = try await backend.make(maximumRecordByteCount: 4096)
        try await Self.fill(fixture.store)
        let large = backend == .sqlite ? "randomblob(200000)" : "decode(repeat('00', 200000), 'hex')"
        let victim = try await fixture.store.put(
            Array("victim".utf8), subject: "MRN-0", recordID: "record-0", recordType: "text/plain")
        try fixture.execute(
            "UPDATE \(fixture.recordTable) SET envelope = \(large) WHERE wrapping_key = '\(victim.key)'")
        let store = try Self.jobStore(fixture)
        let report = try await Task.detached { try SubjectRekeyJob(store: store, batchSize: 256).run() }.value
        #expect(!report.finished)
        #expect(report.failed.map(\.key) == [victim.key.name], "\(report.failed)")
        #expect(report.versionsDestroyed == 5)
        for (subject, record, payload) in Self.records where subject != "MRN-0" {
            #expect(try await fixture.store.get(subject: subject, recordID: record).payload == payload)
        }
        await fixture.close()
    }

    @Test(
        "one job at a time per store: a second lock is a conflict until the first is released",
        arguments: RecordStoreBackend.allCases)
    func oneJobAtATime(_ backend: RecordStoreBackend) async throws {
        let fixture = try await backend.make()
        let store = try Self.jobStore(fixture)
        try await Task.detached {
            var first: (any KeyJobLock)? = try store.lockForKeyJob()
            let error = #expect(throws: RecordStoreError.self) { try store.lockForKeyJob() }
            #expect(error?.code == .conflict)
            let rotation = #expect(throws: RecordStoreError.self) {
                try KeyRotationJob(store: store).run(newKEKVersion: true)
            }
            #expect(rotation?.code == .conflict)
            withExtendedLifetime(first) {}
            first = nil
            // Released: the session ends asynchronously on the server; bounded retries.
            var second: (any KeyJobLock)?
            for _ in 0..<50 where second == nil {
                second = try? store.lockForKeyJob()
                if second == nil { usleep(100_000) }
            }
            #expect(second != nil)
        }.value
        await fixture.close()
    }
}
