/// The cryptographically secure random number generator for keys, nonces and salts.
///
/// Backed by OpenSSL's `RAND_bytes`: the CTR-DRBG (NIST SP 800-90A) of the library
/// context, seeded from the operating system (`getrandom`). Under the `nist` profile
/// that DRBG is the FIPS provider's.
public enum SecureRandom {
    /// Fills `buffer` with random bytes.
    /// - Throws: ``CryptoError/Code/randomGenerationFailed`` when the DRBG cannot produce output
    ///   (for example, it cannot be seeded); the buffer is then zeroed.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) throws {
        try LibraryGate.check()
        try self.fillFromOpenSSL(buffer)
    }

    /// `count` random bytes.
    /// - Throws: ``CryptoError/Code/randomGenerationFailed``, ``CryptoError/Code/invalidInput`` for a negative count.
    public static func bytes(count: Int) throws -> [UInt8] {
        guard count >= 0 else {
            throw CryptoError(.invalidInput, "negative byte count")
        }
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { try self.fill($0) }
        return bytes
    }
}
