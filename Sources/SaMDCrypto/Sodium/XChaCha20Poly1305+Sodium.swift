import CSaMDSodium

/// XChaCha20-Poly1305 (IETF) on libsodium's detached API. libsodium verifies the tag
/// before it decrypts, so no plaintext is written for a forged message.
final class SodiumXChaCha20Poly1305: AEADBackend {
    private let key: SecureBytes

    init(key: SecureBytes) {
        self.key = key
    }

    func seal(_ operation: AEADOperation, tag: UnsafeMutableRawBufferPointer) throws {
        let (plaintext, ciphertext, nonce, associatedData) = (
            operation.input, operation.output, operation.nonce, operation.associatedData
        )
        try CryptoProfile.requireNonFIPSAlgorithmsAllowed(AEADAlgorithm.xChaCha20Poly1305.rawValue)
        let result = self.key.withUnsafeBytes { key in
            withNonNullBases(plaintext, associatedData) { plaintextBase, associatedDataBase in
                var tagLength: UInt64 = 0
                return crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
                    nonNullBase(ciphertext),
                    tag.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    &tagLength,
                    plaintextBase,
                    UInt64(plaintext.count),
                    associatedDataBase,
                    UInt64(associatedData.count),
                    nil,
                    nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    key.baseAddress!.assumingMemoryBound(to: UInt8.self)
                )
            }
        }
        guard result == 0 else {
            secureZero(ciphertext)
            throw CryptoError(.sodiumFailure, "crypto_aead_xchacha20poly1305_ietf_encrypt_detached failed")
        }
    }

    func open(_ operation: AEADOperation, tag: UnsafeRawBufferPointer) throws {
        let (ciphertext, plaintext, nonce, associatedData) = (
            operation.input, operation.output, operation.nonce, operation.associatedData
        )
        try CryptoProfile.requireNonFIPSAlgorithmsAllowed(AEADAlgorithm.xChaCha20Poly1305.rawValue)
        let result = self.key.withUnsafeBytes { key in
            withNonNullBases(ciphertext, associatedData) { ciphertextBase, associatedDataBase in
                crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
                    nonNullBase(plaintext),
                    nil,
                    ciphertextBase,
                    UInt64(ciphertext.count),
                    tag.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    associatedDataBase,
                    UInt64(associatedData.count),
                    nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    key.baseAddress!.assumingMemoryBound(to: UInt8.self)
                )
            }
        }
        guard result == 0 else {
            secureZero(plaintext)
            throw CryptoError(.authenticationFailed, "the AEAD tag did not verify")
        }
    }
}

/// libsodium accepts NULL only for some zero-length arguments; hand it a valid one-byte
/// scratch address instead of NULL for every empty buffer.
private func withNonNullBases<Result>(
    _ a: UnsafeRawBufferPointer,
    _ b: UnsafeRawBufferPointer,
    _ body: (UnsafePointer<UInt8>, UnsafePointer<UInt8>) -> Result
) -> Result {
    var scratch: UInt8 = 0
    return withUnsafePointer(to: &scratch) { scratch in
        body(
            a.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? scratch,
            b.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? scratch
        )
    }
}

private func nonNullBase(_ buffer: UnsafeMutableRawBufferPointer) -> UnsafeMutablePointer<UInt8> {
    if let base = buffer.baseAddress {
        return base.assumingMemoryBound(to: UInt8.self)
    }
    return emptyOutputScratch
}

/// A writable byte that libsodium may be pointed at for an empty output; nothing is ever written to it.
nonisolated(unsafe) private let emptyOutputScratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
