import SaMDCrypto
import SaMDTestSupport
import Testing

@testable import SaMDEnvelope

@Suite("Encryption context")
struct EncryptionContextTests {
    @Test func canonicalEncodingIsDocumentedBytes() throws {
        let context = try EncryptionContext([("type", "fhir"), ("patient", "p1")])
        let expected: [UInt8] =
            Array("samd-context-v1".utf8) + [0, 0, 2]
            + [7] + Array("patient".utf8) + [0, 2] + Array("p1".utf8)
            + [4] + Array("type".utf8) + [0, 4] + Array("fhir".utf8)
        #expect(context.canonicalBytes == expected)
        #expect(EncryptionContext.empty.canonicalBytes == Array("samd-context-v1".utf8) + [0, 0, 0])
    }

    @Test func valuesAreNormalisedToNFC() throws {
        let composed = try EncryptionContext([("patient", "Jos\u{E9}")])
        let decomposed = try EncryptionContext([("patient", "Jose\u{301}")])
        #expect(composed == decomposed)
        #expect(composed.canonicalBytes == decomposed.canonicalBytes)
    }

    @Test func malformedContextsAreRefused() {
        let refused: [[(String, String)]] = [
            [("patient", "a"), ("patient", "b")], // duplicate
            [("", "a")],
            [("Patient", "a")], // upper case
            [("pa tient", "a")],
            [(String(repeating: "k", count: 65), "a")],
            [("k", String(repeating: "v", count: 513))],
            (0..<33).map { ("k\($0)", "v") },
        ]
        for pairs in refused {
            #expect(envelopeCode { try EncryptionContext(pairs) } == .invalidContext, "\(pairs.map(\.0))")
        }
    }

    @Test func descriptionNeverShowsValues() throws {
        let context = try EncryptionContext([("patient", "MRN-0042-SECRET")])
        #expect(!"\(context)".contains("MRN-0042"))
        #expect("\(context)".contains("patient"))
    }
}
