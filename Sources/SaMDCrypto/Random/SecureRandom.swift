/// The cryptographically secure random number generator for keys, nonces and salts.
///
/// Backed by OpenSSL's `RAND_bytes`: the CTR-DRBG (NIST SP 800-90A) of the library
/// context, seeded from the operating system (`getrandom`). OpenSSL creates that DRBG on first
/// use and keeps it, so activating the `nist` profile is refused once random numbers have been
/// drawn; activated at start-up, the DRBG is the FIPS provider's.
public enum SecureRandom {
    /// Fills `buffer` with random bytes.
    /// - Throws: ``CryptoError/Code/randomGenerationFailed`` when the DRBG cannot produce output
    ///   (for example, it cannot be seeded); the buffer is then zeroed.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) throws {
        try LibraryGate.check()
        try self.fillFromOpenSSL(buffer)
    }

    /// The most ``bytes(count:)`` returns in one call, in bytes (1 GiB); ``fill(_:)`` has no limit.
    public static let maximumByteCount = 1 << 30

    /// `count` random bytes, 0 … ``maximumByteCount``.
    /// - Throws: ``CryptoError/Code/randomGenerationFailed``; ``CryptoError/Code/invalidInput`` for a negative
    ///   count; ``CryptoError/Code/inputTooLarge`` above ``maximumByteCount``.
    public static func bytes(count: Int) throws -> [UInt8] {
        guard count >= 0 else {
            throw CryptoError(.invalidInput, "negative byte count")
        }
        guard count <= self.maximumByteCount else {
            throw CryptoError(
                .inputTooLarge, "\(count) random bytes exceed the limit of \(self.maximumByteCount) per call")
        }
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { try self.fill($0) }
        return bytes
    }
}
