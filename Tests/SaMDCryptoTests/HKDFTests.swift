import SaMDTestSupport
import Testing

@testable import SaMDCrypto

/// HKDF-SHA-512 has no RFC or Wycheproof vectors here; these expected outputs were computed
/// independently with Python's `hmac`/`hashlib` from RFC 5869's definition (the same script gives
/// RFC 5869 test case 1 for SHA-256, which is checked below too).
@Suite("HKDF")
struct HKDFTests {
    let ikm = [UInt8](repeating: 0x0B, count: 22)
    let salt = [UInt8](hex: "000102030405060708090a0b0c")
    let info = [UInt8](hex: "f0f1f2f3f4f5f6f7f8f9")

    @Test func rfc5869TestCase1() throws {
        let okm = try HKDF.deriveKey(
            hash: .sha256, inputKeyMaterial: SecureBytes(copying: ikm), salt: salt, info: info, outputByteCount: 42)
        #expect(
            okm.constantTimeEquals(
                [UInt8](hex: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")))
        let prk = try HKDF.extract(hash: .sha256, inputKeyMaterial: SecureBytes(copying: ikm), salt: salt)
        #expect(
            prk.constantTimeEquals([UInt8](hex: "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")))
    }

    @Test func sha512ExtractAndExpand() throws {
        let prk = try HKDF.extract(hash: .sha512, inputKeyMaterial: SecureBytes(copying: ikm), salt: salt)
        #expect(prk.count == 64)
        #expect(
            prk.constantTimeEquals(
                [UInt8](
                    hex:
                        "665799823737ded04a88e47e54a5890bb2c3d247c7a4254a8e61350723590a26c36238127d8661b88cf80ef802d57e2f7cebcf1e00e083848be19929c61b4237"
                )))
        let expected = [UInt8](
            hex: "832390086cda71fb47625bb5ceb168e4c8e26a1a16ed34d9fc7fe92c1481579338da362cb8d9f925d7cb")
        let okm = try HKDF.expand(hash: .sha512, pseudoRandomKey: prk, info: info, outputByteCount: 42)
        #expect(okm.constantTimeEquals(expected))
        #expect(
            try HKDF.deriveKey(
                hash: .sha512, inputKeyMaterial: SecureBytes(copying: ikm), salt: salt, info: info, outputByteCount: 42)
                == okm)

        // Expand into a caller's buffer gives the same bytes.
        var buffer = [UInt8](repeating: 0, count: 42)
        try prk.withUnsafeBytes { prk in
            try info.withUnsafeBytes { info in
                try buffer.withUnsafeMutableBytes {
                    try HKDF.expand(hash: .sha512, pseudoRandomKey: prk, info: info, into: $0)
                }
            }
        }
        #expect(buffer == expected)
    }

    @Test func sha512MaximalOutputAndEmptySalt() throws {
        let okm = try HKDF.deriveKey(
            hash: .sha512, inputKeyMaterial: SecureBytes(copying: ikm), salt: [UInt8](), info: [UInt8](),
            outputByteCount: 255 * 64)
        #expect(okm.count == 16_320)
        #expect(okm.withUnsafeBytes { Array($0.suffix(16)) } == [UInt8](hex: "7c7e2c25a297eac29628b194c6828843"))
    }

    @Test(arguments: HKDFHash.allCases)
    func outputLengthsOutsideTheRFCAreRefused(hash: HKDFHash) throws {
        let key = try SecureBytes(randomByteCount: 32)
        for count in [0, -1, hash.maximumOutputByteCount + 1] {
            #expect(
                thrownCode {
                    try HKDF.deriveKey(
                        hash: hash, inputKeyMaterial: key, salt: [UInt8](), info: [UInt8](), outputByteCount: count)
                } == CryptoErrorCodeBox(code: .invalidInput))
            #expect(
                thrownCode {
                    try HKDF.expand(hash: hash, pseudoRandomKey: key, info: [UInt8](), outputByteCount: count)
                } == CryptoErrorCodeBox(code: .invalidInput))
        }
        #expect(
            try HKDF.expand(
                hash: hash, pseudoRandomKey: key, info: [UInt8](), outputByteCount: hash.maximumOutputByteCount
            ).count == hash.maximumOutputByteCount)
    }

    @Test func oversizedParametersAreRefusedBeforeUse() throws {
        let key = try SecureBytes(randomByteCount: 32)
        let longInfo = [UInt8](repeating: 1, count: HKDF.maximumInfoByteCount + 1)
        let longSalt = [UInt8](repeating: 1, count: HKDF.maximumSaltByteCount + 1)
        #expect(
            thrownCode { try HKDF.expand(hash: .sha256, pseudoRandomKey: key, info: longInfo, outputByteCount: 32) }
                == CryptoErrorCodeBox(code: .inputTooLarge))
        #expect(
            thrownCode { try HKDF.extract(hash: .sha256, inputKeyMaterial: key, salt: longSalt) }
                == CryptoErrorCodeBox(code: .inputTooLarge))
        // The largest allowed info works (OpenSSL 3.0 keeps 2048 bytes of it).
        let maxInfo = [UInt8](repeating: 1, count: HKDF.maximumInfoByteCount)
        #expect(try HKDF.expand(hash: .sha256, pseudoRandomKey: key, info: maxInfo, outputByteCount: 32).count == 32)
        #expect(
            thrownCode {
                try HKDF.expand(
                    hash: .sha256, pseudoRandomKey: SecureBytes(copying: [UInt8]()), info: [UInt8](),
                    outputByteCount: 32)
            } == CryptoErrorCodeBox(code: .invalidInput))
    }

    @Test func emptyInputKeyMaterialIsAllowed() throws {
        // RFC 5869 allows an empty IKM; OpenSSL must not see a NULL key pointer for it.
        let okm = try HKDF.deriveKey(
            hash: .sha256, inputKeyMaterial: SecureBytes(copying: [UInt8]()), salt: [UInt8](), info: [UInt8](),
            outputByteCount: 32)
        #expect(
            okm.constantTimeEquals([UInt8](hex: "eb70f01dede9afafa449eee1b1286504e1f62388b3f7dd4f956697b0e828fe18")))
    }
}
