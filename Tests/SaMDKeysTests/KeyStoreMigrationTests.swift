// Format version 2 of keystore.json (KeyStoreFormat.md): a version 1 store — the vector store — opens, is
// written in version 2 by its next write, and reopens (with SaMDKit and with the independent reader); a
// version 2 document's every field is under its MAC; an older version 1 copy put back is refused.

import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDTestSupport
import Testing

@testable import SaMDKeys

@Suite("Key-store format migration")
struct KeyStoreMigrationTests {
    typealias Vectors = KeyStoreFormatVectorTests.Vectors

    static func format(of directory: String) throws -> String? {
        let file = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: directory + "/keystore.json")))
        return (file as? [String: Any])?["format"] as? String
    }

    static func keystoreBytes(_ directory: String) throws -> [UInt8] {
        try StoreFile.read(directory + "/keystore.json", limit: StoreFormat.storeFileLimit)
    }

    static func replaceKeystore(_ directory: String, with bytes: [UInt8]) throws {
        try StoreFile.writeAtomically(bytes, to: directory + "/keystore.json")
    }

    @Test("a version 1 store opens, is written in version 3 by its next write, and reopens")
    func versionOneStoreMigrates() async throws {
        let vectors = try Vectors()
        let directory = try KeyStoreFormatVectorTests.writeStore(vectors, formatVersion: 1)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let passphrase = try SecureBytes(copying: try vectors.hex("passphrase"))
        let log = CapturedLog()
        let store = try FileKeyStore(opening: directory, passphrase: passphrase, logger: log.logger)
        let subject = String(decoding: try vectors.hex("subject"), as: UTF8.self)

        // Reading, and sealing with an existing subject key, write no keystore.json: still version 1.
        #expect("s-" + (try store.subjectIndex(of: subject)) == (try vectors.string("subjectKeyName")))
        _ = try store.subjectSealingKey(subject: subject)
        #expect(try Self.format(of: directory) == "samd-keystore-v1")
        #expect(!log.events().contains("samd.keys.store-migrated"))

        // The next write migrates: the same state (one more generation), under a version 3 MAC.
        let before = try StoreDocument.parse(try Self.keystoreBytes(directory), location: directory)
        try store.setMinimumOpeningVersion(1, named: "records")
        #expect(try Self.format(of: directory) == "samd-keystore-v3")
        #expect(log.events().filter { $0 == "samd.keys.store-migrated" }.count == 1)
        let after = try StoreDocument.parse(try Self.keystoreBytes(directory), location: directory)
        #expect(after.formatVersion == 3 && after.custody == before.custody)
        var expected = try StoreFormat.decoder.decode(StoreFormat.State.self, from: Data(before.stateBytes))
        expected.generation += 1
        #expect(after.stateBytes == Array(try StoreFormat.encoder.encode(expected)))
        // A second write does not migrate again.
        _ = try store.generate(named: "spare")
        #expect(log.events().filter { $0 == "samd.keys.store-migrated" }.count == 1)

        // Reopened: the KEK, the subject key and the vector envelope as before; another passphrase refused.
        let reopened = try FileKeyStore(opening: directory, passphrase: passphrase)
        let kekID = try KeyIdentifier(parsing: try vectors.string("kekIdentifier"))
        #expect(KeyStoreFormatVectorTests.plain(try reopened.keyEncryptionKey(for: kekID)) == (try vectors.hex("kek")))
        let plaintext = try Envelope.open(
            try vectors.hex("envelope", "envelope"), context: try vectors.envelopeContext, keys: reopened)
        #expect(plaintext == (try vectors.hex("envelope", "plaintext")))
        let wrong = try SecureBytes(copying: Array("not the passphrase".utf8))
        #expect(envelopeCode { try FileKeyStore(opening: directory, passphrase: wrong) } == .keyStore)

        // The independent reader reads the store SaMDKit migrated.
        let result = try await KeyStoreFormatVectorTests.runIndependentReader(
            vectors, store: directory, passphrase: vectors.hex("passphrase"))
        #expect(result.status == 0, "\(result)")
        #expect(
            Vectors.bytes(hex: result.output.trimmingCharacters(in: .whitespacesAndNewlines))
                == (try vectors.hex("envelope", "plaintext")))
    }

    @Test("a process that read version 3 refuses an older version 1 copy put back")
    func olderVersionOneCopyIsRefused() throws {
        let vectors = try Vectors()
        let directory = try KeyStoreFormatVectorTests.writeStore(vectors, formatVersion: 1)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let passphrase = try SecureBytes(copying: try vectors.hex("passphrase"))
        let old = try Self.keystoreBytes(directory)
        let store = try FileKeyStore(opening: directory, passphrase: passphrase)
        _ = try store.rotate(named: "records")
        #expect(try Self.format(of: directory) == "samd-keystore-v3")

        try Self.replaceKeystore(directory, with: old)
        #expect(envelopeCode { try store.list() } == .keyStore)
        #expect(envelopeCode { try store.rotate(named: "records") } == .keyStore)
        // The copy is a valid version 1 store: a process that never saw version 3 opens it (KeyStoreFormat.md).
        #expect(try FileKeyStore(opening: directory, passphrase: passphrase).list().count == 1)
    }

    @Test(
        "a version 2 document with a field changed is refused by its MAC, kdf.algorithm included",
        arguments: [
            ("\"argon2id\"", "\"argon2i\""), ("\"iterations\": 2", "\"iterations\": 3"),
            ("\"memory\": 65536", "\"memory\": 131072"),
        ])
    func versionTwoCoversEveryField(original: String, changed: String) throws {
        let vectors = try Vectors()
        let directory = try KeyStoreFormatVectorTests.writeStore(vectors, formatVersion: 2)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let passphrase = try SecureBytes(copying: try vectors.hex("passphrase"))
        let bytes = try Self.keystoreBytes(directory)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(original))
        let document = try StoreDocument.parse(bytes, location: directory)
        let custody = try PassphraseCustody(opening: document.custody, passphrase: passphrase)
        #expect(try document.authenticate(with: custody).keys.count == 1)

        let modified = Array(text.replacingOccurrences(of: original, with: changed).utf8)
        #expect(modified != bytes)
        // The MAC alone refuses it: checked with the store's own keys, before any KDF check.
        let tampered = try StoreDocument.parse(modified, location: directory)
        #expect(envelopeCode { try tampered.authenticate(with: custody) } == .keyStore)
        try Self.replaceKeystore(directory, with: modified)
        #expect(envelopeCode { try FileKeyStore(opening: directory, passphrase: passphrase) } == .keyStore)
    }

    @Test("version 1's MAC does not cover kdf.algorithm (KeyStoreFormat.md): what version 2 fixes")
    func versionOneLeavesTheAlgorithmOut() throws {
        let vectors = try Vectors()
        let directory = try KeyStoreFormatVectorTests.writeStore(vectors, formatVersion: 1)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let passphrase = try SecureBytes(copying: try vectors.hex("passphrase"))
        let text = String(decoding: try Self.keystoreBytes(directory), as: UTF8.self)
        let document = try StoreDocument.parse(try Self.keystoreBytes(directory), location: directory)
        let custody = try PassphraseCustody(opening: document.custody, passphrase: passphrase)
        let modified = try StoreDocument.parse(
            Array(text.replacingOccurrences(of: "\"argon2id\"", with: "\"argon2i\"").utf8), location: directory)
        #expect(modified.custody.passphraseKDF?.algorithm == "argon2i")
        #expect(try modified.authenticate(with: custody).keys.count == 1)
        // Only the algorithm check refuses it.
        try Self.replaceKeystore(
            directory, with: Array(text.replacingOccurrences(of: "\"argon2id\"", with: "\"argon2i\"").utf8))
        #expect(envelopeCode { try FileKeyStore(opening: directory, passphrase: passphrase) } == .keyStore)
    }

    @Test("a version 2 store is migrated to version 3 by making its recipient key, which a KEK rotation keeps")
    func versionTwoStoreMigratesWithTheRecipientKey() async throws {
        let vectors = try Vectors()
        let directory = try KeyStoreFormatVectorTests.writeStore(vectors, formatVersion: 2)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let passphrase = try SecureBytes(copying: try vectors.hex("passphrase"))
        let log = CapturedLog()
        let store = try FileKeyStore(opening: directory, passphrase: passphrase, logger: log.logger)
        #expect(try Self.format(of: directory) == "samd-keystore-v2")
        #expect(envelopeCode { try store.recipientPublicKey(createIfAbsent: false) } == .keyNotFound)
        let old = try Self.keystoreBytes(directory)

        let recipient = try store.recipientPublicKey(createIfAbsent: true)
        #expect(try Self.format(of: directory) == "samd-keystore-v3")
        #expect(log.events().contains("samd.keys.store-migrated"))
        #expect(log.events().contains("samd.keys.recipient-created"))
        let document = try StoreDocument.parse(try Self.keystoreBytes(directory), location: directory)
        #expect(document.formatVersion == 3)
        // JSONEncoder writes "/" as "\/".
        let text = String(decoding: document.stateBytes, as: UTF8.self).replacingOccurrences(of: "\\/", with: "/")
        #expect(text.contains("\"recipientKeys\""))
        #expect(text.contains(Data(recipient.publicKey.rawRepresentation).base64EncodedString()))

        // The KEK rotates and the old version is destroyed: the recipient key is rewrapped, not lost.
        _ = try store.rotate(named: "records")
        _ = try store.rewrapSubjectKeys(named: "records")
        _ = try store.destroy(try KeyIdentifier(name: "records", version: 1))
        let reopened = try FileKeyStore(opening: directory, passphrase: passphrase)
        #expect(try reopened.recipientPublicKey(createIfAbsent: false) == recipient)
        let context = try EncryptionContext([("subject", "s"), ("record", "r"), ("type", "text/plain")])
        let sealed = try Envelope.seal(Array("outbox".utf8), context: context, to: recipient.sealingKey)
        #expect(try Envelope.open(sealed, context: context, keys: reopened) == Array("outbox".utf8))

        // The independent reader reads the version 3 store (its vector envelope under the subject key).
        let result = try await KeyStoreFormatVectorTests.runIndependentReader(
            vectors, store: directory, passphrase: vectors.hex("passphrase"))
        #expect(result.status == 0, "\(result)")

        // A version 2 copy put back is refused by this process (a rollback that would drop the recipient key).
        try Self.replaceKeystore(directory, with: old)
        #expect(envelopeCode { try reopened.list() } == .keyStore)
    }

    @Test("the recipient file: strict JSON of three fields, at most 4 KiB, a regular file, written 0644")
    func recipientFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("samd-recipient-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = RecipientPublicKey(
            keyIdentifier: try KeyIdentifier(name: "recipient", version: 3),
            publicKey: try X25519.PrivateKey().publicKey)
        let path = directory + "/recipient.json"
        try key.write(to: path)
        #expect(try RecipientPublicKey.read(from: path) == key)
        // Without its final newline too.
        #expect(try RecipientPublicKey.parse(Array(key.encoded.dropLast())) == key)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o644)
        let good = String(decoding: key.encoded, as: UTF8.self)
        let base64 = Data(key.publicKey.rawRepresentation).base64EncodedString()
        let refused: [(String, EnvelopeError.Code)] = [
            (good.replacingOccurrences(of: "}", with: ",\"extra\":\"x\"}"), .malformed),
            (#"{"format":"samd-recipient-v1","keyIdentifier":"recipient:3"}"#, .malformed),
            (good.replacingOccurrences(of: "samd-recipient-v1", with: "samd-recipient-v2"), .malformed),
            (good.replacingOccurrences(of: "recipient:3", with: "recipient:0"), .malformed),
            (good.replacingOccurrences(of: base64, with: String(base64.dropLast(4)) + "AA=="), .malformed),
            (good.replacingOccurrences(of: base64, with: "not base64 at all, nowhere near"), .malformed),
            ("[]", .malformed), ("", .malformed),
            (good + String(repeating: " ", count: 4096), .limitExceeded),
            // Another key's name, a duplicated field, another spelling of the same object (trial findings).
            (good.replacingOccurrences(of: "recipient:3", with: "records:3"), .malformed),
            (good.replacingOccurrences(of: "}", with: ",\"format\":\"samd-recipient-v1\"}"), .malformed),
            (good.replacingOccurrences(of: ",", with: ", "), .malformed),
            // Points of small order: 0 and 1 (RFC 7748 §5 lists them; libsodium refuses them when sealing).
            (good.replacingOccurrences(of: base64, with: Data(count: 32).base64EncodedString()), .malformed),
            (
                good.replacingOccurrences(
                    of: base64, with: Data([1] + [UInt8](repeating: 0, count: 31)).base64EncodedString()), .malformed
            ),
        ]
        for (text, code) in refused {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            #expect(envelopeCode { try RecipientPublicKey.read(from: path) } == code, "\(text.prefix(80))")
            do {
                _ = try RecipientPublicKey.read(from: path)
            } catch let error as EnvelopeError {
                #expect(!error.reason.contains("nowhere near") && !error.reason.contains(base64))
            }
        }
        #expect(envelopeCode { try RecipientPublicKey.read(from: directory) } == .io)
        #expect(envelopeCode { try RecipientPublicKey.read(from: directory + "/absent") } == .io)
    }
}
