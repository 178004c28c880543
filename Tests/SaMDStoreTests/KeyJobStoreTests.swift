import Foundation
import GRDB
import Logging
import SaMDEnvelope
import SaMDKeys
import SaMDStore
import SaMDTestSupport
import Synchronization
import Testing

/// The key jobs run over any `KeyJobStore`: the same jobs over a store kept in memory, written from outside the
/// module as the PostgreSQL store is (no `@testable`), and the checks a stored checkpoint goes through.
@Suite("Key jobs over any KeyJobStore")
struct KeyJobStoreTests {
    static let cursor = "s-" + String(repeating: "0123456789abcdef", count: 2)

    @Test
    func aRotationCheckpointIsOnlyWhatAJobWrites() {
        let resumed = RotationCheckpoint(fromVersion: 1, targetVersion: 2, cursor: Self.cursor)
        #expect(resumed?.fromVersion == 1 && resumed?.targetVersion == 2 && resumed?.cursor == Self.cursor)
        #expect(RotationCheckpoint(fromVersion: 4, targetVersion: nil, cursor: nil)?.targetVersion == nil)
        #expect(
            RotationCheckpoint(fromVersion: Int64(UInt32.max), targetVersion: Int64(UInt32.max), cursor: nil) != nil)
        let damaged: [(Int64, Int64?, String?)] = [
            (0, nil, nil), (-1, nil, nil), (Int64(UInt32.max) + 1, nil, nil), (3, 2, nil), (1, -3, nil),
            (1, Int64(UInt32.max) + 1, nil), (1, 2, "zzzz"), (1, 2, ""), (1, 2, Self.cursor.uppercased()),
            (1, 2, Self.cursor + "0"), (1, 2, "t-" + Self.cursor.dropFirst(2)),
        ]
        for (from, target, cursor) in damaged {
            #expect(
                RotationCheckpoint(fromVersion: from, targetVersion: target, cursor: cursor) == nil,
                "\(from) \(String(describing: target)) \(String(describing: cursor))")
        }
    }

    @Test
    func aRekeyCheckpointIsCheckedValueByValue() {
        let running = RekeyCheckpoint(notBefore: 1_700_000_000, cursor: Self.cursor, isFinished: false, finishedAt: nil)
        #expect(!running.isDamaged && running.cursor == Self.cursor)
        #expect(running.notBefore == Date(timeIntervalSince1970: 1_700_000_000))
        for notBefore in [nil, 0, -1, .nan, .infinity] as [Double?] {
            let checkpoint = RekeyCheckpoint(notBefore: notBefore, cursor: nil, isFinished: false, finishedAt: nil)
            #expect(checkpoint.isDamaged && checkpoint.notBefore == nil, "\(String(describing: notBefore))")
        }
        let badCursor = RekeyCheckpoint(notBefore: 1_700_000_000, cursor: "", isFinished: false, finishedAt: nil)
        #expect(badCursor.isDamaged && badCursor.cursor == nil && badCursor.notBefore != nil)
        // A finished run is never resumed, so never damaged; its times still count.
        let finished = RekeyCheckpoint(notBefore: nil, cursor: "x", isFinished: true, finishedAt: 1_700_000_100.5)
        #expect(!finished.isDamaged && finished.finishedAt == Date(timeIntervalSince1970: 1_700_000_100.5))
        let finishedAtNoTime = RekeyCheckpoint(notBefore: 1, cursor: nil, isFinished: true, finishedAt: .nan)
        #expect(finishedAtNoTime.isFinished && finishedAtNoTime.finishedAt == nil)
    }

    /// A re-key checkpoint edited in the database (a cursor that is not text, a start that is not a time) is
    /// not resumed: it is logged and the job starts afresh.
    @Test
    func aDamagedRekeyCheckpointStartsTheJobAfresh() throws {
        let fixture = try StoreFixture()
        let log = RecordingLogHandler()
        let store = try EncryptedRecordStore(
            directory: fixture.storeDirectory, keyStore: fixture.keyStore, logger: log.logger)
        try store.put([1, 2, 3], subject: "p", recordID: "r", recordType: "text/plain")
        let database = try DatabaseQueue(path: fixture.storeDirectory + "/" + EncryptedRecordStore.databaseFileName)
        for (index, edit) in ["cursor = 5", "not_before = 'soon'", "cursor = 'zzzz'", "not_before = -1"].enumerated() {
            try database.write { db in
                try db.execute(sql: "DELETE FROM rekey_checkpoint")
                try db.execute(
                    sql: "INSERT INTO rekey_checkpoint (id, not_before, cursor, started_at) VALUES (1, 1, NULL, 0)")
                try db.execute(sql: "UPDATE rekey_checkpoint SET \(edit)")
            }
            let report = try SubjectRekeyJob(store: store).run()
            #expect(report.finished && !report.resumed, "\(edit)")
            #expect(log.events("samd.store.rekey-checkpoint-damaged").count == index + 1, "\(edit)")
            #expect(try store.get(subject: "p", recordID: "r").payload == [1, 2, 3])
        }
    }

    @Test
    func bothJobsRunOverAStoreKeptInMemory() throws {
        let fixture = try StoreFixture()
        let store = MemoryKeyJobStore(keyStore: fixture.keyStore)
        var written: [String: [UInt8]] = [:]
        for subject in 0..<5 {
            for record in 0..<3 {
                // One envelope past the page's inline size: read alone when written.
                let payload = [UInt8](repeating: UInt8(subject * 3 + record), count: record == 0 ? 70_000 : 100)
                try store.put(payload, subject: "p-\(subject)", recordID: "r-\(record)")
                written["p-\(subject)/r-\(record)"] = payload
            }
        }
        let rotation = try KeyRotationJob(store: store, batchSize: 2).run(newKEKVersion: true)
        #expect(rotation.finished && rotation.target.version == 2 && rotation.subjectKeyCount == 5)
        #expect(store.state.withLock { $0.rotation["records"]?.finishedAt != nil })
        _ = try fixture.keyStore.destroy(KeyIdentifier(name: "records", version: 1))

        try withExtendedLifetime(store.lockForKeyJob()) {
            #expect(storeCode { try SubjectRekeyJob(store: store).run() } == .conflict)
        }

        let rekey = try SubjectRekeyJob(store: store, batchSize: 2).run()
        #expect(rekey.finished, "\(rekey.failed)")
        #expect(rekey.recordsRewrapped == 15 && rekey.versionsDestroyed == 5 && rekey.subjectKeyCount == 5)
        for (address, payload) in written {
            let parts = address.split(separator: "/").map(String.init)
            #expect(try store.get(subject: parts[0], recordID: parts[1]) == payload, "\(address)")
        }
        let state = store.state.withLock { $0 }
        #expect(state.rows.values.allSatisfy { $0.wrappingKey.hasSuffix(":2") && $0.revision == 1 })
        #expect(state.rekey?.finishedAt != nil && state.rekey?.rewrapped == 15 && state.rekey?.done == 5)
        #expect(!state.locked)
        // Tuned once; each of the three batches' rewraps durable before the batch ends.
        #expect(state.events.first == "tune" && state.events.last == "untune")
        #expect(state.events.filter { $0 == "batch" }.count == 3)
        var unsynced = false
        for event in state.events {
            if event == "write" { unsynced = true }
            if event == "durable" { unsynced = false }
            #expect(!(event == "batch" && unsynced), "a batch ended with rewraps not yet durable")
        }
    }
}

/// A `KeyJobStore` kept in memory, written with the public API only: the rows and checkpoints a database
/// would hold, the one-job lock, and a log of the hooks and writes the jobs call, in order.
final class MemoryKeyJobStore: KeyJobStore {
    struct RecordRow: Sendable {
        var subjectIndex: String
        var wrappingKey: String
        var revision: Int64
        var envelope: Data
    }

    struct RotationRow: Sendable {
        var fromVersion: Int64
        var targetVersion: Int64?
        var cursor: String?
        var done = 0
        var rewrapped = 0
        var finishedAt: Double?
    }

    struct RekeyRow: Sendable {
        var notBefore: Double
        var cursor: String?
        var done = 0
        var rewrapped = 0
        var finishedAt: Double?
    }

    struct State: Sendable {
        var locked = false
        var rows: [Data: RecordRow] = [:]
        var rotation: [String: RotationRow] = [:]
        var rekey: RekeyRow?
        var events: [String] = []
    }

    final class Lock: KeyJobLock {
        let release: @Sendable () -> Void

        init(release: @escaping @Sendable () -> Void) {
            self.release = release
        }

        deinit {
            self.release()
        }
    }

    let keyStore: any KeyStore
    let logger = Logger(label: "test.memory-store")
    let state = Mutex(State())

    init(keyStore: any KeyStore) {
        self.keyStore = keyStore
    }

    func put(_ payload: [UInt8], subject: String, recordID: String) throws {
        let key = try self.keyStore.subjectSealingKey(subject: subject)
        let envelope = try Envelope.seal(payload, context: try Self.context(subject, recordID), to: key)
        let index = Data(try self.keyStore.blindIndex(domain: "test-memory", [subject, recordID]))
        let row = RecordRow(
            subjectIndex: try self.keyStore.subjectIndex(of: subject), wrappingKey: "\(key.identifier)", revision: 1,
            envelope: Data(envelope))
        self.state.withLock { $0.rows[index] = row }
    }

    func get(subject: String, recordID: String) throws -> [UInt8] {
        let index = Data(try self.keyStore.blindIndex(domain: "test-memory", [subject, recordID]))
        let envelope = try #require(self.state.withLock { $0.rows[index]?.envelope })
        return try Envelope.open(envelope, context: try Self.context(subject, recordID), keys: self.keyStore)
    }

    static func context(_ subject: String, _ recordID: String) throws -> EncryptionContext {
        try EncryptionContext([("subject", subject), ("record", recordID)])
    }

    func lockForKeyJob() throws -> any KeyJobLock {
        try self.state.withLock { state in
            guard !state.locked else { throw RecordStoreError(.conflict, "another job is running on this store") }
            state.locked = true
        }
        return Lock { [state = self] in state.state.withLock { $0.locked = false } }
    }

    func unfinishedRotationCheckpoint(kekName: String) throws -> StoredCheckpoint<RotationCheckpoint> {
        guard let row = self.state.withLock({ $0.rotation[kekName] }), row.finishedAt == nil else { return .absent }
        return RotationCheckpoint(fromVersion: row.fromVersion, targetVersion: row.targetVersion, cursor: row.cursor)
            .map { .found($0) } ?? .damaged
    }

    func recordRotationIntent(kekName: String, fromVersion: UInt32, targetVersion: UInt32?, startedAt: Date) throws {
        self.state.withLock {
            $0.rotation[kekName] = RotationRow(
                fromVersion: Int64(fromVersion), targetVersion: targetVersion.map { Int64($0) })
        }
    }

    func commitRotationCheckpoint(kekName: String, targetVersion: UInt32, cursor: String?, done: Int?, rewrapped: Int?)
        throws
    {
        self.state.withLock {
            $0.rotation[kekName]?.targetVersion = Int64(targetVersion)
            $0.rotation[kekName]?.cursor = cursor
            if let done { $0.rotation[kekName]?.done = done }
            if let rewrapped { $0.rotation[kekName]?.rewrapped = rewrapped }
        }
    }

    func finishRotationCheckpoint(kekName: String, done: Int, rewrapped: Int, finishedAt: Date) throws {
        self.state.withLock {
            $0.rotation[kekName]?.done = done
            $0.rotation[kekName]?.rewrapped = rewrapped
            $0.rotation[kekName]?.finishedAt = finishedAt.timeIntervalSince1970
        }
    }

    func rekeyCheckpoint() throws -> RekeyCheckpoint? {
        self.state.withLock { $0.rekey }.map {
            RekeyCheckpoint(
                notBefore: $0.notBefore, cursor: $0.cursor, isFinished: $0.finishedAt != nil, finishedAt: $0.finishedAt)
        }
    }

    func recordRekeyIntent(notBefore: Date, startedAt: Date) throws {
        self.state.withLock { $0.rekey = RekeyRow(notBefore: notBefore.timeIntervalSince1970) }
    }

    func commitRekeyCheckpoint(cursor: String?, subjectsPassed: Int) throws {
        self.state.withLock {
            $0.rekey?.cursor = cursor
            $0.rekey?.done += subjectsPassed
            $0.events.append("checkpoint")
        }
    }

    func finishRekeyCheckpoint(finishedAt: Date) throws {
        self.state.withLock { $0.rekey?.finishedAt = finishedAt.timeIntervalSince1970 }
    }

    func rekeyRecordPage(
        subjectIndex: String, notUnder newKey: KeyIdentifier, after: Data?, limit: Int, inlineEnvelopeByteCount: Int
    ) throws -> RekeyRecordPage {
        let rows = self.state.withLock { state in
            state.rows.filter { index, row in
                row.subjectIndex == subjectIndex && row.wrappingKey != "\(newKey)"
                    && after.map { $0.lexicographicallyPrecedes(index) } ?? true
            }
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }.prefix(limit)
        }
        return RekeyRecordPage(
            records: rows.map { index, row in
                RekeyRecord(
                    recordIndex: index, revision: row.revision, wrappingKey: row.wrappingKey,
                    envelopeByteCount: row.envelope.count,
                    envelope: row.envelope.count <= inlineEnvelopeByteCount ? row.envelope : nil)
            },
            damagedRowCount: 0, next: rows.count == limit ? rows.last?.key : nil)
    }

    func rekeyRecordEnvelope(recordIndex: Data, revision: Int64, wrappingKey: String) throws -> Data? {
        self.state.withLock { state in
            state.rows[recordIndex].flatMap {
                $0.revision == revision && $0.wrappingKey == wrappingKey ? $0.envelope : nil
            }
        }
    }

    func writeRewrappedRecords(_ records: [RewrappedRecord]) throws -> [Bool] {
        self.state.withLock { state in
            state.events.append("write")
            return records.map { record in
                guard let row = state.rows[record.recordIndex], row.revision == record.revision,
                    row.wrappingKey == record.wrappingKey
                else { return false }
                state.rows[record.recordIndex]?.envelope = record.envelope
                state.rows[record.recordIndex]?.wrappingKey = "\(record.newKey)"
                return true
            }
        }
    }

    func makeRewrappedRecordsDurable(count: Int) throws {
        self.state.withLock {
            $0.rekey?.rewrapped += count
            $0.events.append("durable")
        }
    }

    func withRekeyTuning<T>(_ body: () throws -> T) throws -> T {
        self.state.withLock { $0.events.append("tune") }
        defer { self.state.withLock { $0.events.append("untune") } }
        return try body()
    }

    func didRekeyBatch() {
        self.state.withLock { $0.events.append("batch") }
    }
}
