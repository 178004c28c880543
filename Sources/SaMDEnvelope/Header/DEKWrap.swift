import SaMDCrypto

/// Wrapping and unwrapping of a record's DEK, bound to the header's authenticated prefix.
enum DEKWrap {
    static let dekByteCount = 32

    /// Mode 1: `AEADKeyWrap` (AES-256-GCM, random 96-bit nonce) under `kek`, the prefix as associated data.
    static func wrap(_ dek: SecureBytes, prefix: [UInt8], kek: SecureBytes, nonce fixedNonce: [UInt8]? = nil) throws
        -> [UInt8]
    {
        try EnvelopeError.mappingCryptoErrors("wrapping the DEK") {
            if let fixedNonce {
                return try AEADKeyWrap.wrap(dek, using: kek, associatedData: prefix, nonce: fixedNonce)
            }
            return try AEADKeyWrap.wrap(dek, using: kek, associatedData: prefix)
        }
    }

    static func unwrap(_ wrapped: [UInt8], prefix: [UInt8], kek: SecureBytes) throws -> SecureBytes {
        precondition(wrapped.count == EnvelopeHeader.WrapMode.keyEncryptionKey.wrappedKeyByteCount)
        return try EnvelopeError.mappingCryptoErrors("unwrapping the DEK (wrong key, or a modified header)") {
            try AEADKeyWrap.unwrap(wrapped, using: kek, associatedData: prefix)
        }
    }

    /// Mode 1 with a KEK already keyed into `context` (``EnvelopeRewrapper``).
    static func wrap(_ dek: SecureBytes, prefix: [UInt8], context: AEADContext) throws -> [UInt8] {
        try EnvelopeError.mappingCryptoErrors("wrapping the DEK") {
            try AEADKeyWrap.wrap(dek, using: context, associatedData: prefix)
        }
    }

    static func unwrap(_ wrapped: [UInt8], prefix: [UInt8], context: AEADContext) throws -> SecureBytes {
        precondition(wrapped.count == EnvelopeHeader.WrapMode.keyEncryptionKey.wrappedKeyByteCount)
        return try EnvelopeError.mappingCryptoErrors("unwrapping the DEK (wrong key, or a modified header)") {
            try AEADKeyWrap.unwrap(wrapped, using: context, associatedData: prefix)
        }
    }

    /// Mode 2: a sealed box of DEK ‖ SHA-256(prefix) to the recipient.
    /// `ephemeralPrivateKey` is the published test vectors' seam (``SealedBox``); nil draws a fresh one.
    static func seal(
        _ dek: SecureBytes,
        prefix: [UInt8],
        recipient: X25519.PublicKey,
        ephemeralPrivateKey: X25519.PrivateKey? = nil
    ) throws -> [UInt8] {
        return try EnvelopeError.mappingCryptoErrors("sealing the DEK to the recipient") {
            let digest = try DigestAlgorithm.sha256.hash(prefix)
            let message = try SecureBytes(unsafeUninitializedCount: dekByteCount + digest.count) { output in
                dek.withUnsafeBytes {
                    UnsafeMutableRawBufferPointer(rebasing: output[..<dekByteCount]).copyMemory(from: $0)
                }
                UnsafeMutableRawBufferPointer(rebasing: output[dekByteCount...]).copyBytes(from: digest)
            }
            if let ephemeralPrivateKey {
                return try SealedBox.seal(message, to: recipient, ephemeralPrivateKey: ephemeralPrivateKey)
            }
            return try SealedBox.seal(message, to: recipient)
        }
    }

    static func open(_ wrapped: [UInt8], prefix: [UInt8], recipient: X25519.PrivateKey) throws -> SecureBytes {
        return try EnvelopeError.mappingCryptoErrors("opening the DEK sealed to the recipient") {
            let message = try SealedBox.open(wrapped, with: recipient)
            let digest = try DigestAlgorithm.sha256.hash(prefix)
            guard message.count == dekByteCount + digest.count else {
                throw EnvelopeError(.authenticationFailed, "the sealed DEK has the wrong length")
            }
            return try message.withUnsafeBytes { message in
                let bound = try SecureBytes(copying: UnsafeRawBufferPointer(rebasing: message[dekByteCount...]))
                guard bound.constantTimeEquals(digest) else {
                    throw EnvelopeError(
                        .authenticationFailed, "the header was modified after the DEK was sealed to the recipient")
                }
                return try SecureBytes(copying: UnsafeRawBufferPointer(rebasing: message[..<dekByteCount]))
            }
        }
    }
}
