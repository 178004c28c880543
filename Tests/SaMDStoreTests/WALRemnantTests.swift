import Foundation
import GRDB
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys
import SaMDKeysTestSupport
import SaMDStore
import Testing

/// Old page images of replaced and shredded records stayed in `records.sqlite-wal`: SQLite resets the WAL
/// after a checkpoint but does not truncate it, so frames that wrote an envelope survived its replacement or
/// deletion until new frames happened to overwrite them.
@Suite("No old copies in SQLite's WAL")
struct WALRemnantTests {
    @Test(arguments: KeyStoreCustody.allCases)
    func noByteRunOfAReplacedOrShreddedEnvelopeIsLeftInTheDatabaseWALOrSHM(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        let database = try DatabaseQueue(path: fixture.storeDirectory + "/" + EncryptedRecordStore.databaseFileName)
        var gone: [(what: String, envelope: [UInt8])] = []
        var current: [(what: String, envelope: [UInt8])] = []

        // Replaced: a record large enough for overflow pages, and one that fits in its row, three revisions each.
        for (recordID, size) in [("large", 40_000), ("small", 600)] {
            for revision in 1...3 {
                try fixture.store.put(
                    try SecureRandom.bytes(count: size), subject: "kept", recordID: recordID,
                    recordType: "application/octet-stream")
                let envelope = try Self.envelope(database, fixture, subject: "kept", recordID: recordID)
                if revision < 3 {
                    gone.append(("\(recordID) revision \(revision)", envelope))
                } else {
                    current.append(("\(recordID) revision \(revision)", envelope))
                }
            }
        }
        // Shredded: every record of a patient.
        for (recordID, size) in [("a", 40_000), ("b", 600)] {
            try fixture.store.put(
                try SecureRandom.bytes(count: size), subject: "erased", recordID: recordID,
                recordType: "application/octet-stream")
            gone.append(
                ("shredded \(recordID)", try Self.envelope(database, fixture, subject: "erased", recordID: recordID)))
        }
        let receipt = try fixture.store.shred(subject: "erased")
        #expect(receipt.recordCount == 2)

        let files = try fixture.storeFileBytes()
        // The scan sees what is there: every run of the current envelopes is found but those cut by a page
        // boundary (a row's own page and its overflow pages, 4 092 bytes of it each, are not contiguous in
        // the file): at most one per boundary.
        for (what, envelope) in current {
            let runs = Self.runs(envelope)
            let missing = runs.filter { !files.contains($0) }.count
            #expect(
                missing <= envelope.count / 4092 + 1,
                "\(what): \(missing) of \(runs.count) runs not found: the scan is blind")
        }
        // Runs shared with a current envelope (the header's fixed prefix: magic, suite, the same subject key's
        // name) prove nothing; every other run of a gone envelope is its own random bytes.
        let currentBytes: [UInt8] = current.flatMap { $0.envelope + [0] }
        for (what, envelope) in gone {
            let left = Self.runs(envelope).filter { !currentBytes.contains($0) && files.contains($0) }.count
            #expect(left == 0, "\(left) byte runs of \(what) are still in records.sqlite, -wal or -shm")
        }
        // And the store still answers as before.
        #expect(try fixture.store.get(subject: "kept", recordID: "large").revision == 3)
        #expect(storeCode { try fixture.store.get(subject: "erased", recordID: "a") } == .shredded)
    }

    /// 48-byte runs every 256 bytes of an envelope, from its header (the wrapped DEK) to its last chunk.
    static func runs(_ envelope: [UInt8]) -> [[UInt8]] {
        stride(from: 0, to: envelope.count - 48, by: 256).map { Array(envelope[$0..<$0 + 48]) }
    }

    static func envelope(_ database: DatabaseQueue, _ fixture: StoreFixture, subject: String, recordID: String) throws
        -> [UInt8]
    {
        let index = try fixture.keyStore.blindIndex(domain: "samd-store-record", [subject, recordID])
        let envelope = try database.read { db in
            try Data.fetchOne(db, sql: "SELECT envelope FROM record WHERE record_index = ?", arguments: [Data(index)])
        }
        return Array(try #require(envelope))
    }
}
