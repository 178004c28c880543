import Foundation
import SaMDCrypto
import SaMDTestSupport
import Testing

/// Wycheproof HKDF-SHA-256 vectors through ``HKDF/deriveKey(hash:inputKeyMaterial:salt:info:outputByteCount:)``.
@Suite("Wycheproof HKDF")
struct WycheproofHKDFTests {
    struct Group: Decodable {
        let tests: [Vector]
    }

    struct Vector: Decodable {
        let tcId: Int
        let comment: String
        let ikm: String
        let salt: String
        let info: String
        let size: Int
        let okm: String
        let result: WycheproofResult
    }

    @Test func hkdfSHA256() throws {
        let file = "hkdf_sha256_test"
        let vectors = try WycheproofFile<Group>.load(file)
        var tally = WycheproofTally(file: file)
        for vector in vectors.testGroups.flatMap(\.tests) {
            let context = Comment(rawValue: "\(file) tcId \(vector.tcId): \(vector.comment)")
            let ikm = try SecureBytes(copying: [UInt8](hex: vector.ikm))
            let derive = {
                try HKDF.deriveKey(
                    hash: .sha256,
                    inputKeyMaterial: ikm,
                    salt: [UInt8](hex: vector.salt),
                    info: [UInt8](hex: vector.info),
                    outputByteCount: vector.size
                )
            }
            switch vector.result {
            case .valid:
                let okm = try derive()
                #expect(okm.constantTimeEquals([UInt8](hex: vector.okm)), context)
                // The same through extract then expand.
                let prk = try HKDF.extract(hash: .sha256, inputKeyMaterial: ikm, salt: [UInt8](hex: vector.salt))
                let expanded = try HKDF.expand(
                    hash: .sha256,
                    pseudoRandomKey: prk,
                    info: [UInt8](hex: vector.info),
                    outputByteCount: vector.size
                )
                #expect(expanded == okm, context)
                tally.validPassed += 1
            case .invalid, .acceptable:
                #expect(thrownCode(derive) == CryptoErrorCodeBox(code: .invalidInput), context)
                tally.invalidRefused += 1
            }
        }
        print(tally)
        #expect(tally.total == vectors.numberOfTests)
        #expect(tally.validPassed > 0 && tally.invalidRefused > 0)
    }
}
