import Foundation
import GRDB
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys
import SaMDKeysTestSupport
import SaMDStore
import SaMDTestSupport
import Testing

/// A reviewer's attempts to break the store: a database edited by someone else, identifiers at the edges of
/// their shapes, forged key-store files, and files swapped for links. Each test failed before its fix.
@Suite("EncryptedRecordStore under attack")
struct AdversarialStoreTests {
    static func database(_ fixture: StoreFixture) throws -> DatabaseQueue {
        try DatabaseQueue(path: fixture.storeDirectory + "/" + EncryptedRecordStore.databaseFileName)
    }

    // MARK: Rows edited in the database

    /// SQLite's `length()` of a TEXT value counts characters before the first NUL: an envelope rewritten as
    /// text starting with NUL measured 0 bytes and was then read whole. Any other column could be enlarged
    /// the same way. Every value is now bounded by SQLite itself before it is read.
    @Test(arguments: KeyStoreCustody.allCases)
    func anEnlargedValueOfAnyTypeOrColumnIsRefusedBeforeItIsRead(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody, configuration: .init(maximumRecordByteCount: 1024))
        try fixture.store.put([1, 2, 3], subject: "p", recordID: "r", recordType: "text/plain")
        let database = try Self.database(fixture)
        try database.write { db in
            try db.execute(sql: "UPDATE record SET envelope = CAST(zeroblob(4000000) AS TEXT)")
        }
        #expect(storeCode { try fixture.store.get(subject: "p", recordID: "r") } == .limitExceeded)
        for column in ["record_type", "revision", "created_at"] {
            try fixture.store.put([1, 2, 3], subject: "p", recordID: "r", recordType: "text/plain")
            try database.write { db in
                try db.execute(sql: "UPDATE record SET \(column) = CAST(zeroblob(4000000) AS TEXT)")
            }
            #expect(storeCode { try fixture.store.get(subject: "p", recordID: "r") } == .limitExceeded, "\(column)")
            try database.write { db in
                try db.execute(sql: "DELETE FROM record")
            }
        }
        // A small envelope stored as text, not as a blob: not what the store writes.
        try fixture.store.put([1, 2, 3], subject: "p", recordID: "r", recordType: "text/plain")
        try database.write { db in
            try db.execute(sql: "UPDATE record SET envelope = CAST(envelope AS TEXT)")
        }
        #expect(storeCode { try fixture.store.get(subject: "p", recordID: "r") } == .authenticationFailed)
    }

    /// GRDB's row subscripts trap on a value of the wrong type; the columns of an edited row are untrusted.
    @Test(arguments: KeyStoreCustody.allCases)
    func aRecordRowWithColumnsOfTheWrongTypeIsRefusedNotACrash(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        let database = try Self.database(fixture)
        let edits = [
            "revision = 'abc'", "revision = x'00'", "created_at = x'0102'", "updated_at = 'soon'",
            "record_type = 42", "record_type = x'746578742f706c61696e'",
        ]
        for edit in edits {
            try database.write { db in try db.execute(sql: "DELETE FROM record") }
            try fixture.store.put([1, 2, 3], subject: "p", recordID: "r", recordType: "text/plain")
            try database.write { db in try db.execute(sql: "UPDATE record SET \(edit)") }
            #expect(
                storeCode { try fixture.store.get(subject: "p", recordID: "r") } == .authenticationFailed, "\(edit)")
        }
        // A revision the compare-and-set cannot read: SQLite read 'abc' as 0, the UPDATE matched no row, and
        // an unconditional write reported revision 1 without writing anything.
        try database.write { db in try db.execute(sql: "UPDATE record SET revision = 'abc', record_type = 'text/plain'")
        }
        for expected in [nil, 0, 1] as [Int64?] {
            #expect(
                storeCode {
                    try fixture.store.put(
                        [4], subject: "p", recordID: "r", recordType: "text/plain", expectedRevision: expected)
                } == .authenticationFailed)
        }
    }

    /// The schema's NOT NULL and CHECK constraints are the attacker's to remove: a table rebuilt without them.
    @Test(arguments: KeyStoreCustody.allCases)
    func aShredReceiptRowWithColumnsOfTheWrongTypeIsNotACrash(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        try fixture.store.put([1], subject: "p", recordID: "r", recordType: "text/plain")
        let shredded = try fixture.store.shred(subject: "p")
        let database = try Self.database(fixture)
        for edit in [
            "key_version = 'abc'", "key_version = -5", "key_version = 99999999999", "destroyed_at = x'00'",
            "key_name = 7", "key_name = 'not a key name'",
        ] {
            try database.write { db in
                try db.execute(sql: "DELETE FROM shred_receipt")
                try db.execute(
                    sql:
                        "INSERT INTO shred_receipt (subject_index, key_name, key_version, destroyed_at) VALUES (?, ?, ?, ?)",
                    arguments: [
                        shredded.receipt.subjectIndex, shredded.receipt.key.name, Int64(shredded.receipt.key.version),
                        0.0,
                    ]
                )
                try db.execute(sql: "UPDATE shred_receipt SET \(edit)")
            }
            // Still shredded (the key is gone); a damaged receipt is no receipt: the key store's is given.
            for recordID in ["r", "never"] {
                do {
                    _ = try fixture.store.get(subject: "p", recordID: recordID)
                    Issue.record("a shredded record opened")
                } catch let error as RecordStoreError {
                    #expect(error.code == .shredded, "\(edit)")
                    #expect(error.receipt?.key == shredded.receipt.key, "\(edit)")
                }
            }
        }
    }

    /// A row copied from a shredded patient onto another patient's address named the shredded patient's key:
    /// opening it answered `shredded`, so the living patient looked erased. A record must name its own
    /// patient's subject key; anything else is a row that does not belong at this address.
    @Test(arguments: KeyStoreCustody.allCases)
    func aRowNamingAnotherPatientsKeyIsNotReportedAsShredded(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        try fixture.store.put(Array("mine".utf8), subject: "p-1", recordID: "r-1", recordType: "text/plain")
        try fixture.store.put(Array("theirs".utf8), subject: "p-2", recordID: "r-1", recordType: "text/plain")
        let p1 = try fixture.keyStore.subjectIndex(of: "p-1")
        let p2 = try fixture.keyStore.subjectIndex(of: "p-2")
        let database = try Self.database(fixture)
        // Taken before the shredding, which deletes the shredded patient's rows.
        let theirs = try database.read { db in
            try Data.fetchOne(db, sql: "SELECT envelope FROM record WHERE subject_index = ?", arguments: [p2])
        }
        _ = try fixture.store.shred(subject: "p-2")
        try database.write { db in
            try db.execute(sql: "UPDATE record SET envelope = ? WHERE subject_index = ?", arguments: [theirs, p1])
        }
        #expect(storeCode { try fixture.store.get(subject: "p-1", recordID: "r-1") } == .authenticationFailed)
        // And the KEK itself named in the header: never used directly for a record. Passphrase custody only: a
        // token's KEK cannot seal a record to plant at all.
        guard custody.exportsKEKs else {
            #expect(
                envelopeCode { try fixture.keyStore.sealingKey(named: FileKeyStore.defaultKeyName) } == .keyNotUsable)
            return
        }
        try fixture.store.put(Array("mine".utf8), subject: "p-1", recordID: "r-1", recordType: "text/plain")
        let kek = try fixture.keyStore.sealingKey(named: FileKeyStore.defaultKeyName)
        let context = try EncryptionContext([("subject", "p-1"), ("record", "r-1"), ("type", "text/plain")])
        let forged = try Envelope.seal(Array("planted".utf8), context: context, to: kek)
        try database.write { db in
            try db.execute(
                sql: "UPDATE record SET envelope = ? WHERE subject_index = ?", arguments: [Data(forged), p1])
        }
        #expect(storeCode { try fixture.store.get(subject: "p-1", recordID: "r-1") } == .authenticationFailed)
    }

    // MARK: The rotation checkpoint

    /// The checkpoint is an edited row like any other: wrong types trapped, and versions out of range or a
    /// cursor that names no subject key steered the job. A damaged checkpoint is now discarded (logged) and
    /// the job starts afresh, which only costs a full pass.
    @Test(arguments: KeyStoreCustody.allCases)
    func aDamagedRotationCheckpointNeitherCrashesNorSkipsTheRotation(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        let written = try KeyRotationJobTests.populate(fixture.store, subjects: 3)
        let database = try Self.database(fixture)
        let damaged = [
            "from_version = 'abc'", "target_version = x'00'", "cursor = 5", "from_version = -1",
            "from_version = 99999999999", "target_version = -3", "cursor = 'zzzz'", "done = 'lots'",
        ]
        var expectedVersion: UInt32 = 1
        for edit in damaged {
            try database.write { db in
                try db.execute(sql: "DELETE FROM rotation_checkpoint")
                try db.execute(
                    sql:
                        "INSERT INTO rotation_checkpoint (kek_name, from_version, target_version, cursor, started_at) VALUES ('records', ?, NULL, NULL, 0)",
                    arguments: [Int64(expectedVersion)])
                try db.execute(sql: "UPDATE rotation_checkpoint SET \(edit)")
            }
            let report = try KeyRotationJob(store: fixture.store).run(newKEKVersion: true)
            expectedVersion += 1
            #expect(report.finished, "\(edit)")
            #expect(
                report.target.version == expectedVersion, "\(edit): the asked-for rotation must happen exactly once")
            #expect(try fixture.keyStore.sealingKEKIdentifier(named: "records").version == expectedVersion, "\(edit)")
            _ = try fixture.keyStore.destroy(KeyIdentifier(name: "records", version: expectedVersion - 1))
            try KeyRotationJobTests.expectAllOpen(fixture.store, written)
        }
    }

    // MARK: Identifiers at the edges

    /// The key store measured a subject id before NFC, the record store after: a 400-byte id typed
    /// decomposed (600 bytes) was refused on reading while the same id typed composed had been stored.
    @Test(arguments: KeyStoreCustody.allCases)
    func anIdentifierWithinLimitsAfterNFCIsOnePatientWhicheverWayItIsTyped(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        let composed = String(repeating: "\u{E9}", count: 200) // 400 bytes
        let decomposed = String(repeating: "e\u{301}", count: 200) // 600 bytes, 400 after NFC
        #expect(decomposed.utf8.count == 600 && decomposed.precomposedStringWithCanonicalMapping == composed)
        try fixture.store.put(Array("x".utf8), subject: composed, recordID: "r", recordType: "text/plain")
        #expect(try fixture.store.get(subject: decomposed, recordID: "r").payload == Array("x".utf8))
        try fixture.store.put(Array("y".utf8), subject: "p", recordID: decomposed, recordType: "text/plain")
        #expect(try fixture.store.get(subject: "p", recordID: composed).payload == Array("y".utf8))
        #expect(try fixture.keyStore.subjectIndex(of: decomposed) == (try fixture.keyStore.subjectIndex(of: composed)))
        #expect(try fixture.store.shred(subject: decomposed).recordCount == 1)
    }

    /// Sources/SaMDStore/SaMDStore.docc/Store.md promised ids of up to 512 bytes each; the encryption context (1024 bytes in all) holds
    /// subject, record id and type together. The combined limit is now stated and checked first.
    @Test(arguments: KeyStoreCustody.allCases)
    func theAddressFitsTheEncryptionContextAtItsExactLimit(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        let type = "a/" + String(repeating: "a", count: 125)
        let limit = EncryptedRecordStore.maximumAddressByteCount
        #expect(limit == 980)
        let subject = String(repeating: "s", count: 512)
        let record = String(repeating: "r", count: limit - 512 - 127)
        try fixture.store.put([7], subject: subject, recordID: record, recordType: type)
        #expect(try fixture.store.get(subject: subject, recordID: record).payload == [7])
        let before = try fixture.keyStore.subjectKeyNames()
        do {
            try fixture.store.put([7], subject: "t" + subject.dropFirst(), recordID: record + "r", recordType: type)
            Issue.record("an address over the limit was stored")
        } catch let error as RecordStoreError {
            #expect(error.code == .invalidArgument)
            #expect(error.reason.contains("\(limit)"))
        }
        #expect(try fixture.keyStore.subjectKeyNames() == before, "a refused write must not create a subject key")
        // Read back without knowing the type: the store used to build a context with a 24-byte placeholder
        // type, so a record stored with a short type and long ids could be written but never read.
        let longRecord = String(repeating: "r", count: limit - 512 - 3)
        try fixture.store.put([6], subject: subject, recordID: longRecord, recordType: "a/b")
        #expect(try fixture.store.get(subject: subject, recordID: longRecord).payload == [6])
        // Each id alone still goes to 512 bytes, with the type it is stored under.
        try fixture.store.put([8], subject: "p", recordID: String(repeating: "r", count: 512), recordType: "text/plain")
        try fixture.store.put([9], subject: String(repeating: "q", count: 512), recordID: "r", recordType: "text/plain")
        // Record types with every allowed odd character, payloads at the chunk edges.
        let odd = "x!#$&-^_.+/y!#$&-^_.+"
        for count in [0, 1, 16_383, 16_384, 16_385, 32_768] {
            let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            try fixture.store.put(payload, subject: "p", recordID: "edge-\(count)", recordType: odd)
            let opened = try fixture.store.get(subject: "p", recordID: "edge-\(count)")
            #expect(opened.payload == payload && opened.recordType == odd)
        }
    }

    /// A configured maximum so large that the envelope bound overflowed trapped on the first read.
    @Test(arguments: KeyStoreCustody.allCases)
    func aMaximumRecordSizeBeyondWhatSQLiteHoldsIsRefusedAtOpening(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        for maximum in [Int.max, -1, EncryptedRecordStore.largestMaximumRecordByteCount + 1] {
            let configuration = EncryptedRecordStore.Configuration(maximumRecordByteCount: maximum)
            #expect(
                storeCode {
                    try EncryptedRecordStore(
                        directory: fixture.storeDirectory, keyStore: fixture.keyStore, configuration: configuration)
                } == .invalidArgument)
        }
        let largest = try EncryptedRecordStore(
            directory: fixture.storeDirectory, keyStore: fixture.keyStore,
            configuration: .init(maximumRecordByteCount: EncryptedRecordStore.largestMaximumRecordByteCount)
        )
        try largest.put([1], subject: "p", recordID: "r", recordType: "text/plain")
        #expect(try largest.get(subject: "p", recordID: "r").payload == [1])
    }

    // MARK: Forged key-store files

    /// Subject key files are not authenticated as a whole (only each wrapped key is): a forged version number
    /// of 2^32 − 1 made the next subject key version overflow and trapped.
    @Test(arguments: KeyStoreCustody.allCases)
    func aForgedSubjectKeyVersionDoesNotTrap(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        try fixture.store.put([1], subject: "p", recordID: "r", recordType: "text/plain")
        _ = try fixture.store.shred(subject: "p")
        let name = try #require(try fixture.keyStore.subjectKeyNames().first)
        let path = fixture.keysDirectory + "/subjects/\(name).json"
        var document = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        var versions = try #require(document["versions"] as? [[String: Any]])
        versions[0]["version"] = Int(UInt32.max)
        document["versions"] = versions
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        #expect(
            storeCode { try fixture.store.put([2], subject: "p", recordID: "r2", recordType: "text/plain") }
                == .keyUnavailable)
    }

    // MARK: Files swapped for links

    /// The database was opened with O_NOFOLLOW, but SQLite opens `-wal` and `-shm` itself and follows links:
    /// the journal of every write went wherever a planted link pointed.
    @Test(arguments: KeyStoreCustody.allCases)
    func aLinkInPlaceOfTheDatabaseOrItsJournalIsRefused(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        let elsewhere = fixture.root + "/elsewhere"
        #expect(
            FileManager.default.createFile(atPath: elsewhere, contents: nil, attributes: [.posixPermissions: 0o600]))
        for suffix in ["", "-wal", "-shm"] {
            let directory = fixture.root + "/links\(suffix)"
            #expect(mkdir(directory, 0o700) == 0)
            #expect(symlink(elsewhere, directory + "/" + EncryptedRecordStore.databaseFileName + suffix) == 0)
            #expect(
                storeCode { try EncryptedRecordStore(directory: directory, keyStore: fixture.keyStore) } == .storage,
                "\(suffix)")
        }
        // A journal left readable by others is refused too.
        let directory = fixture.root + "/open-wal"
        #expect(mkdir(directory, 0o700) == 0)
        #expect(
            FileManager.default.createFile(
                atPath: directory + "/" + EncryptedRecordStore.databaseFileName + "-wal", contents: nil,
                attributes: [.posixPermissions: 0o644]))
        #expect(storeCode { try EncryptedRecordStore(directory: directory, keyStore: fixture.keyStore) } == .storage)
        var info = stat()
        #expect(stat(elsewhere, &info) == 0 && info.st_size == 0, "nothing was written through a link")
    }

    /// The database replaced after opening (a link to another database): connections opened later refuse it.
    @Test(arguments: KeyStoreCustody.allCases)
    func aDatabaseReplacedAfterOpeningIsRefusedByLaterConnections(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        try fixture.store.put([1], subject: "p", recordID: "r", recordType: "text/plain")
        let other = try StoreFixture(custody)
        try other.store.put([2], subject: "p", recordID: "r", recordType: "text/plain")
        let path = fixture.storeDirectory + "/" + EncryptedRecordStore.databaseFileName
        #expect(rename(path, path + ".moved") == 0)
        #expect(symlink(other.storeDirectory + "/" + EncryptedRecordStore.databaseFileName, path) == 0)
        // A new handle, as another process would open: refused.
        #expect(
            storeCode { try EncryptedRecordStore(directory: fixture.storeDirectory, keyStore: fixture.keyStore) }
                == .storage)
        // This handle's reader connections (opened on demand) refuse the swapped file.
        #expect(storeCode { try fixture.store.get(subject: "p", recordID: "r") } == .storage)
    }
}

/// Races decided by construction: a key store that lets something else happen, once, between a record being
/// sealed and its commit — through a second key store and record store on the same directories, as another
/// process would.
@Suite("EncryptedRecordStore races")
struct StoreRaceTests {
    @Test(arguments: KeyStoreCustody.allCases)
    func aShreddingBetweenSealingAndCommittingIsNeverLostNorCommittedUnderTheDestroyedKey(_ custody: KeyStoreCustody)
        throws
    {
        let fixture = try StoreFixture(custody)
        let (otherKeys, otherStore) = try fixture.reopen()
        try fixture.store.put(Array("before".utf8), subject: "p", recordID: "r-0", recordType: "text/plain")
        let keys = InterposedKeyStore(fixture.keyStore) { _ = try otherStore.shred(subject: "p") }
        let store = try EncryptedRecordStore(directory: fixture.storeDirectory, keyStore: keys)
        let written = try store.put(Array("racing".utf8), subject: "p", recordID: "r-1", recordType: "text/plain")
        // Committed after the shredding, so under the patient's new key, and it opens; the older record does not.
        #expect(written.key.version == 2)
        #expect(try otherStore.get(subject: "p", recordID: "r-1").payload == Array("racing".utf8))
        #expect(storeCode { try otherStore.get(subject: "p", recordID: "r-0") } == .shredded)
        _ = otherKeys
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func aRotationAndTheOldKEKsDestructionBetweenSealingAndCommittingLoseNothing(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        let (otherKeys, otherStore) = try fixture.reopen()
        try fixture.store.put(Array("before".utf8), subject: "p", recordID: "r-0", recordType: "text/plain")
        let keys = InterposedKeyStore(fixture.keyStore) {
            let report = try KeyRotationJob(store: otherStore).run(newKEKVersion: true)
            #expect(report.finished)
            _ = try otherKeys.destroy(KeyIdentifier(name: "records", version: 1))
        }
        let store = try EncryptedRecordStore(directory: fixture.storeDirectory, keyStore: keys)
        try store.put(Array("racing".utf8), subject: "p", recordID: "r-1", recordType: "text/plain")
        try store.put(Array("new patient".utf8), subject: "q", recordID: "r-1", recordType: "text/plain")
        let (_, reopened) = try fixture.reopen()
        #expect(try reopened.get(subject: "p", recordID: "r-0").payload == Array("before".utf8))
        #expect(try reopened.get(subject: "p", recordID: "r-1").payload == Array("racing".utf8))
        #expect(try reopened.get(subject: "q", recordID: "r-1").payload == Array("new patient".utf8))
    }

    /// Four threads over two store instances on the same directories: writes, reads, shreddings and a
    /// rotation. Afterwards every write that reported success is either readable with its bytes, or its key
    /// is destroyed and the record answers `shredded` — never unreadable otherwise.
    @Test(arguments: KeyStoreCustody.allCases)
    func writersShreddersAndARotationOverTwoInstancesLeaveNoRecordSilentlyUnreadable(_ custody: KeyStoreCustody)
        async throws
    {
        let fixture = try StoreFixture(custody)
        let (otherKeys, otherStore) = try fixture.reopen()
        let stores = [fixture.store, otherStore]
        let outcomes = try await withThrowingTaskGroup(of: [String: (bytes: [UInt8], key: KeyIdentifier)].self) {
            group in
            for writer in 0..<2 {
                group.addTask {
                    var last: [String: (bytes: [UInt8], key: KeyIdentifier)] = [:]
                    for step in 0..<60 {
                        let subject = "p-\(step % 3)"
                        let bytes = Array("writer \(writer) step \(step)".utf8)
                        let written = try stores[writer].put(
                            bytes, subject: subject, recordID: "r-\(writer)", recordType: "text/plain")
                        last["\(subject)/r-\(writer)"] = (bytes, written.key)
                        let code = storeCode { try stores[1 - writer].get(subject: subject, recordID: "r-\(writer)") }
                        #expect(code == nil || code == .shredded)
                    }
                    return last
                }
            }
            group.addTask {
                for step in 0..<20 {
                    let code = storeCode { try stores[step % 2].shred(subject: "p-\(step % 3)") }
                    #expect(code == nil || code == .notFound)
                }
                return [:]
            }
            group.addTask {
                let report = try KeyRotationJob(store: stores[1], batchSize: 1).run(newKEKVersion: true)
                #expect(report.finished)
                return [:]
            }
            var all: [String: (bytes: [UInt8], key: KeyIdentifier)] = [:]
            for try await part in group { all.merge(part) { _, new in new } }
            return all
        }
        #expect(outcomes.count == 6)
        for (address, outcome) in outcomes {
            let parts = address.split(separator: "/").map(String.init)
            do {
                #expect(
                    try await fixture.store.get(subject: parts[0], recordID: parts[1]).payload == outcome.bytes,
                    "\(address)")
            } catch let error as RecordStoreError {
                #expect(error.code == .shredded, "\(address): \(error)")
                // Shredded only because its key was destroyed by a shredding that came after the write.
                #expect(
                    envelopeCode { try otherKeys.keyEncryptionKey(for: outcome.key) } == .keyDestroyed, "\(address)")
            }
        }
    }
}

/// Forwards to a key store, running `between` once, just before the first commit of a sealed record.
final class InterposedKeyStore: KeyStore, @unchecked Sendable { // `pending` is only touched by the test's one thread
    let base: FileKeyStore
    let between: () throws -> Void
    var pending = true

    init(_ base: FileKeyStore, between: @escaping () throws -> Void) {
        self.base = base
        self.between = between
    }

    func whileSealingKeyIsCurrent<T>(_ key: KeyIdentifier, _ body: () throws -> T) throws -> T {
        if self.pending {
            self.pending = false
            try self.between()
        }
        return try self.base.whileSealingKeyIsCurrent(key, body)
    }

    func keyEncryptionKey(for identifier: KeyIdentifier) throws -> SecureBytes {
        try self.base.keyEncryptionKey(for: identifier)
    }
    func list() throws -> [ManagedKey] { try self.base.list() }
    func sealingKey(named name: String) throws -> SealingKey { try self.base.sealingKey(named: name) }
    func sealingKEKIdentifier(named name: String) throws -> KeyIdentifier {
        try self.base.sealingKEKIdentifier(named: name)
    }
    func rotate(named name: String) throws -> ManagedKey { try self.base.rotate(named: name) }
    func generate(named name: String) throws -> ManagedKey { try self.base.generate(named: name) }
    func activate(_ key: KeyIdentifier) throws -> ManagedKey { try self.base.activate(key) }
    func retire(_ key: KeyIdentifier) throws -> ManagedKey { try self.base.retire(key) }
    func markCompromised(_ key: KeyIdentifier) throws -> ManagedKey { try self.base.markCompromised(key) }
    func destroy(_ key: KeyIdentifier) throws -> DestructionReceipt { try self.base.destroy(key) }
    func setMinimumOpeningVersion(_ version: UInt32, named name: String) throws {
        try self.base.setMinimumOpeningVersion(version, named: name)
    }
    func subjectSealingKey(subject: String) throws -> SealingKey { try self.base.subjectSealingKey(subject: subject) }
    func shred(subject: String) throws -> DestructionReceipt { try self.base.shred(subject: subject) }
    func shredReceipt(subject: String) throws -> DestructionReceipt? { try self.base.shredReceipt(subject: subject) }
    func rekeySubjectKeys(named subjectKeyNames: [String], notBefore: Date) -> [String: Result<
        SubjectRekey?, EnvelopeError
    >] {
        self.base.rekeySubjectKeys(named: subjectKeyNames, notBefore: notBefore)
    }
    func destroySubjectKeyVersions(_ versions: [String: [UInt32]]) -> [String: Result<
        [DestructionReceipt], EnvelopeError
    >] {
        self.base.destroySubjectKeyVersions(versions)
    }
    func rewrapSubjectKeys(named name: String) throws -> SubjectRewrapReport {
        try self.base.rewrapSubjectKeys(named: name)
    }
    func subjectKeyNames() throws -> [String] { try self.base.subjectKeyNames() }
    func recipientPublicKey(createIfAbsent: Bool) throws -> RecipientPublicKey {
        try self.base.recipientPublicKey(createIfAbsent: createIfAbsent)
    }
    func rotateRecipientKey() throws -> RecipientPublicKey { try self.base.rotateRecipientKey() }
    func destroyRecipientKey(version: UInt32) throws -> DestructionReceipt {
        try self.base.destroyRecipientKey(version: version)
    }
    func recipientKeyVersions() throws -> [RecipientKeyStatus] { try self.base.recipientKeyVersions() }
    func recipientPrivateKey(for identifier: KeyIdentifier) throws -> X25519.PrivateKey {
        try self.base.recipientPrivateKey(for: identifier)
    }
    func rewrapSubjectKey(named subjectKeyName: String, toActiveVersionOf kekName: String) throws -> Int {
        try self.base.rewrapSubjectKey(named: subjectKeyName, toActiveVersionOf: kekName)
    }
    func subjectIndex(of subject: String) throws -> String { try self.base.subjectIndex(of: subject) }
    func blindIndex(domain: String, _ components: [String]) throws -> [UInt8] {
        try self.base.blindIndex(domain: domain, components)
    }
}
