/// Key wrapping with associated data: AES-256-GCM under a 256-bit KEK with a fresh random 96-bit nonce,
/// written as `nonce (12) ‖ ciphertext (key length) ‖ tag (16)`. Unlike AES-KW, the wrap is bound to
/// associated data (a header, a key's identity), so a wrapped key cannot be moved to another context.
///
/// Random nonces allow at most 2^32 wraps per KEK (NIST SP 800-38D §8.3); rotate KEKs long before.
public enum AEADKeyWrap {
    /// Bytes a wrap adds to the key: 28 (a nonce and a tag).
    public static let overheadByteCount = 12 + AEADAlgorithm.tagByteCount

    /// The longest key accepted, in bytes (1 KiB).
    public static let maximumKeyByteCount = 1024

    /// Wraps `key` under `kek`, bound to `associatedData`.
    /// - Returns: `key.count + 28` bytes.
    /// - Throws: ``CryptoError/Code/invalidKeySize`` unless `kek` is 32 bytes; ``CryptoError/Code/inputTooLarge``
    ///   past ``maximumKeyByteCount``; ``CryptoError/Code/randomGenerationFailed``.
    public static func wrap(_ key: SecureBytes, using kek: SecureBytes, associatedData: some Collection<UInt8>) throws
        -> [UInt8]
    {
        try self.wrap(key, using: kek, associatedData: associatedData, nonce: AEADAlgorithm.aes256GCM.randomNonce())
    }

    /// Deterministic wrapping, for published test vectors only.
    package static func wrap(
        _ key: SecureBytes,
        using kek: SecureBytes,
        associatedData: some Collection<UInt8>,
        nonce: [UInt8]
    ) throws -> [UInt8] {
        try self.wrap(
            key, using: AEADContext(algorithm: .aes256GCM, key: kek), associatedData: associatedData, nonce: nonce)
    }

    /// Wraps `key` with a KEK already keyed into `context` (AES-256-GCM), bound to `associatedData`: for
    /// wrapping many keys under one KEK without setting it up each time.
    /// - Returns: `key.count + 28` bytes.
    /// - Throws: ``CryptoError/Code/invalidInput`` unless `context` is AES-256-GCM;
    ///   ``CryptoError/Code/inputTooLarge`` past ``maximumKeyByteCount``; ``CryptoError/Code/randomGenerationFailed``.
    public static func wrap(_ key: SecureBytes, using context: AEADContext, associatedData: some Collection<UInt8>)
        throws -> [UInt8]
    {
        try self.wrap(key, using: context, associatedData: associatedData, nonce: AEADAlgorithm.aes256GCM.randomNonce())
    }

    private static func wrap(
        _ key: SecureBytes,
        using context: AEADContext,
        associatedData: some Collection<UInt8>,
        nonce: [UInt8]
    ) throws -> [UInt8] {
        guard context.algorithm == .aes256GCM else {
            throw CryptoError(.invalidInput, "key wrapping uses AES-256-GCM, not \(context.algorithm)")
        }
        guard key.count <= self.maximumKeyByteCount else {
            throw CryptoError(
                .inputTooLarge, "a wrapped key is at most \(self.maximumKeyByteCount) bytes, got \(key.count)")
        }
        var wrapped = nonce
        wrapped += [UInt8](repeating: 0, count: key.count + AEADAlgorithm.tagByteCount)
        try key.withUnsafeBytes { key in
            try nonce.withUnsafeBytes { nonce in
                try withContiguousBytes(of: associatedData) { associatedData in
                    try wrapped.withUnsafeMutableBytes { output in
                        _ = try context.seal(
                            key, nonce: nonce, associatedData: associatedData,
                            into: UnsafeMutableRawBufferPointer(rebasing: output[12...]))
                    }
                }
            }
        }
        return wrapped
    }

    /// Unwraps a key wrapped by ``wrap(_:using:associatedData:)`` into guarded memory.
    /// - Parameter wrapped: 28 … ``maximumKeyByteCount`` + 28 bytes.
    /// - Throws: ``CryptoError/Code/authenticationFailed`` for a wrong KEK, wrong associated data or modified
    ///   bytes; ``CryptoError/Code/invalidInput`` for an impossible length; ``CryptoError/Code/invalidKeySize``.
    public static func unwrap(
        _ wrapped: some Collection<UInt8>, using kek: SecureBytes, associatedData: some Collection<UInt8>
    ) throws -> SecureBytes {
        try self.checkWrappedCount(wrapped.count)
        return try self.unwrap(
            wrapped, using: AEADContext(algorithm: .aes256GCM, key: kek), associatedData: associatedData)
    }

    /// Unwraps with a KEK already keyed into `context` (AES-256-GCM); as ``unwrap(_:using:associatedData:)``.
    /// - Throws: as ``unwrap(_:using:associatedData:)``; ``CryptoError/Code/invalidInput`` unless `context` is
    ///   AES-256-GCM.
    public static func unwrap(
        _ wrapped: some Collection<UInt8>, using context: AEADContext, associatedData: some Collection<UInt8>
    ) throws -> SecureBytes {
        let count = wrapped.count
        try self.checkWrappedCount(count)
        guard context.algorithm == .aes256GCM else {
            throw CryptoError(.invalidInput, "key wrapping uses AES-256-GCM, not \(context.algorithm)")
        }
        let keyCount = count - self.overheadByteCount
        return try withContiguousBytes(of: wrapped) { wrapped in
            try withContiguousBytes(of: associatedData) { associatedData in
                try SecureBytes(unsafeUninitializedCount: keyCount) { output in
                    try context.open(
                        ciphertext: UnsafeRawBufferPointer(rebasing: wrapped[12..<(12 + keyCount)]),
                        tag: UnsafeRawBufferPointer(rebasing: wrapped[(12 + keyCount)...]),
                        nonce: UnsafeRawBufferPointer(rebasing: wrapped[..<12]),
                        associatedData: associatedData,
                        plaintext: output
                    )
                }
            }
        }
    }

    private static func checkWrappedCount(_ count: Int) throws {
        guard count >= self.overheadByteCount, count <= self.maximumKeyByteCount + self.overheadByteCount else {
            throw CryptoError(
                .invalidInput, "a wrapped key is 28 to \(self.maximumKeyByteCount + 28) bytes, got \(count)")
        }
    }
}
