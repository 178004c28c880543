import Testing

@testable import SaMDCrypto

@Suite("AEAD context and one-shot API")
struct AEADContextTests {
    static let algorithms = AEADAlgorithm.allCases

    @Test(arguments: algorithms)
    func roundTripOfManySizes(algorithm: AEADAlgorithm) throws {
        let key = try SecureBytes(randomByteCount: 32)
        for count in [0, 1, 15, 16, 17, 1024, 16 * 1024, 100_003] {
            let message = try SecureRandom.bytes(count: count)
            let nonce = try algorithm.randomNonce()
            let aad = Array("record:42".utf8)
            let sealed = try algorithm.seal(message, key: key, nonce: nonce, associatedData: aad)
            #expect(sealed.count == count + 16)
            #expect(try algorithm.open(sealed, key: key, nonce: nonce, associatedData: aad) == message)
            #expect(throws: CryptoError(.authenticationFailed, "")) {
                try algorithm.open(sealed, key: key, nonce: nonce, associatedData: Array("record:43".utf8))
            }
        }
    }

    /// One context reused across chunks, alternating seal and open, gives what one-shot calls give.
    @Test(arguments: algorithms)
    func contextReuseAcrossChunksMatchesOneShot(algorithm: AEADAlgorithm) throws {
        let key = try SecureBytes(randomByteCount: 32)
        let context = try AEADContext(algorithm: algorithm, key: key)
        var output = [UInt8](repeating: 0, count: 16 * 1024 + 16)
        var opened = [UInt8](repeating: 0, count: 16 * 1024)
        for index in 0..<64 {
            let chunk = try SecureRandom.bytes(count: index == 63 ? 100 : 16 * 1024)
            var nonce = [UInt8](repeating: 0, count: algorithm.nonceByteCount)
            nonce[nonce.count - 1] = UInt8(index)
            let aad: [UInt8] = [UInt8(index)]
            let written = try chunk.withUnsafeBytes { chunk in
                try nonce.withUnsafeBytes { nonce in
                    try aad.withUnsafeBytes { aad in
                        try output.withUnsafeMutableBytes { output in
                            try context.seal(chunk, nonce: nonce, associatedData: aad, into: output)
                        }
                    }
                }
            }
            #expect(written == chunk.count + 16)
            let sealed = Array(output[..<written])
            #expect(sealed == (try algorithm.seal(chunk, key: key, nonce: nonce, associatedData: aad)))
            let count = try sealed.withUnsafeBytes { sealed in
                try nonce.withUnsafeBytes { nonce in
                    try aad.withUnsafeBytes { aad in
                        try opened.withUnsafeMutableBytes { opened in
                            try context.open(sealed, nonce: nonce, associatedData: aad, into: opened)
                        }
                    }
                }
            }
            #expect(Array(opened[..<count]) == chunk)
        }
    }

    @Test(arguments: algorithms)
    func sealAndOpenInPlace(algorithm: AEADAlgorithm) throws {
        let key = try SecureBytes(randomByteCount: 32)
        let context = try AEADContext(algorithm: algorithm, key: key)
        let message = try SecureRandom.bytes(count: 5000)
        let nonce = try algorithm.randomNonce()
        var buffer = message + [UInt8](repeating: 0, count: 16)
        try buffer.withUnsafeMutableBytes { buffer in
            try nonce.withUnsafeBytes { nonce in
                let plaintext = UnsafeRawBufferPointer(rebasing: buffer[..<5000])
                try context.seal(
                    plaintext, nonce: nonce, associatedData: UnsafeRawBufferPointer(start: nil, count: 0), into: buffer)
            }
        }
        #expect(buffer == (try algorithm.seal(message, key: key, nonce: nonce)))
        let count = try buffer.withUnsafeMutableBytes { buffer in
            try nonce.withUnsafeBytes { nonce in
                try context.open(
                    UnsafeRawBufferPointer(buffer),
                    nonce: nonce,
                    associatedData: UnsafeRawBufferPointer(start: nil, count: 0),
                    into: buffer
                )
            }
        }
        #expect(Array(buffer[..<count]) == message)
    }

    @Test(arguments: algorithms)
    func partiallyOverlappingBuffersAreRefused(algorithm: AEADAlgorithm) throws {
        let context = try AEADContext(algorithm: algorithm, key: SecureBytes(randomByteCount: 32))
        let nonce = try algorithm.randomNonce()
        var buffer = [UInt8](repeating: 7, count: 200)
        let code = buffer.withUnsafeMutableBytes { buffer in
            nonce.withUnsafeBytes { nonce in
                thrownCode {
                    try context.seal(
                        UnsafeRawBufferPointer(rebasing: buffer[0..<100]),
                        nonce: nonce,
                        associatedData: UnsafeRawBufferPointer(start: nil, count: 0),
                        into: UnsafeMutableRawBufferPointer(rebasing: buffer[1..<200])
                    )
                }
            }
        }
        #expect(code == CryptoErrorCodeBox(code: .invalidInput))
    }

    /// A forged message never releases plaintext: the caller's buffer is zeroed, whatever was there.
    @Test(arguments: algorithms)
    func failedOpenZeroesTheOutput(algorithm: AEADAlgorithm) throws {
        let key = try SecureBytes(randomByteCount: 32)
        let context = try AEADContext(algorithm: algorithm, key: key)
        let message = [UInt8](repeating: 0x42, count: 3000)
        let nonce = try algorithm.randomNonce()
        var sealed = try algorithm.seal(message, key: key, nonce: nonce)
        sealed[sealed.count - 1] ^= 1 // flip one tag bit
        var output = [UInt8](repeating: 0xEE, count: 3000)
        let code = sealed.withUnsafeBytes { sealed in
            nonce.withUnsafeBytes { nonce in
                output.withUnsafeMutableBytes { output in
                    thrownCode {
                        try context.open(
                            sealed, nonce: nonce, associatedData: UnsafeRawBufferPointer(start: nil, count: 0),
                            into: output)
                    }
                }
            }
        }
        #expect(code == CryptoErrorCodeBox(code: .authenticationFailed))
        #expect(output.allSatisfy { $0 == 0 })
        // The context still works after a failure.
        let fresh = try algorithm.seal(message, key: key, nonce: nonce)
        #expect(try algorithm.open(fresh, key: key, nonce: nonce) == message)
    }

    @Test(arguments: algorithms)
    func sizesOtherThanTheSupportedOnesAreRefused(algorithm: AEADAlgorithm) throws {
        let key = try SecureBytes(randomByteCount: 32)
        let nonce = try algorithm.randomNonce()
        let sealed = try algorithm.seal([1, 2, 3] as [UInt8], key: key, nonce: nonce)
        let ciphertext = Array(sealed[..<3])
        let tag = Array(sealed[3...])

        for keyCount in [0, 16, 24, 31, 33, 64] {
            #expect(
                thrownCode { try AEADContext(algorithm: algorithm, key: SecureBytes(randomByteCount: keyCount)) }
                    == CryptoErrorCodeBox(code: .invalidKeySize)
            )
        }
        for nonceCount in [0, 8, 11, 13, 16, 23, 25, 32] where nonceCount != algorithm.nonceByteCount {
            let wrongNonce = [UInt8](repeating: 0, count: nonceCount)
            #expect(
                thrownCode { try algorithm.seal([1] as [UInt8], key: key, nonce: wrongNonce) }
                    == CryptoErrorCodeBox(code: .unsupportedNonceSize))
            #expect(
                thrownCode { try algorithm.open(sealed, key: key, nonce: wrongNonce) }
                    == CryptoErrorCodeBox(code: .unsupportedNonceSize))
        }
        // A truncated or extended tag is refused as such, never tried.
        for tagCount in [0, 4, 8, 12, 15, 17, 32] {
            let wrongTag = Array((tag + tag + tag).prefix(tagCount))
            #expect(
                thrownCode { try algorithm.open(ciphertext: ciphertext, tag: wrongTag, key: key, nonce: nonce) }
                    == CryptoErrorCodeBox(code: .unsupportedTagSize)
            )
        }
        #expect(try algorithm.open(ciphertext: ciphertext, tag: tag, key: key, nonce: nonce) == [1, 2, 3])
        // Input shorter than a tag cannot be authentic.
        #expect(
            thrownCode { try algorithm.open(Array(sealed.prefix(15)), key: key, nonce: nonce) }
                == CryptoErrorCodeBox(code: .authenticationFailed))
    }

    @Test(arguments: algorithms)
    func outputBuffersTooSmallAreRefused(algorithm: AEADAlgorithm) throws {
        let context = try AEADContext(algorithm: algorithm, key: SecureBytes(randomByteCount: 32))
        let nonce = try algorithm.randomNonce()
        let message = [UInt8](repeating: 1, count: 64)
        var output = [UInt8](repeating: 0, count: 64 + 15)
        let code = message.withUnsafeBytes { message in
            nonce.withUnsafeBytes { nonce in
                output.withUnsafeMutableBytes { output in
                    thrownCode {
                        try context.seal(
                            message, nonce: nonce, associatedData: UnsafeRawBufferPointer(start: nil, count: 0),
                            into: output)
                    }
                }
            }
        }
        #expect(code == CryptoErrorCodeBox(code: .outputBufferTooSmall))
    }

    @Test func limitsAreTheStandardsOnes() {
        #expect(AEADAlgorithm.aes256GCM.maximumPlaintextByteCount == 68_719_476_704) // 2^36 - 32
        #expect(AEADAlgorithm.chaCha20Poly1305.maximumPlaintextByteCount == 274_877_906_880) // 2^38 - 64
        #expect(AEADAlgorithm.aes256GCM.nonceByteCount == 12)
        #expect(AEADAlgorithm.xChaCha20Poly1305.nonceByteCount == 24)
    }
}

/// Sizes come from the caller and may come from untrusted input: every size is checked before anything
/// is copied or allocated, so a collection that claims a huge count gets a typed error, not a trap.
@Suite("Sizes are checked before copying")
struct SizesBeforeCopyingTests {
    static let huge = repeatElement(UInt8(0), count: 1 << 40) // lazy: claims 1 TiB, holds nothing

    @Test(arguments: AEADAlgorithm.allCases)
    func hugeLazyInputsGetTypedErrors(algorithm: AEADAlgorithm) throws {
        let key = try SecureBytes(randomByteCount: 32)
        let nonce = try algorithm.randomNonce()
        let tag = [UInt8](repeating: 0, count: 16)
        let tooLong = repeatElement(UInt8(0), count: algorithm.maximumPlaintextByteCount + 1)
        #expect(
            thrownCode { try algorithm.seal([1] as [UInt8], key: key, nonce: Self.huge) }
                == CryptoErrorCodeBox(code: .unsupportedNonceSize))
        #expect(
            thrownCode { try algorithm.open(Self.huge, key: key, nonce: Self.huge) }
                == CryptoErrorCodeBox(code: .unsupportedNonceSize))
        #expect(
            thrownCode { try algorithm.open(ciphertext: [1] as [UInt8], tag: Self.huge, key: key, nonce: nonce) }
                == CryptoErrorCodeBox(code: .unsupportedTagSize))
        #expect(
            thrownCode { try algorithm.seal(tooLong, key: key, nonce: nonce) }
                == CryptoErrorCodeBox(code: .inputTooLarge))
        #expect(
            thrownCode { try algorithm.open(ciphertext: tooLong, tag: tag, key: key, nonce: nonce) }
                == CryptoErrorCodeBox(code: .inputTooLarge))
    }

    @Test func hugeLazyParametersElsewhere() throws {
        let key = try SecureBytes(randomByteCount: 32)
        #expect(
            thrownCode { try HKDF.expand(hash: .sha256, pseudoRandomKey: key, info: Self.huge, outputByteCount: 32) }
                == CryptoErrorCodeBox(code: .inputTooLarge))
        #expect(
            thrownCode { try HKDF.extract(hash: .sha256, inputKeyMaterial: key, salt: Self.huge) }
                == CryptoErrorCodeBox(code: .inputTooLarge))
        #expect(
            thrownCode {
                try HKDF.deriveKey(
                    hash: .sha512, inputKeyMaterial: key, salt: [UInt8](), info: Self.huge, outputByteCount: 32)
            } == CryptoErrorCodeBox(code: .inputTooLarge))
        #expect(
            thrownCode { try AESKeyWrap.unwrapWithPadding(Self.huge, using: key) }
                == CryptoErrorCodeBox(code: .invalidInput))
        #expect(
            thrownCode { try SealedBox.open(Self.huge, with: X25519.PrivateKey()) }
                == CryptoErrorCodeBox(code: .invalidInput))
        #expect(
            thrownCode { try X25519.PublicKey(rawRepresentation: Self.huge) }
                == CryptoErrorCodeBox(code: .invalidPublicKey))
        #expect(thrownCode { try SecureRandom.bytes(count: 1 << 40) } == CryptoErrorCodeBox(code: .inputTooLarge))
        #expect(!key.constantTimeEquals(Self.huge))
        #expect(thrownCode { try SecureBytes(copying: Self.huge) } == CryptoErrorCodeBox(code: .inputTooLarge))
        #expect(try SecureBytes(randomByteCount: SecureBytes.maximumByteCount).count == SecureBytes.maximumByteCount)
    }

    /// A buffer whose count would overflow `count + 16` is refused, not trapped on.
    @Test func unsafeBufferCountsNearIntMaxAreRefused() throws {
        let context = try AEADContext(algorithm: .aes256GCM, key: SecureBytes(randomByteCount: 32))
        let nonce = try AEADAlgorithm.aes256GCM.randomNonce()
        // Never dereferenced: the size check comes first.
        let fake = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: 0x1000), count: Int.max)
        var output = [UInt8](repeating: 0, count: 32)
        let code = nonce.withUnsafeBytes { nonce in
            output.withUnsafeMutableBytes { output in
                thrownCode {
                    try context.seal(
                        fake, nonce: nonce, associatedData: UnsafeRawBufferPointer(start: nil, count: 0), into: output)
                }
            }
        }
        #expect(code == CryptoErrorCodeBox(code: .inputTooLarge))
    }

    @Test func anOpenOutputOverlappingTheTagIsRefused() throws {
        let key = try SecureBytes(randomByteCount: 32)
        let context = try AEADContext(algorithm: .aes256GCM, key: key)
        let nonce = try AEADAlgorithm.aes256GCM.randomNonce()
        var buffer =
            try AEADAlgorithm.aes256GCM.seal([UInt8](repeating: 1, count: 32), key: key, nonce: nonce)
            + [UInt8](repeating: 0, count: 32)
        let code = nonce.withUnsafeBytes { nonce in
            buffer.withUnsafeMutableBytes { buffer in
                thrownCode {
                    try context.open(
                        UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<48]),
                        nonce: nonce,
                        associatedData: UnsafeRawBufferPointer(start: nil, count: 0),
                        into: UnsafeMutableRawBufferPointer(rebasing: buffer[32...]) // starts at the tag
                    )
                }
            }
        }
        #expect(code == CryptoErrorCodeBox(code: .invalidInput))
    }

    @Test func aTagBufferOverlappingTheCiphertextIsRefused() throws {
        let context = try AEADContext(algorithm: .aes256GCM, key: SecureBytes(randomByteCount: 32))
        let nonce = try AEADAlgorithm.aes256GCM.randomNonce()
        let plaintext = [UInt8](repeating: 3, count: 64)
        var buffer = [UInt8](repeating: 0, count: 64)
        let code = plaintext.withUnsafeBytes { plaintext in
            nonce.withUnsafeBytes { nonce in
                buffer.withUnsafeMutableBytes { buffer in
                    thrownCode {
                        try context.seal(
                            plaintext: plaintext,
                            nonce: nonce,
                            associatedData: UnsafeRawBufferPointer(start: nil, count: 0),
                            ciphertext: buffer,
                            tag: UnsafeMutableRawBufferPointer(rebasing: buffer[40..<56])
                        )
                    }
                }
            }
        }
        #expect(code == CryptoErrorCodeBox(code: .invalidInput))
    }
}

@Suite("Fetched OpenSSL algorithms")
struct FetchedAlgorithmsTests {
    @Test func aFetchIsMadeOnceAndKept() throws {
        let first = try FetchedAlgorithms.cipher("AES-256-GCM")
        #expect(try FetchedAlgorithms.cipher("AES-256-GCM") == first)
        #expect(try FetchedAlgorithms.cipher("ChaCha20-Poly1305") != first)
        #expect(try FetchedAlgorithms.kdf("HKDF") == FetchedAlgorithms.kdf("HKDF"))
    }

    @Test func anUnknownAlgorithmIsATypedError() {
        #expect(throws: CryptoError.self) { try FetchedAlgorithms.cipher("NO-SUCH-CIPHER") }
        // A failed fetch is not cached: asking again fails again, and a real name still works.
        #expect(throws: CryptoError.self) { try FetchedAlgorithms.cipher("NO-SUCH-CIPHER") }
        #expect(throws: Never.self) { try FetchedAlgorithms.kdf("HKDF") }
    }
}
