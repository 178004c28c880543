/// Anonymous public-key encryption: libsodium sealed boxes (`crypto_box_seal`).
///
/// A sender encrypts to a recipient's ``X25519/PublicKey`` with a fresh ephemeral key pair
/// (X25519, then XSalsa20-Poly1305 with a nonce derived from both public keys); only the holder
/// of the matching private key can open it, and the sender cannot, so a device can seal data
/// (a record's DEK, say) that only the gateway can read. The box does not authenticate the sender.
public enum SealedBox {
    static let algorithmName = "SealedBox (X25519, XSalsa20-Poly1305)"

    /// Bytes a sealed box adds to its message: 48 (an ephemeral public key and a tag).
    public static let overheadByteCount = 48

    /// The longest message accepted, in bytes (64 KiB): sealed boxes carry keys and small secrets;
    /// seal bulk data with an AEAD under a key sent this way.
    public static let maximumMessageByteCount = 1 << 16

    /// Seals `message` to `recipient`.
    /// - Returns: `message.count + 48` bytes.
    /// - Throws: ``CryptoError/Code/inputTooLarge`` past ``maximumMessageByteCount``;
    ///   ``CryptoError/Code/invalidPublicKey`` when libsodium refuses the key (small order);
    ///   ``CryptoError/Code/notAllowedInProfile`` under `nist`.
    public static func seal(_ message: SecureBytes, to recipient: X25519.PublicKey) throws -> [UInt8] {
        try CryptoProfile.requireNonFIPSAlgorithmsAllowed(self.algorithmName)
        guard message.count <= self.maximumMessageByteCount else {
            throw CryptoError(
                .inputTooLarge, "a sealed box takes at most \(self.maximumMessageByteCount) bytes, got \(message.count)"
            )
        }
        return try self.sealWithSodium(message, to: recipient)
    }

    /// Test seam for published vectors: ``seal(_:to:)`` with the ephemeral private key given instead of drawn
    /// from the CSPRNG, so a sealed box can be reproduced byte for byte. It is libsodium's `crypto_box_seal`
    /// construction made of libsodium calls — `epk ‖ crypto_box_easy(message, nonce, recipient, esk)` with
    /// `nonce = crypto_generichash(24, epk ‖ recipient)` — and what it returns opens with `crypto_box_seal_open`
    /// (the tests check both). Never for real data: a reused ephemeral key breaks the box.
    package static func seal(
        _ message: SecureBytes,
        to recipient: X25519.PublicKey,
        ephemeralPrivateKey: X25519.PrivateKey
    ) throws -> [UInt8] {
        try CryptoProfile.requireNonFIPSAlgorithmsAllowed(self.algorithmName)
        guard message.count <= self.maximumMessageByteCount else {
            throw CryptoError(
                .inputTooLarge, "a sealed box takes at most \(self.maximumMessageByteCount) bytes, got \(message.count)"
            )
        }
        return try self.sealWithSodium(message, to: recipient, ephemeralPrivateKey: ephemeralPrivateKey)
    }

    /// Opens a sealed box addressed to `recipient`.
    /// - Parameter sealed: 48 … ``maximumMessageByteCount`` + 48 bytes.
    /// - Returns: the message in guarded memory.
    /// - Throws: ``CryptoError/Code/authenticationFailed`` when the box was not sealed to this key or was
    ///   modified; ``CryptoError/Code/invalidInput`` for an impossible length;
    ///   ``CryptoError/Code/notAllowedInProfile`` under `nist`.
    public static func open(_ sealed: some Collection<UInt8>, with recipient: X25519.PrivateKey) throws -> SecureBytes {
        try CryptoProfile.requireNonFIPSAlgorithmsAllowed(self.algorithmName)
        let count = sealed.count
        guard count >= self.overheadByteCount, count <= self.maximumMessageByteCount + self.overheadByteCount else {
            throw CryptoError(
                .invalidInput,
                "a sealed box is \(self.overheadByteCount) to \(self.maximumMessageByteCount + self.overheadByteCount) bytes, got \(count)"
            )
        }
        return try self.openWithSodium(sealed, with: recipient)
    }
}
