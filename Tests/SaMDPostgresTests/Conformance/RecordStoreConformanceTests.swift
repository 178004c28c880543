import Foundation
import SaMDEnvelope
import SaMDKeys
import SaMDStore
import SaMDTestSupport
import Testing

/// What every record store promises (`RecordStore`), checked against each backend.
@Suite("Record store conformance (SQLite and PostgreSQL)")
struct RecordStoreConformanceTests {
    static let fhir = "application/fhir+json"

    @Test(
        "a record reads back as written; a replacement is the next revision; counts hold no identifier",
        arguments: RecordStoreBackend.allCases)
    func roundTrip(_ backend: RecordStoreBackend) async throws {
        let fixture = try await backend.make()
        let store = fixture.store
        let payload = Array(#"{"resourceType":"Observation","status":"final"}"#.utf8)
        let first = try await store.put(payload, subject: "MRN-1", recordID: "obs-1", recordType: Self.fhir)
        #expect(first.revision == 1)
        #expect(first.key.name.hasPrefix("s-"))
        let read = try await store.get(subject: "MRN-1", recordID: "obs-1")
        #expect(read.payload == payload)
        #expect(read.recordType == Self.fhir)
        #expect(read.revision == 1)
        let second = try await store.put(
            Array("replaced".utf8), subject: "MRN-1", recordID: "obs-1", recordType: "text/plain")
        #expect(second.revision == 2)
        let replaced = try await store.get(subject: "MRN-1", recordID: "obs-1")
        #expect(replaced.payload == Array("replaced".utf8))
        #expect(replaced.recordType == "text/plain")
        #expect(replaced.createdAt == read.createdAt)
        try await store.put(Array("other".utf8), subject: "MRN-2", recordID: "obs-1", recordType: Self.fhir)
        let statistics = try await store.statistics()
        #expect(statistics.recordCount == 2)
        #expect(statistics.subjectCount == 2)
        #expect(statistics.shreddedSubjectCount == 0)
        await fixture.close()
    }

    @Test(
        "compare-and-set: 0 creates only, n replaces only revision n, a missing record is a conflict",
        arguments: RecordStoreBackend.allCases)
    func compareAndSet(_ backend: RecordStoreBackend) async throws {
        let fixture = try await backend.make()
        let store = fixture.store
        let created = try await store.put(
            Array("a".utf8), subject: "MRN-1", recordID: "r", recordType: Self.fhir, expectedRevision: 0)
        #expect(created.revision == 1)
        for expected: Int64 in [0, 2, 7] {
            let error = await #expect(throws: RecordStoreError.self) {
                try await store.put(
                    Array("b".utf8), subject: "MRN-1", recordID: "r", recordType: Self.fhir,
                    expectedRevision: expected)
            }
            #expect(error?.code == .conflict)
            #expect(error?.isRetryable == true)
        }
        #expect(try await store.get(subject: "MRN-1", recordID: "r").payload == Array("a".utf8))
        let missing = await #expect(throws: RecordStoreError.self) {
            try await store.put(
                Array("c".utf8), subject: "MRN-1", recordID: "absent", recordType: Self.fhir, expectedRevision: 1)
        }
        #expect(missing?.code == .conflict)
        #expect(
            try await store.put(
                Array("d".utf8), subject: "MRN-1", recordID: "r", recordType: Self.fhir, expectedRevision: 1
            ).revision == 2)
        await fixture.close()
    }

    @Test(
        "two writers with the same expected revision: exactly one wins, nothing half-written",
        arguments: RecordStoreBackend.allCases)
    func concurrentCompareAndSet(_ backend: RecordStoreBackend) async throws {
        let fixture = try await backend.make()
        let store = fixture.store
        try await store.put(Array("base".utf8), subject: "MRN-1", recordID: "r", recordType: Self.fhir)
        for round in 0..<10 {
            let expected = Int64(round + 1)
            let outcomes = await withTaskGroup(of: (String, Result<Int64, RecordStoreError>).self) { group in
                for writer in ["left", "right"] {
                    group.addTask {
                        do {
                            let result = try await store.put(
                                Array("\(writer)-\(round)".utf8), subject: "MRN-1", recordID: "r",
                                recordType: Self.fhir, expectedRevision: expected)
                            return (writer, .success(result.revision))
                        } catch let error as RecordStoreError {
                            return (writer, .failure(error))
                        } catch {
                            return (writer, .failure(RecordStoreError(.storage, "\(error)")))
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let winners = outcomes.filter { (try? $0.1.get()) == expected + 1 }
            #expect(winners.count == 1)
            let losers = outcomes.compactMap { if case .failure(let error) = $0.1 { error } else { nil } }
            #expect(losers.map(\.code) == [.conflict])
            let read = try await store.get(subject: "MRN-1", recordID: "r")
            #expect(read.revision == expected + 1)
            #expect(read.payload == Array("\(winners.first?.0 ?? "?")-\(round)".utf8))
        }
        await fixture.close()
    }

    @Test(
        "ids and types outside the shapes are invalidArgument; a missing record notFound; too large limitExceeded",
        arguments: RecordStoreBackend.allCases)
    func refusals(_ backend: RecordStoreBackend) async throws {
        let fixture = try await backend.make(maximumRecordByteCount: 1024)
        let store = fixture.store
        for (subject, record, type) in [
            ("", "r", Self.fhir), ("MRN\u{1}", "r", Self.fhir), ("MRN", "..", Self.fhir),
            (String(repeating: "a", count: 513), "r", Self.fhir), ("MRN", "r", "json"), ("MRN", "r", "text/plain; x=1"),
        ] {
            let error = await #expect(throws: RecordStoreError.self) {
                try await store.put(Array("x".utf8), subject: subject, recordID: record, recordType: type)
            }
            #expect(error?.code == .invalidArgument)
        }
        let missing = await #expect(throws: RecordStoreError.self) {
            try await store.get(subject: "MRN", recordID: "absent")
        }
        #expect(missing?.code == .notFound)
        let large = await #expect(throws: RecordStoreError.self) {
            try await store.put(
                [UInt8](repeating: 1, count: 1025), subject: "MRN", recordID: "r", recordType: Self.fhir)
        }
        #expect(large?.code == .limitExceeded)
        let streamed = await #expect(throws: RecordStoreError.self) {
            try await store.put(
                streaming: Pieces(count: 3, size: 400), subject: "MRN", recordID: "r", recordType: Self.fhir,
                expectedRevision: nil)
        }
        #expect(streamed?.code == .limitExceeded)
        #expect(try await store.statistics().recordCount == 0)
        await fixture.close()
    }

    @Test(
        "shredding: receipt with the count, shredded with the receipt, idempotent, new records under a new key",
        arguments: RecordStoreBackend.allCases)
    func shredding(_ backend: RecordStoreBackend) async throws {
        let fixture = try await backend.make()
        let store = fixture.store
        let first = try await store.put(Array("a".utf8), subject: "MRN-1", recordID: "a", recordType: Self.fhir)
        try await store.put(Array("b".utf8), subject: "MRN-1", recordID: "b", recordType: Self.fhir)
        try await store.put(Array("c".utf8), subject: "MRN-2", recordID: "a", recordType: Self.fhir)
        let receipt = try await store.shred(subject: "MRN-1")
        #expect(receipt.recordCount == 2)
        #expect(receipt.receipt.key == first.key)
        let error = await #expect(throws: RecordStoreError.self) {
            try await store.get(subject: "MRN-1", recordID: "a")
        }
        #expect(error?.code == .shredded)
        #expect(error?.receipt?.key == first.key)
        let again = try await store.shred(subject: "MRN-1")
        #expect(again.receipt.key == receipt.receipt.key)
        #expect(again.recordCount == 2)
        // Kept as seconds in a double: the same instant to the microsecond.
        #expect(abs(again.receipt.destroyedAt.timeIntervalSince(receipt.receipt.destroyedAt)) < 0.001)
        let unknown = await #expect(throws: RecordStoreError.self) { try await store.shred(subject: "MRN-unknown") }
        #expect(unknown?.code == .notFound)
        #expect(try await store.get(subject: "MRN-2", recordID: "a").payload == Array("c".utf8))
        let after = try await store.put(Array("new".utf8), subject: "MRN-1", recordID: "a", recordType: Self.fhir)
        #expect(after.key.name == first.key.name)
        #expect(after.key.version == first.key.version + 1)
        #expect(after.revision == 1)
        #expect(try await store.get(subject: "MRN-1", recordID: "a").payload == Array("new".utf8))
        let statistics = try await store.statistics()
        #expect(statistics.recordCount == 2)
        #expect(statistics.shreddedSubjectCount == 1)
        await fixture.close()
    }

    @Test(
        "a streamed record reads back identical; a body that fails stores nothing",
        arguments: RecordStoreBackend.allCases)
    func streaming(_ backend: RecordStoreBackend) async throws {
        let fixture = try await backend.make()
        let store = fixture.store
        let pieces = Pieces(count: 5, size: 700_000)
        let result = try await store.put(
            streaming: pieces, subject: "MRN-1", recordID: "scan", recordType: "application/dicom",
            expectedRevision: 0)
        #expect(result.revision == 1)
        let read = try await store.get(subject: "MRN-1", recordID: "scan")
        #expect(read.payload == pieces.all)
        let failing = await #expect(throws: PiecesFailure.self) {
            try await store.put(
                streaming: Pieces(count: 4, size: 400_000, failAfter: 3), subject: "MRN-1", recordID: "broken",
                recordType: Self.fhir, expectedRevision: nil)
        }
        #expect(failing != nil)
        let missing = await #expect(throws: RecordStoreError.self) {
            try await store.get(subject: "MRN-1", recordID: "broken")
        }
        #expect(missing?.code == .notFound)
        let conflict = await #expect(throws: RecordStoreError.self) {
            try await store.put(
                streaming: Pieces(count: 1, size: 10), subject: "MRN-1", recordID: "scan", recordType: Self.fhir,
                expectedRevision: 0)
        }
        #expect(conflict?.code == .conflict)
        await fixture.close()
    }

    @Test(
        "a row copied onto another record, or its type changed, fails authentication; never plaintext",
        arguments: RecordStoreBackend.allCases)
    func tampering(_ backend: RecordStoreBackend) async throws {
        let fixture = try await backend.make()
        let store = fixture.store
        try await store.put(Array("first".utf8), subject: "MRN-1", recordID: "a", recordType: Self.fhir)
        try await store.put(Array("second".utf8), subject: "MRN-1", recordID: "b", recordType: Self.fhir)
        try fixture.execute("UPDATE \(fixture.recordTable) SET record_type = 'text/plain'")
        for record in ["a", "b"] {
            let error = await #expect(throws: RecordStoreError.self) {
                try await store.get(subject: "MRN-1", recordID: record)
            }
            #expect(error?.code == .authenticationFailed)
        }
        try fixture.execute("UPDATE \(fixture.recordTable) SET record_type = '\(Self.fhir)'")
        try fixture.execute(
            "UPDATE \(fixture.recordTable) SET envelope = (SELECT envelope FROM \(fixture.recordTable) ORDER BY record_index LIMIT 1)"
        )
        var authentic = 0
        var refused = 0
        for record in ["a", "b"] {
            do {
                _ = try await store.get(subject: "MRN-1", recordID: record)
                authentic += 1
            } catch let error as RecordStoreError {
                #expect(error.code == .authenticationFailed)
                refused += 1
            }
        }
        #expect(authentic == 1)
        #expect(refused == 1)
        // A revision at the largest integer is not one the store writes: a replacement is refused as tampered, not
        // failed as storage (which callers retry for ever).
        try fixture.execute("UPDATE \(fixture.recordTable) SET revision = 9223372036854775807")
        let overflow = await #expect(throws: RecordStoreError.self) {
            try await store.put(Array("third".utf8), subject: "MRN-1", recordID: "a", recordType: Self.fhir)
        }
        #expect(overflow?.code == .authenticationFailed)
        await fixture.close()
    }

    /// The real medical payloads of ../shared/records (copied into the package with their licence), in memory
    /// and streamed in uneven pieces, read back byte for byte from every backend.
    @Test(
        "the shared medical records, in memory and streamed, read back byte for byte",
        arguments: RecordStoreBackend.allCases)
    func sharedMedicalRecords(_ backend: RecordStoreBackend) async throws {
        let fixture = try await backend.make()
        let store = fixture.store
        let records = try MedicalRecords.load(from: MedicalRecords.packageFolder)
        try #require(!records.isEmpty)
        for (index, (name, bytes)) in records.enumerated() {
            let subject = "patient-\(index % 4)"
            let pieces = AsyncThrowingStream<[UInt8], any Error> { continuation in
                let sizes = [4_093, 65_536, 1]
                var (offset, turn) = (0, 0)
                while offset < bytes.count {
                    let end = min(offset + sizes[turn % sizes.count], bytes.count)
                    continuation.yield(Array(bytes[offset..<end]))
                    (offset, turn) = (end, turn + 1)
                }
                continuation.finish()
            }
            let streamed = try await store.put(
                streaming: pieces, subject: subject, recordID: "streamed-\(index)",
                recordType: "application/octet-stream", expectedRevision: nil)
            let inMemory = try await store.put(
                bytes, subject: subject, recordID: "in-memory-\(index)", recordType: "application/octet-stream")
            #expect(streamed.envelopeByteCount == inMemory.envelopeByteCount, "\(name)")
            for recordID in ["streamed-\(index)", "in-memory-\(index)"] {
                #expect(try await store.get(subject: subject, recordID: recordID).payload == bytes, "\(name)")
            }
        }
        await fixture.close()
    }

    /// A row moved under another patient's subject index (no constraint stops it) still opened with its own
    /// patient's key: a get answered it, and a re-key of that patient, which finds its rows by subject index,
    /// would not see it and destroy the key it needs. A get refuses it.
    @Test(
        "a row filed under another subject's index fails authentication; never plaintext",
        arguments: RecordStoreBackend.allCases)
    func misfiledRow(_ backend: RecordStoreBackend) async throws {
        let fixture = try await backend.make()
        let store = fixture.store
        try await store.put(Array("mine".utf8), subject: "MRN-1", recordID: "a", recordType: Self.fhir)
        try await store.put(Array("theirs".utf8), subject: "MRN-2", recordID: "b", recordType: Self.fhir)
        #expect(try await store.get(subject: "MRN-1", recordID: "a").payload == Array("mine".utf8))
        // Each row under an index that is not its own (a patient's that is not in the store).
        try fixture.execute(
            "UPDATE \(fixture.recordTable) SET subject_index = '\(String(repeating: "f", count: 32))'")
        for (subject, record) in [("MRN-1", "a"), ("MRN-2", "b")] {
            let error = await #expect(throws: RecordStoreError.self) {
                try await store.get(subject: subject, recordID: record)
            }
            #expect(error?.code == .authenticationFailed, "\(subject)")
        }
        await fixture.close()
    }
}

/// A body in `count` pieces of `size` bytes (a pattern), optionally failing after `failAfter` pieces.
struct Pieces: AsyncSequence, Sendable {
    typealias Element = [UInt8]
    let count: Int
    let size: Int
    var failAfter: Int? = nil

    var all: [UInt8] { (0..<self.count).flatMap { self.piece($0) } }

    func piece(_ index: Int) -> [UInt8] {
        (0..<self.size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
    }

    func makeAsyncIterator() -> Iterator { Iterator(pieces: self) }

    struct Iterator: AsyncIteratorProtocol {
        let pieces: Pieces
        var index = 0

        mutating func next() async throws -> [UInt8]? {
            if let failAfter = self.pieces.failAfter, self.index == failAfter { throw PiecesFailure() }
            guard self.index < self.pieces.count else { return nil }
            defer { self.index += 1 }
            return self.pieces.piece(self.index)
        }
    }
}

/// The failure a `Pieces` body throws.
struct PiecesFailure: Error {}
