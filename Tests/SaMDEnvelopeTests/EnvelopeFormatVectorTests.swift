import Foundation
import SaMDCrypto
import SaMDTestSupport
import Testing

@testable import SaMDEnvelope

/// The test vectors of EnvelopeFormat.md (the SaMDEnvelope DocC catalog). Their reference is
/// Resources/envelope-format/envelope-format-vectors.json, computed independently of SaMDKit by
/// generate_vectors.py there; the document quotes every byte of it. Each vector is re-derived with SaMDKit from
/// its fixed inputs and compared byte by byte, opened by SaMDKit, and opened by read_envelope.py — a reader
/// written from the document alone, on Python's `cryptography` and PyNaCl.
@Suite("EnvelopeFormat.md test vectors (the SaMDEnvelope DocC catalog)")
struct EnvelopeFormatVectorTests {
    struct Vector: Decodable {
        let name: String
        let suite: UInt8
        let wrapMode: UInt8
        let keyID: String
        let kek: String?
        let recipientPrivateKey: String?
        let recipientPublicKey: String?
        let ephemeralPrivateKey: String?
        let ephemeralPublicKey: String?
        let dek: String
        let wrapNonce: String?
        let salt: String
        let context: [[String]]
        let contextBytes: String
        let plaintext: String
        let envelope: String
        let subjectID: String?
        let subjectIndexKey: String?

        enum CodingKeys: String, CodingKey {
            case name, suite, kek, dek, salt, context, plaintext, envelope
            case wrapMode = "wrap_mode"
            case keyID = "key_id"
            case recipientPrivateKey = "recipient_private_key"
            case recipientPublicKey = "recipient_public_key"
            case ephemeralPrivateKey = "ephemeral_private_key"
            case ephemeralPublicKey = "ephemeral_public_key"
            case wrapNonce = "wrap_nonce"
            case contextBytes = "context_bytes"
            case subjectID = "subject_id"
            case subjectIndexKey = "subject_index_key"
        }

        /// Every byte string of the vector, as the document must quote it.
        var hexFields: [String] {
            [
                self.kek, self.recipientPrivateKey, self.recipientPublicKey, self.ephemeralPrivateKey,
                self.ephemeralPublicKey, self.dek, self.wrapNonce, self.salt, self.contextBytes, self.plaintext,
                self.envelope, self.subjectIndexKey,
            ].compactMap { $0 }
        }
    }

    struct VectorFile: Decodable {
        let vectors: [Vector]
    }

    static var directory: URL {
        get throws { try #require(Bundle.module.url(forResource: "envelope-format", withExtension: nil)) }
    }

    static var vectorsURL: URL {
        get throws { try self.directory.appendingPathComponent("envelope-format-vectors.json") }
    }

    static func vectors() throws -> [Vector] {
        try JSONDecoder().decode(VectorFile.self, from: Data(contentsOf: self.vectorsURL)).vectors
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let documentURL = packageRoot.appendingPathComponent(
        "Sources/SaMDEnvelope/SaMDEnvelope.docc/EnvelopeFormat.md")
    static let python = packageRoot.appendingPathComponent(".build/tools/venv/bin/python")

    static func identifier(_ vector: Vector) throws -> KeyIdentifier {
        try KeyIdentifier(parsing: vector.keyID)
    }

    static func recipient(_ vector: Vector) throws -> X25519.PrivateKey {
        try X25519.PrivateKey(
            rawRepresentation: SecureBytes(copying: [UInt8](hex: try #require(vector.recipientPrivateKey))))
    }

    static func keys(_ vector: Vector) throws -> StaticKeyProvider {
        let identifier = try self.identifier(vector)
        if vector.wrapMode == 2 {
            return StaticKeyProvider(recipients: [identifier: try self.recipient(vector)])
        }
        return StaticKeyProvider(keys: [identifier: try SecureBytes(copying: [UInt8](hex: try #require(vector.kek)))])
    }

    static func context(_ vector: Vector) throws -> EncryptionContext {
        try EncryptionContext(vector.context.map { ($0[0], $0[1]) })
    }

    @Test func everyWrapModeSuiteAndSubjectKeyIsCovered() throws {
        let vectors = try Self.vectors()
        #expect(Set(vectors.map(\.suite)) == [1, 2])
        #expect(Set(vectors.map(\.wrapMode)) == [1, 2])
        #expect(vectors.contains { $0.keyID.hasPrefix("s-") && $0.subjectID != nil })
        #expect(vectors.contains { [UInt8](hex: $0.plaintext).count > ChunkedPayload.chunkByteCount })
    }

    @Test func publishedVectorsAreReDerivedByteForByte() throws {
        for vector in try Self.vectors() {
            let identifier = try Self.identifier(vector)
            let context = try Self.context(vector)
            #expect(context.canonicalBytes.hex == vector.contextBytes, "\(vector.name): context encoding")
            let plaintext = [UInt8](hex: vector.plaintext)
            let suite = try #require(PayloadSuite(rawValue: vector.suite))
            let dek = try SecureBytes(copying: [UInt8](hex: vector.dek))
            let salt = [UInt8](hex: vector.salt)
            let envelope: [UInt8]
            switch vector.wrapMode {
            case 1:
                let kek = try SecureBytes(copying: [UInt8](hex: try #require(vector.kek)))
                envelope = try Envelope.seal(
                    plaintext, context: context, to: .keyEncryptionKey(identifier, kek), suite: suite, dek: dek,
                    wrapNonce: [UInt8](hex: try #require(vector.wrapNonce)), salt: salt)
            default:
                let recipient = try Self.recipient(vector)
                #expect(recipient.publicKey.rawRepresentation.hex == vector.recipientPublicKey, "\(vector.name)")
                let ephemeral = try X25519.PrivateKey(
                    rawRepresentation: SecureBytes(copying: [UInt8](hex: try #require(vector.ephemeralPrivateKey))))
                #expect(ephemeral.publicKey.rawRepresentation.hex == vector.ephemeralPublicKey, "\(vector.name)")
                envelope = try Envelope.seal(
                    plaintext, context: context, to: .recipient(identifier, recipient.publicKey), suite: suite,
                    dek: dek, wrapNonce: [], salt: salt, ephemeralPrivateKey: ephemeral)
            }
            #expect(envelope.hex == vector.envelope, "\(vector.name): derived \(envelope.hex)")
            #expect(
                try Envelope.open(envelope, context: context, keys: Self.keys(vector)) == plaintext, "\(vector.name)")
        }
    }

    /// The subject key's name is its blind name (KeyManagement.md): `s-` ‖ hex of the first 16 bytes of
    /// HMAC-SHA-256(index key, "samd-subject-v1" ‖ 0x00 ‖ NFC(subject id)).
    @Test func subjectKeyNameIsTheBlindName() throws {
        for vector in try Self.vectors() {
            guard let subject = vector.subjectID else { continue }
            let indexKey = try SecureBytes(copying: [UInt8](hex: try #require(vector.subjectIndexKey)))
            let mac = try DigestAlgorithm.sha256.authenticationCode(
                for: Array("samd-subject-v1".utf8) + [0] + Array(subject.precomposedStringWithCanonicalMapping.utf8),
                key: indexKey)
            #expect(try Self.identifier(vector).name == "s-" + Array(mac[..<16]).hex, "\(vector.name)")
        }
    }

    /// EnvelopeFormat.md quotes every byte string of every vector (line breaks and indentation aside).
    @Test func documentQuotesEveryByteOfEveryVector() throws {
        let document = try String(contentsOf: Self.documentURL, encoding: .utf8).filter { !$0.isWhitespace }
        for vector in try Self.vectors() {
            // Booleans, so that a failure does not print the whole document.
            let named = document.contains(vector.name.filter { !$0.isWhitespace })
            #expect(named, "\(vector.name) is not in the document")
            for field in vector.hexFields {
                let quoted = document.contains(field)
                #expect(quoted, "\(vector.name): \(field.prefix(32))… is not quoted in the document")
            }
        }
    }

    /// read_envelope.py, written from the document alone, opens every vector; fails (never skips) when
    /// Scripts/setup has not installed the venv with `cryptography` and PyNaCl.
    @Test func independentReaderOpensEveryVector() async throws {
        try Self.requirePython()
        let reader = try Self.directory.appendingPathComponent("read_envelope.py")
        let run = try await ChildProcess.run(Self.python, [reader.path, try Self.vectorsURL.path])
        #expect(run.status == 0, "\(run)")
        let opened = try JSONDecoder().decode([String: String].self, from: run.standardOutput)
        let vectors = try Self.vectors()
        #expect(opened.count == vectors.count)
        for vector in vectors {
            #expect(opened[vector.name] == vector.plaintext, "\(vector.name): the independent reader disagrees")
        }
    }

    /// generate_vectors.py (Python's `cryptography` and PyNaCl, no SaMDKit code) still prints exactly the
    /// published vectors file.
    @Test func vectorsFileIsWhatTheIndependentGeneratorPrints() async throws {
        try Self.requirePython()
        let generator = try Self.directory.appendingPathComponent("generate_vectors.py")
        let run = try await ChildProcess.run(Self.python, [generator.path])
        #expect(run.status == 0, "\(run)")
        let published = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.vectorsURL)) as? NSDictionary
        let generated = try JSONSerialization.jsonObject(with: run.standardOutput) as? NSDictionary
        #expect(published != nil && published == generated, "generate_vectors.py prints other vectors")
    }

    /// The independent reader is not a rubber stamp: one byte less, one flipped bit in the last tag, or a wrong
    /// context, and it refuses (exits non-zero) instead of printing a plaintext.
    @Test(arguments: ["cut", "flip", "context"])
    func independentReaderRefusesAModifiedVector(_ change: String) async throws {
        try Self.requirePython()
        var file = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: Self.vectorsURL)) as? [String: Any])
        var vectors = try #require(file["vectors"] as? [[String: Any]])
        var envelope = [UInt8](hex: try #require(vectors[0]["envelope"] as? String))
        switch change {
        case "cut": envelope.removeLast()
        case "flip": envelope[envelope.count - 1] ^= 0x01
        default:
            vectors[0]["context"] = [["patient", "p-2"], ["record", "r-1"], ["type", "fhir"]]
            vectors[0]["context_bytes"] = try EncryptionContext([
                ("patient", "p-2"), ("record", "r-1"), ("type", "fhir"),
            ])
            .canonicalBytes.hex
        }
        vectors[0]["envelope"] = envelope.hex
        file["vectors"] = [vectors[0]]
        let modified = FileManager.default.temporaryDirectory.appendingPathComponent(
            "envelope-vectors-\(change)-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: modified) }
        try JSONSerialization.data(withJSONObject: file).write(to: modified)
        let reader = try Self.directory.appendingPathComponent("read_envelope.py")
        let run = try await ChildProcess.run(Self.python, [reader.path, modified.path])
        #expect(run.status != 0 && run.standardOutput.isEmpty, "\(change): \(run)")
    }

    /// Fails (never skips) when Scripts/setup has not made the venv.
    static func requirePython() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python.path) else {
            Issue.record("\(Self.python.path) is missing: run Scripts/setup")
            throw CocoaError(.fileNoSuchFile)
        }
    }

    /// The shortest valid envelope is 14 + N + W + 56 + 16 bytes (an empty message); every strict prefix of it
    /// fails as `truncated`, with the right key and context.
    @Test func shortestEnvelopeAndItsPrefixes() throws {
        for (mode, name) in [(1, "k"), (2, "r")] {
            let identifier = try KeyIdentifier(name: name, version: 1)
            let kek = try SecureBytes(randomByteCount: 32)
            let recipient = try X25519.PrivateKey()
            let key: SealingKey =
                mode == 1 ? .keyEncryptionKey(identifier, kek) : .recipient(identifier, recipient.publicKey)
            let keys = StaticKeyProvider(keys: [identifier: kek], recipients: [identifier: recipient])
            let envelope = try Envelope.seal([UInt8](), context: EncryptionContext([]), to: key)
            #expect(envelope.count == (mode == 1 ? 147 : 199))
            #expect(try Envelope.open(envelope, context: EncryptionContext([]), keys: keys).isEmpty)
            for cut in 0..<envelope.count {
                let code = envelopeCode {
                    try Envelope.open(envelope[..<cut], context: EncryptionContext([]), keys: keys)
                }
                #expect(code == .truncated, "mode \(mode), \(cut) bytes: \(String(describing: code))")
            }
        }
    }
}
