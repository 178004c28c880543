import Foundation
import SaMDCrypto
import SaMDTestSupport
import Synchronization
import Testing

@testable import SaMDEnvelope

/// Wycheproof's C2SP chunked-encryption vectors for Cobblestone-256, through the whole-buffer API and
/// the streaming opener. Ciphertexts are zlib-deflated in the file; messages are given by length and
/// SHA-512.
///
/// - valid: opens to exactly the message (length and SHA-512), and re-sealing it with the vector's salt
///   gives exactly the vector's ciphertext.
/// - invalid: refused; vectors flagged `HeaderFailure` are refused before any chunk is opened (a hook
///   counts chunk openings); with `PartialPlaintext`, the streaming opener may release exactly the
///   authenticated prefix the vector describes, and then fails and keeps failing.
///
/// The Cobblestone-128 file (AES-128-GCM) is outside what SaMDKit offers: every one of its vectors is
/// refused at the header because its input key is not 32 bytes.
@Suite("Wycheproof C2SP chunked encryption")
struct WycheproofCobblestoneTests {
    struct File: Decodable {
        let algorithm: String
        let numberOfTests: Int
        let testGroups: [Group]
    }

    struct Group: Decodable {
        let aead: String
        let sha: String
        let tests: [Vector]
    }

    struct Vector: Decodable {
        let tcId: Int
        let comment: String
        let flags: [String]
        let key: String
        let ctx: String
        let ct: String
        let msgLength: Int?
        let msgSha512: String?
        let result: String
    }

    final class Counter: Sendable {
        let value = Mutex(0)
    }

    static func load(_ name: String) throws -> File {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "wycheproof"))
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
    }

    /// Opens through the streaming API, feeding uneven pieces; returns what was released and the error.
    static func stream(_ sealed: [UInt8], key: SecureBytes, context: [UInt8]) -> ([UInt8], EnvelopeError?) {
        var released: [UInt8] = []
        do {
            let opener = try PayloadOpener(inputKey: key, context: context)
            var offset = 0
            var step = 1
            while offset < sealed.count {
                let end = min(sealed.count, offset + step)
                try sealed[offset..<end].withUnsafeBytes { piece in
                    try opener.update(piece) { released += $0 }
                }
                offset = end
                step = step * 3 + 7 // 1, 10, 37, 118, … crosses every boundary differently
            }
            try opener.finish { released += $0 }
            return (released, nil)
        } catch let error as EnvelopeError {
            return (released, error)
        } catch {
            Issue.record("unexpected error \(error)")
            return (released, nil)
        }
    }

    @Test func cobblestone256() throws {
        let file = try Self.load("c2sp_chunked_encryption_aes_256_gcm_test")
        #expect(file.algorithm == "Cobblestone-256")
        var valid = 0
        var invalid = 0
        for group in file.testGroups {
            #expect(group.aead == "AEAD_AES_256_GCM" && group.sha == "SHA-512")
            for vector in group.tests {
                let context = Comment(rawValue: "tcId \(vector.tcId): \(vector.comment) \(vector.flags)")
                let sealed = try #require(inflate([UInt8](hex: vector.ct)), context)
                let key = try SecureBytes(copying: [UInt8](hex: vector.key))
                let encryptionContext = [UInt8](hex: vector.ctx)
                let opened = Counter()
                let result = ChunkCipher.$openObserver.withValue({ _ in opened.value.withLock { $0 += 1 } }) {
                    Result { try ChunkedPayload.open(sealed, inputKey: key, context: encryptionContext) }
                }
                switch vector.result {
                case "valid":
                    let message = try result.get()
                    #expect(message.count == vector.msgLength, context)
                    #expect(
                        try DigestAlgorithm.sha512.hash(message) == [UInt8](hex: try #require(vector.msgSha512)),
                        context)
                    let resealed = try ChunkedPayload.seal(
                        message, suite: .cobblestone256, inputKey: key, context: encryptionContext,
                        salt: Array(sealed[..<24]))
                    #expect(resealed == sealed, context)
                    let (streamed, streamError) = Self.stream(sealed, key: key, context: encryptionContext)
                    #expect(streamError == nil && streamed == message, context)
                    valid += 1
                default:
                    #expect(throws: EnvelopeError.self, context) { try result.get() }
                    if vector.flags.contains("HeaderFailure") {
                        #expect(
                            opened.value.withLock { $0 } == 0,
                            "a chunk was opened before the header check failed: \(context)")
                    }
                    let (released, streamError) = Self.stream(sealed, key: key, context: encryptionContext)
                    #expect(streamError != nil, context)
                    if vector.flags.contains("PartialPlaintext"), let length = vector.msgLength,
                        let digest = vector.msgSha512
                    {
                        #expect(released.count == length, context)
                        #expect(try DigestAlgorithm.sha512.hash(released) == [UInt8](hex: digest), context)
                    } else {
                        #expect(released.isEmpty, context)
                    }
                    invalid += 1
                }
            }
        }
        print(
            "Wycheproof c2sp_chunked_encryption_aes_256_gcm_test.json: \(valid + invalid) vectors ran — \(valid) valid passed, \(invalid) invalid refused"
        )
        #expect(valid + invalid == file.numberOfTests)
        #expect(valid == 10 && invalid == 25)
    }

    @Test func cobblestone128IsRefusedAtTheHeader() throws {
        let file = try Self.load("c2sp_chunked_encryption_aes_128_gcm_test")
        var refused = 0
        for vector in file.testGroups.flatMap(\.tests) {
            let sealed = try #require(inflate([UInt8](hex: vector.ct)))
            let key = try SecureBytes(copying: [UInt8](hex: vector.key))
            let opened = Counter()
            ChunkCipher.$openObserver.withValue({ _ in opened.value.withLock { $0 += 1 } }) {
                #expect(throws: EnvelopeError.self) {
                    try ChunkedPayload.open(sealed, inputKey: key, context: [UInt8](hex: vector.ctx))
                }
            }
            #expect(opened.value.withLock { $0 } == 0)
            refused += 1
        }
        print(
            "Wycheproof c2sp_chunked_encryption_aes_128_gcm_test.json: \(refused) vectors ran — \(refused) refused by policy (AES-128 input key)"
        )
        #expect(refused == file.numberOfTests)
    }
}
