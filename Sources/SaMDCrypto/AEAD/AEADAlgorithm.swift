/// An authenticated encryption with associated data (AEAD) algorithm that SaMDCrypto offers.
///
/// Every algorithm here takes a 256-bit key and produces a 128-bit tag; each has exactly
/// one nonce length, and any other key, nonce or tag length is refused with a typed error
/// rather than padded, truncated or passed to the library.
public enum AEADAlgorithm: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// AES-256 in Galois/Counter Mode on OpenSSL EVP (NIST SP 800-38D): 96-bit nonce, 128-bit tag.
    /// With random nonces, seal at most 2^32 messages under one key (SP 800-38D §8.3).
    case aes256GCM = "AES-256-GCM"
    /// ChaCha20-Poly1305, IETF variant, on OpenSSL EVP (RFC 8439): 96-bit nonce, 128-bit tag.
    case chaCha20Poly1305 = "ChaCha20-Poly1305"
    /// XChaCha20-Poly1305 on libsodium (draft-irtf-cfrg-xchacha): 192-bit nonce, 128-bit tag;
    /// random nonces are safe for practically unlimited messages per key. Not FIPS-approved.
    case xChaCha20Poly1305 = "XChaCha20-Poly1305"

    /// Key length in bytes: 32 for every algorithm here.
    public var keyByteCount: Int { 32 }

    /// Nonce length in bytes: 12 for AES-256-GCM and ChaCha20-Poly1305, 24 for XChaCha20-Poly1305.
    public var nonceByteCount: Int {
        switch self {
        case .aes256GCM, .chaCha20Poly1305: 12
        case .xChaCha20Poly1305: 24
        }
    }

    /// Authentication tag length in bytes: 16 (128 bits).
    public static let tagByteCount = 16

    /// The longest plaintext one seal may take, in bytes: 2^36 − 32 for AES-GCM (SP 800-38D §5.2.1.1),
    /// 2^38 − 64 for ChaCha20-Poly1305 (RFC 8439 §2.8), 2^62 for XChaCha20-Poly1305 (bounded here,
    /// far beyond any record).
    public var maximumPlaintextByteCount: Int {
        switch self {
        case .aes256GCM: (1 << 36) - 32
        case .chaCha20Poly1305: (1 << 38) - 64
        case .xChaCha20Poly1305: 1 << 62
        }
    }

    /// Whether the implementation comes from OpenSSL (and so can be served by a FIPS provider).
    public var isProvidedByOpenSSL: Bool {
        self != .xChaCha20Poly1305
    }

    public var description: String {
        self.rawValue
    }

    /// - Throws: ``CryptoError/Code/invalidKeySize`` unless `count` is ``keyByteCount``.
    func checkKeySize(_ count: Int) throws {
        guard count == self.keyByteCount else {
            throw CryptoError(.invalidKeySize, "\(self) needs a \(self.keyByteCount)-byte key, got \(count) bytes")
        }
    }

    /// Checks the sizes of one seal or open against this algorithm's rules, before anything is
    /// copied or allocated.
    /// - Throws: ``CryptoError/Code/unsupportedNonceSize``, ``CryptoError/Code/unsupportedTagSize``,
    ///   ``CryptoError/Code/inputTooLarge``.
    func checkSizes(inputByteCount: Int, nonceByteCount: Int, tagByteCount: Int = AEADAlgorithm.tagByteCount) throws {
        guard nonceByteCount == self.nonceByteCount else {
            throw CryptoError(
                .unsupportedNonceSize,
                "\(self) takes a \(self.nonceByteCount)-byte nonce only, got \(nonceByteCount) bytes"
            )
        }
        guard tagByteCount == Self.tagByteCount else {
            throw CryptoError(
                .unsupportedTagSize, "\(self) takes a 16-byte (128-bit) tag only, got \(tagByteCount) bytes")
        }
        guard inputByteCount <= self.maximumPlaintextByteCount else {
            throw CryptoError(
                .inputTooLarge,
                "\(inputByteCount) bytes exceed \(self)'s limit of \(self.maximumPlaintextByteCount) bytes"
            )
        }
    }

    /// A fresh random nonce of ``nonceByteCount`` bytes from ``SecureRandom``.
    /// - Throws: ``CryptoError/Code/randomGenerationFailed``.
    public func randomNonce() throws -> [UInt8] {
        try SecureRandom.bytes(count: self.nonceByteCount)
    }
}
