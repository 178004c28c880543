import SaMDTestSupport
import Testing

@testable import SaMDCrypto

/// Known answers from the RFCs themselves, and the bounds on untrusted wrapped input.
@Suite("AES key wrap")
struct KeyWrapTests {
    /// RFC 3394 §4.6: 256 bits of key data with a 256-bit KEK.
    @Test func rfc3394Section4_6() throws {
        let kek = try SecureBytes(
            copying: [UInt8](hex: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"))
        let key = try SecureBytes(
            copying: [UInt8](hex: "00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f"))
        let wrapped = [UInt8](hex: "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21")
        #expect(try AESKeyWrap.wrap(key, using: kek) == wrapped)
        #expect(try AESKeyWrap.unwrap(wrapped, using: kek) == key)
    }

    /// RFC 5649 §6: 20 octets and 7 octets of key data with a 192-bit KEK.
    @Test func rfc5649Section6() throws {
        let kek = try SecureBytes(copying: [UInt8](hex: "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"))
        let key20 = try SecureBytes(copying: [UInt8](hex: "c37b7e6492584340bed12207808941155068f738"))
        let wrapped20 = [UInt8](hex: "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a")
        #expect(try AESKeyWrap.wrapWithPadding(key20, using: kek) == wrapped20)
        #expect(try AESKeyWrap.unwrapWithPadding(wrapped20, using: kek) == key20)
        let key7 = try SecureBytes(copying: [UInt8](hex: "466f7250617369"))
        let wrapped7 = [UInt8](hex: "afbeb0f07dfbf5419200f2ccb50bb24f")
        #expect(try AESKeyWrap.wrapWithPadding(key7, using: kek) == wrapped7)
        #expect(try AESKeyWrap.unwrapWithPadding(wrapped7, using: kek) == key7)
    }

    @Test func aWrongKEKIsAnAuthenticationFailure() throws {
        let kek = try SecureBytes(randomByteCount: 32)
        let other = try SecureBytes(randomByteCount: 32)
        let dek = try SecureBytes(randomByteCount: 32)
        let wrapped = try AESKeyWrap.wrap(dek, using: kek)
        let wrappedPadded = try AESKeyWrap.wrapWithPadding(dek, using: kek)
        #expect(
            thrownCode { try AESKeyWrap.unwrap(wrapped, using: other) }
                == CryptoErrorCodeBox(code: .authenticationFailed))
        #expect(
            thrownCode { try AESKeyWrap.unwrapWithPadding(wrappedPadded, using: other) }
                == CryptoErrorCodeBox(code: .authenticationFailed))
    }

    @Test func untrustedLengthsAreBoundedBeforeAllocation() throws {
        let kek = try SecureBytes(randomByteCount: 32)
        let huge = [UInt8](repeating: 0, count: AESKeyWrap.maximumKeyByteCount + 16)
        #expect(thrownCode { try AESKeyWrap.unwrap(huge, using: kek) } == CryptoErrorCodeBox(code: .invalidInput))
        #expect(
            thrownCode { try AESKeyWrap.unwrapWithPadding(huge, using: kek) } == CryptoErrorCodeBox(code: .invalidInput)
        )
        for count in [0, 8, 15, 17, 23] {
            let short = [UInt8](repeating: 0, count: count)
            #expect(thrownCode { try AESKeyWrap.unwrap(short, using: kek) } == CryptoErrorCodeBox(code: .invalidInput))
        }
        let tooBig = try SecureBytes(randomByteCount: AESKeyWrap.maximumKeyByteCount + 8)
        #expect(thrownCode { try AESKeyWrap.wrap(tooBig, using: kek) } == CryptoErrorCodeBox(code: .invalidInput))
        let largest = try SecureBytes(randomByteCount: AESKeyWrap.maximumKeyByteCount)
        #expect(try AESKeyWrap.unwrap(AESKeyWrap.wrap(largest, using: kek), using: kek) == largest)
    }

    @Test func kekSizesOtherThanAESAreRefused() throws {
        let dek = try SecureBytes(randomByteCount: 32)
        for count in [0, 8, 15, 17, 31, 33, 64] {
            let kek = try SecureBytes(randomByteCount: count)
            #expect(thrownCode { try AESKeyWrap.wrap(dek, using: kek) } == CryptoErrorCodeBox(code: .invalidKeySize))
            #expect(
                thrownCode { try AESKeyWrap.unwrapWithPadding([UInt8](repeating: 0, count: 40), using: kek) }
                    == CryptoErrorCodeBox(code: .invalidKeySize))
        }
    }

    /// AES-256-GCM key wrap with associated data (the envelope's DEK wrap and the subject-key wrap).
    @Test func aeadKeyWrapIsBoundToItsAssociatedData() throws {
        let kek = try SecureBytes(randomByteCount: 32)
        let key = try SecureBytes(randomByteCount: 32)
        let wrapped = try AEADKeyWrap.wrap(key, using: kek, associatedData: Array("records:1".utf8))
        #expect(wrapped.count == 32 + AEADKeyWrap.overheadByteCount)
        #expect(try AEADKeyWrap.unwrap(wrapped, using: kek, associatedData: Array("records:1".utf8)) == key)
        #expect(
            thrownCode { try AEADKeyWrap.unwrap(wrapped, using: kek, associatedData: Array("records:2".utf8)) }
                == CryptoErrorCodeBox(code: .authenticationFailed))
        #expect(
            thrownCode {
                try AEADKeyWrap.unwrap(
                    wrapped, using: SecureBytes(randomByteCount: 32), associatedData: Array("records:1".utf8))
            } == CryptoErrorCodeBox(code: .authenticationFailed))
        #expect(
            thrownCode { try AEADKeyWrap.unwrap(Array(wrapped.prefix(27)), using: kek, associatedData: [UInt8]()) }
                == CryptoErrorCodeBox(code: .invalidInput))
        #expect(
            thrownCode {
                try AEADKeyWrap.unwrap(repeatElement(UInt8(0), count: 1 << 40), using: kek, associatedData: [UInt8]())
            } == CryptoErrorCodeBox(code: .invalidInput))
        #expect(
            try AEADKeyWrap.wrap(key, using: kek, associatedData: [UInt8]())
                != AEADKeyWrap.wrap(key, using: kek, associatedData: [UInt8]()))
    }
}

/// `AEADKeyWrap` with a KEK keyed once into an `AEADContext` (many wraps, one key schedule) is the same
/// format as with the KEK itself.
@Suite("AEAD key wrap with a keyed context")
struct AEADKeyWrapContextTests {
    @Test func aKeyedContextWrapsAndUnwrapsTheSameFormat() throws {
        let kek = try SecureBytes(randomByteCount: 32)
        let context = try AEADContext(algorithm: .aes256GCM, key: kek)
        let key = try SecureBytes(randomByteCount: 32)
        let associatedData = Array("header".utf8)
        let byContext = try AEADKeyWrap.wrap(key, using: context, associatedData: associatedData)
        let byKEK = try AEADKeyWrap.wrap(key, using: kek, associatedData: associatedData)
        #expect(byContext.count == 32 + AEADKeyWrap.overheadByteCount)
        #expect(byContext != byKEK, "each wrap draws its own nonce")
        #expect(try AEADKeyWrap.unwrap(byContext, using: kek, associatedData: associatedData) == key)
        #expect(try AEADKeyWrap.unwrap(byKEK, using: context, associatedData: associatedData) == key)
        // The context stays usable after a failure: wrong associated data, then the right one.
        #expect(throws: CryptoError.self) {
            try AEADKeyWrap.unwrap(byContext, using: context, associatedData: Array("other".utf8))
        }
        #expect(try AEADKeyWrap.unwrap(byContext, using: context, associatedData: associatedData) == key)
    }

    @Test func onlyAnAESGCMContextWraps() throws {
        let chacha = try AEADContext(algorithm: .chaCha20Poly1305, key: SecureBytes(randomByteCount: 32))
        let key = try SecureBytes(randomByteCount: 32)
        #expect(throws: CryptoError.self) { try AEADKeyWrap.wrap(key, using: chacha, associatedData: [UInt8]()) }
        #expect(throws: CryptoError.self) {
            try AEADKeyWrap.unwrap([UInt8](repeating: 0, count: 60), using: chacha, associatedData: [UInt8]())
        }
        let gcm = try AEADContext(algorithm: .aes256GCM, key: SecureBytes(randomByteCount: 32))
        #expect(throws: CryptoError.self) {
            try AEADKeyWrap.unwrap([UInt8](repeating: 0, count: 27), using: gcm, associatedData: [UInt8]())
        }
    }
}
