/// AES key wrap (NIST SP 800-38F) on OpenSSL EVP: KW (RFC 3394) and KWP, with padding (RFC 5649).
///
/// The key-encryption key (KEK) is an AES key of 16, 24 or 32 bytes. Wrapping is
/// deterministic and authenticates the wrapped key through its integrity check value, so a
/// modified wrapping fails to unwrap with ``CryptoError/Code/authenticationFailed``. The same
/// error is given whatever part of the check failed, so there is no padding oracle.
public enum AESKeyWrap {
    /// The longest key accepted for wrapping, in bytes (4 KiB): far above any key, and a bound
    /// on what an untrusted wrapped key can make unwrapping allocate.
    public static let maximumKeyByteCount = 4096

    /// The KW and KWP integrity check value is one 8-byte semiblock.
    public static let overheadByteCount = 8

    /// KW (RFC 3394 §2.2.1): wraps `key`.
    /// - Parameters:
    ///   - key: a multiple of 8 bytes, at least 16 (RFC 3394 needs n ≥ 2 semiblocks; 8-byte keys
    ///     are refused), at most ``maximumKeyByteCount``.
    ///   - kek: an AES key of 16, 24 or 32 bytes.
    /// - Returns: `key.count + 8` bytes.
    /// - Throws: ``CryptoError/Code/invalidKeySize`` for the KEK; ``CryptoError/Code/invalidInput`` for a
    ///   key of the wrong length; ``CryptoError/Code/openSSLFailure``.
    public static func wrap(_ key: SecureBytes, using kek: SecureBytes) throws -> [UInt8] {
        try self.checkKEK(kek)
        guard key.count >= 16, key.count % 8 == 0, key.count <= self.maximumKeyByteCount else {
            throw CryptoError(
                .invalidInput,
                "AES-KW wraps a multiple of 8 bytes from 16 to \(self.maximumKeyByteCount), got \(key.count) bytes"
            )
        }
        return try key.withUnsafeBytes {
            try self.run(.kw, wrapping: true, input: $0, kek: kek, outputCapacity: $0.count + 8)
        }
    }

    /// KW (RFC 3394 §2.2.2): unwraps and checks the integrity check value.
    /// - Parameter wrapped: 24 … ``maximumKeyByteCount`` + 8 bytes, a multiple of 8.
    /// - Returns: the key, `wrapped.count - 8` bytes, in guarded memory.
    /// - Throws: ``CryptoError/Code/authenticationFailed`` when the integrity check fails (wrong KEK or
    ///   tampered input); ``CryptoError/Code/invalidInput`` for a wrapped length KW cannot produce;
    ///   ``CryptoError/Code/invalidKeySize`` for the KEK.
    public static func unwrap(_ wrapped: some Collection<UInt8>, using kek: SecureBytes) throws -> SecureBytes {
        try self.checkKEK(kek)
        let count = wrapped.count
        guard count >= 24, count % 8 == 0, count <= self.maximumKeyByteCount + 8 else {
            throw CryptoError(
                .invalidInput,
                "an AES-KW wrapping is a multiple of 8 bytes from 24 to \(self.maximumKeyByteCount + 8), got \(count) bytes"
            )
        }
        return try self.unwrap(.kw, wrapped, kek: kek)
    }

    /// KWP (RFC 5649 §4.1): wraps `key` of any length, padded to a multiple of 8 bytes.
    /// - Parameters:
    ///   - key: 1 … ``maximumKeyByteCount`` bytes.
    ///   - kek: an AES key of 16, 24 or 32 bytes.
    /// - Returns: the padded length rounded up to 8, plus 8 bytes (at least 16).
    /// - Throws: ``CryptoError/Code/invalidKeySize`` for the KEK; ``CryptoError/Code/invalidInput`` for an
    ///   empty or oversized key; ``CryptoError/Code/openSSLFailure``.
    public static func wrapWithPadding(_ key: SecureBytes, using kek: SecureBytes) throws -> [UInt8] {
        try self.checkKEK(kek)
        guard key.count >= 1, key.count <= self.maximumKeyByteCount else {
            throw CryptoError(
                .invalidInput, "AES-KWP wraps 1 to \(self.maximumKeyByteCount) bytes, got \(key.count) bytes")
        }
        let padded = (key.count + 7) / 8 * 8
        return try key.withUnsafeBytes {
            try self.run(.kwp, wrapping: true, input: $0, kek: kek, outputCapacity: padded + 8)
        }
    }

    /// KWP (RFC 5649 §4.2): unwraps and checks the integrity check value, the length indicator and
    /// the zero padding.
    /// - Parameter wrapped: 16 … ``maximumKeyByteCount`` + 8 bytes, a multiple of 8.
    /// - Returns: the key in guarded memory.
    /// - Throws: ``CryptoError/Code/authenticationFailed`` when any part of the check fails (one error for
    ///   all: no padding oracle); ``CryptoError/Code/invalidInput`` for an impossible wrapped length;
    ///   ``CryptoError/Code/invalidKeySize`` for the KEK.
    public static func unwrapWithPadding(_ wrapped: some Collection<UInt8>, using kek: SecureBytes) throws
        -> SecureBytes
    {
        try self.checkKEK(kek)
        let count = wrapped.count
        guard count >= 16, count % 8 == 0, count <= self.maximumKeyByteCount + 8 else {
            throw CryptoError(
                .invalidInput,
                "an AES-KWP wrapping is a multiple of 8 bytes from 16 to \(self.maximumKeyByteCount + 8), got \(count) bytes"
            )
        }
        return try self.unwrap(.kwp, wrapped, kek: kek)
    }

    enum Variant {
        case kw, kwp
    }

    private static func unwrap(_ variant: Variant, _ wrapped: some Collection<UInt8>, kek: SecureBytes) throws
        -> SecureBytes
    {
        // Unwrap into a scratch region of guarded memory first: KWP's true length is known only
        // after the integrity check, and the key must never touch ordinary memory.
        var written = 0
        let scratch = try SecureBytes(unsafeUninitializedCount: wrapped.count) { buffer in
            written = try withContiguousBytes(of: wrapped) { wrapped in
                try self.run(variant, wrapping: false, input: wrapped, kek: kek, into: buffer)
            }
        }
        return try scratch.withUnsafeBytes { scratch in
            try SecureBytes(copying: UnsafeRawBufferPointer(rebasing: scratch[..<written]))
        }
    }

    private static func run(
        _ variant: Variant,
        wrapping: Bool,
        input: UnsafeRawBufferPointer,
        kek: SecureBytes,
        outputCapacity: Int
    ) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: outputCapacity) { buffer, count in
            count = try self.run(
                variant, wrapping: wrapping, input: input, kek: kek, into: UnsafeMutableRawBufferPointer(buffer))
        }
    }

    private static func checkKEK(_ kek: SecureBytes) throws {
        guard [16, 24, 32].contains(kek.count) else {
            throw CryptoError(
                .invalidKeySize, "an AES key-encryption key is 16, 24 or 32 bytes, got \(kek.count) bytes")
        }
    }
}
