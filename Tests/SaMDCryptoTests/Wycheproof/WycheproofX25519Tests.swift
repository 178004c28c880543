import Foundation
import SaMDCrypto
import SaMDTestSupport
import Testing

/// Wycheproof X25519 vectors through ``X25519/PrivateKey/sharedSecret(with:)``.
///
/// Decisions for the `acceptable` vectors:
/// - flag `ZeroSharedSecret` (a low-order public key): refused with `invalidPublicKey` — an all-zero
///   secret carries no contribution from the private key (RFC 7748 §6.1 allows the check; SaMDKit makes it).
/// - every other acceptable flag (`Twist`, `NonCanonicalPublic`, `EdgeCase*`, `SpecialPublicKey`, `Ktv`):
///   accepted, with exactly the expected shared secret, because RFC 7748 §5 requires masking the top bit
///   and accepting non-canonical u-coordinates.
@Suite("Wycheproof X25519")
struct WycheproofX25519Tests {
    struct Group: Decodable {
        let curve: String
        let tests: [Vector]
    }

    struct Vector: Decodable {
        let tcId: Int
        let comment: String
        let flags: [String]
        let `public`: String
        let `private`: String
        let shared: String
        let result: WycheproofResult
    }

    @Test func x25519() throws {
        let file = "x25519_test"
        let vectors = try WycheproofFile<Group>.load(file)
        var tally = WycheproofTally(file: file)
        for group in vectors.testGroups {
            #expect(group.curve == "curve25519")
            for vector in group.tests {
                let context = Comment(rawValue: "\(file) tcId \(vector.tcId): \(vector.comment) \(vector.flags)")
                let privateKey = try X25519.PrivateKey(
                    rawRepresentation: SecureBytes(copying: [UInt8](hex: vector.private)))
                let publicKey = try X25519.PublicKey(rawRepresentation: [UInt8](hex: vector.public))
                let expected = [UInt8](hex: vector.shared)
                switch vector.result {
                case .valid:
                    #expect(try privateKey.sharedSecret(with: publicKey).constantTimeEquals(expected), context)
                    tally.validPassed += 1
                case .acceptable where vector.flags.contains("ZeroSharedSecret"):
                    #expect(expected.allSatisfy { $0 == 0 }, context)
                    #expect(
                        thrownCode { try privateKey.sharedSecret(with: publicKey) }
                            == CryptoErrorCodeBox(code: .invalidPublicKey),
                        context
                    )
                    tally.acceptableRefused += 1
                case .acceptable:
                    #expect(try privateKey.sharedSecret(with: publicKey).constantTimeEquals(expected), context)
                    tally.acceptableAccepted += 1
                case .invalid:
                    #expect(thrownCode { try privateKey.sharedSecret(with: publicKey) } != nil, context)
                    tally.invalidRefused += 1
                }
            }
        }
        print(tally)
        #expect(tally.total == vectors.numberOfTests)
        #expect(tally.validPassed > 0 && tally.acceptableRefused > 0 && tally.acceptableAccepted > 0)
    }
}
