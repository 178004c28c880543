import Foundation
import GRDB
import SaMDEnvelope
import SaMDKeys
import SaMDKeysTestSupport
import SaMDStore
import SaMDTestSupport
import Testing

@Suite("EncryptedRecordStore")
struct EncryptedRecordStoreTests {
    static let patient = "Patient/7a3c1e9b-4f2d-4a6b-9c8e-1d2f3a4b5c6d"

    @Test(arguments: KeyStoreCustody.allCases)
    func everySharedMedicalRecordRoundTripsAndTheFilesHoldNoPlaintextNorIdentifier(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        let records = try MedicalRecords.load(from: MedicalRecords.packageFolder)
        #expect(records.count >= 4)
        for (name, bytes) in records {
            let written = try fixture.store.put(
                bytes, subject: Self.patient, recordID: name, recordType: "application/octet-stream")
            #expect(written.revision == 1)
            #expect(written.key.name.hasPrefix("s-"))
        }
        for (name, bytes) in records {
            let record = try fixture.store.get(subject: Self.patient, recordID: name)
            #expect(record.payload == bytes, "\(name)")
        }
        let files = try fixture.storeFileBytes()
        #expect(files.contains(Array("application/octet-stream".utf8)), "the scan finds what is stored in clear")
        #expect(!files.contains(Array(Self.patient.utf8)), "the subject id is in the database files")
        #expect(!files.contains(Array("7a3c1e9b-4f2d".utf8)))
        for (name, bytes) in records {
            #expect(!files.contains(Array(name.utf8)), "the record id \(name) is in the database files")
            // 48 bytes from the middle of each record: no plaintext anywhere, WAL included.
            let probe = Array(bytes[(bytes.count / 2)..<min(bytes.count, bytes.count / 2 + 48)])
            #expect(!files.contains(probe), "plaintext of \(name) is in the database files")
        }
        let statistics = try fixture.store.statistics()
        #expect(statistics.recordCount == records.count)
        #expect(statistics.subjectCount == 1)
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func aRowCopiedOntoAnotherRecordOrRetypedDoesNotOpen(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        try fixture.store.put(
            Array("{\"a\":1}".utf8), subject: "p-1", recordID: "r-1", recordType: "application/fhir+json")
        try fixture.store.put(
            Array("{\"b\":2}".utf8), subject: "p-1", recordID: "r-2", recordType: "application/fhir+json")
        try fixture.store.put(
            Array("{\"c\":3}".utf8), subject: "p-2", recordID: "r-1", recordType: "application/fhir+json")
        let database = try DatabaseQueue(path: fixture.storeDirectory + "/" + EncryptedRecordStore.databaseFileName)
        // Copy r-1's envelope onto r-2 (same patient), and onto p-2's r-1 (another patient).
        try database.write { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT record_index, subject_index, envelope FROM record ORDER BY created_at")
            #expect(rows.count == 3)
            let first: Data = rows[0]["envelope"]
            for row in rows.dropFirst() {
                try db.execute(
                    sql: "UPDATE record SET envelope = ? WHERE record_index = ?",
                    arguments: [first, row["record_index"] as Data])
            }
        }
        #expect(try fixture.store.get(subject: "p-1", recordID: "r-1").payload == Array("{\"a\":1}".utf8))
        #expect(storeCode { try fixture.store.get(subject: "p-1", recordID: "r-2") } == .authenticationFailed)
        #expect(storeCode { try fixture.store.get(subject: "p-2", recordID: "r-1") } == .authenticationFailed)
        // The record type is bound too.
        try database.write { db in
            try db.execute(sql: "UPDATE record SET record_type = 'text/plain'")
        }
        #expect(storeCode { try fixture.store.get(subject: "p-1", recordID: "r-1") } == .authenticationFailed)
        // A truncated envelope.
        try database.write { db in
            try db.execute(
                sql:
                    "UPDATE record SET record_type = 'application/fhir+json', envelope = substr(envelope, 1, length(envelope) - 1)"
            )
        }
        #expect(storeCode { try fixture.store.get(subject: "p-1", recordID: "r-1") } == .authenticationFailed)
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func aCopiedDatabaseOpensNothingUnderAnotherKeyStore(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        try fixture.store.put(Array("x".utf8), subject: "p-1", recordID: "r-1", recordType: "text/plain")
        let other = try StoreFixture(custody)
        // Copied through SQLite's backup API (this process must not open and close the live database's files).
        let copyDirectory = other.root + "/copied"
        try FileManager.default.createDirectory(
            atPath: copyDirectory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let source = try DatabaseQueue(path: fixture.storeDirectory + "/" + EncryptedRecordStore.databaseFileName)
        let target = try DatabaseQueue(path: copyDirectory + "/" + EncryptedRecordStore.databaseFileName)
        try source.backup(to: target)
        try target.close()
        chmod(copyDirectory + "/" + EncryptedRecordStore.databaseFileName, 0o600)
        let copy = try EncryptedRecordStore(directory: copyDirectory, keyStore: other.keyStore)
        #expect(try copy.statistics().recordCount == 1)
        // Another index key: the blind index of p-1/r-1 differs, so the row is not even found.
        #expect(storeCode { try copy.get(subject: "p-1", recordID: "r-1") } == .notFound)
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func identifiersAreComparedAfterNFCAndKeptApartByLength(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        try fixture.store.put(Array("é".utf8), subject: "Jos\u{E9}", recordID: "r", recordType: "text/plain")
        #expect(try fixture.store.get(subject: "Jose\u{301}", recordID: "r").payload == Array("é".utf8))
        // (subject "ab", record "c") and (subject "a", record "bc") are different rows.
        try fixture.store.put(Array("1".utf8), subject: "ab", recordID: "c", recordType: "text/plain")
        #expect(storeCode { try fixture.store.get(subject: "a", recordID: "bc") } == .notFound)
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func shreddingAnswersShreddedKeepsTheReceiptAndSparesOtherSubjects(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        for index in 0..<3 {
            try fixture.store.put(
                Array("rec \(index)".utf8), subject: "p-1", recordID: "r-\(index)", recordType: "text/plain")
        }
        try fixture.store.put(Array("other".utf8), subject: "p-2", recordID: "r-0", recordType: "text/plain")
        let shredded = try fixture.store.shred(subject: "p-1")
        #expect(shredded.recordCount == 3)
        #expect(shredded.receipt.subjectIndex == (try fixture.keyStore.subjectIndex(of: "p-1")))
        for index in 0..<3 {
            do {
                _ = try fixture.store.get(subject: "p-1", recordID: "r-\(index)")
                Issue.record("a shredded record opened")
            } catch let error as RecordStoreError {
                #expect(error.code == .shredded)
                #expect(error.receipt?.key == shredded.receipt.key)
                #expect(!error.isRetryable)
            }
        }
        #expect(storeCode { try fixture.store.get(subject: "p-1", recordID: "never-stored") } == .shredded)
        #expect(try fixture.store.get(subject: "p-2", recordID: "r-0").payload == Array("other".utf8))
        // Again: the kept receipt. A subject never seen: not found.
        #expect(try fixture.store.shred(subject: "p-1").receipt.key == shredded.receipt.key)
        #expect(storeCode { try fixture.store.shred(subject: "p-unknown") } == .notFound)
        // The receipt survives reopening; new records after shredding use a new subject key version.
        let (_, reopened) = try fixture.reopen()
        #expect(try reopened.statistics().shreddedSubjectCount == 1)
        let again = try reopened.put(Array("new".utf8), subject: "p-1", recordID: "r-9", recordType: "text/plain")
        #expect(again.key.name == shredded.receipt.key.name && again.key.version == shredded.receipt.key.version + 1)
        #expect(try reopened.get(subject: "p-1", recordID: "r-9").payload == Array("new".utf8))
        #expect(storeCode { try reopened.get(subject: "p-1", recordID: "r-0") } == .shredded)
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func conditionalWritesAreCompareAndSet(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        #expect(
            try fixture.store.put(
                Array("1".utf8), subject: "p", recordID: "r", recordType: "text/plain", expectedRevision: 0
            ).revision == 1)
        #expect(
            storeCode {
                try fixture.store.put(
                    Array("x".utf8), subject: "p", recordID: "r", recordType: "text/plain", expectedRevision: 0)
            } == .conflict)
        #expect(
            storeCode {
                try fixture.store.put(
                    Array("x".utf8), subject: "p", recordID: "r", recordType: "text/plain", expectedRevision: 7)
            } == .conflict)
        #expect(
            try fixture.store.put(
                Array("2".utf8), subject: "p", recordID: "r", recordType: "text/plain", expectedRevision: 1
            ).revision == 2)
        #expect(
            try fixture.store.put(Array("3".utf8), subject: "p", recordID: "r", recordType: "text/plain").revision == 3)
        let record = try fixture.store.get(subject: "p", recordID: "r")
        #expect(record.payload == Array("3".utf8) && record.revision == 3 && record.recordType == "text/plain")
        #expect(
            storeCode {
                try fixture.store.put(
                    Array("4".utf8), subject: "p", recordID: "q", recordType: "text/plain", expectedRevision: 1)
            } == .conflict)
        #expect(storeCode { try fixture.store.get(subject: "p", recordID: "q") } == .notFound)
    }

    /// Dot segments (RFC 3986 §3.3) are never ids: every HTTP client and URL library removes them from a path,
    /// so a record stored under one could not be addressed again. Refused by put, get and shred alike, as
    /// subject or record id, composed or not; anything merely containing dots stays an id.
    @Test(arguments: KeyStoreCustody.allCases)
    func dotSegmentsAreNeverSubjectOrRecordIds(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        for dots in [".", ".."] {
            #expect(!EncryptedRecordStore.isValidIdentifier(dots), "\(dots.debugDescription)")
            #expect(
                storeCode { try fixture.store.put([1], subject: dots, recordID: "r", recordType: "text/plain") }
                    == .invalidArgument)
            #expect(
                storeCode { try fixture.store.put([1], subject: "p", recordID: dots, recordType: "text/plain") }
                    == .invalidArgument)
            #expect(storeCode { try fixture.store.get(subject: dots, recordID: "r") } == .invalidArgument)
            #expect(storeCode { try fixture.store.get(subject: "p", recordID: dots) } == .invalidArgument)
            #expect(storeCode { try fixture.store.shred(subject: dots) } == .invalidArgument)
        }
        #expect(try fixture.store.statistics().recordCount == 0)
        #expect(try fixture.keyStore.subjectKeyNames().isEmpty, "a refused write must not create a subject key")
        for id in ["...", ".a", "a.", "..a", "%2e%2e", "a/..", ". ."] {
            #expect(EncryptedRecordStore.isValidIdentifier(id), "\(id)")
            try fixture.store.put([2], subject: id, recordID: id, recordType: "text/plain")
            #expect(try fixture.store.get(subject: id, recordID: id).payload == [2])
        }
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func badShapesAndSizesAreRefusedBeforeAnythingIsWritten(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody, configuration: .init(maximumRecordByteCount: 1024))
        let tooLong = String(repeating: "a", count: 513)
        #expect(
            storeCode { try fixture.store.put([1], subject: "", recordID: "r", recordType: "text/plain") }
                == .invalidArgument)
        #expect(
            storeCode { try fixture.store.put([1], subject: tooLong, recordID: "r", recordType: "text/plain") }
                == .invalidArgument)
        #expect(
            storeCode { try fixture.store.put([1], subject: "p", recordID: "", recordType: "text/plain") }
                == .invalidArgument)
        #expect(
            storeCode { try fixture.store.put([1], subject: "p", recordID: "a\nb", recordType: "text/plain") }
                == .invalidArgument)
        #expect(
            storeCode { try fixture.store.put([1], subject: "p\u{0}", recordID: "r", recordType: "text/plain") }
                == .invalidArgument)
        #expect(
            storeCode { try fixture.store.put([1], subject: "p", recordID: "r", recordType: "") } == .invalidArgument)
        #expect(
            storeCode {
                try fixture.store.put([1], subject: "p", recordID: "r", recordType: "text/plain; charset=utf-8")
            } == .invalidArgument)
        // Only type/subtype (RFC 6838 restricted names): no bare words, paths or extra slashes.
        for type in ["a", "text", "../../etc", "x/y/z", "/plain", "text/", ".x/y", "text/-html", "t\u{E9}xt/plain"] {
            #expect(
                storeCode { try fixture.store.put([1], subject: "p", recordID: "r", recordType: type) }
                    == .invalidArgument, "\(type)")
        }
        let probe = try StoreFixture()
        for type in [
            "a/b", "TEXT/PLAIN", "application/fhir+json", "x-application/hl7-v2+er7", "application/vnd.example.v1+json",
        ] {
            #expect(isValidType(type, probe), "\(type)")
        }
        #expect(
            storeCode {
                try fixture.store.put(
                    [UInt8](repeating: 0, count: 1025), subject: "p", recordID: "r", recordType: "text/plain")
            } == .limitExceeded)
        #expect(try fixture.store.statistics().recordCount == 0)
        #expect(try fixture.keyStore.subjectKeyNames().isEmpty, "a refused write must not create a subject key")
        // A stored row larger than any record may be is refused before its blob is read.
        try fixture.store.put([1, 2, 3], subject: "p", recordID: "r", recordType: "text/plain")
        let database = try DatabaseQueue(path: fixture.storeDirectory + "/" + EncryptedRecordStore.databaseFileName)
        try database.write { db in
            try db.execute(sql: "UPDATE record SET envelope = zeroblob(1000000)")
        }
        #expect(storeCode { try fixture.store.get(subject: "p", recordID: "r") } == .limitExceeded)
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func theStoreIsPrivateAndRefusesADirectoryOthersCanRead(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        var info = stat()
        #expect(stat(fixture.storeDirectory, &info) == 0 && info.st_mode & 0o777 == 0o700)
        #expect(
            stat(fixture.storeDirectory + "/" + EncryptedRecordStore.databaseFileName, &info) == 0
                && info.st_mode & 0o777 == 0o600)
        let open = fixture.root + "/open"
        try FileManager.default.createDirectory(
            atPath: open, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        #expect(storeCode { try EncryptedRecordStore(directory: open, keyStore: fixture.keyStore) } == .storage)
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func errorsNeverCarryIdentifiers(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        let subject = "Patient/secret-identifier-42"
        try fixture.store.put([1], subject: subject, recordID: "record-secret-7", recordType: "text/plain")
        _ = try fixture.store.shred(subject: subject)
        var messages: [String] = []
        for body in [
            { _ = try fixture.store.get(subject: subject, recordID: "record-secret-7") },
            { _ = try fixture.store.get(subject: subject, recordID: "record-secret-8") },
            { _ = try fixture.store.get(subject: "Patient/secret-identifier-43", recordID: "record-secret-7") },
            {
                _ = try fixture.store.put(
                    [1], subject: subject, recordID: "record-secret-7\n", recordType: "text/plain")
            },
        ] as [() throws -> Void] {
            do { try body() } catch { messages.append("\(error)") }
        }
        #expect(messages.count == 4)
        for message in messages {
            #expect(!message.contains("secret"), "\(message)")
        }
    }
}

/// Whether the store accepts `type` for a record (and stores nothing lasting: the record is written and read).
private func isValidType(_ type: String, _ fixture: StoreFixture) -> Bool {
    (try? fixture.store.put([1], subject: "type-probe", recordID: type, recordType: type)) != nil
        && (try? fixture.store.get(subject: "type-probe", recordID: type).recordType) == type
}
