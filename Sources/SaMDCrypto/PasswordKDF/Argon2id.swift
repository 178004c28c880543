/// Argon2id (RFC 9106), the memory-hard password-based key derivation function, on libsodium
/// (`crypto_pwhash`, algorithm `ARGON2ID13`). Turns a passphrase into a key for sealing other keys.
///
/// Not FIPS-approved: refused with ``CryptoError/Code/notAllowedInProfile`` under `nist`.
public enum Argon2id {
    /// The salt length in bytes: 16.
    public static let saltByteCount = 16

    /// Cost parameters. Stored beside whatever the derived key protects, so they are read back from
    /// disk: ``validate()`` bounds them before any memory is committed.
    public struct Parameters: Sendable, Hashable, Codable {
        /// Passes over memory (libsodium's `opslimit`): 1 … 10.
        public var iterations: UInt32
        /// Memory in bytes (libsodium's `memlimit`): 8 KiB … 1 GiB (libsodium's SENSITIVE level).
        public var memoryByteCount: Int

        public init(iterations: UInt32, memoryByteCount: Int) {
            self.iterations = iterations
            self.memoryByteCount = memoryByteCount
        }

        /// libsodium's MODERATE: 3 passes over 256 MiB (about a second on a server core). The default for key stores.
        public static let moderate = Parameters(iterations: 3, memoryByteCount: 256 << 20)
        /// libsodium's INTERACTIVE: 2 passes over 64 MiB.
        public static let interactive = Parameters(iterations: 2, memoryByteCount: 64 << 20)

        /// The bounds accepted.
        public static let iterationRange: ClosedRange<UInt32> = 1...10
        public static let memoryRange: ClosedRange<Int> = (8 << 10)...(1 << 30)

        /// - Throws: ``CryptoError/Code/invalidInput`` outside ``iterationRange`` or ``memoryRange``.
        public func validate() throws {
            guard Self.iterationRange.contains(self.iterations), Self.memoryRange.contains(self.memoryByteCount) else {
                throw CryptoError(
                    .invalidInput,
                    "Argon2id parameters out of bounds: \(self.iterations) passes (1…10), \(self.memoryByteCount) bytes (8 KiB…1 GiB)"
                )
            }
        }
    }

    /// Derives `outputByteCount` bytes from `passphrase` and `salt`.
    /// - Parameters:
    ///   - passphrase: 1 … 4096 bytes (as given: SaMDKit applies no Unicode normalisation).
    ///   - salt: exactly ``saltByteCount`` random bytes, stored with the parameters.
    ///   - outputByteCount: 16 … 64 bytes.
    /// - Throws: ``CryptoError/Code/invalidInput`` for out-of-bounds sizes or parameters;
    ///   ``CryptoError/Code/allocationFailed`` when the memory cannot be had;
    ///   ``CryptoError/Code/notAllowedInProfile`` under `nist`.
    public static func deriveKey(
        passphrase: SecureBytes,
        salt: some Collection<UInt8>,
        parameters: Parameters,
        outputByteCount: Int = 32
    ) throws -> SecureBytes {
        try CryptoProfile.requireNonFIPSAlgorithmsAllowed("Argon2id")
        try parameters.validate()
        guard salt.count == self.saltByteCount else {
            throw CryptoError(.invalidInput, "an Argon2id salt is \(self.saltByteCount) bytes, got \(salt.count)")
        }
        guard (1...4096).contains(passphrase.count) else {
            throw CryptoError(.invalidInput, "a passphrase is 1 to 4096 bytes, got \(passphrase.count)")
        }
        guard (16...64).contains(outputByteCount) else {
            throw CryptoError(.invalidInput, "Argon2id output is 16 to 64 bytes here, got \(outputByteCount)")
        }
        return try self.deriveWithSodium(
            passphrase: passphrase, salt: Array(salt), parameters: parameters, outputByteCount: outputByteCount)
    }
}
