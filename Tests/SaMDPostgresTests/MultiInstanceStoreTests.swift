import Foundation
import SaMDEnvelope
import SaMDKeys
import SaMDKeysTestSupport
import SaMDLocalPostgres
import SaMDPostgres
import SaMDStore
import Synchronization
import Testing

/// Two instances (two pools, two key stores, two record stores) over one database and one token, as two
/// gateway processes are: what one writes the other reads, a shredding by one holds for the other at once, and
/// their compare-and-set writes race cleanly.
@Suite("Two record store instances over one PostgreSQL database")
struct MultiInstanceStoreTests {
    /// Record stores on both key store instances.
    static func stores(_ instances: KeyStoreInstances) async throws -> [PostgresRecordStore] {
        var stores: [PostgresRecordStore] = []
        for (pool, keys) in zip(instances.pools, instances.stores) {
            let store = try await PostgresRecordStore(pool: pool, keyStore: keys.keys)
            #expect(store.checksKeyGenerationAtCommit)
            stores.append(store)
        }
        return stores
    }

    @Test("a record written through one instance reads back identical through the other, both ways")
    func writeHereReadThere() async throws {
        try await KeyStoreInstances.with { instances in
            let stores = try await Self.stores(instances)
            for index in 0..<20 {
                let (writer, reader) = index % 2 == 0 ? (stores[0], stores[1]) : (stores[1], stores[0])
                let payload = Array("observation \(index)".utf8)
                try await writer.put(
                    payload, subject: "MRN-\(index % 4)", recordID: "r-\(index)", recordType: "text/plain")
                #expect(try await reader.get(subject: "MRN-\(index % 4)", recordID: "r-\(index)").payload == payload)
            }
            for store in stores { try await store.close() }
        }
    }

    @Test("a shredding through one instance: the other answers shredded at once, and its next write is under a new key")
    func shredHereWriteThere() async throws {
        try await KeyStoreInstances.with { instances in
            let stores = try await Self.stores(instances)
            for round in 0..<10 {
                let subject = "MRN-race-\(round)"
                // The other instance caches the subject key by writing and reading.
                let first = try await stores[1].put(
                    Array("before".utf8), subject: subject, recordID: "a", recordType: "text/plain")
                _ = try await stores[1].get(subject: subject, recordID: "a")
                let receipt = try await stores[0].shred(subject: subject)
                #expect(receipt.receipt.key == first.key)
                // At once, without waiting for the notification: the record is gone (its row deleted).
                let error = await #expect(throws: RecordStoreError.self) {
                    try await stores[1].get(subject: subject, recordID: "a")
                }
                #expect(error?.code == .shredded)
                // A write through the instance whose cache may still hold the destroyed key: the commit checks the
                // key's generation, so the record is sealed again under a new version, and opens everywhere.
                let after = try await stores[1].put(
                    Array("after".utf8), subject: subject, recordID: "b", recordType: "text/plain")
                #expect(after.key.name == first.key.name)
                #expect(after.key.version > first.key.version)
                #expect(try await stores[0].get(subject: subject, recordID: "b").payload == Array("after".utf8))
                #expect(try await stores[1].get(subject: subject, recordID: "b").payload == Array("after".utf8))
            }
            for store in stores { try await store.close() }
        }
    }

    @Test("a forged notification with a huge generation costs a read, never a refused write")
    func forgedNotification() async throws {
        try await KeyStoreInstances.with { instances in
            let stores = try await Self.stores(instances)
            let first = try await stores[0].put(
                Array("a".utf8), subject: "MRN-f", recordID: "r", recordType: "text/plain")
            _ = try await stores[1].get(subject: "MRN-f", recordID: "r")
            // Anyone who can connect can notify on the channel (found by the hostile trial: every write of the
            // subject then failed its commit's generation check on every instance).
            try instances.server.administer(
                "NOTIFY samd_keys, 's:\(first.key.name):9223372036854775807 m:9223372036854775807';",
                database: instances.location.database)
            try await Task.sleep(for: .milliseconds(300))
            for (index, store) in stores.enumerated() {
                let written = try await store.put(
                    Array("after \(index)".utf8), subject: "MRN-f", recordID: "r\(index)", recordType: "text/plain")
                #expect(written.key == first.key)
                #expect(
                    try await store.get(subject: "MRN-f", recordID: "r\(index)").payload
                        == Array("after \(index)".utf8))
            }
            for store in stores { try await store.close() }
        }
    }

    @Test(
        "both instances writing the same record with the same expected revision: one wins, one conflict, never half-written"
    )
    func compareAndSetAcrossInstances() async throws {
        try await KeyStoreInstances.with { instances in
            let stores = try await Self.stores(instances)
            try await stores[0].put(Array("base".utf8), subject: "MRN-1", recordID: "r", recordType: "text/plain")
            for round in 0..<15 {
                let expected = Int64(round + 1)
                let outcomes = await withTaskGroup(of: (Int, Int64?, RecordStoreError.Code?).self) { group in
                    for instance in 0..<2 {
                        group.addTask {
                            do {
                                let result = try await stores[instance].put(
                                    Array("instance \(instance) round \(round)".utf8), subject: "MRN-1",
                                    recordID: "r", recordType: "text/plain", expectedRevision: expected)
                                return (instance, result.revision, nil)
                            } catch let error as RecordStoreError {
                                return (instance, nil, error.code)
                            } catch {
                                return (instance, nil, .storage)
                            }
                        }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
                let winners = outcomes.filter { $0.1 == expected + 1 }
                #expect(winners.count == 1)
                #expect(outcomes.compactMap(\.2) == [.conflict])
                for store in stores {
                    let record = try await store.get(subject: "MRN-1", recordID: "r")
                    #expect(record.revision == expected + 1)
                    #expect(record.payload == Array("instance \(winners.first?.0 ?? -1) round \(round)".utf8))
                }
            }
            for store in stores { try await store.close() }
        }
    }

    @Test("reads through one instance during re-keys through the other never take a rewrapped record for a shredded one")
    func readsDuringReKeys() async throws {
        try await KeyStoreInstances.with { instances in
            let stores = try await Self.stores(instances)
            let records = 16
            for record in 0..<records {
                try await stores[0].put(
                    Array("record \(record)".utf8), subject: "MRN-rekeyed", recordID: "r-\(record)",
                    recordType: "text/plain")
            }
            let jobStore = stores[0]
            let finished = FinishedFlag()
            let jobs = Task.detached {
                defer { finished.value.store(true, ordering: .relaxed) }
                return try (0..<6).map { _ in try SubjectRekeyJob(store: jobStore, batchSize: 1).run().finished }
            }
            // A row read just before A's re-key rewrapped it names a version the re-key then destroyed; read
            // through both instances (A's own cache forgets a destroyed version at once), by several tasks.
            let failures = try await withThrowingTaskGroup(of: [String].self) { group in
                for reader in 0..<8 {
                    let store = stores[reader % 2]
                    group.addTask {
                        var failures: [String] = []
                        var reads = 0
                        while !finished.value.load(ordering: .relaxed), reads < 5000 {
                            let record = (reads + reader) % records
                            do {
                                let found = try await store.get(subject: "MRN-rekeyed", recordID: "r-\(record)")
                                if found.payload != Array("record \(record)".utf8) {
                                    failures.append("r-\(record) differs")
                                }
                            } catch {
                                failures.append("\(error)")
                            }
                            reads += 1
                        }
                        return failures
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(try await jobs.value == Array(repeating: true, count: 6))
            #expect(failures.isEmpty, "\(failures.prefix(3))")
            for store in stores { try await store.close() }
        }
    }

    /// Set once by the task that finished.
    final class FinishedFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    @Test("a rotation and a re-key run through one instance while both write and read")
    func jobsWhileBothServe() async throws {
        try await KeyStoreInstances.with { instances in
            let stores = try await Self.stores(instances)
            for index in 0..<30 {
                try await stores[index % 2].put(
                    Array("record \(index)".utf8), subject: "MRN-\(index % 5)", recordID: "r-\(index)",
                    recordType: "text/plain")
            }
            let jobStore = stores[0]
            let jobs = Task.detached {
                let rotation = try KeyRotationJob(store: jobStore, batchSize: 2).run(newKEKVersion: true)
                let rekey = try SubjectRekeyJob(store: jobStore, batchSize: 2).run()
                return (rotation, rekey)
            }
            // Both instances write new records and read old ones while the jobs run (bounded).
            var written = 30
            var failures: [String] = []
            for step in 0..<40 {
                let store = stores[step % 2]
                let index = written
                do {
                    try await store.put(
                        Array("record \(index)".utf8), subject: "MRN-\(index % 5)", recordID: "r-\(index)",
                        recordType: "text/plain")
                    written += 1
                    let old = step % 30
                    let record = try await store.get(subject: "MRN-\(old % 5)", recordID: "r-\(old)")
                    if record.payload != Array("record \(old)".utf8) { failures.append("r-\(old) differs") }
                } catch {
                    failures.append("\(error)")
                }
            }
            let (rotation, rekey) = try await jobs.value
            #expect(failures.isEmpty, "\(failures.prefix(3))")
            #expect(rotation.finished)
            #expect(rekey.finished)
            for index in 0..<written {
                for store in stores {
                    #expect(
                        try await store.get(subject: "MRN-\(index % 5)", recordID: "r-\(index)").payload
                            == Array("record \(index)".utf8))
                }
            }
            for store in stores { try await store.close() }
        }
    }
}
