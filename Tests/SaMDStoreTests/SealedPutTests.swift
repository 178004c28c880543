import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys
import SaMDKeysTestSupport
import SaMDStore
import SaMDTestSupport
import Testing

/// `put(sealedEnvelope:)` on SQLite: an envelope a device sealed to the key store's recipient key is checked under
/// the record's context, its header rewrapped to the subject key, its payload stored as sealed — or refused with
/// nothing stored.
@Suite("Sealed puts (SQLite)")
struct SealedPutTests {
    static let type = "application/fhir+json"

    /// What a device does: seal `plaintext` to `recipient` under the context the store binds for the address.
    static func seal(
        _ plaintext: [UInt8], to recipient: RecipientPublicKey, subject: String = "patient-1",
        record: String = "r-1", type: String = Self.type
    ) throws -> [UInt8] {
        let context = try EncryptionContext([("subject", subject), ("record", record), ("type", type)])
        return try Envelope.seal(plaintext, context: context, to: recipient.sealingKey)
    }

    static func put(
        _ store: EncryptedRecordStore, _ envelope: [UInt8], subject: String = "patient-1", record: String = "r-1",
        type: String = Self.type
    ) async throws -> SealedRecordWriteResult {
        try await store.put(
            sealedEnvelope: StreamingPutTests.body(envelope, pieces: [7, 40_000, 1 << 20, 3]), subject: subject,
            recordID: record, recordType: type, expectedRevision: nil)
    }

    static func code(_ body: () async throws -> some Any) async -> RecordStoreError.Code? {
        do {
            _ = try await body()
            return nil
        } catch let error as RecordStoreError {
            return error.code
        } catch {
            Issue.record("not a RecordStoreError: \(error)")
            return nil
        }
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func aSealedUploadReadsBackByteForByteAndARedeliveryWritesNothing(custody: KeyStoreCustody) async throws {
        let fixture = try StoreFixture(custody)
        let recipient = try fixture.keyStore.recipientPublicKey(createIfAbsent: true)
        #expect(recipient.keyIdentifier.description == "recipient:1")
        for size in [0, 600, 16_384, 70_001] {
            let plaintext = try SecureRandom.bytes(count: size)
            let envelope = try Self.seal(plaintext, to: recipient, record: "r-\(size)")
            let first = try await Self.put(fixture.store, envelope, record: "r-\(size)")
            #expect(first.write.revision == 1)
            #expect(!first.alreadyStored)
            #expect(first.write.key.name.hasPrefix("s-"))
            let read = try await fixture.store.get(subject: "patient-1", recordID: "r-\(size)")
            #expect(read.payload == plaintext)
            #expect(read.recordType == Self.type)
            // A redelivery: the same envelope again — nothing written, the revision unchanged.
            let again = try await Self.put(fixture.store, envelope, record: "r-\(size)")
            #expect(again.alreadyStored)
            #expect(again.write.revision == 1)
            #expect(try await fixture.store.get(subject: "patient-1", recordID: "r-\(size)").revision == 1)
            // Another envelope of the same plaintext is a new upload: it replaces the record.
            let resealed = try Self.seal(plaintext, to: recipient, record: "r-\(size)")
            let replaced = try await Self.put(fixture.store, resealed, record: "r-\(size)")
            #expect(!replaced.alreadyStored)
            #expect(replaced.write.revision == 2)
        }
        #expect(try await fixture.store.statistics().recordCount == 4)
    }

    @Test func theStoredPayloadIsTheDevicesBytesAndTheDatabaseHoldsNoPlaintext() async throws {
        let fixture = try StoreFixture()
        let recipient = try fixture.keyStore.recipientPublicKey(createIfAbsent: true)
        let plaintext = Array(#"{"resourceType":"Observation","status":"final","valueQuantity":{"value":72}}"#.utf8)
        let envelope = try Self.seal(plaintext, to: recipient)
        let header = try EnvelopeHeader.parse(envelope)
        #expect(header.wrapMode == .recipient)
        _ = try await Self.put(fixture.store, envelope)
        let files = try fixture.storeFileBytes()
        #expect(
            files.contains(Array(envelope[header.byteCount...])), "the device's payload bytes are not stored as sealed")
        #expect(!files.contains(plaintext), "plaintext in the database")
        #expect(!files.contains(Array("resourceType".utf8)))
        #expect(try await fixture.store.get(subject: "patient-1", recordID: "r-1").payload == plaintext)
    }

    @Test func everyRefusalStoresNothing() async throws {
        let fixture = try StoreFixture(configuration: .init(maximumRecordByteCount: 100_000))
        let recipient = try fixture.keyStore.recipientPublicKey(createIfAbsent: true)
        let plaintext = try SecureRandom.bytes(count: 40_000)
        let envelope = try Self.seal(plaintext, to: recipient)
        let headerCount = try EnvelopeHeader.parse(envelope).byteCount
        func flipped(_ index: Int) -> [UInt8] {
            var copy = envelope
            copy[index] ^= 0x01
            return copy
        }
        let kekMode = try Envelope.seal(
            plaintext,
            context: try EncryptionContext([("subject", "patient-1"), ("record", "r-1"), ("type", Self.type)]),
            to: .keyEncryptionKey(try KeyIdentifier(name: "records", version: 1), try SecureBytes(randomByteCount: 32)))
        let stranger = RecipientPublicKey(
            keyIdentifier: try KeyIdentifier(name: "recipient", version: 9),
            publicKey: try X25519.PrivateKey().publicKey)
        let otherName = RecipientPublicKey(
            keyIdentifier: try KeyIdentifier(name: "records", version: 1), publicKey: recipient.publicKey)
        let cases: [(String, [UInt8], String, String, String, RecordStoreError.Code)] = [
            ("a chunk's byte", flipped(headerCount + 56 + 100), "patient-1", "r-1", Self.type, .envelopeNotAuthentic),
            ("the last tag", flipped(envelope.count - 1), "patient-1", "r-1", Self.type, .envelopeNotAuthentic),
            ("the wrapped DEK", flipped(headerCount - 1), "patient-1", "r-1", Self.type, .envelopeNotAuthentic),
            ("the key commitment", flipped(headerCount + 40), "patient-1", "r-1", Self.type, .envelopeNotAuthentic),
            ("truncated", Array(envelope.dropLast(16_000)), "patient-1", "r-1", Self.type, .envelopeNotAuthentic),
            (
                "cut at a chunk", Array(envelope.prefix(headerCount + 56 + 16_400)), "patient-1", "r-1", Self.type,
                .envelopeNotAuthentic
            ),
            ("cut in the header", Array(envelope.prefix(20)), "patient-1", "r-1", Self.type, .envelopeNotAuthentic),
            ("trailing bytes", envelope + [0], "patient-1", "r-1", Self.type, .envelopeNotAuthentic),
            ("another subject", envelope, "patient-2", "r-1", Self.type, .envelopeNotAuthentic),
            ("another record", envelope, "patient-1", "r-2", Self.type, .envelopeNotAuthentic),
            ("another type", envelope, "patient-1", "r-1", "application/json", .envelopeNotAuthentic),
            (
                "an unknown version", try Self.seal(plaintext, to: stranger), "patient-1", "r-1", Self.type,
                .recipientKeyUnknown
            ),
            (
                "a KEK's name", try Self.seal(plaintext, to: otherName), "patient-1", "r-1", Self.type,
                .recipientKeyUnknown
            ),
            ("a KEK-mode envelope", kekMode, "patient-1", "r-1", Self.type, .notSealedToRecipient),
            ("not an envelope", plaintext, "patient-1", "r-1", Self.type, .notSealedToRecipient),
            ("nothing", [], "patient-1", "r-1", Self.type, .notSealedToRecipient),
            (
                "too large", try Self.seal(try SecureRandom.bytes(count: 100_001), to: recipient), "patient-1", "r-1",
                Self.type, .limitExceeded
            ),
        ]
        for (name, body, subject, record, type, expected) in cases {
            let code = await Self.code {
                try await Self.put(fixture.store, body, subject: subject, record: record, type: type)
            }
            #expect(code == expected, "\(name)")
        }
        #expect(try await fixture.store.statistics().recordCount == 0)
        #expect(try StreamingPutTests.strayFiles(fixture).isEmpty, "a spool file was left behind")
        // The intact envelope is stored.
        #expect(try await Self.put(fixture.store, envelope).write.revision == 1)
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func rotatedVersionsStillOpenAndADestroyedOneIsUnknown(custody: KeyStoreCustody) async throws {
        let fixture = try StoreFixture(custody)
        let first = try fixture.keyStore.recipientPublicKey(createIfAbsent: true)
        let queued = try Self.seal(Array("sealed before the rotation".utf8), to: first, record: "old")
        let second = try fixture.keyStore.rotateRecipientKey()
        #expect(second.keyIdentifier.version == 2)
        #expect(try fixture.keyStore.recipientPublicKey(createIfAbsent: false) == second)
        // A KEK rotation rewraps the recipient keys; the old KEK version can then be destroyed.
        _ = try fixture.keyStore.rotate(named: FileKeyStore.defaultKeyName)
        _ = try fixture.keyStore.rewrapSubjectKeys(named: FileKeyStore.defaultKeyName)
        _ = try fixture.keyStore.destroy(try KeyIdentifier(name: "records", version: 1))
        #expect(try await Self.put(fixture.store, queued, record: "old").write.revision == 1)
        let fresh = try Self.seal(Array("sealed after".utf8), to: second, record: "new")
        #expect(try await Self.put(fixture.store, fresh, record: "new").write.revision == 1)
        // The current version cannot be destroyed; an old one can, and what is sealed to it is then unknown.
        #expect(throws: EnvelopeError.self) { try fixture.keyStore.destroyRecipientKey(version: 2) }
        _ = try fixture.keyStore.destroyRecipientKey(version: 1)
        let late = try Self.seal(Array("still in an outbox".utf8), to: first, record: "late")
        #expect(await Self.code { try await Self.put(fixture.store, late, record: "late") } == .recipientKeyUnknown)
        // Reopened (another process): the versions and their states are kept.
        let (keys, store) = try fixture.reopen()
        #expect(try keys.recipientKeyVersions().map(\.state) == [.destroyed, .active])
        #expect(try await Self.put(store, fresh, record: "new").alreadyStored)
    }

    @Test func aDestroyedKEKCannotTakeTheRecipientKeyWithIt() throws {
        let fixture = try StoreFixture()
        _ = try fixture.keyStore.recipientPublicKey(createIfAbsent: true)
        let records1 = try KeyIdentifier(name: "records", version: 1)
        // Retired without a rotation: no version seals, the recipient key stays under records:1.
        _ = try fixture.keyStore.retire(records1)
        #expect(throws: EnvelopeError.self) { try fixture.keyStore.destroy(records1) }
        _ = try fixture.keyStore.rotate(named: FileKeyStore.defaultKeyName)
        _ = try fixture.keyStore.destroy(records1)
        #expect(
            try fixture.keyStore.recipientPrivateKey(for: try KeyIdentifier(name: "recipient", version: 1))
                .publicKey == (try fixture.keyStore.recipientPublicKey(createIfAbsent: false)).publicKey)
    }

    /// A shredding, or a KEK rotation and the old version's destruction, between the rewrap and the commit: the
    /// header is rewrapped again under the subject's current key and the upload is stored, readable.
    @Test(arguments: KeyStoreCustody.allCases)
    func aKeyChangeBetweenRewrapAndCommitIsFollowed(custody: KeyStoreCustody) async throws {
        let fixture = try StoreFixture(custody)
        let (otherKeys, otherStore) = try fixture.reopen()
        try await fixture.store.put(Array("before".utf8), subject: "patient-1", recordID: "r-0", recordType: Self.type)
        let recipient = try fixture.keyStore.recipientPublicKey(createIfAbsent: true)

        let shredding = InterposedKeyStore(fixture.keyStore) { _ = try otherStore.shred(subject: "patient-1") }
        let shredStore = try EncryptedRecordStore(directory: fixture.storeDirectory, keyStore: shredding)
        let plaintext = Array("sealed while the patient was shredded".utf8)
        let written = try await Self.put(shredStore, try Self.seal(plaintext, to: recipient))
        #expect(!shredding.pending)
        #expect(written.write.key.version == 2, "not stored under the subject's new key")
        #expect(try await otherStore.get(subject: "patient-1", recordID: "r-1").payload == plaintext)
        #expect(storeCode { try otherStore.get(subject: "patient-1", recordID: "r-0") } == .shredded)

        let rotating = InterposedKeyStore(fixture.keyStore) {
            #expect(try KeyRotationJob(store: otherStore).run(newKEKVersion: true).finished)
            _ = try otherKeys.destroy(KeyIdentifier(name: "records", version: 1))
        }
        let rotateStore = try EncryptedRecordStore(directory: fixture.storeDirectory, keyStore: rotating)
        let second = Array("sealed across a rotation".utf8)
        _ = try await Self.put(rotateStore, try Self.seal(second, to: recipient, record: "r-2"), record: "r-2")
        #expect(!rotating.pending)
        let (_, reopened) = try fixture.reopen()
        #expect(try await reopened.get(subject: "patient-1", recordID: "r-2").payload == second)
        #expect(try await reopened.get(subject: "patient-1", recordID: "r-1").payload == plaintext)
    }
}
