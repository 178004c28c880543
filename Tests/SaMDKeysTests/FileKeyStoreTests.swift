import Foundation
import Logging
import SaMDCrypto
import SaMDEnvelope
import SaMDKeysTestSupport
import SaMDTestSupport
import Synchronization
import Testing

@testable import SaMDKeys

#if canImport(Glibc)
    import Glibc
#endif

/// A clock tests can move.
final class TestClock: Sendable {
    let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    func now() -> Date { self.current.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { self.current.withLock { $0 += seconds } }
}

/// Captures log records, to check security events.
final class CapturedLog: Sendable {
    let records = Mutex<[(Logger.Level, String, Logger.Metadata)]>([])

    var logger: Logger {
        Logger(label: "test") { _ in Handler(log: self) }
    }

    func events() -> [String] {
        self.records.withLock { $0.compactMap { $0.2["event"].map { "\($0)" } } }
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }
        func log(
            level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
            function: String, line: UInt
        ) {
            self.log.records.withLock { $0.append((level, "\(message)", metadata ?? [:])) }
        }
    }
}

/// A key-store directory, the custody its KEKs are in (a passphrase unless a custody is given), a clock and a log.
struct StoreFixture {
    static let fastKDF = KeyStoreCustody.fastKDF
    let directory: String
    let passphrase: SecureBytes
    let custodian: KeyStoreCustodian
    let clock = TestClock()
    let log = CapturedLog()

    var custody: KeyStoreCustody { self.custodian.kind }

    /// A passphrase store's fixture.
    init() throws {
        try self.init(custodian: try KeyStoreCustodian.passphraseCustodian())
    }

    /// A fixture whose store keeps its KEKs in `custody` (a token: a new SoftHSM2 token, removed by ``remove()``).
    init(_ custody: KeyStoreCustody) throws {
        try self.init(custodian: try custody.makeCustodian())
    }

    private init(custodian: KeyStoreCustodian) throws {
        self.custodian = custodian
        self.directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("samd-keys-\(UUID().uuidString)").path
        self.passphrase = try KeyStoreCustodian.passphraseBytes()
    }

    func create(
        cryptoperiod: Duration = FileKeyStore.defaultCryptoperiod,
        lockTimeout: Duration = FileKeyStore.defaultLockTimeout,
        subjectKeyCache: SubjectKeyCache.Policy = .default
    ) throws -> FileKeyStore {
        let clock = self.clock
        return try self.custodian.create(
            at: self.directory, cryptoperiod: cryptoperiod, lockTimeout: lockTimeout, now: { clock.now() },
            logger: self.log.logger, subjectKeyCache: subjectKeyCache)
    }

    /// The store opened again, as another process would: its custody made again from the record it keeps.
    func open() throws -> FileKeyStore {
        let clock = self.clock
        return try self.custodian.open(self.directory, now: { clock.now() }, logger: self.log.logger)
    }

    /// See ``KeyStoreCustody/recordSealingKey(_:named:subject:)``.
    func recordKey(_ store: FileKeyStore, subject: String = "MRN-record") throws -> SealingKey {
        try self.custody.recordSealingKey(store, subject: subject)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: self.directory)
        self.custodian.remove()
    }
}

func mode(_ path: String) -> mode_t {
    var info = stat()
    _ = stat(path, &info)
    return info.st_mode & 0o777
}

@Suite("FileKeyStore")
struct FileKeyStoreTests {
    static let record = Array("{\"resourceType\":\"Observation\",\"status\":\"final\"}".utf8)
    static let context = try! EncryptionContext([("patient", "p-1"), ("record", "r-1")])

    @Test(arguments: KeyStoreCustody.allCases)
    func createsAPrivateStoreAndReopensWithItsCustodyOnly(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        let store = try fixture.create()
        #expect(mode(fixture.directory) == 0o700)
        #expect(mode(fixture.directory + "/keystore.json") == 0o600)
        #expect(try store.list().map(\.identifier.description) == ["records:1"])
        #expect(envelopeCode { try fixture.create() } == .keyStore)
        if custody == .passphrase {
            #expect(
                envelopeCode {
                    try FileKeyStore.create(
                        at: fixture.directory, passphrase: fixture.passphrase, kdf: StoreFixture.fastKDF)
                } == .keyStore)
        }

        let sealed = try Envelope.seal(Self.record, context: Self.context, to: fixture.recordKey(store))
        let reopened = try fixture.open()
        #expect(try Envelope.open(sealed, context: Self.context, keys: reopened) == Self.record)
        let text = try String(contentsOfFile: fixture.directory + "/keystore.json", encoding: .utf8)
        switch custody {
        case .passphrase:
            let wrong = try SecureBytes(copying: Array("wrong".utf8))
            #expect(envelopeCode { try FileKeyStore(opening: fixture.directory, passphrase: wrong) } == .keyStore)
            // No key material or passphrase appears in the file.
            #expect(!text.contains("correct horse"))
        case .token:
            // The file names the token, never the PIN (a wrong PIN is PKCS11CustodyTests': in one process, only
            // the first login of a token can fail).
            #expect(text.contains("pkcs11:") && !text.contains(SoftHSMToken.testPIN))
        }
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func aStoreReadableByOthersIsRefused(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        _ = try fixture.create()
        chmod(fixture.directory + "/keystore.json", 0o644)
        #expect(envelopeCode { try fixture.open() } == .keyStore)
        chmod(fixture.directory + "/keystore.json", 0o600)
        chmod(fixture.directory, 0o755)
        #expect(envelopeCode { try fixture.open() } == .keyStore)
        chmod(fixture.directory, 0o700)
        _ = try fixture.open()
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func aCorruptedTruncatedOrModifiedStoreIsRefusedAndNothingIsLost(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        let store = try fixture.create()
        let sealed = try Envelope.seal(Self.record, context: Self.context, to: fixture.recordKey(store))
        let path = fixture.directory + "/keystore.json"
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        func attempt(_ damaged: Data) {
            try? damaged.write(to: URL(fileURLWithPath: path))
            chmod(path, 0o600)
            #expect(envelopeCode { try fixture.open() } == .keyStore)
        }
        attempt(original.prefix(original.count / 2)) // truncated
        attempt(Data()) // empty
        attempt(Data("not json".utf8))
        var text = String(decoding: original, as: UTF8.self)
        // Flip a character of the base64 state: the MAC catches it.
        let range = try #require(text.range(of: "\"state\" : \""))
        let at = text.index(range.upperBound, offsetBy: 10)
        text.replaceSubrange(at...at, with: text[at] == "A" ? "B" : "A")
        attempt(Data(text.utf8))
        // A hostile KDF cost is refused before any memory is committed (a token store has no KDF).
        if custody == .passphrase {
            attempt(
                Data(
                    String(decoding: original, as: UTF8.self).replacingOccurrences(
                        of: "\"memory\" : 65536", with: "\"memory\" : 1099511627776"
                    ).utf8))
        }
        // Restore: everything still opens.
        try original.write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        #expect(try Envelope.open(sealed, context: Self.context, keys: fixture.open()) == Self.record)
    }

    /// Seal, rotate, rewrap, destroy the old version: everything opens, payload bytes unchanged.
    /// Passphrase custody only: the records are sealed directly under KEK versions, which a token never gives out
    /// (the token's rotation, rewrap and destruction: `subjectKeysCryptoShredOnePatientAndSurviveKEKRotation`).
    @Test func rotationRewrapAndDestructionOfTheOldVersion() throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.create()
        let records = (0..<5).map { index in (0..<(index * 9000 + 1)).map { UInt8(truncatingIfNeeded: $0 &+ index) } }
        let sealed = try records.map {
            try Envelope.seal($0, context: Self.context, to: store.sealingKey(named: "records"))
        }
        let rotated = try store.rotate(named: "records")
        #expect(rotated.identifier.description == "records:2" && rotated.state == .active)
        #expect(
            try store.list().map { "\($0.identifier) \($0.state)" } == ["records:1 deactivated", "records:2 active"])
        #expect(try store.sealingKey(named: "records").identifier.description == "records:2")

        let rewrapped = try sealed.map { try Envelope.rewrap($0, keys: store, to: store.sealingKey(named: "records")) }
        for (before, after) in zip(sealed, rewrapped) {
            let oldHeader = try EnvelopeHeader.parse(before).byteCount
            let newHeader = try EnvelopeHeader.parse(after).byteCount
            #expect(Array(before[oldHeader...]) == Array(after[newHeader...]))
            #expect(try EnvelopeHeader.parse(after).key.description == "records:2")
        }
        #expect(envelopeCode { try store.destroy(try KeyIdentifier(parsing: "records:2")) } == .keyNotUsable) // active
        let receipt = try store.destroy(try KeyIdentifier(parsing: "records:1"))
        #expect(receipt.key.description == "records:1" && receipt.destroyedAt == fixture.clock.now())
        let reopened = try fixture.open()
        for (record, envelope) in zip(records, rewrapped) {
            #expect(try Envelope.open(envelope, context: Self.context, keys: reopened) == record)
        }
        // What was not rewrapped is gone with the old version, and says so.
        #expect(envelopeCode { try Envelope.open(sealed[0], context: Self.context, keys: reopened) } == .keyDestroyed)
        #expect(
            fixture.log.events().contains("samd.keys.rotated") && fixture.log.events().contains("samd.keys.destroyed"))
        #expect(try StoreFile.list(fixture.directory + "/receipts").count == 1)
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func statesCryptoperiodsAndMinimumVersions(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        let store = try fixture.create(cryptoperiod: .seconds(30 * 24 * 3600))
        let v1 = try KeyIdentifier(parsing: "records:1")
        let sealed = try Envelope.seal(Self.record, context: Self.context, to: fixture.recordKey(store))

        // The cryptoperiod ends: sealing is refused (under the KEK and under subject keys), opening goes on.
        fixture.clock.advance(30 * 24 * 3600 + 1)
        #expect(envelopeCode { try store.sealingKey(named: "records") } == .keyNotUsable)
        #expect(envelopeCode { try store.subjectSealingKey(subject: "MRN-record") } == .keyNotUsable)
        #expect(envelopeCode { try store.sealingKEKIdentifier(named: "records") } == .keyNotUsable)
        #expect(try Envelope.open(sealed, context: Self.context, keys: store) == Self.record)

        // Pre-activation keys neither seal nor open until activated.
        let v2 = try store.generate(named: "records").identifier
        #expect(envelopeCode { try store.keyEncryptionKey(for: v2) } == .keyNotUsable)
        #expect(try store.activate(v2).state == .active)
        #expect(try store.list().first { $0.identifier == v1 }?.state == .deactivated)
        #expect(try store.sealingKEKIdentifier(named: "records") == v2)
        if custody.exportsKEKs { #expect(try store.sealingKey(named: "records").identifier == v2) }

        // A minimum version for opening refuses older versions.
        try store.setMinimumOpeningVersion(2, named: "records")
        #expect(envelopeCode { try Envelope.open(sealed, context: Self.context, keys: store) } == .keyNotUsable)
        try store.setMinimumOpeningVersion(1, named: "records")

        // Compromised: never seals again; opens so data can be moved away.
        _ = try store.markCompromised(v2)
        #expect(envelopeCode { try store.sealingKey(named: "records") } == .keyNotUsable)
        #expect(envelopeCode { try store.subjectSealingKey(subject: "MRN-record") } == .keyNotUsable)
        #expect(envelopeCode { try store.sealingKEKIdentifier(named: "records") } == .keyNotUsable)
        #expect(fixture.log.events().contains("samd.keys.compromised"))
        // Retiring and unknown keys.
        #expect(envelopeCode { try store.retire(try KeyIdentifier(parsing: "records:9")) } == .keyNotFound)
        #expect(envelopeCode { try store.sealingKey(named: "nothing") } == .keyNotFound)
        #expect(envelopeCode { try store.sealingKEKIdentifier(named: "nothing") } == .keyNotFound)
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func subjectKeysCryptoShredOnePatientAndSurviveKEKRotation(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        let store = try fixture.create()
        let alice = try (0..<3).map { _ in
            try Envelope.seal(Self.record, context: Self.context, to: store.subjectSealingKey(subject: "MRN-0001"))
        }
        let bob = try Envelope.seal(
            Self.record, context: Self.context, to: store.subjectSealingKey(subject: "MRN-0002"))
        let aliceKey = try EnvelopeHeader.parse(alice[0]).key
        #expect(aliceKey.name.hasPrefix("s-") && aliceKey.name.count == 34)
        #expect(try alice.allSatisfy { try EnvelopeHeader.parse($0).key == aliceKey })
        // The subject id is stored nowhere.
        for file in try StoreFile.list(fixture.directory + "/subjects") {
            let text = try String(contentsOfFile: fixture.directory + "/subjects/" + file, encoding: .utf8)
            #expect(!text.contains("MRN-000"))
        }

        // Rotating the KEK rewraps subject keys, not records; the old KEK can then be destroyed.
        _ = try store.rotate(named: "records")
        // The old version still wraps both subject keys: destroying it now is refused.
        #expect(envelopeCode { try store.destroy(try KeyIdentifier(parsing: "records:1")) } == .keyNotUsable)
        let report = try store.rewrapSubjectKeys(named: "records")
        #expect(report.rewrapped == 2 && report.failed.isEmpty)
        _ = try store.destroy(try KeyIdentifier(parsing: "records:1"))
        for envelope in alice + [bob] {
            #expect(try Envelope.open(envelope, context: Self.context, keys: fixture.open()) == Self.record)
        }

        // Shredding one patient: every one of her records fails with "key destroyed"; others are untouched.
        let receipt = try store.shred(subject: "MRN-0001")
        #expect(receipt.key == aliceKey && receipt.subjectIndex.map { "s-" + $0 } == aliceKey.name)
        for envelope in alice {
            #expect(envelopeCode { try Envelope.open(envelope, context: Self.context, keys: store) } == .keyDestroyed)
        }
        #expect(try Envelope.open(bob, context: Self.context, keys: store) == Self.record)
        #expect(fixture.log.events().contains("samd.keys.subject-shredded"))
        #expect(envelopeCode { try store.shred(subject: "MRN-0001") } == .keyNotFound)
        // New records for the same subject get a new key version.
        let again = try store.subjectSealingKey(subject: "MRN-0001").identifier
        #expect(again.name == aliceKey.name && again.version == 2)
    }

    /// Two writers at once (separate store objects, separate lock descriptors) never lose an update.
    @Test(arguments: KeyStoreCustody.allCases)
    func concurrentRotationsAreSerialised(_ custody: KeyStoreCustody) async throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        _ = try fixture.create()
        let first = try fixture.open()
        let second = try fixture.open()
        await withTaskGroup(of: Void.self) { group in
            for store in [first, second] {
                group.addTask {
                    for _ in 0..<8 { _ = try? store.rotate(named: "records") }
                }
            }
        }
        let versions = try fixture.open().list().map(\.identifier.version)
        #expect(versions == Array(1...17))
        #expect(try fixture.open().list().filter { $0.state == .active }.count == 1)
    }

    /// A change made through one store object (or process) is seen by the next operation of another:
    /// no stale cache seals with a retired version or opens with a destroyed one.
    @Test(arguments: KeyStoreCustody.allCases)
    func changesByAnotherWriterAreSeenAtOnce(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        let writer = try fixture.create()
        let reader = try fixture.open()
        let sealed = try Envelope.seal(Self.record, context: Self.context, to: fixture.recordKey(reader))
        _ = try writer.rotate(named: "records")
        #expect(try reader.sealingKEKIdentifier(named: "records").version == 2)
        if custody.exportsKEKs {
            #expect(try reader.sealingKey(named: "records").identifier.version == 2)
            _ = try writer.destroy(try KeyIdentifier(parsing: "records:1"))
        } else {
            // A token store seals with subject keys: the key the other writer destroys is the subject's (shred).
            #expect(try writer.rewrapSubjectKeys(named: "records").rewrapped == 1)
            #expect(try reader.subjectSealingKey(subject: "MRN-record").identifier == EnvelopeHeader.parse(sealed).key)
            _ = try writer.destroy(try KeyIdentifier(parsing: "records:1"))
            _ = try writer.shred(subject: "MRN-record")
        }
        #expect(envelopeCode { try Envelope.open(sealed, context: Self.context, keys: reader) } == .keyDestroyed)
    }

    /// Found by a newcomer trial: each of these crashed, hung, lost data or misreported.
    @Test(arguments: KeyStoreCustody.allCases)
    func damagedSubjectFilesLinksAndFIFOsAreRefusedNotFollowed(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        let store = try fixture.create()
        let good = try Envelope.seal(Self.record, context: Self.context, to: store.subjectSealingKey(subject: "MRN-1"))
        let bad = try Envelope.seal(Self.record, context: Self.context, to: store.subjectSealingKey(subject: "MRN-2"))
        let badName = try EnvelopeHeader.parse(bad).key.name
        let badPath = fixture.directory + "/subjects/" + badName + ".json"

        // A subject key that names a subject key (here itself) as its wrapping key: an error, not a loop.
        let original = try String(contentsOfFile: badPath, encoding: .utf8)
        let looping = original.replacingOccurrences(of: "\"name\" : \"records\"", with: "\"name\" : \"\(badName)\"")
        #expect(looping != original)
        try looping.write(toFile: badPath, atomically: false, encoding: .utf8)
        #expect(envelopeCode { try Envelope.open(bad, context: Self.context, keys: store) } == .keyStore)

        // A damaged wrapped key: rotation goes on past it and reports it.
        let wrappedField = try #require(original.range(of: "\"wrapped\" : \""))
        var damaged = original
        // Change one base64 digit: a letter or digit, never the "\" of a JSON-escaped "\/" (changing that
        // one made invalid base64 when the random key had a "/" there — a keyStore error, about 1 run in 30).
        var at = damaged.index(wrappedField.upperBound, offsetBy: 20)
        while !(damaged[at].isASCII && (damaged[at].isLetter || damaged[at].isNumber)) {
            at = damaged.index(after: at)
        }
        damaged.replaceSubrange(at...at, with: damaged[at] == "A" ? "B" : "A")
        try damaged.write(toFile: badPath, atomically: false, encoding: .utf8)
        var damagedError: (any Error)?
        do { _ = try Envelope.open(bad, context: Self.context, keys: store) } catch { damagedError = error }
        let damagedCode = (damagedError as? EnvelopeError)?.code
        // Key material that does not authenticate is the key store's failure, like the other damage above.
        #expect(damagedCode == .keyStore, "\(String(describing: damagedError))")
        _ = try store.rotate(named: "records")
        let report = try store.rewrapSubjectKeys(named: "records")
        #expect(report.rewrapped == 1 && report.failed.count == 1)
        #expect(report.failed.first?.key.hasPrefix(badName) == true)
        #expect(fixture.log.events().contains("samd.keys.subject-rewrap-failed"))
        #expect(try Envelope.open(good, context: Self.context, keys: store) == Self.record)

        // A FIFO or a symbolic link where a store file belongs is refused at once.
        try FileManager.default.removeItem(atPath: badPath)
        #expect(mkfifo(badPath, 0o600) == 0)
        #expect(envelopeCode { try Envelope.open(bad, context: Self.context, keys: store) } == .keyStore)
        try FileManager.default.removeItem(atPath: badPath)
        try FileManager.default.createSymbolicLink(
            atPath: badPath, withDestinationPath: fixture.directory + "/keystore.json")
        #expect(envelopeCode { try Envelope.open(bad, context: Self.context, keys: store) } == .keyStore)
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func receiptsSurviveAMissingFolder(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        let store = try fixture.create()
        _ = try store.subjectSealingKey(subject: "MRN-3")
        try FileManager.default.removeItem(atPath: fixture.directory + "/receipts")
        let receipt = try store.shred(subject: "MRN-3")
        #expect(receipt.subjectIndex != nil)
        #expect(try StoreFile.list(fixture.directory + "/receipts").count == 1)
    }

    @Test func passphraseFilesAreExact() throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        try FileManager.default.createDirectory(
            atPath: fixture.directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let file = fixture.directory + "/passphrase"
        for (content, expected) in [
            ("abc\n", "abc"), ("abc\r\n", "abc"), ("abc\r", "abc\r"), ("abc", "abc"), ("abc\n\n", "abc\n"),
        ] {
            try content.write(toFile: file, atomically: false, encoding: .utf8)
            chmod(file, 0o600)
            #expect(
                try Passphrase.fromFile(file).constantTimeEquals(Array(expected.utf8)), "\(content.debugDescription)")
        }
        #expect(envelopeCode { try Passphrase.fromFile(fixture.directory + "/missing") } == .keyStore)
    }

    /// Found by a second review: a record must not be persisted under a key that rotation, destruction or
    /// shredding already passed over; destroy must not guess about subject files it cannot read.
    @Test(arguments: KeyStoreCustody.allCases)
    func persistenceWaitsForACurrentKeyAndDestroyNeverGuesses(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        let store = try fixture.create()
        let v1 = try store.sealingKEKIdentifier(named: FileKeyStore.defaultKeyName)
        if custody.exportsKEKs { #expect(try store.sealingKey(named: "records").identifier == v1) }
        var persisted = 0
        try store.whileSealingKeyIsCurrent(v1) { persisted += 1 }
        _ = try store.rotate(named: "records")
        #expect(envelopeCode { try store.whileSealingKeyIsCurrent(v1) { persisted += 1 } } == .keyNotUsable)
        #expect(persisted == 1)
        try store.whileSealingKeyIsCurrent(try store.sealingKEKIdentifier(named: FileKeyStore.defaultKeyName)) {
            persisted += 1
        }
        #expect(persisted == 2)

        let subject = try store.subjectSealingKey(subject: "MRN-7").identifier
        try store.whileSealingKeyIsCurrent(subject) {}
        _ = try store.shred(subject: "MRN-7")
        #expect(envelopeCode { try store.whileSealingKeyIsCurrent(subject) {} } == .keyNotUsable)

        // A subject file destroy cannot read might depend on the version: refuse.
        let other = try store.subjectSealingKey(subject: "MRN-8").identifier
        _ = try store.rotate(named: "records")
        let path = fixture.directory + "/subjects/" + other.name + ".json"
        chmod(path, 0o640)
        #expect(envelopeCode { try store.destroy(try KeyIdentifier(parsing: "records:2")) } == .keyStore)
        chmod(path, 0o600)
        #expect(try store.rewrapSubjectKeys(named: "records").failed.isEmpty)
        _ = try store.destroy(try KeyIdentifier(parsing: "records:2"))

        // KEK names may not take the subject-key prefix.
        #expect(envelopeCode { try store.rotate(named: "s-abc") } == .malformed)
    }

    /// Found by a third review.
    @Test(arguments: KeyStoreCustody.allCases)
    func subjectKeysFollowTheKEKAndSubjectIDsAreNormalised(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        let store = try fixture.create(cryptoperiod: .seconds(10 * 24 * 3600))

        // One patient id typed decomposed (NFD) or composed (NFC) is one subject: shredding either kills both.
        let decomposed = try store.subjectSealingKey(subject: "Jose\u{301}")
        let sealed = try Envelope.seal(Self.record, context: Self.context, to: decomposed)
        #expect(try store.subjectSealingKey(subject: "Jos\u{E9}").identifier == decomposed.identifier)
        _ = try store.shred(subject: "Jos\u{E9}")
        #expect(envelopeCode { try Envelope.open(sealed, context: Self.context, keys: store) } == .keyDestroyed)

        // After a rotation, an existing subject key is rewrapped under the new version before it seals again.
        let subject = try store.subjectSealingKey(subject: "MRN-1").identifier
        _ = try store.rotate(named: "records")
        #expect(try store.subjectSealingKey(subject: "MRN-1").identifier == subject)
        #expect(try store.rewrapSubjectKeys(named: "records").rewrapped == 0) // already done on the fly
        try store.whileSealingKeyIsCurrent(subject) {}

        // Subject keys do not seal while the KEK cannot: retired, compromised, expired, below the minimum.
        let v2 = try KeyIdentifier(parsing: "records:2")
        try store.setMinimumOpeningVersion(3, named: "records")
        #expect(envelopeCode { try store.subjectSealingKey(subject: "MRN-1") } == .keyNotUsable)
        #expect(envelopeCode { try store.sealingKey(named: "records") } == .keyNotUsable)
        try store.setMinimumOpeningVersion(1, named: "records")
        fixture.clock.advance(11 * 24 * 3600)
        #expect(envelopeCode { try store.subjectSealingKey(subject: "MRN-1") } == .keyNotUsable)
        #expect(envelopeCode { try store.whileSealingKeyIsCurrent(subject) {} } == .keyNotUsable)
        _ = try store.rotate(named: "records")
        _ = try store.subjectSealingKey(subject: "MRN-1")
        _ = try store.markCompromised(try KeyIdentifier(parsing: "records:3"))
        #expect(envelopeCode { try store.subjectSealingKey(subject: "MRN-1") } == .keyNotUsable)
        _ = v2
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func subFoldersAndTheLockFileMustBePrivate(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        _ = try fixture.create()
        chmod(fixture.directory + "/subjects", 0o777)
        #expect(envelopeCode { try fixture.open() } == .keyStore)
        chmod(fixture.directory + "/subjects", 0o700)
        let store = try fixture.open()
        chmod(fixture.directory + "/lock", 0o666)
        #expect(envelopeCode { try store.rotate(named: "records") } == .keyStore)
        chmod(fixture.directory + "/lock", 0o600)
        _ = try store.rotate(named: "records")
    }

    /// A writer killed between writing its temporary file and renaming it leaves key material behind; the
    /// next write of that file (under the lock) removes it, so shredding or destroying erases it too.
    @Test(arguments: KeyStoreCustody.allCases)
    func leftoversOfWritersKilledMidWriteAreRemovedByTheNextWriteOfThatFile(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        let store = try fixture.create()
        guard case .keyEncryptionKey(let subjectKey, _) = try store.subjectSealingKey(subject: "MRN-7") else {
            Issue.record("not a symmetric subject key")
            return
        }
        let subjectFile = fixture.directory + "/subjects/\(subjectKey.name).json"
        let stateFile = fixture.directory + "/keystore.json"
        for leftover in [subjectFile + ".tmp-99999-1", stateFile + ".tmp-99999-2"] {
            try FileManager.default.copyItem(atPath: leftover.components(separatedBy: ".tmp-")[0], toPath: leftover)
        }
        let names = try store.subjectKeyNames()
        #expect(names == [subjectKey.name], "a leftover is not a subject key")
        _ = try store.shred(subject: "MRN-7")
        #expect(!FileManager.default.fileExists(atPath: subjectFile + ".tmp-99999-1"))
        _ = try store.rotate(named: "records")
        #expect(!FileManager.default.fileExists(atPath: stateFile + ".tmp-99999-2"))
    }

    /// A subject file is written through the fixed temporary `<file>.tmp`, under the subject's lock (finding
    /// leftovers by listing a directory of every subject made each write cost more as the store grew): one
    /// left by a killed writer neither blocks the next write of that subject (exclusive create) nor survives it.
    @Test(arguments: KeyStoreCustody.allCases)
    func aKilledWritersTemporaryIsReplacedByTheNextWriteOfThatSubject(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        let store = try fixture.create()
        guard case .keyEncryptionKey(let subjectKey, _) = try store.subjectSealingKey(subject: "MRN-8") else {
            Issue.record("not a symmetric subject key")
            return
        }
        let subjectFile = fixture.directory + "/subjects/\(subjectKey.name).json"
        try FileManager.default.copyItem(atPath: subjectFile, toPath: subjectFile + ".tmp")
        // A re-key that began after the first version was made writes a new version.
        fixture.clock.advance(60)
        let rekey = try #require(try store.rekeySubjectKey(named: subjectKey.name, notBefore: fixture.clock.now()))
        #expect(rekey.newKey.identifier.version == subjectKey.version + 1)
        #expect(!FileManager.default.fileExists(atPath: subjectFile + ".tmp"))
        #expect(try store.subjectKeyNames() == [subjectKey.name])
    }

    /// A README copied literally once made a store with the three-byte passphrase "…".
    @Test func aNewStoreRefusesAShortPassphraseAndAnExistingOneStillOpens() throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let short = try SecureBytes(copying: Array("\u{2026}".utf8))
        #expect(
            envelopeCode {
                try FileKeyStore.create(at: fixture.directory, passphrase: short, kdf: StoreFixture.fastKDF)
            } == .keyStore)
        #expect(!FileManager.default.fileExists(atPath: fixture.directory + "/keystore.json"))
        let eleven = try SecureBytes(copying: Array("12345678901".utf8))
        #expect(
            envelopeCode {
                try FileKeyStore.create(at: fixture.directory, passphrase: eleven, kdf: StoreFixture.fastKDF)
            } == .keyStore)
        _ = try fixture.create()
        _ = try fixture.open()
    }
}
