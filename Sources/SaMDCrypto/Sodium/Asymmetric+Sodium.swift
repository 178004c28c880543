import CSaMDSodium

extension X25519 {
    // Every libsodium operation checks the profile itself, so objects made before `nist` was
    // activated cannot be used to run non-FIPS cryptography after it.

    static func basePointMultiple(_ scalar: SecureBytes) throws -> [UInt8] {
        try LibraryGate.check()
        try CryptoProfile.requireNonFIPSAlgorithmsAllowed("X25519")
        var publicKey = [UInt8](repeating: 0, count: Self.keyByteCount)
        let result = scalar.withUnsafeBytes { scalar in
            crypto_scalarmult_base(&publicKey, scalar.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard result == 0 else {
            throw CryptoError(.sodiumFailure, "crypto_scalarmult_base failed")
        }
        return publicKey
    }

    static func sharedSecret(_ scalar: SecureBytes, _ peer: PublicKey) throws -> SecureBytes {
        try CryptoProfile.requireNonFIPSAlgorithmsAllowed("X25519")
        return try SecureBytes(unsafeUninitializedCount: Self.keyByteCount) { output in
            let result = scalar.withUnsafeBytes { scalar in
                crypto_scalarmult(
                    output.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    scalar.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    peer.rawRepresentation
                )
            }
            // libsodium returns -1 for a small-order point or an all-zero result.
            guard result == 0 else {
                throw CryptoError(.invalidPublicKey, "the X25519 public key is of small order (all-zero shared secret)")
            }
        }
    }
}

extension SealedBox {
    static func sealWithSodium(_ message: SecureBytes, to recipient: X25519.PublicKey) throws -> [UInt8] {
        try LibraryGate.check()
        try CryptoProfile.requireNonFIPSAlgorithmsAllowed(SealedBox.algorithmName)
        return try [UInt8](unsafeUninitializedCapacity: message.count + Self.overheadByteCount) { buffer, count in
            let result = message.withUnsafeBytes { message in
                crypto_box_seal(
                    buffer.baseAddress!,
                    message.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    UInt64(message.count),
                    recipient.rawRepresentation
                )
            }
            guard result == 0 else {
                throw CryptoError(.invalidPublicKey, "crypto_box_seal refused the recipient's public key")
            }
            count = buffer.count
        }
    }

    static func sealWithSodium(
        _ message: SecureBytes,
        to recipient: X25519.PublicKey,
        ephemeralPrivateKey: X25519.PrivateKey
    ) throws -> [UInt8] {
        try LibraryGate.check()
        try CryptoProfile.requireNonFIPSAlgorithmsAllowed(SealedBox.algorithmName)
        let ephemeralPublicKey = ephemeralPrivateKey.publicKey.rawRepresentation
        var nonce = [UInt8](repeating: 0, count: Int(crypto_box_NONCEBYTES))
        let keys = ephemeralPublicKey + recipient.rawRepresentation
        guard crypto_generichash(&nonce, nonce.count, keys, UInt64(keys.count), nil, 0) == 0 else {
            throw CryptoError(.sodiumFailure, "crypto_generichash failed")
        }
        return try [UInt8](unsafeUninitializedCapacity: message.count + Self.overheadByteCount) { buffer, count in
            UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[..<X25519.keyByteCount])
                .copyBytes(from: ephemeralPublicKey)
            let result = message.withUnsafeBytes { message in
                ephemeralPrivateKey.secret.withUnsafeBytes { secret in
                    crypto_box_easy(
                        buffer.baseAddress! + X25519.keyByteCount,
                        message.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        UInt64(message.count),
                        nonce,
                        recipient.rawRepresentation,
                        secret.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    )
                }
            }
            guard result == 0 else {
                throw CryptoError(.invalidPublicKey, "crypto_box_easy refused the recipient's public key")
            }
            count = buffer.count
        }
    }

    static func openWithSodium(_ sealed: some Collection<UInt8>, with recipient: X25519.PrivateKey) throws
        -> SecureBytes
    {
        try CryptoProfile.requireNonFIPSAlgorithmsAllowed(SealedBox.algorithmName)
        return try SecureBytes(unsafeUninitializedCount: sealed.count - Self.overheadByteCount) { output in
            // A guarded allocation always has a base address, even for zero bytes.
            let result = withContiguousBytes(of: sealed) { sealed in
                recipient.secret.withUnsafeBytes { secret in
                    crypto_box_seal_open(
                        output.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        sealed.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        UInt64(sealed.count),
                        recipient.publicKey.rawRepresentation,
                        secret.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    )
                }
            }
            guard result == 0 else {
                throw CryptoError(.authenticationFailed, "the sealed box did not open with this private key")
            }
        }
    }
}

extension Ed25519 {
    static func keyPair(fromSeed seed: SecureBytes) throws -> (SecureBytes, [UInt8]) {
        try CryptoProfile.requireNonFIPSAlgorithmsAllowed("Ed25519")
        var publicKey = [UInt8](repeating: 0, count: Self.keyByteCount)
        let expanded = try SecureBytes(unsafeUninitializedCount: Int(crypto_sign_SECRETKEYBYTES)) { output in
            let result = seed.withUnsafeBytes { seed in
                crypto_sign_seed_keypair(
                    &publicKey,
                    output.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    seed.baseAddress!.assumingMemoryBound(to: UInt8.self)
                )
            }
            guard result == 0 else {
                throw CryptoError(.sodiumFailure, "crypto_sign_seed_keypair failed")
            }
        }
        return (expanded, publicKey)
    }

    static func sign(_ message: some Collection<UInt8>, with expanded: SecureBytes) throws -> [UInt8] {
        try CryptoProfile.requireNonFIPSAlgorithmsAllowed("Ed25519")
        var signature = [UInt8](repeating: 0, count: Self.signatureByteCount)
        let result = withContiguousBytes(of: message) { message in
            expanded.withUnsafeBytes { expanded in
                crypto_sign_detached(
                    &signature,
                    nil,
                    message.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    UInt64(message.count),
                    expanded.baseAddress!.assumingMemoryBound(to: UInt8.self)
                )
            }
        }
        guard result == 0 else {
            throw CryptoError(.sodiumFailure, "crypto_sign_detached failed")
        }
        return signature
    }

    /// False also when the library gate or the profile refuses libsodium (fail closed).
    static func verify(_ signature: some Collection<UInt8>, _ message: some Collection<UInt8>, _ publicKey: [UInt8])
        -> Bool
    {
        guard (try? LibraryGate.check()) != nil, (try? CryptoProfile.requireNonFIPSAlgorithmsAllowed("Ed25519")) != nil
        else {
            return false
        }
        return withContiguousBytes(of: signature) { signature in
            withContiguousBytes(of: message) { message in
                crypto_sign_verify_detached(
                    signature.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    message.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    UInt64(message.count),
                    publicKey
                ) == 0
            }
        }
    }
}
