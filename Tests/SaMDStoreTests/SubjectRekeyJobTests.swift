import Foundation
import GRDB
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys
import SaMDKeysTestSupport
import SaMDStore
import SaMDTestSupport
import Synchronization
import Testing

/// "Compromised" used to mean rewrapping the same subject-key material under a new KEK: whoever copied the
/// subject keys still opened every record, old and new. A re-key gives every subject fresh material.
@Suite("Re-keying subject keys after a compromise")
struct SubjectRekeyJobTests {
    @Test(arguments: KeyStoreCustody.allCases)
    func aKeyStoreCopiedBeforeTheRekeyOpensNoRecordOfTheDatabaseAfterIt(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        let database = try DatabaseQueue(path: fixture.storeDirectory + "/" + EncryptedRecordStore.databaseFileName)
        var written: [(subject: String, recordID: String, payload: [UInt8])] = []
        for subject in 0..<6 {
            for record in 0..<3 {
                let payload = try SecureRandom.bytes(count: record == 0 ? 40_000 : 200)
                try fixture.store.put(
                    payload, subject: "p-\(subject)", recordID: "r-\(record)", recordType: "application/octet-stream")
                written.append(("p-\(subject)", "r-\(record)", payload))
            }
        }
        _ = try fixture.store.shred(subject: "p-5")
        let kept = written.filter { $0.subject != "p-5" }
        let before = try Self.envelopes(database)
        // The attacker's copy of the key store, taken before the re-key.
        let copy = fixture.root + "/keys-copy"
        try FileManager.default.copyItem(atPath: fixture.keysDirectory, toPath: copy)

        _ = try KeyRotationJob(store: fixture.store).run(newKEKVersion: true)
        var progressed: [SubjectRekeyProgress] = []
        let report = try SubjectRekeyJob(store: fixture.store, batchSize: 2).run { progressed.append($0) }
        #expect(report.finished, "\(report.failed)")
        #expect(report.recordsRewrapped == kept.count)
        #expect(report.versionsDestroyed == 5)
        #expect(progressed.last?.done == progressed.last?.total)
        #expect(progressed.allSatisfy { $0.rate >= 0 })

        // Every record opens, with its payload bytes untouched: only the header changed, to a new version.
        let after = try Self.envelopes(database)
        for (index, envelope) in after {
            let old = try #require(before[index])
            let oldHeader = try EnvelopeHeader.parse(old)
            let newHeader = try EnvelopeHeader.parse(envelope)
            #expect(Array(old[oldHeader.byteCount...]) == Array(envelope[newHeader.byteCount...]))
            #expect(newHeader.key.name == oldHeader.key.name && newHeader.key.version > oldHeader.key.version)
        }
        for (subject, recordID, payload) in kept {
            #expect(try fixture.store.get(subject: subject, recordID: recordID).payload == payload)
        }
        // The copy taken before, with the database after: no record opens.
        let stolen = try fixture.custodian.open(copy)
        let replay = try EncryptedRecordStore(directory: fixture.storeDirectory, keyStore: stolen)
        for (subject, recordID, _) in kept {
            let code = storeCode { try replay.get(subject: subject, recordID: recordID) }
            #expect(code != nil, "\(subject)/\(recordID) opened with the key store copied before the re-key")
        }
        // Nor does any old header survive in the files (database, WAL, shared memory).
        let files = try fixture.storeFileBytes()
        for (_, envelope) in before {
            let header = try EnvelopeHeader.parse(envelope)
            #expect(
                !files.contains(Array(envelope[..<header.byteCount])), "an old header is still in the store's files")
        }
        // The old versions are destroyed; the subject keys' newest versions seal.
        for subject in 0..<5 {
            let key = try fixture.keyStore.subjectSealingKey(subject: "p-\(subject)")
            #expect(key.identifier.version == 2)
            #expect(
                envelopeCode {
                    try fixture.keyStore.keyEncryptionKey(for: KeyIdentifier(name: key.identifier.name, version: 1))
                } == .keyDestroyed)
        }
        // A second run is a second re-key: fresh material again for every subject.
        let again = try SubjectRekeyJob(store: fixture.store).run()
        #expect(again.finished && !again.resumed)
        #expect(again.recordsRewrapped == kept.count && again.versionsDestroyed == 5)
    }

    /// Versions are stamped to the second. A second re-key started within the second of the first used to
    /// take the first one's versions (stamped at its `not_before`, the same whole second) as its own, and
    /// re-keyed nothing: the material the second re-key was run to replace stayed live.
    @Test(arguments: KeyStoreCustody.allCases)
    func twoRekeysWithinOneSecondBothMakeFreshMaterial(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        for subject in 0..<3 {
            try fixture.store.put(
                Array("record \(subject)".utf8), subject: "p-\(subject)", recordID: "r", recordType: "text/plain")
        }
        // Start just after a whole second, so that both runs (a few milliseconds each) fall within it.
        let fraction = Date().timeIntervalSince1970.truncatingRemainder(dividingBy: 1)
        if fraction > 0.05 { usleep(useconds_t((1.01 - fraction) * 1_000_000)) }
        var versions: [[UInt32]] = []
        for _ in 0..<3 {
            let report = try SubjectRekeyJob(store: fixture.store).run()
            #expect(report.finished && report.recordsRewrapped == 3 && report.versionsDestroyed == 3, "\(report)")
            versions.append(
                try (0..<3).map { try fixture.keyStore.subjectSealingKey(subject: "p-\($0)").identifier.version })
        }
        #expect(versions == [[2, 2, 2], [3, 3, 3], [4, 4, 4]])
        for subject in 0..<3 {
            #expect(
                try fixture.store.get(subject: "p-\(subject)", recordID: "r").payload == Array("record \(subject)".utf8)
            )
        }
    }

    /// The shared medical payloads, over three patients: after a re-key every one opens byte for byte, and
    /// each stored envelope differs from before only in its header.
    @Test(arguments: KeyStoreCustody.allCases)
    func theSharedMedicalRecordsSurviveAReKeyByteForByte(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        let records = try MedicalRecords.load(from: MedicalRecords.packageFolder)
        #expect(records.count >= 4)
        for (position, (name, bytes)) in records.enumerated() {
            try fixture.store.put(
                bytes, subject: "Patient/\(position % 3)", recordID: name, recordType: "application/octet-stream")
        }
        let database = try DatabaseQueue(path: fixture.storeDirectory + "/" + EncryptedRecordStore.databaseFileName)
        let before = try Self.envelopes(database)
        let report = try SubjectRekeyJob(store: fixture.store).run()
        #expect(
            report.finished && report.recordsRewrapped == records.count && report.versionsDestroyed == 3, "\(report)")
        for (position, (name, bytes)) in records.enumerated() {
            #expect(
                try fixture.store.get(subject: "Patient/\(position % 3)", recordID: name).payload == bytes, "\(name)")
        }
        let after = try Self.envelopes(database)
        #expect(after.count == before.count)
        for (index, envelope) in after {
            let old = try #require(before[index])
            let oldHeader = try EnvelopeHeader.parse(old)
            let newHeader = try EnvelopeHeader.parse(envelope)
            #expect(Array(old[oldHeader.byteCount...]) == Array(envelope[newHeader.byteCount...]))
            #expect(newHeader.key.version == oldHeader.key.version + 1)
        }
    }

    /// Two writers overwrite and create records throughout a re-key in batches of one subject: no write is
    /// lost, and every record opens afterwards.
    @Test(arguments: KeyStoreCustody.allCases)
    func writersDuringTheRekeyLoseNothing(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        for subject in 0..<20 {
            try fixture.store.put(
                Array("initial \(subject)".utf8), subject: "p-\(subject)", recordID: "r", recordType: "text/plain")
        }
        let shared = WriterState()
        let writers = (0..<2).map { writer in
            Thread {
                var step = 0
                while !shared.stopped && step < 10_000 {
                    let subject = "p-\((step * 7 + writer) % 20)"
                    let recordID = step % 3 == 0 ? "new-\(writer)-\(step)" : "r"
                    let payload = Array("writer \(writer) step \(step)".utf8)
                    // One write at a time (the order of two writers to one record is then known).
                    shared.latest.withLock { all in
                        if (try? fixture.store.put(
                            payload, subject: subject, recordID: recordID, recordType: "text/plain")) != nil
                        {
                            all[subject + "/" + recordID] = payload
                        }
                    }
                    step += 1
                }
                shared.finished.withLock { $0 += 1 }
            }
        }
        writers.forEach { $0.start() }
        let report = try SubjectRekeyJob(store: fixture.store, batchSize: 1).run()
        shared.stop()
        // Bounded: each writer ends at its step limit at the latest.
        while shared.finished.withLock({ $0 }) < writers.count { usleep(1000) }
        #expect(report.finished, "\(report.failed)")
        #expect(shared.latest.withLock { $0.count } > 20)
        for (address, payload) in shared.latest.withLock({ $0 }) {
            let parts = address.split(separator: "/")
            #expect(
                try fixture.store.get(subject: String(parts[0]), recordID: String(parts[1])).payload == payload,
                "\(address)")
        }
    }

    /// A record too large to be read with the list of rows (over 64 KiB) is read again when written: one a
    /// writer replaced meanwhile, under the new version, used to fail to rewrap and be reported as tampered
    /// with (its subject's old versions kept); so did the row of a subject shredded and written again during
    /// the re-key. Both are writers' rows, not the job's: the re-key finishes.
    @Test(arguments: KeyStoreCustody.allCases)
    func recordsReplacedOrWrittenAgainDuringTheRekeyAreNotReportedAsTampered(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        let large = 100_000
        for subject in 0..<8 {
            for record in 0..<3 {
                try fixture.store.put(
                    try SecureRandom.bytes(count: large), subject: "p-\(subject)", recordID: "r-\(record)",
                    recordType: "application/octet-stream")
            }
        }
        try fixture.store.put(Array("first".utf8), subject: "again", recordID: "r", recordType: "text/plain")
        let shared = WriterState()
        let replacing = Thread {
            var step = 0
            while !shared.stopped && step < 2_000 {
                let address = ("p-\(step % 8)", "r-\(step % 3)")
                if let payload = try? SecureRandom.bytes(count: large) {
                    shared.latest.withLock { all in
                        if (try? fixture.store.put(
                            payload, subject: address.0, recordID: address.1, recordType: "application/octet-stream"))
                            != nil
                        {
                            all[address.0 + "/" + address.1] = payload
                        }
                    }
                }
                step += 1
            }
            shared.finished.withLock { $0 += 1 }
        }
        let shredding = Thread {
            var step = 0
            while !shared.stopped && step < 2_000 {
                _ = try? fixture.store.shred(subject: "again")
                _ = try? fixture.store.put(
                    Array("again \(step)".utf8), subject: "again", recordID: "r", recordType: "text/plain")
                step += 1
            }
            shared.finished.withLock { $0 += 1 }
        }
        replacing.start()
        shredding.start()
        var reports: [SubjectRekeyReport] = []
        // Ten re-keys while they write: each meets the writers at other points.
        for _ in 0..<10 {
            reports.append(try SubjectRekeyJob(store: fixture.store, batchSize: 2).run())
        }
        shared.stop()
        while shared.finished.withLock({ $0 }) < 2 { usleep(1000) }
        for report in reports {
            #expect(report.finished, "\(report.failed)")
        }
        for (address, payload) in shared.latest.withLock({ $0 }) {
            let parts = address.split(separator: "/")
            #expect(
                try fixture.store.get(subject: String(parts[0]), recordID: String(parts[1])).payload == payload,
                "\(address)")
        }
    }

    /// A KEK marked compromised never seals again: no subject key is made or re-keyed under it.
    @Test(arguments: KeyStoreCustody.allCases)
    func aCompromisedKEKCannotSealNorBeRekeyedUnder(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        try fixture.store.put(Array("x".utf8), subject: "p", recordID: "r", recordType: "text/plain")
        let active = try fixture.keyStore.sealingKEKIdentifier(named: FileKeyStore.defaultKeyName)
        _ = try fixture.keyStore.markCompromised(active)
        #expect(envelopeCode { try fixture.keyStore.sealingKey(named: FileKeyStore.defaultKeyName) } == .keyNotUsable)
        #expect(
            storeCode { try fixture.store.put(Array("y".utf8), subject: "q", recordID: "r", recordType: "text/plain") }
                == .keyUnavailable)
        #expect(storeCode { try SubjectRekeyJob(store: fixture.store).run() } == .keyUnavailable)
        // A new KEK version, the subject keys rewrapped to it, then the re-key: the record still opens.
        _ = try fixture.keyStore.rotate(named: FileKeyStore.defaultKeyName)
        _ = try KeyRotationJob(store: fixture.store).run(newKEKVersion: false)
        #expect(try SubjectRekeyJob(store: fixture.store).run().finished)
        #expect(try fixture.store.get(subject: "p", recordID: "r").payload == Array("x".utf8))
    }

    /// A subject key version marked compromised never seals again: the next record gets a new version with
    /// fresh material; the re-key rewraps the older record and destroys the compromised version.
    @Test(arguments: KeyStoreCustody.allCases)
    func aCompromisedSubjectKeyCannotSealAndTheRekeyDestroysIt(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        let first = try fixture.store.put(Array("old".utf8), subject: "p", recordID: "r-1", recordType: "text/plain")
        _ = try fixture.keyStore.markCompromised(first.key)
        let second = try fixture.store.put(Array("new".utf8), subject: "p", recordID: "r-2", recordType: "text/plain")
        #expect(second.key.name == first.key.name && second.key.version == first.key.version + 1)
        #expect(try fixture.keyStore.subjectSealingKey(subject: "p").identifier == second.key)
        let report = try SubjectRekeyJob(store: fixture.store).run()
        #expect(report.finished && report.recordsRewrapped == 2 && report.versionsDestroyed == 2)
        #expect(envelopeCode { try fixture.keyStore.keyEncryptionKey(for: first.key) } == .keyDestroyed)
        #expect(try fixture.store.get(subject: "p", recordID: "r-1").payload == Array("old".utf8))
        #expect(try fixture.store.get(subject: "p", recordID: "r-2").payload == Array("new".utf8))
    }

    /// A row that does not rewrap (tampered) keeps its subject's old versions — every other record of the
    /// subject still opens — and the subject is reported; the other subjects finish.
    @Test(arguments: KeyStoreCustody.allCases)
    func aRowThatDoesNotRewrapKeepsItsSubjectsOldVersionsAndIsReported(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        try fixture.store.put(Array("a".utf8), subject: "p-1", recordID: "r-1", recordType: "text/plain")
        try fixture.store.put(Array("b".utf8), subject: "p-1", recordID: "r-2", recordType: "text/plain")
        try fixture.store.put(Array("c".utf8), subject: "p-2", recordID: "r-1", recordType: "text/plain")
        let database = try DatabaseQueue(path: fixture.storeDirectory + "/" + EncryptedRecordStore.databaseFileName)
        let index = try fixture.keyStore.blindIndex(domain: "samd-store-record", ["p-1", "r-2"])
        try database.write { db in
            try db.execute(
                sql: "UPDATE record SET envelope = x'00010203' WHERE record_index = ?", arguments: [Data(index)])
        }
        let report = try SubjectRekeyJob(store: fixture.store).run()
        #expect(!report.finished)
        #expect(report.failed.map(\.key) == ["s-" + (try fixture.keyStore.subjectIndex(of: "p-1"))])
        #expect(report.recordsRewrapped == 2)
        #expect(try fixture.store.get(subject: "p-1", recordID: "r-1").payload == Array("a".utf8))
        #expect(try fixture.store.get(subject: "p-2", recordID: "r-1").payload == Array("c".utf8))
        let p1 = "s-" + (try fixture.keyStore.subjectIndex(of: "p-1"))
        #expect(envelopeCode { try fixture.keyStore.keyEncryptionKey(for: KeyIdentifier(name: p1, version: 1)) } == nil)

        // Running the job again retries the subject that failed (the position committed never passes it):
        // with the row deleted, the old version goes. It used to resume after the last subject and report
        // the re-key finished with the old version still live.
        try database.write { db in
            try db.execute(sql: "DELETE FROM record WHERE record_index = ?", arguments: [Data(index)])
        }
        let retry = try SubjectRekeyJob(store: fixture.store).run()
        #expect(retry.finished && retry.resumed, "\(retry.failed)")
        #expect(retry.versionsDestroyed == 1)
        #expect(
            envelopeCode { try fixture.keyStore.keyEncryptionKey(for: KeyIdentifier(name: p1, version: 1)) }
                == .keyDestroyed)
        #expect(try fixture.store.get(subject: "p-1", recordID: "r-1").payload == Array("a".utf8))
    }

    /// A read that found a row just before a re-key rewrapped it opened it after the re-key destroyed the key
    /// version the row named: `shredded`, for a subject that was not (CI, two PostgreSQL instances). Reads run
    /// throughout several re-keys here; every one must find its record.
    @Test func readsDuringReKeysNeverTakeARewrappedRecordForAShreddedOne() throws {
        let fixture = try StoreFixture()
        let records = 12
        for record in 0..<records {
            try fixture.store.put(
                Array("record \(record)".utf8), subject: "p-1", recordID: "r-\(record)", recordType: "text/plain")
        }
        let store = fixture.store
        let done = Atomic<Bool>(false)
        let failures = Mutex<[String]>([])
        let reads = Atomic<Int>(0)
        let readers = DispatchGroup()
        for reader in 0..<3 {
            readers.enter()
            Thread {
                defer { readers.leave() }
                var index = reader
                while !done.load(ordering: .relaxed) {
                    let record = index % records
                    do {
                        let found = try store.get(subject: "p-1", recordID: "r-\(record)")
                        if found.payload != Array("record \(record)".utf8) {
                            failures.withLock { $0.append("r-\(record) differs") }
                        }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                    reads.add(1, ordering: .relaxed)
                    index += 1
                }
            }.start()
        }
        for _ in 0..<6 {
            #expect(try SubjectRekeyJob(store: store, batchSize: 1).run().finished)
        }
        done.store(true, ordering: .relaxed)
        readers.wait()
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { Array($0.prefix(3)) })")
        #expect(reads.load(ordering: .relaxed) > 0)
    }

    static func envelopes(_ database: DatabaseQueue) throws -> [Data: [UInt8]] {
        try database.read { db in
            var all: [Data: [UInt8]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT record_index, envelope FROM record") {
                all[row["record_index"]] = Array(row["envelope"] as Data)
            }
            return all
        }
    }
}

/// What the writer threads of a test share.
final class WriterState: Sendable {
    let latest = Mutex<[String: [UInt8]]>([:])
    let finished = Mutex(0)
    private let flag = Mutex(false)
    var stopped: Bool { self.flag.withLock { $0 } }
    func stop() { self.flag.withLock { $0 = true } }
}
