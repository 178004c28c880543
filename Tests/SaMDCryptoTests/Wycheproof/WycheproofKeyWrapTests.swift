import Foundation
import SaMDCrypto
import SaMDTestSupport
import Testing

/// Wycheproof AES-KW (RFC 3394) and AES-KWP (RFC 5649) vectors through ``AESKeyWrap``.
///
/// Decision for the three `acceptable` KW vectors (flag `ShortKey`, an 8-byte key): refused.
/// RFC 3394 §2 defines KW for n ≥ 2 semiblocks; an 8-byte key is no key SaMDKit wraps.
@Suite("Wycheproof AES key wrap")
struct WycheproofKeyWrapTests {
    struct Group: Decodable {
        let keySize: Int
        let tests: [Vector]
    }

    struct Vector: Decodable {
        let tcId: Int
        let comment: String
        let flags: [String]
        let key: String
        let msg: String
        let ct: String
        let result: WycheproofResult
    }

    enum Variant: String, CaseIterable, CustomTestStringConvertible {
        case kw = "aes_wrap_test"
        case kwp = "aes_kwp_test"

        var testDescription: String { self.rawValue }

        func wrap(_ key: SecureBytes, _ kek: SecureBytes) throws -> [UInt8] {
            switch self {
            case .kw: try AESKeyWrap.wrap(key, using: kek)
            case .kwp: try AESKeyWrap.wrapWithPadding(key, using: kek)
            }
        }

        func unwrap(_ wrapped: [UInt8], _ kek: SecureBytes) throws -> SecureBytes {
            switch self {
            case .kw: try AESKeyWrap.unwrap(wrapped, using: kek)
            case .kwp: try AESKeyWrap.unwrapWithPadding(wrapped, using: kek)
            }
        }

        /// Whether a key of `count` bytes can be wrapped at all.
        func accepts(keyByteCount count: Int) -> Bool {
            switch self {
            case .kw: count >= 16 && count % 8 == 0
            case .kwp: count >= 1
            }
        }
    }

    @Test(arguments: Variant.allCases)
    func vectors(variant: Variant) throws {
        let file = variant.rawValue
        let vectors = try WycheproofFile<Group>.load(file)
        var tally = WycheproofTally(file: file)
        for group in vectors.testGroups {
            for vector in group.tests {
                let context = Comment(rawValue: "\(file) tcId \(vector.tcId): \(vector.comment)")
                let kek = try SecureBytes(copying: [UInt8](hex: vector.key))
                let message = [UInt8](hex: vector.msg)
                let wrapped = [UInt8](hex: vector.ct)
                let plainKey = try SecureBytes(copying: message)
                switch vector.result {
                case .valid:
                    #expect(try variant.wrap(plainKey, kek) == wrapped, context)
                    #expect(try variant.unwrap(wrapped, kek) == plainKey, context)
                    tally.validPassed += 1
                case .invalid:
                    // Any unwrap of an invalid wrapping must fail, whatever the reason.
                    #expect(thrownCode { try variant.unwrap(wrapped, kek) } != nil, context)
                    if !variant.accepts(keyByteCount: message.count) {
                        #expect(
                            thrownCode { try variant.wrap(plainKey, kek) } == CryptoErrorCodeBox(code: .invalidInput),
                            context)
                    }
                    tally.invalidRefused += 1
                case .acceptable:
                    #expect(
                        vector.flags == ["ShortKey"], "an acceptable case without a documented decision: \(context)")
                    #expect(
                        thrownCode { try variant.wrap(plainKey, kek) } == CryptoErrorCodeBox(code: .invalidInput),
                        context)
                    #expect(
                        thrownCode { try variant.unwrap(wrapped, kek) } == CryptoErrorCodeBox(code: .invalidInput),
                        context)
                    tally.acceptableRefused += 1
                }
            }
        }
        print(tally)
        #expect(tally.total == vectors.numberOfTests)
        #expect(tally.validPassed > 0 && tally.invalidRefused > 0)
    }

    /// Integrity failures are one error, whatever part of the check failed (no padding oracle), and
    /// well-formed lengths never produce another code.
    @Test(arguments: Variant.allCases)
    func integrityFailuresAreOneError(variant: Variant) throws {
        let vectors = try WycheproofFile<Group>.load(variant.rawValue)
        for group in vectors.testGroups {
            for vector in group.tests where vector.result == .invalid {
                let wrapped = [UInt8](hex: vector.ct)
                let wellFormed =
                    wrapped.count % 8 == 0 && wrapped.count >= (variant == .kw ? 24 : 16)
                guard wellFormed else { continue }
                let kek = try SecureBytes(copying: [UInt8](hex: vector.key))
                #expect(
                    thrownCode { try variant.unwrap(wrapped, kek) } == CryptoErrorCodeBox(code: .authenticationFailed),
                    "\(variant.rawValue) tcId \(vector.tcId): \(vector.comment)"
                )
            }
        }
    }
}
