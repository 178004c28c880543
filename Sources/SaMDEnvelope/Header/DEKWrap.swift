import SaMDCrypto

/// Wrapping and unwrapping of a record's DEK, bound to the header's authenticated prefix.
enum DEKWrap {
    static let dekByteCount = 32

    /// Mode 1: AES-256-GCM under `kek` with a random 96-bit nonce and the prefix as associated data.
    static func wrap(_ dek: SecureBytes, prefix: [UInt8], kek: SecureBytes, nonce fixedNonce: [UInt8]? = nil) throws -> [UInt8] {
        do {
            let nonce = try fixedNonce ?? AEADAlgorithm.aes256GCM.randomNonce()
            let sealed = try dek.withUnsafeBytes { dek in
                try AEADAlgorithm.aes256GCM.seal(dek, key: kek, nonce: nonce, associatedData: prefix)
            }
            return nonce + sealed
        } catch let error as CryptoError {
            throw EnvelopeError.from(error, "wrapping the DEK")
        }
    }

    static func unwrap(_ wrapped: [UInt8], prefix: [UInt8], kek: SecureBytes) throws -> SecureBytes {
        precondition(wrapped.count == EnvelopeHeader.WrapMode.keyEncryptionKey.wrappedKeyByteCount)
        do {
            let context = try AEADContext(algorithm: .aes256GCM, key: kek)
            return try SecureBytes(unsafeUninitializedCount: dekByteCount) { output in
                try wrapped.withUnsafeBytes { wrapped in
                    try prefix.withUnsafeBytes { prefix in
                        try context.open(
                            ciphertext: UnsafeRawBufferPointer(rebasing: wrapped[12..<44]),
                            tag: UnsafeRawBufferPointer(rebasing: wrapped[44..<60]),
                            nonce: UnsafeRawBufferPointer(rebasing: wrapped[0..<12]),
                            associatedData: prefix,
                            plaintext: output
                        )
                    }
                }
            }
        } catch let error as CryptoError {
            throw EnvelopeError.from(error, "unwrapping the DEK (wrong key, or a modified header)")
        }
    }

    /// Mode 2: a sealed box of DEK ‖ SHA-256(prefix) to the recipient.
    static func seal(_ dek: SecureBytes, prefix: [UInt8], recipient: X25519.PublicKey) throws -> [UInt8] {
        do {
            let digest = try DigestAlgorithm.sha256.hash(prefix)
            let message = try SecureBytes(unsafeUninitializedCount: dekByteCount + digest.count) { output in
                dek.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: output[..<dekByteCount]).copyMemory(from: $0) }
                UnsafeMutableRawBufferPointer(rebasing: output[dekByteCount...]).copyBytes(from: digest)
            }
            return try SealedBox.seal(message, to: recipient)
        } catch let error as CryptoError {
            throw EnvelopeError.from(error, "sealing the DEK to the recipient")
        }
    }

    static func open(_ wrapped: [UInt8], prefix: [UInt8], recipient: X25519.PrivateKey) throws -> SecureBytes {
        do {
            let message = try SealedBox.open(wrapped, with: recipient)
            let digest = try DigestAlgorithm.sha256.hash(prefix)
            guard message.count == dekByteCount + digest.count else {
                throw EnvelopeError(.authenticationFailed, "the sealed DEK has the wrong length")
            }
            return try message.withUnsafeBytes { message in
                let bound = try SecureBytes(copying: UnsafeRawBufferPointer(rebasing: message[dekByteCount...]))
                guard bound.constantTimeEquals(digest) else {
                    throw EnvelopeError(.authenticationFailed, "the header was modified after the DEK was sealed to the recipient")
                }
                return try SecureBytes(copying: UnsafeRawBufferPointer(rebasing: message[..<dekByteCount]))
            }
        } catch let error as CryptoError {
            throw EnvelopeError.from(error, "opening the DEK sealed to the recipient")
        }
    }
}
