import Foundation
import SaMDCrypto
import SaMDTestSupport
import Testing

/// Wycheproof AEAD vectors through the public API: every supported valid vector seals to exactly the
/// expected ciphertext and tag and opens back; every invalid vector fails to open; every vector with a
/// key, nonce or tag size SaMDCrypto does not support is refused with the matching typed error.
@Suite("Wycheproof AEAD")
struct WycheproofAEADTests {
    struct Group: Decodable {
        let keySize: Int
        let ivSize: Int
        let tagSize: Int
        let tests: [Vector]
    }

    struct Vector: Decodable {
        let tcId: Int
        let comment: String
        let flags: [String]
        let key: String
        let iv: String
        let aad: String
        let msg: String
        let ct: String
        let tag: String
        let result: WycheproofResult
    }

    @Test(arguments: [
        ("aes_gcm_test", AEADAlgorithm.aes256GCM),
        ("chacha20_poly1305_test", AEADAlgorithm.chaCha20Poly1305),
        ("xchacha20_poly1305_test", AEADAlgorithm.xChaCha20Poly1305),
    ])
    func vectors(file: String, algorithm: AEADAlgorithm) throws {
        let vectors = try WycheproofFile<Group>.load(file)
        var tally = WycheproofTally(file: file)
        for group in vectors.testGroups {
            for vector in group.tests {
                let context = Comment(rawValue: "\(file) tcId \(vector.tcId): \(vector.comment)")
                let key = try SecureBytes(copying: [UInt8](hex: vector.key))
                let nonce = [UInt8](hex: vector.iv)
                let aad = [UInt8](hex: vector.aad)
                let message = [UInt8](hex: vector.msg)
                let ciphertext = [UInt8](hex: vector.ct)
                let tag = [UInt8](hex: vector.tag)

                // Sizes SaMDCrypto does not support are refused explicitly, whatever the vector's verdict.
                let policyRefusal: CryptoError.Code? =
                    if group.keySize != algorithm.keyByteCount * 8 {
                        .invalidKeySize
                    } else if group.ivSize != algorithm.nonceByteCount * 8 {
                        .unsupportedNonceSize
                    } else if group.tagSize != AEADAlgorithm.tagByteCount * 8 {
                        .unsupportedTagSize
                    } else {
                        nil
                    }
                if let policyRefusal {
                    #expect(
                        thrownCode { try algorithm.seal(message, key: key, nonce: nonce, associatedData: aad) }
                            == CryptoErrorCodeBox(code: policyRefusal),
                        context
                    )
                    #expect(
                        thrownCode {
                            try algorithm.open(
                                ciphertext: ciphertext, tag: tag, key: key, nonce: nonce, associatedData: aad)
                        } == CryptoErrorCodeBox(code: policyRefusal),
                        context
                    )
                    tally.refusedByPolicy += 1
                    continue
                }

                switch vector.result {
                case .valid:
                    let sealed = try algorithm.seal(message, key: key, nonce: nonce, associatedData: aad)
                    #expect(sealed == ciphertext + tag, context)
                    let opened = try algorithm.open(
                        ciphertext: ciphertext, tag: tag, key: key, nonce: nonce, associatedData: aad)
                    #expect(opened == message, context)
                    let openedCombined = try algorithm.open(
                        ciphertext + tag, key: key, nonce: nonce, associatedData: aad)
                    #expect(openedCombined == message, context)
                    tally.validPassed += 1
                case .invalid, .acceptable:
                    // No acceptable AEAD vectors exist in these files; treat any as must-refuse.
                    let code = thrownCode {
                        try algorithm.open(
                            ciphertext: ciphertext, tag: tag, key: key, nonce: nonce, associatedData: aad)
                    }
                    #expect(code == CryptoErrorCodeBox(code: .authenticationFailed), context)
                    tally.invalidRefused += 1
                }
            }
        }
        print(tally)
        #expect(tally.total == vectors.numberOfTests)
        #expect(tally.validPassed > 0 && tally.invalidRefused > 0)
    }
}
