/// X25519 Diffie-Hellman (RFC 7748) on libsodium.
///
/// Keys are 32 bytes. Public keys are accepted as RFC 7748 §5 requires: the most significant
/// bit is masked and non-canonical values are reduced. Public keys of small order, which give an
/// all-zero shared secret, are refused (RFC 7748 §6.1 "MAY check"; SaMDKit does).
public enum X25519 {
    /// Key length in bytes: 32.
    public static let keyByteCount = 32

    /// An X25519 private key (a 32-byte scalar) in guarded memory.
    public struct PrivateKey: Sendable {
        let secret: SecureBytes

        /// The matching public key.
        public let publicKey: PublicKey

        /// A new random private key.
        /// - Throws: ``CryptoError/Code/randomGenerationFailed``, ``CryptoError/Code/allocationFailed``,
        ///   ``CryptoError/Code/notAllowedInProfile`` under `nist`.
        public init() throws {
            try self.init(rawRepresentation: SecureBytes(randomByteCount: X25519.keyByteCount))
        }

        /// A private key from its 32 raw bytes.
        /// - Throws: ``CryptoError/Code/invalidKeySize`` unless exactly 32 bytes;
        ///   ``CryptoError/Code/notAllowedInProfile`` under `nist`.
        public init(rawRepresentation: SecureBytes) throws {
            try CryptoProfile.requireNonFIPSAlgorithmsAllowed("X25519")
            guard rawRepresentation.count == X25519.keyByteCount else {
                throw CryptoError(.invalidKeySize, "an X25519 private key is 32 bytes, got \(rawRepresentation.count)")
            }
            self.secret = rawRepresentation
            self.publicKey = try PublicKey(rawRepresentation: X25519.basePointMultiple(rawRepresentation))
        }

        /// The raw 32-byte scalar, for storing the key (in guarded memory).
        public var rawRepresentation: SecureBytes {
            self.secret
        }

        /// The raw X25519 shared secret with `peer` (RFC 7748 §6.1). Feed it to a KDF (``HKDF``)
        /// together with both public keys; never use it as a key directly.
        /// - Returns: 32 bytes in guarded memory.
        /// - Throws: ``CryptoError/Code/invalidPublicKey`` when `peer` is of small order (the result would be
        ///   all zeros); ``CryptoError/Code/notAllowedInProfile`` under `nist`.
        public func sharedSecret(with peer: PublicKey) throws -> SecureBytes {
            try X25519.sharedSecret(self.secret, peer)
        }
    }

    /// An X25519 public key (a 32-byte u-coordinate).
    public struct PublicKey: Sendable, Hashable, CustomStringConvertible {
        /// The raw 32 bytes.
        public let rawRepresentation: [UInt8]

        /// A public key from its 32 raw bytes.
        /// - Throws: ``CryptoError/Code/invalidPublicKey`` unless exactly 32 bytes.
        public init(rawRepresentation: some Collection<UInt8>) throws {
            guard rawRepresentation.count == X25519.keyByteCount else {
                throw CryptoError(.invalidPublicKey, "an X25519 public key is 32 bytes, got \(rawRepresentation.count)")
            }
            self.rawRepresentation = Array(rawRepresentation)
        }

        public var description: String {
            "X25519.PublicKey(" + self.rawRepresentation.map { String($0, radix: 16).leftPadded(2) }.joined() + ")"
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        self.count >= width ? self : String(repeating: "0", count: width - self.count) + self
    }
}
