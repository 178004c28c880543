import Foundation
import SaMDCrypto
import SaMDTestSupport
import Testing

@testable import SaMDEnvelope

/// The test vectors published in Sources/SaMDEnvelope/SaMDEnvelope.docc/EnvelopeFormat.md, re-derived from their fixed inputs: the
/// document is read, each vector's inputs sealed deterministically, and the result compared with the
/// published envelope, which must also open.
@Suite("EnvelopeFormat.md test vectors (the SaMDEnvelope DocC catalog)")
struct EnvelopeFormatVectorTests {
    static var documentURL: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Sources/SaMDEnvelope/SaMDEnvelope.docc/EnvelopeFormat.md")
    }

    /// The `key: value` lines of each ```vector block.
    static func vectors() throws -> [[String: String]] {
        let text = try String(contentsOf: self.documentURL, encoding: .utf8)
        var vectors: [[String: String]] = []
        var current: [String: String]?
        var lastKey: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "```vector" {
                current = [:]
                continue
            }
            if line == "```", let vector = current {
                vectors.append(vector)
                current = nil
                continue
            }
            guard current != nil else { continue }
            if line.hasPrefix("  "), let key = lastKey {
                current?[key, default: ""] += line.trimmingCharacters(in: .whitespaces)
            } else if let colon = line.firstIndex(of: ":") {
                let key = String(line[..<colon])
                current?[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                lastKey = key
            }
        }
        return vectors
    }

    @Test func publishedVectorsAreReDerived() throws {
        let vectors = try Self.vectors()
        #expect(vectors.count >= 2)
        for vector in vectors {
            let name = try #require(vector["name"])
            let kekID = try KeyIdentifier(parsing: try #require(vector["kek_id"]))
            let kek = try SecureBytes(copying: [UInt8](hex: try #require(vector["kek"])))
            let suiteNumber = try #require(vector["suite"].flatMap { UInt8($0) })
            let suite = try #require(PayloadSuite(rawValue: suiteNumber))
            var pairs: [(String, String)] = []
            for pair in (vector["context"] ?? "").split(separator: ",") where !pair.isEmpty {
                let parts = pair.split(separator: "=", maxSplits: 1)
                pairs.append((String(parts[0]), String(parts.count > 1 ? parts[1] : "")))
            }
            let context = try EncryptionContext(pairs)
            #expect(
                context.canonicalBytes == [UInt8](hex: try #require(vector["context_bytes"])),
                "\(name): context encoding")
            // Either the plaintext in hex, or a length with byte i = (7·i + 3) mod 256.
            let plaintext =
                if let length = vector["plaintext_pattern_length"].flatMap(Int.init) {
                    (0..<length).map { UInt8((7 * $0 + 3) % 256) }
                } else {
                    [UInt8](hex: vector["plaintext"] ?? "")
                }
            let envelope = try Envelope.seal(
                plaintext,
                context: context,
                to: .keyEncryptionKey(kekID, kek),
                suite: suite,
                dek: SecureBytes(copying: [UInt8](hex: try #require(vector["dek"]))),
                wrapNonce: [UInt8](hex: try #require(vector["wrap_nonce"])),
                salt: [UInt8](hex: try #require(vector["salt"]))
            )
            if let digest = vector["envelope_sha256"] {
                let derived = try DigestAlgorithm.sha256.hash(envelope).hex
                #expect(derived == digest, "\(name): derived SHA-256 \(derived), context \(context.canonicalBytes.hex)")
                #expect(envelope.count == Int(vector["envelope_length"] ?? ""), "\(name): length \(envelope.count)")
            } else {
                let published = [UInt8](hex: try #require(vector["envelope"]))
                #expect(envelope == published, "\(name): derived \(envelope.hex)")
            }
            #expect(
                try Envelope.open(envelope, context: context, keys: StaticKeyProvider(keys: [kekID: kek])) == plaintext)
        }
    }
}
