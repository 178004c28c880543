import SaMDTestSupport
import Testing

@testable import SaMDCrypto

@Suite("X25519, sealed boxes and Ed25519")
struct AsymmetricTests {
    /// RFC 7748 §6.1.
    @Test func x25519RFC7748Section6_1() throws {
        let alice = try X25519.PrivateKey(
            rawRepresentation: SecureBytes(
                copying: [UInt8](hex: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")))
        let bob = try X25519.PrivateKey(
            rawRepresentation: SecureBytes(
                copying: [UInt8](hex: "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")))
        #expect(
            alice.publicKey.rawRepresentation
                == [UInt8](hex: "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"))
        #expect(
            bob.publicKey.rawRepresentation
                == [UInt8](hex: "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"))
        let shared = [UInt8](hex: "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        #expect(try alice.sharedSecret(with: bob.publicKey).constantTimeEquals(shared))
        #expect(try bob.sharedSecret(with: alice.publicKey).constantTimeEquals(shared))
    }

    @Test func x25519KeySizesAreChecked() throws {
        #expect(
            thrownCode { try X25519.PublicKey(rawRepresentation: [UInt8](repeating: 9, count: 31)) }
                == CryptoErrorCodeBox(code: .invalidPublicKey))
        #expect(
            thrownCode { try X25519.PrivateKey(rawRepresentation: SecureBytes(randomByteCount: 33)) }
                == CryptoErrorCodeBox(code: .invalidKeySize))
        // The all-zero point is of small order.
        let key = try X25519.PrivateKey()
        #expect(
            thrownCode {
                try key.sharedSecret(with: X25519.PublicKey(rawRepresentation: [UInt8](repeating: 0, count: 32)))
            } == CryptoErrorCodeBox(code: .invalidPublicKey))
    }

    @Test func sealedBoxOpensOnlyForItsRecipient() throws {
        let gateway = try X25519.PrivateKey()
        let stranger = try X25519.PrivateKey()
        let dek = try SecureBytes(randomByteCount: 32)
        let sealed = try SealedBox.seal(dek, to: gateway.publicKey)
        #expect(sealed.count == 32 + SealedBox.overheadByteCount)
        #expect(try SealedBox.open(sealed, with: gateway) == dek)
        #expect(
            thrownCode { try SealedBox.open(sealed, with: stranger) } == CryptoErrorCodeBox(code: .authenticationFailed)
        )
        // Two seals of the same key differ (fresh ephemeral key each time).
        #expect(try SealedBox.seal(dek, to: gateway.publicKey) != sealed)
        for index in [0, 31, 32, 47, sealed.count - 1] {
            var tampered = sealed
            tampered[index] ^= 0x80
            #expect(
                thrownCode { try SealedBox.open(tampered, with: gateway) }
                    == CryptoErrorCodeBox(code: .authenticationFailed), "byte \(index)")
        }
        // Empty messages work; impossible lengths are refused before anything is allocated.
        let empty = try SealedBox.seal(SecureBytes(copying: [UInt8]()), to: gateway.publicKey)
        #expect(try SealedBox.open(empty, with: gateway).count == 0)
        #expect(
            thrownCode { try SealedBox.open([UInt8](repeating: 0, count: 47), with: gateway) }
                == CryptoErrorCodeBox(code: .invalidInput))
        #expect(
            thrownCode {
                try SealedBox.open([UInt8](repeating: 0, count: SealedBox.maximumMessageByteCount + 49), with: gateway)
            } == CryptoErrorCodeBox(code: .invalidInput))
        #expect(
            thrownCode {
                try SealedBox.seal(
                    SecureBytes(randomByteCount: SealedBox.maximumMessageByteCount + 1), to: gateway.publicKey)
            } == CryptoErrorCodeBox(code: .inputTooLarge))
    }

    /// RFC 8032 §7.1, TEST 1 (empty message) and TEST 3 (two bytes).
    @Test func ed25519RFC8032() throws {
        let test1 = try Ed25519.PrivateKey(
            seed: SecureBytes(copying: [UInt8](hex: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
        )
        #expect(
            test1.publicKey.rawRepresentation
                == [UInt8](hex: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))
        let signature1 = [UInt8](
            hex:
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        )
        #expect(try test1.signature(for: [UInt8]()) == signature1)
        #expect(test1.publicKey.isValidSignature(signature1, for: [UInt8]()))

        let test3 = try Ed25519.PrivateKey(
            seed: SecureBytes(copying: [UInt8](hex: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7"))
        )
        #expect(
            test3.publicKey.rawRepresentation
                == [UInt8](hex: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025"))
        let message3 = [UInt8](hex: "af82")
        let signature3 = [UInt8](
            hex:
                "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
        )
        #expect(try test3.signature(for: message3) == signature3)
        try test3.publicKey.verify(signature3, for: message3)
    }

    @Test func ed25519RefusesForgeries() throws {
        let key = try Ed25519.PrivateKey()
        let message = Array("ECG strip 2026-11-30".utf8)
        let signature = try key.signature(for: message)
        #expect(key.publicKey.isValidSignature(signature, for: message))
        var tampered = signature
        tampered[10] ^= 1
        #expect(!key.publicKey.isValidSignature(tampered, for: message))
        #expect(!key.publicKey.isValidSignature(signature, for: message + [0]))
        #expect(!key.publicKey.isValidSignature(signature.prefix(63), for: message))
        #expect(!(try Ed25519.PrivateKey()).publicKey.isValidSignature(signature, for: message))
        #expect(throws: CryptoError(.invalidSignature, "")) { try key.publicKey.verify(tampered, for: message) }
        #expect(
            thrownCode { try Ed25519.PrivateKey(seed: SecureBytes(randomByteCount: 64)) }
                == CryptoErrorCodeBox(code: .invalidKeySize))
    }
}
