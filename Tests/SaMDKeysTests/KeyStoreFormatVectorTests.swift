// The key-store vectors of KeyStoreFormat.md (Resources/keystore-vectors.json, written by
// Scripts/keystore-vectors.py with Python's cryptography and argon2-cffi): every byte recomputed with
// SaMDKit's primitives, the files opened by FileKeyStore, and read again by the independent Python reader.

import Foundation
import SaMDCrypto
import SaMDTestSupport
import Testing

@testable import SaMDEnvelope
@testable import SaMDKeys

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Key-store format vectors")
struct KeyStoreFormatVectorTests {
    /// The vector file, its hex fields read as bytes.
    struct Vectors {
        let json: [String: Any]

        init() throws {
            let url = try #require(Bundle.module.url(forResource: "keystore-vectors", withExtension: "json"))
            self.json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        }

        func hex(_ path: String...) throws -> [UInt8] {
            var object: Any = self.json
            for key in path { object = try #require((object as? [String: Any])?[key], "no \(key)") }
            let text = try #require(object as? String)
            return try #require(Self.bytes(hex: text), "\(path) is not hex")
        }

        func string(_ key: String) throws -> String {
            try #require(self.json[key] as? String)
        }

        static func bytes(hex: String) -> [UInt8]? {
            let digits = Array(hex.utf8)
            guard digits.count.isMultiple(of: 2) else { return nil }
            return stride(from: 0, to: digits.count, by: 2).compactMap {
                UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)
            }
        }

        var envelopeContext: EncryptionContext {
            get throws {
                let envelope = try #require(self.json["envelope"] as? [String: Any])
                return try EncryptionContext(try #require(envelope["context"] as? [String: String]))
            }
        }
    }

    static func plain(_ key: SecureBytes) -> [UInt8] {
        key.withUnsafeBytes { Array($0) }
    }

    /// The vector `keystore.json` of a format version: 1, 2 or 3.
    static func keystoreJSON(_ vectors: Vectors, formatVersion: Int) throws -> [UInt8] {
        switch formatVersion {
        case 1: try vectors.hex("keystoreJSON")
        case 2: try vectors.hex("v2", "keystoreJSON")
        default: try vectors.hex("v3", "keystoreJSON")
        }
    }

    /// Writes the vector store's files, as a key store directory holds them (0700 directories, 0600 files),
    /// `keystore.json` in the format version given.
    static func writeStore(_ vectors: Vectors, formatVersion: Int = 1) throws -> String {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("samd-keystore-vectors-\(UUID().uuidString)").path
        for path in [directory, directory + "/subjects", directory + "/receipts"] {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        }
        let files = [
            ("keystore.json", try Self.keystoreJSON(vectors, formatVersion: formatVersion)),
            (try vectors.string("subjectFileName"), try vectors.hex("subjectJSON")),
        ]
        for (name, bytes) in files {
            #expect(
                FileManager.default.createFile(
                    atPath: directory + "/" + name, contents: Data(bytes), attributes: [.posixPermissions: 0o600]))
        }
        return directory
    }

    @Test("every vector byte is recomputed from its inputs with SaMDKit's primitives")
    func recompute() throws {
        let vectors = try Vectors()
        let passphrase = try SecureBytes(copying: try vectors.hex("passphrase"))
        let argon = try #require(vectors.json["argon2id"] as? [String: Any])
        let salt = try vectors.hex("argon2id", "salt")
        let parameters = Argon2id.Parameters(
            iterations: UInt32(try #require(argon["iterations"] as? Int)),
            memoryByteCount: try #require(argon["memoryBytes"] as? Int))
        #expect(argon["memoryKiB"] as? Int == parameters.memoryByteCount / 1024)
        let root = try Argon2id.deriveKey(passphrase: passphrase, salt: salt, parameters: parameters)
        #expect(Self.plain(root) == (try vectors.hex("argon2id", "root")))

        let kdf = KEKCustodyRecord.PassphraseKDF(
            algorithm: "argon2id", iterations: parameters.iterations, memoryByteCount: parameters.memoryByteCount,
            salt: salt)
        let custody = try PassphraseCustody(opening: .passphrase(kdf), passphrase: passphrase)
        let (wrapKey, macKey) = (custody.wrapKey, custody.macKey)
        #expect(Array("samd-keystore-v1 wrap".utf8) == (try vectors.hex("wrapKeyInfo")))
        #expect(Array("samd-keystore-v1 mac".utf8) == (try vectors.hex("macKeyInfo")))
        #expect(Self.plain(wrapKey) == (try vectors.hex("wrapKey")))
        #expect(Self.plain(macKey) == (try vectors.hex("macKey")))

        let kek = try SecureBytes(copying: try vectors.hex("kek"))
        #expect(try AESKeyWrap.wrapWithPadding(kek, using: wrapKey) == (try vectors.hex("kekWrapped")))
        let indexKey = try SecureBytes(copying: try vectors.hex("indexKey"))
        #expect(try AESKeyWrap.wrapWithPadding(indexKey, using: wrapKey) == (try vectors.hex("indexKeyWrapped")))

        let state = try vectors.hex("state")
        let macInput = StoreFormat.macInput(kdf: StoreFormat.KDF(kdf), salt: salt, state: state)
        #expect(macInput == (try vectors.hex("macInput")))
        #expect(try DigestAlgorithm.sha256.authenticationCode(for: macInput, key: macKey) == (try vectors.hex("mac")))
        // Format version 2: every field under the MAC, the same keys and state.
        let macInputV2 = try StoreFormat.macInputV2(custody: .passphrase(kdf), state: state)
        #expect(macInputV2 == (try vectors.hex("v2", "macInput")))
        #expect(
            try DigestAlgorithm.sha256.authenticationCode(for: macInputV2, key: macKey)
                == (try vectors.hex("v2", "mac")))
        let v2 = try #require(vectors.json["v2"] as? [String: Any])
        let uri = try #require(v2["pkcs11URI"] as? String)
        #expect(
            try StoreFormat.macInputV2(custody: .pkcs11(uri: uri), state: state)
                == (try vectors.hex("v2", "pkcs11MacInput")))

        // Format version 3: the recipient key's private key wrapped under the KEK with its binding; the MAC input
        // of version 2's layout under the version 3 name.
        let recipientPrivate = try X25519.PrivateKey(
            rawRepresentation: try SecureBytes(copying: try vectors.hex("v3", "recipientPrivateKey")))
        #expect(recipientPrivate.publicKey.rawRepresentation == (try vectors.hex("v3", "recipientPublicKey")))
        let kekIdentifier = try KeyIdentifier(parsing: try vectors.string("kekIdentifier"))
        let recipientBinding = StoreFormat.recipientBinding(
            version: 1, kek: kekIdentifier, publicKey: try vectors.hex("v3", "recipientPublicKey"))
        #expect(recipientBinding == (try vectors.hex("v3", "recipientKeyAssociatedData")))
        #expect(
            try AEADKeyWrap.wrap(
                recipientPrivate.rawRepresentation, using: kek, associatedData: recipientBinding,
                nonce: try vectors.hex("v3", "recipientKeyNonce")) == (try vectors.hex("v3", "recipientKeyWrapped")))
        let macInputV3 = try StoreFormat.macInputV2(
            custody: .passphrase(kdf), state: try vectors.hex("v3", "state"), format: StoreFormat.format)
        #expect(macInputV3 == (try vectors.hex("v3", "macInput")))
        #expect(
            try DigestAlgorithm.sha256.authenticationCode(for: macInputV3, key: macKey)
                == (try vectors.hex("v3", "mac")))

        // The blind name: HMAC-SHA-256(index key, "samd-subject-v1" ‖ 0x00 ‖ NFC(subject) as UTF-8), 16 bytes, hex.
        let subject = String(decoding: try vectors.hex("subject"), as: UTF8.self)
        #expect(CanonicalNormalization.nfcUTF8(subject) == (try vectors.hex("subjectNFC")))
        let blindInput = Array("samd-subject-v1".utf8) + [0] + (try vectors.hex("subjectNFC"))
        #expect(blindInput == (try vectors.hex("blindIndexInput")))
        let blind = try DigestAlgorithm.sha256.authenticationCode(for: blindInput, key: indexKey)
        #expect(blind == (try vectors.hex("blindIndexMAC")))
        let name = "s-" + blind.prefix(16).map { String(format: "%02x", $0) }.joined()
        #expect(name == (try vectors.string("subjectKeyName")))

        let kekID = try KeyIdentifier(parsing: try vectors.string("kekIdentifier"))
        let binding = StoreFormat.subjectBinding(id: name, version: 1, kek: kekID)
        #expect(binding == (try vectors.hex("subjectKeyAssociatedData")))
        let subjectKey = try SecureBytes(copying: try vectors.hex("subjectKey"))
        let wrappedSubjectKey = try AEADKeyWrap.wrap(
            subjectKey, using: kek, associatedData: binding, nonce: try vectors.hex("subjectKeyNonce"))
        #expect(wrappedSubjectKey == (try vectors.hex("subjectKeyWrapped")))

        let envelope = try Envelope.seal(
            try vectors.hex("envelope", "plaintext"), context: try vectors.envelopeContext,
            to: .keyEncryptionKey(try KeyIdentifier(name: name, version: 1), subjectKey), suite: .cobblestone256,
            dek: try SecureBytes(copying: try vectors.hex("envelope", "dek")),
            wrapNonce: try vectors.hex("envelope", "wrapNonce"), salt: try vectors.hex("envelope", "salt"))
        #expect(try vectors.envelopeContext.canonicalBytes == (try vectors.hex("envelope", "contextBytes")))
        #expect(envelope == (try vectors.hex("envelope", "envelope")))
    }

    @Test(
        "FileKeyStore opens the vector store, its KEK and subject key, and the vector envelope",
        arguments: [1, 2, 3])
    func openWithSaMDKeys(formatVersion: Int) throws {
        let vectors = try Vectors()
        let directory = try Self.writeStore(vectors, formatVersion: formatVersion)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try FileKeyStore(
            opening: directory, passphrase: try SecureBytes(copying: try vectors.hex("passphrase")))
        let kekID = try KeyIdentifier(parsing: try vectors.string("kekIdentifier"))
        #expect(Self.plain(try store.keyEncryptionKey(for: kekID)) == (try vectors.hex("kek")))
        #expect(try store.list().map(\.identifier) == [kekID])
        let subject = String(decoding: try vectors.hex("subject"), as: UTF8.self)
        let name = try vectors.string("subjectKeyName")
        #expect("s-" + (try store.subjectIndex(of: subject)) == name)
        let subjectKey = try store.keyEncryptionKey(for: try KeyIdentifier(name: name, version: 1))
        #expect(Self.plain(subjectKey) == (try vectors.hex("subjectKey")))
        let plaintext = try Envelope.open(
            try vectors.hex("envelope", "envelope"), context: try vectors.envelopeContext, keys: store)
        #expect(plaintext == (try vectors.hex("envelope", "plaintext")))
        if formatVersion == 3 {
            // The recipient key: its public key as the vectors give it, its private key unwrapped from the store.
            let recipient = try store.recipientPublicKey(createIfAbsent: false)
            #expect(
                recipient.keyIdentifier.description
                    == (try #require((vectors.json["v3"] as? [String: Any])?["recipientIdentifier"] as? String)))
            #expect(recipient.publicKey.rawRepresentation == (try vectors.hex("v3", "recipientPublicKey")))
            let privateKey = try store.recipientPrivateKey(for: recipient.keyIdentifier)
            #expect(Self.plain(privateKey.rawRepresentation) == (try vectors.hex("v3", "recipientPrivateKey")))
        }
    }

    @Test("the independent Python reader (KeyStoreFormat.md alone) opens the vector envelope", arguments: [1, 2, 3])
    func independentReader(formatVersion: Int) async throws {
        let vectors = try Vectors()
        let directory = try Self.writeStore(vectors, formatVersion: formatVersion)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try await Self.runIndependentReader(
            vectors, store: directory, passphrase: vectors.hex("passphrase"))
        #expect(result.status == 0, "\(result)")
        let printed = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Vectors.bytes(hex: printed) == (try vectors.hex("envelope", "plaintext")))
        // The reader checks the MAC: another passphrase is refused, and nothing is printed.
        let refused = try await Self.runIndependentReader(
            vectors, store: directory, passphrase: Array("not the passphrase".utf8))
        #expect(refused.status == 1 && refused.standardOutput.isEmpty, "\(refused)")
        #expect(refused.standardError.contains("wrong passphrase"))
    }

    /// Runs the independent reader on the store in `directory`: the vector subject's envelope, opened with
    /// `passphrase` (written to a file beside, as the envelope is).
    static func runIndependentReader(_ vectors: Vectors, store directory: String, passphrase: [UInt8]) async throws
        -> ChildProcess.Run
    {
        let passphraseFile = directory + "/passphrase-\(UUID().uuidString)"
        let envelopeFile = directory + "/record.smde"
        #expect(FileManager.default.createFile(atPath: passphraseFile, contents: Data(passphrase)))
        #expect(
            FileManager.default.createFile(
                atPath: envelopeFile, contents: Data(try vectors.hex("envelope", "envelope"))))
        let envelope = try #require(vectors.json["envelope"] as? [String: Any])
        let context = String(
            decoding: try JSONSerialization.data(withJSONObject: try #require(envelope["context"])), as: UTF8.self)
        let reader = try #require(Bundle.module.url(forResource: "keystore_reader", withExtension: "py"))
        let subject = String(decoding: try vectors.hex("subject"), as: UTF8.self)
        return try await ChildProcess.run(
            try Self.python(), [reader.path, directory, passphraseFile, subject, envelopeFile, context],
            timeout: .seconds(60))
    }

    @Test("the MAC input KeyStoreFormat.md describes is what a fresh store's MAC is computed over")
    func macInputOfAFreshStore() throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.create()
        let file = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: fixture.directory + "/keystore.json")))
                as? [String: Any])
        #expect(file["format"] as? String == "samd-keystore-v3")
        #expect(file["kdf"] == nil)
        let custody = try #require(file["custody"] as? [String: Any])
        #expect(custody["type"] as? String == "passphrase")
        let kdf = try #require(custody["kdf"] as? [String: Any])
        #expect(kdf["algorithm"] as? String == "argon2id")
        let iterations = UInt32(try #require(kdf["iterations"] as? Int))
        let memory = UInt64(try #require(kdf["memory"] as? Int))
        let salt = try Self.base64(kdf["salt"])
        let state = try Self.base64(file["state"])
        let mac = try Self.base64(file["mac"])
        // As the document spells it: "samd-keystore-v3" ‖ 0x00 ‖ u16 length ‖ "passphrase" ‖ u16 length ‖
        // "argon2id" ‖ iterations (u32 BE) ‖ memory in bytes (u64 BE) ‖ u16 length ‖ salt (16) ‖ u64 length ‖
        // the state's bytes as stored (the base64 decoded).
        func bigEndian(_ value: UInt64, _ width: Int) -> [UInt8] {
            (0..<width).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
        }
        var documented = Array("samd-keystore-v3".utf8) + [0]
        documented += [0, 10] + Array("passphrase".utf8) + [0, 8] + Array("argon2id".utf8)
        documented += bigEndian(UInt64(iterations), 4) + bigEndian(memory, 8)
        documented += [0, 16] + salt + bigEndian(UInt64(state.count), 8) + state
        #expect(salt.count == 16 && mac.count == 32)
        #expect(
            try DigestAlgorithm.sha256.authenticationCode(
                for: documented, key: try #require(store.custody as? PassphraseCustody).macKey) == mac)
        #expect(
            try StoreFormat.macInputV2(custody: store.custody.record, state: state, format: StoreFormat.format)
                == documented)
    }

    @Test("KeyStoreFormat.md quotes every vector of the JSON file")
    func documentQuotesTheVectors() throws {
        let vectors = try Vectors()
        let document = try String(
            contentsOf: Self.packageRoot.appendingPathComponent("Sources/SaMDKeys/SaMDKeys.docc/KeyStoreFormat.md"),
            encoding: .utf8
        )
        // Long values are wrapped, continuation lines indented by two spaces.
        let joined = document.replacingOccurrences(of: "\n  ", with: "")
        func strings(_ object: Any) -> [String] {
            switch object {
            case let text as String: [text]
            case let dictionary as [String: Any]: dictionary.values.flatMap(strings)
            default: []
            }
        }
        let quoted = strings(vectors.json).filter { $0.count >= 8 && Vectors.bytes(hex: $0) != nil }
        #expect(quoted.count >= 30)
        for value in quoted {
            #expect(joined.contains(value), "KeyStoreFormat.md does not quote \(value.prefix(32))…")
        }
    }

    @Test(
        "subject names normalise as KeyStoreFormat.md says: the standard library's NFC, Unicode 16.0 compositions made")
    func nfcVersion() throws {
        func nfc(_ scalars: [UInt32]) -> [UInt32] {
            let text = String(String.UnicodeScalarView(scalars.compactMap(Unicode.Scalar.init)))
            return CanonicalNormalization.nfc(text).unicodeScalars.map(\.value)
        }
        #expect(nfc([0x11935, 0x11930]) == [0x11938]) // Dives Akuru, Unicode 13.0: composed
        #expect(nfc([0x113C2, 0x113C2]) == [0x113C5]) // Tulu-Tigalari, Unicode 16.0: composed (Foundation did not)
        #expect(nfc([0x11F00, 0x301]) == [0x11F00, 0x301]) // kept (Foundation made U+1F04 of it)
        #expect(nfc([0xAC00, 0x11A8]) == [0xAC01]) // LV syllable and trailing jamo (Foundation left them apart)
        #expect(nfc([0x1100, 0x1176]) == [0x1100, 0x1176]) // not a composing vowel (Foundation made U+AE4C)
        #expect(nfc([0x65, 0x301]) == [0xE9])
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The bytes of a JSON string field holding standard base64 (with padding).
    static func base64(_ field: Any?) throws -> [UInt8] {
        let text = try #require(field as? String)
        return Array(try #require(Data(base64Encoded: text)))
    }

    /// The virtualenv's python with cryptography and argon2-cffi (Scripts/setup); the test fails without them.
    static func python() throws -> URL {
        let python = Self.packageRoot.appendingPathComponent(".build/tools/venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw KeyStoreVectorSetupFailure(
                "no Python virtualenv at \(python.path); run Scripts/setup (it installs cryptography and argon2-cffi)")
        }
        return python
    }
}

struct KeyStoreVectorSetupFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
