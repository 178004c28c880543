/// Ed25519 signatures (RFC 8032, pure Ed25519) on libsodium.
public enum Ed25519 {
    /// Seed and public key length in bytes: 32.
    public static let keyByteCount = 32
    /// Signature length in bytes: 64.
    public static let signatureByteCount = 64

    /// An Ed25519 private key, held as its 32-byte seed (RFC 8032 §5.1.5) in guarded memory.
    public struct PrivateKey: Sendable {
        let seed: SecureBytes
        /// libsodium's 64-byte expanded form (seed ‖ public key), in guarded memory.
        let expanded: SecureBytes

        /// The matching public key.
        public let publicKey: PublicKey

        /// A new random private key.
        /// - Throws: ``CryptoError/Code/randomGenerationFailed``, ``CryptoError/Code/allocationFailed``,
        ///   ``CryptoError/Code/notAllowedInProfile`` under `nist`.
        public init() throws {
            try self.init(seed: SecureBytes(randomByteCount: Ed25519.keyByteCount))
        }

        /// The private key for a 32-byte seed.
        /// - Throws: ``CryptoError/Code/invalidKeySize`` unless exactly 32 bytes;
        ///   ``CryptoError/Code/notAllowedInProfile`` under `nist`.
        public init(seed: SecureBytes) throws {
            try CryptoProfile.requireNonFIPSAlgorithmsAllowed("Ed25519")
            guard seed.count == Ed25519.keyByteCount else {
                throw CryptoError(.invalidKeySize, "an Ed25519 seed is 32 bytes, got \(seed.count)")
            }
            let (expanded, publicKey) = try Ed25519.keyPair(fromSeed: seed)
            self.seed = seed
            self.expanded = expanded
            self.publicKey = try PublicKey(rawRepresentation: publicKey)
        }

        /// The 32-byte seed, for storing the key (in guarded memory).
        public var seedRepresentation: SecureBytes {
            self.seed
        }

        /// Signs `message` (deterministic, RFC 8032 §5.1.6).
        /// - Returns: a 64-byte signature.
        /// - Throws: ``CryptoError/Code/notAllowedInProfile`` under `nist`; ``CryptoError/Code/sodiumFailure``
        ///   if libsodium fails.
        public func signature(for message: some Collection<UInt8>) throws -> [UInt8] {
            try Ed25519.sign(message, with: self.expanded)
        }
    }

    /// An Ed25519 public key (32 bytes).
    public struct PublicKey: Sendable, Hashable, CustomStringConvertible {
        /// The raw 32 bytes.
        public let rawRepresentation: [UInt8]

        /// A public key from its 32 raw bytes.
        /// - Throws: ``CryptoError/Code/invalidPublicKey`` unless exactly 32 bytes.
        public init(rawRepresentation: some Collection<UInt8>) throws {
            guard rawRepresentation.count == Ed25519.keyByteCount else {
                throw CryptoError(
                    .invalidPublicKey, "an Ed25519 public key is 32 bytes, got \(rawRepresentation.count)")
            }
            self.rawRepresentation = Array(rawRepresentation)
        }

        /// Whether `signature` is a valid signature of `message` under this key. libsodium refuses
        /// non-canonical S values and small-order keys and R values. False under the `nist` profile
        /// (fail closed); ``verify(_:for:)`` says why.
        public func isValidSignature(_ signature: some Collection<UInt8>, for message: some Collection<UInt8>) -> Bool {
            guard signature.count == Ed25519.signatureByteCount else { return false }
            return Ed25519.verify(signature, message, self.rawRepresentation)
        }

        /// Verifies `signature`, throwing if it is not valid.
        /// - Throws: ``CryptoError/Code/invalidSignature``; ``CryptoError/Code/notAllowedInProfile`` under `nist`.
        public func verify(_ signature: some Collection<UInt8>, for message: some Collection<UInt8>) throws {
            try CryptoProfile.requireNonFIPSAlgorithmsAllowed("Ed25519")
            guard self.isValidSignature(signature, for: message) else {
                throw CryptoError(.invalidSignature, "the Ed25519 signature did not verify")
            }
        }

        public var description: String {
            "Ed25519.PublicKey(" + self.rawRepresentation.map { String($0, radix: 16).leftPadded(2) }.joined() + ")"
        }
    }
}
