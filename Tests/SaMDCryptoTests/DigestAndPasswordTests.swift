import SaMDTestSupport
import Testing

@testable import SaMDCrypto

@Suite("Digests, HMAC and Argon2id")
struct DigestAndPasswordTests {
    /// FIPS 180-4 examples ("abc", and the empty message).
    @Test func sha2KnownAnswers() throws {
        #expect(
            try DigestAlgorithm.sha256.hash(Array("abc".utf8))
                == [UInt8](hex: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
        #expect(
            try DigestAlgorithm.sha512.hash([UInt8]())
                == [UInt8](
                    hex:
                        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
                ))
    }

    /// RFC 4231 test case 1.
    @Test func hmacRFC4231() throws {
        let key = try SecureBytes(copying: [UInt8](repeating: 0x0B, count: 20))
        let message = Array("Hi There".utf8)
        #expect(
            try DigestAlgorithm.sha256.authenticationCode(for: message, key: key)
                == [UInt8](hex: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"))
        #expect(
            try DigestAlgorithm.sha512.authenticationCode(for: message, key: key)
                == [UInt8](
                    hex:
                        "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"
                ))
        #expect(
            thrownCode {
                try DigestAlgorithm.sha256.authenticationCode(for: message, key: SecureBytes(copying: [UInt8]()))
            } == CryptoErrorCodeBox(code: .invalidKeySize))
    }

    /// Expected values from the reference implementation (Debian's `argon2` 20190702:
    /// `echo -n PASS | argon2 SALT -id -t T -k KiB -p 1 -l 32 -r`).
    @Test func argon2idKnownAnswers() throws {
        let first = try Argon2id.deriveKey(
            passphrase: SecureBytes(copying: Array("correct horse battery staple".utf8)),
            salt: Array("saltsaltsaltsalt".utf8),
            parameters: .init(iterations: 2, memoryByteCount: 64 << 20)
        )
        #expect(
            first.constantTimeEquals([UInt8](hex: "1730d0c8e341f9c0fb78da9d0094735a3eeb8ae26d2552463327fe594c148f4b")))
        let second = try Argon2id.deriveKey(
            passphrase: SecureBytes(copying: Array("x".utf8)),
            salt: Array("0123456789abcdef".utf8),
            parameters: .init(iterations: 1, memoryByteCount: 8 << 10)
        )
        #expect(
            second.constantTimeEquals([UInt8](hex: "2792fda9fdc683447f4831826b7013dd8b42a92b3cda9bc2dda4d9477e8153c3")))
    }

    @Test func argon2idBoundsItsInputsBeforeWorking() throws {
        let passphrase = try SecureBytes(copying: Array("pass".utf8))
        let salt = [UInt8](repeating: 1, count: 16)
        let refused = CryptoErrorCodeBox(code: .invalidInput)
        // Parameters read from a hostile file must not commit terabytes of memory or years of work.
        #expect(
            thrownCode {
                try Argon2id.deriveKey(
                    passphrase: passphrase, salt: salt, parameters: .init(iterations: 1, memoryByteCount: 1 << 40))
            } == refused)
        #expect(
            thrownCode {
                try Argon2id.deriveKey(
                    passphrase: passphrase, salt: salt,
                    parameters: .init(iterations: 1_000_000, memoryByteCount: 8 << 10))
            } == refused)
        #expect(
            thrownCode {
                try Argon2id.deriveKey(
                    passphrase: passphrase, salt: salt, parameters: .init(iterations: 0, memoryByteCount: 8 << 10))
            } == refused)
        #expect(
            thrownCode { try Argon2id.deriveKey(passphrase: passphrase, salt: [1, 2, 3], parameters: .interactive) }
                == refused)
        #expect(
            thrownCode {
                try Argon2id.deriveKey(
                    passphrase: SecureBytes(copying: [UInt8]()), salt: salt, parameters: .interactive)
            } == refused)
        try CryptoProfile.$overrideForTesting.withValue(.nist) {
            #expect(
                thrownCode { try Argon2id.deriveKey(passphrase: passphrase, salt: salt, parameters: .interactive) }
                    == CryptoErrorCodeBox(code: .notAllowedInProfile))
        }
    }
}
