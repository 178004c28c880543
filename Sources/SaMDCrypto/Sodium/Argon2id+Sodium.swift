import CSaMDSodium

extension Argon2id {
    static func deriveWithSodium(
        passphrase: SecureBytes,
        salt: [UInt8],
        parameters: Parameters,
        outputByteCount: Int
    ) throws -> SecureBytes {
        try LibraryGate.check()
        try CryptoProfile.requireNonFIPSAlgorithmsAllowed("Argon2id")
        return try SecureBytes(unsafeUninitializedCount: outputByteCount) { output in
            let result = passphrase.withUnsafeBytes { passphrase in
                crypto_pwhash(
                    output.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    UInt64(output.count),
                    passphrase.baseAddress!.assumingMemoryBound(to: CChar.self),
                    UInt64(passphrase.count),
                    salt,
                    UInt64(parameters.iterations),
                    parameters.memoryByteCount,
                    crypto_pwhash_ALG_ARGON2ID13
                )
            }
            // libsodium fails only when the memory cannot be allocated (parameters were validated).
            guard result == 0 else {
                throw CryptoError(.allocationFailed, "Argon2id could not allocate \(parameters.memoryByteCount) bytes")
            }
        }
    }
}
