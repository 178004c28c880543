import Foundation
import SaMDCrypto
import SaMDKeysTestSupport
import SaMDStore
import SaMDTestSupport
import Testing

/// `put(streaming:)`: the record sealed piece by piece into a spool file and written into its row in pieces —
/// the same record as the in-memory put, the same compare-and-set, nothing stored unless the body ends.
@Suite("Streamed puts")
struct StreamingPutTests {
    struct BodyFailed: Error, Equatable {}

    /// `payload` in pieces of the sizes `sizes` cycles through, then `failure` if given.
    static func body(_ payload: [UInt8], pieces sizes: [Int], failure: (any Error)? = nil)
        -> AsyncThrowingStream<[UInt8], any Error>
    {
        AsyncThrowingStream { continuation in
            var offset = 0
            var index = 0
            while offset < payload.count {
                let size = min(sizes[index % sizes.count], payload.count - offset)
                continuation.yield(Array(payload[offset..<(offset + size)]))
                offset += size
                index += 1
            }
            continuation.finish(throwing: failure)
        }
    }

    /// The files in the store's directory other than the database's own.
    static func strayFiles(_ fixture: StoreFixture) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: fixture.storeDirectory).filter {
            !$0.hasPrefix(EncryptedRecordStore.databaseFileName)
        }
    }

    @Test(arguments: [0, 1, 16_383, 16_384, 16_385, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, (3 << 20) + 7])
    func aStreamedRecordOpensAsTheSameRecord(size: Int) async throws {
        let fixture = try StoreFixture()
        let payload = try SecureRandom.bytes(count: size)
        let streamed = try await fixture.store.put(
            streaming: Self.body(payload, pieces: [1, 70_000, 4_096, 1 << 20, 333]), subject: "p", recordID: "r",
            recordType: "application/octet-stream", expectedRevision: nil)
        #expect(streamed.revision == 1)
        let read = try await fixture.store.get(subject: "p", recordID: "r")
        #expect(read.payload == payload)
        #expect(read.recordType == "application/octet-stream")
        // The same envelope shape as the in-memory put.
        let inMemory = try await fixture.store.put(
            payload, subject: "p", recordID: "m", recordType: "application/octet-stream")
        #expect(streamed.envelopeByteCount == inMemory.envelopeByteCount)
        #expect(try Self.strayFiles(fixture).isEmpty, "a spool file was left behind")
    }

    /// Every medical record of the shared set (../shared/records: FHIR, HL7, DICOM…), streamed in pieces of odd sizes, reads
    /// back byte for byte, and its envelope is the size the in-memory put makes.
    @Test func theSharedMedicalRecordsStreamInAndReadBackByteForByte() async throws {
        let fixture = try StoreFixture()
        let records = try MedicalRecords.load(from: MedicalRecords.packageFolder)
        try #require(!records.isEmpty)
        for (index, (name, bytes)) in records.enumerated() {
            let type = "application/octet-stream"
            let streamed = try await fixture.store.put(
                streaming: Self.body(bytes, pieces: [4_093, 65_536, 1, 1 << 20]), subject: "patient-\(index % 4)",
                recordID: "streamed-\(index)", recordType: type, expectedRevision: nil)
            let inMemory = try await fixture.store.put(
                bytes, subject: "patient-\(index % 4)", recordID: "in-memory-\(index)", recordType: type)
            #expect(streamed.envelopeByteCount == inMemory.envelopeByteCount, "\(name)")
            let read = try await fixture.store.get(subject: "patient-\(index % 4)", recordID: "streamed-\(index)")
            #expect(read.payload == bytes, "\(name)")
            #expect(read.recordType == type)
        }
        #expect(try Self.strayFiles(fixture).isEmpty, "a spool file was left behind")
    }

    @Test func aStreamedRecordReplacesWithCompareAndSet() async throws {
        let fixture = try StoreFixture()
        let first = try SecureRandom.bytes(count: 2 << 20)
        let second = try SecureRandom.bytes(count: 100)
        #expect(try await fixture.store.put(first, subject: "p", recordID: "r", recordType: "text/plain").revision == 1)
        await #expect(throws: RecordStoreError.self) {
            try await fixture.store.put(
                streaming: Self.body(second, pieces: [7]), subject: "p", recordID: "r", recordType: "text/plain",
                expectedRevision: 0)
        }
        let replaced = try await fixture.store.put(
            streaming: Self.body(second, pieces: [7]), subject: "p", recordID: "r", recordType: "text/plain",
            expectedRevision: 1)
        #expect(replaced.revision == 2)
        #expect(try await fixture.store.get(subject: "p", recordID: "r").payload == second)
        let again = try await fixture.store.put(
            streaming: Self.body(first, pieces: [1 << 16]), subject: "p", recordID: "r", recordType: "text/plain",
            expectedRevision: nil)
        #expect(again.revision == 3)
        #expect(try await fixture.store.get(subject: "p", recordID: "r").payload == first)
    }

    /// A body that fails midway (the connection lost) stores nothing — not even over an existing record — and its
    /// error reaches the caller as it is.
    @Test func aBodyThatFailsStoresNothingAndLeavesNoFile() async throws {
        let fixture = try StoreFixture()
        try await fixture.store.put([1, 2, 3], subject: "p", recordID: "kept", recordType: "text/plain")
        for recordID in ["new", "kept"] {
            await #expect(throws: BodyFailed()) {
                try await fixture.store.put(
                    streaming: Self.body(
                        try SecureRandom.bytes(count: 3 << 20), pieces: [1 << 16], failure: BodyFailed()),
                    subject: "p", recordID: recordID, recordType: "text/plain", expectedRevision: nil)
            }
        }
        #expect(throws: RecordStoreError.self) { try fixture.store.get(subject: "p", recordID: "new") }
        #expect(try await fixture.store.get(subject: "p", recordID: "kept").payload == [1, 2, 3])
        #expect(try await fixture.store.get(subject: "p", recordID: "kept").revision == 1)
        #expect(try Self.strayFiles(fixture).isEmpty, "a spool file was left behind")
    }

    @Test func moreThanTheLimitIsRefusedAsItArrives() async throws {
        let fixture = try StoreFixture(configuration: .init(maximumRecordByteCount: 1 << 20))
        let refused = await #expect(throws: RecordStoreError.self) {
            try await fixture.store.put(
                streaming: Self.body(try SecureRandom.bytes(count: (1 << 20) + 1), pieces: [1 << 19]), subject: "p",
                recordID: "r", recordType: "text/plain", expectedRevision: nil)
        }
        #expect(refused?.code == .limitExceeded)
        #expect(try await fixture.store.statistics().recordCount == 0)
        // Exactly the limit is stored.
        let payload = try SecureRandom.bytes(count: 1 << 20)
        try await fixture.store.put(
            streaming: Self.body(payload, pieces: [1 << 19]), subject: "p", recordID: "r", recordType: "text/plain",
            expectedRevision: nil)
        #expect(try await fixture.store.get(subject: "p", recordID: "r").payload == payload)
    }

    @Test func badAddressesAreRefusedBeforeTheBodyIsRead() async throws {
        let fixture = try StoreFixture()
        let refused = await #expect(throws: RecordStoreError.self) {
            try await fixture.store.put(
                streaming: Self.body([1], pieces: [1], failure: BodyFailed()), subject: "..", recordID: "r",
                recordType: "text/plain", expectedRevision: nil)
        }
        #expect(refused?.code == .invalidArgument)
    }
}
