/// A hash function offered by SaMDCrypto (FIPS 180-4), on OpenSSL EVP.
public enum DigestAlgorithm: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case sha256 = "SHA-256"
    case sha512 = "SHA-512"

    /// The digest length in bytes: 32 or 64.
    public var byteCount: Int {
        switch self {
        case .sha256: 32
        case .sha512: 64
        }
    }

    public var description: String {
        self.rawValue
    }

    /// The digest of `message`.
    /// - Returns: ``byteCount`` bytes.
    /// - Throws: ``CryptoError/Code/openSSLFailure``.
    public func hash(_ message: some Collection<UInt8>) throws -> [UInt8] {
        try withContiguousBytes(of: message) { try self.hash(bytes: $0) }
    }

    /// HMAC (RFC 2104, FIPS 198-1) of `message` under `key`.
    /// - Parameter key: 1 … ``HMAC/maximumKeyByteCount`` bytes; at least ``byteCount`` bytes is recommended.
    /// - Returns: ``byteCount`` bytes.
    /// - Throws: ``CryptoError/Code/invalidKeySize`` for an empty or oversized key; ``CryptoError/Code/openSSLFailure``.
    public func authenticationCode(for message: some Collection<UInt8>, key: SecureBytes) throws -> [UInt8] {
        guard key.count > 0, key.count <= HMAC.maximumKeyByteCount else {
            throw CryptoError(
                .invalidKeySize, "an HMAC key is 1 to \(HMAC.maximumKeyByteCount) bytes, got \(key.count)")
        }
        return try withContiguousBytes(of: message) { message in
            try key.withUnsafeBytes { key in try self.mac(key: key, message: message) }
        }
    }
}

/// Limits of HMAC in SaMDCrypto.
public enum HMAC {
    /// The longest HMAC key accepted, in bytes (1 KiB).
    public static let maximumKeyByteCount = 1024
}
