import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDTestSupport
import Synchronization
import Testing

@testable import SaMDKeys

/// A custody that keeps its KEK versions as a token does — it never exports their material — for testing the
/// seam a token custody plugs into: every primitive is a real ``PassphraseCustody``'s, only the export is
/// refused, and destructions are counted.
struct NonExportingCustody: KEKCustody {
    final class Destroyed: Sendable {
        let keys = Mutex<[KeyIdentifier]>([])
        /// While set, destroying fails as an unreachable token does.
        let unreachable = Mutex(false)
    }

    let inner: PassphraseCustody
    let destroyed = Destroyed()
    var recordOverride: KEKCustodyRecord?

    var record: KEKCustodyRecord { self.recordOverride ?? self.inner.record }

    func generateKEK(_ identifier: KeyIdentifier) throws -> KEKReference {
        try self.inner.generateKEK(identifier)
    }

    func destroyKEK(_ identifier: KeyIdentifier, _ reference: KEKReference) throws {
        guard !self.destroyed.unreachable.withLock({ $0 }) else {
            throw EnvelopeError(.keyUnavailable, "the custody cannot be reached")
        }
        self.destroyed.keys.withLock { $0.append(identifier) }
    }

    func exportKEK(_ identifier: KeyIdentifier, _ reference: KEKReference) throws -> SecureBytes {
        throw EnvelopeError(
            .keyNotUsable, "\(identifier) never leaves its custody: seal with a subject key (subjectSealingKey)")
    }

    func wrapSubjectKey(
        _ subjectKey: SecureBytes, underKEK identifier: KeyIdentifier, _ reference: KEKReference,
        associatedData: [UInt8]
    ) throws -> [UInt8] {
        try self.inner.wrapSubjectKey(subjectKey, underKEK: identifier, reference, associatedData: associatedData)
    }

    func unwrapSubjectKey(
        _ wrapped: [UInt8], underKEK identifier: KeyIdentifier, _ reference: KEKReference, associatedData: [UInt8]
    ) throws -> SecureBytes {
        try self.inner.unwrapSubjectKey(wrapped, underKEK: identifier, reference, associatedData: associatedData)
    }

    func wrapStoreSecret(_ secret: SecureBytes) throws -> [UInt8] { try self.inner.wrapStoreSecret(secret) }
    func unwrapStoreSecret(_ wrapped: [UInt8]) throws -> SecureBytes { try self.inner.unwrapStoreSecret(wrapped) }
    func authenticationCode(for message: [UInt8]) throws -> [UInt8] {
        try self.inner.authenticationCode(for: message)
    }
    func isValidAuthenticationCode(_ code: [UInt8], for message: [UInt8]) throws -> Bool {
        try self.inner.isValidAuthenticationCode(code, for: message)
    }
}

@Suite("KEK custody seam")
struct KeyCustodySeamTests {
    static let record = Array("{\"resourceType\":\"Observation\"}".utf8)
    static let context = try! EncryptionContext([("patient", "p-1"), ("record", "r-1")])

    @Test("a custody given to create is found again from the record the store keeps")
    func injectedCustodyCreatesAndReopens() throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let custody = try PassphraseCustody.create(passphrase: fixture.passphrase, kdf: StoreFixture.fastKDF)
        let store = try FileKeyStore.create(at: fixture.directory, custody: custody)
        let sealed = try Envelope.seal(Self.record, context: Self.context, to: store.subjectSealingKey(subject: "p-1"))

        let seen = Mutex<KEKCustodyRecord?>(nil)
        let reopened = try FileKeyStore(
            opening: fixture.directory,
            custody: { record in
                seen.withLock { $0 = record }
                return try PassphraseCustody(opening: record, passphrase: fixture.passphrase)
            })
        #expect(seen.withLock { $0 } == custody.record)
        #expect(custody.record.type == "passphrase")
        #expect(custody.record.passphraseKDF?.memoryByteCount == StoreFixture.fastKDF.memoryByteCount)
        #expect(try Envelope.open(sealed, context: Self.context, keys: reopened) == Self.record)
        // The passphrase API opens what the custody API made: one format.
        #expect(try Envelope.open(sealed, context: Self.context, keys: fixture.open()) == Self.record)
    }

    @Test("a custody that never exports KEKs seals with subject keys, rotates, rewraps and destroys")
    func nonExportingCustody() throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let custody = NonExportingCustody(
            inner: try PassphraseCustody.create(passphrase: fixture.passphrase, kdf: StoreFixture.fastKDF))
        let store = try FileKeyStore.create(at: fixture.directory, custody: custody)
        #expect(envelopeCode { try store.sealingKey(named: FileKeyStore.defaultKeyName) } == .keyNotUsable)
        let first = try KeyIdentifier(name: FileKeyStore.defaultKeyName, version: 1)
        #expect(envelopeCode { try store.keyEncryptionKey(for: first) } == .keyNotUsable)

        let sealed = try Envelope.seal(Self.record, context: Self.context, to: store.subjectSealingKey(subject: "p-1"))
        #expect(try Envelope.open(sealed, context: Self.context, keys: store) == Self.record)
        let subjectKey = try store.subjectSealingKey(subject: "p-1").identifier
        #expect(try store.whileSealingKeyIsCurrent(subjectKey) { true })

        _ = try store.rotate(named: FileKeyStore.defaultKeyName)
        #expect(try store.rewrapSubjectKeys(named: FileKeyStore.defaultKeyName).rewrapped == 1)
        _ = try store.destroy(first)
        #expect(custody.destroyed.keys.withLock { $0 } == [first])
        #expect(try Envelope.open(sealed, context: Self.context, keys: store) == Self.record)
        #expect(try store.shred(subject: "p-1").key.name == subjectKey.name)
        #expect(envelopeCode { try Envelope.open(sealed, context: Self.context, keys: store) } == .keyDestroyed)
    }

    @Test("a custody that fails to destroy a KEK version leaves it recorded as it was; a rerun destroys it")
    func destructionInTheCustodyComesFirst() throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let custody = NonExportingCustody(
            inner: try PassphraseCustody.create(passphrase: fixture.passphrase, kdf: StoreFixture.fastKDF))
        let store = try FileKeyStore.create(at: fixture.directory, custody: custody)
        let first = try KeyIdentifier(name: FileKeyStore.defaultKeyName, version: 1)
        let sealed = try Envelope.seal(Self.record, context: Self.context, to: store.subjectSealingKey(subject: "p-1"))
        _ = try store.rotate(named: FileKeyStore.defaultKeyName)
        _ = try store.rewrapSubjectKeys(named: FileKeyStore.defaultKeyName)

        custody.destroyed.unreachable.withLock { $0 = true }
        #expect(envelopeCode { try store.destroy(first) } == .keyUnavailable)
        #expect(try store.list().first { $0.identifier == first }?.state == .deactivated)
        #expect(custody.destroyed.keys.withLock { $0 }.isEmpty)
        #expect(try StoreFile.list(fixture.directory + "/receipts").isEmpty)

        custody.destroyed.unreachable.withLock { $0 = false }
        #expect(try store.destroy(first).key == first)
        #expect(custody.destroyed.keys.withLock { $0 } == [first])
        #expect(try store.list().first { $0.identifier == first }?.state == .destroyed)
        #expect(try Envelope.open(sealed, context: Self.context, keys: store) == Self.record)
    }

    @Test("a store opens only with the custody it records")
    func opensOnlyWithTheRecordedCustody() throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        _ = try fixture.create()
        // Another salt: the custody is not the store's.
        let other = try PassphraseCustody.create(passphrase: fixture.passphrase, kdf: StoreFixture.fastKDF)
        #expect(envelopeCode { try FileKeyStore(opening: fixture.directory, custody: { _ in other }) } == .keyStore)
        // A passphrase custody refuses a token's record.
        #expect(
            envelopeCode {
                try PassphraseCustody(
                    opening: .pkcs11(uri: "pkcs11:token=samd;object=records"), passphrase: fixture.passphrase)
            } == .keyStore)
    }

    @Test("a token custody is recorded in the document and found again; a PIN in its URI is refused")
    func tokenCustodyRecord() throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        var custody = NonExportingCustody(
            inner: try PassphraseCustody.create(passphrase: fixture.passphrase, kdf: StoreFixture.fastKDF))
        custody.recordOverride = .pkcs11(uri: "pkcs11:token=samd;object=records?pin-value=1234")
        #expect(envelopeCode { try FileKeyStore.create(at: fixture.directory, custody: custody) } == .keyStore)
        #expect(!FileManager.default.fileExists(atPath: fixture.directory + "/keystore.json"))

        let uri = "pkcs11:token=samd?module-path=/usr/lib/softhsm/libsofthsm2.so"
        custody.recordOverride = .pkcs11(uri: uri)
        _ = try FileKeyStore.create(at: fixture.directory, custody: custody)
        let file = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: fixture.directory + "/keystore.json"))) as? [String: Any])
        #expect(file["format"] as? String == "samd-keystore-v3")
        #expect(file["kdf"] == nil)
        #expect(file["custody"] as? [String: String] == ["type": "pkcs11", "uri": uri])
        let seen = Mutex<KEKCustodyRecord?>(nil)
        let reopened = try FileKeyStore(
            opening: fixture.directory,
            custody: { record in
                seen.withLock { $0 = record }
                return custody
            })
        #expect(seen.withLock { $0 }?.pkcs11URI == uri)
        #expect(try reopened.list().count == 1)

        // A token object as the document keeps it: label and CKA_ID (hex), given back as they were.
        let key = StoreFormat.StoredKey(
            metadata: ManagedKey(
                identifier: try KeyIdentifier(name: "records", version: 2), state: .active, createdAt: Date(),
                activatedAt: Date(), cryptoperiod: .seconds(1)),
            reference: .tokenObject(label: "records:2", id: [0x0a, 0xff]))
        #expect(key.wrapped == nil && key.object == StoreFormat.TokenObject(label: "records:2", id: "0aff"))
        #expect(try key.reference().tokenObject?.label == "records:2")
        #expect(try key.reference().tokenObject?.id == [0x0a, 0xff])
    }
}
