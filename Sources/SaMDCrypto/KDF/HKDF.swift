/// The hash function under HKDF: one of SaMDCrypto's digests (SHA-256 or SHA-512).
public typealias HKDFHash = DigestAlgorithm

extension DigestAlgorithm {
    /// The longest output HKDF-Expand can produce with this hash, in bytes: 255 × HashLen (RFC 5869 §2.3).
    public var maximumOutputByteCount: Int {
        255 * self.byteCount
    }
}

/// HKDF, the HMAC-based extract-and-expand key derivation function (RFC 5869,
/// NIST SP 800-56C rev. 2), on OpenSSL's `EVP_KDF` "HKDF".
///
/// Input keying material, pseudorandom keys and outputs are key material and are held in
/// ``SecureBytes``; salts and `info` strings are not secret.
public enum HKDF {
    /// The longest salt accepted, in bytes (64 KiB): far above any protocol's need, and a bound
    /// on what untrusted input can make this hash.
    public static let maximumSaltByteCount = 1 << 16

    /// The longest `info` accepted, in bytes: 2048, the buffer OpenSSL 3.0's HKDF keeps for it.
    public static let maximumInfoByteCount = 2048

    /// HKDF-Extract (RFC 5869 §2.2): `PRK = HMAC-Hash(salt, IKM)`.
    /// - Parameters:
    ///   - salt: any length up to ``maximumSaltByteCount``; empty means HashLen zero bytes.
    /// - Returns: the pseudorandom key, ``HKDFHash/byteCount`` bytes.
    /// - Throws: ``CryptoError/Code/inputTooLarge`` for an oversized salt; ``CryptoError/Code/openSSLFailure``.
    public static func extract(
        hash: HKDFHash,
        inputKeyMaterial: SecureBytes,
        salt: some Collection<UInt8>
    ) throws -> SecureBytes {
        try self.check(salt.count, "salt", limit: self.maximumSaltByteCount)
        return try SecureBytes(unsafeUninitializedCount: hash.byteCount) { output in
            try inputKeyMaterial.withUnsafeBytes { ikm in
                try withContiguousBytes(of: salt) { salt in
                    try self.derive(hash: hash, mode: .extractOnly, key: ikm, salt: salt, info: nil, into: output)
                }
            }
        }
    }

    /// HKDF-Expand (RFC 5869 §2.3) into a new secret.
    /// - Parameters:
    ///   - pseudoRandomKey: the PRK (usually from ``extract(hash:inputKeyMaterial:salt:)``; C2SP chunked
    ///     encryption uses its input key directly). Must not be empty.
    ///   - info: context and application specific information, up to ``maximumInfoByteCount`` bytes.
    ///   - outputByteCount: 1 … ``HKDFHash/maximumOutputByteCount`` bytes.
    /// - Throws: ``CryptoError/Code/invalidInput`` for an output length of 0 or over 255 × HashLen, or an
    ///   empty PRK; ``CryptoError/Code/inputTooLarge`` for an oversized `info`; ``CryptoError/Code/openSSLFailure``.
    public static func expand(
        hash: HKDFHash,
        pseudoRandomKey: SecureBytes,
        info: some Collection<UInt8>,
        outputByteCount: Int
    ) throws -> SecureBytes {
        try self.checkOutput(outputByteCount, hash: hash)
        try self.check(info.count, "info", limit: self.maximumInfoByteCount)
        return try SecureBytes(unsafeUninitializedCount: outputByteCount) { output in
            try pseudoRandomKey.withUnsafeBytes { prk in
                try withContiguousBytes(of: info) { info in
                    try self.expand(hash: hash, pseudoRandomKey: prk, info: info, into: output)
                }
            }
        }
    }

    /// HKDF-Expand into a caller's buffer, for derivations whose parts land in several places
    /// (a key, a nonce and a commitment, say) without an intermediate copy.
    /// - Parameter output: 1 … ``HKDFHash/maximumOutputByteCount`` bytes, filled entirely.
    /// - Throws: as ``expand(hash:pseudoRandomKey:info:outputByteCount:)``; on failure `output` is zeroed.
    public static func expand(
        hash: HKDFHash,
        pseudoRandomKey: UnsafeRawBufferPointer,
        info: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws {
        try self.checkOutput(output.count, hash: hash)
        try self.check(info.count, "info", limit: self.maximumInfoByteCount)
        guard pseudoRandomKey.count > 0 else {
            throw CryptoError(.invalidInput, "HKDF-Expand needs a non-empty pseudorandom key")
        }
        try self.derive(hash: hash, mode: .expandOnly, key: pseudoRandomKey, salt: nil, info: info, into: output)
    }

    /// HKDF (RFC 5869 §2): extract, then expand.
    /// - Parameters:
    ///   - inputKeyMaterial: the secret input; may be empty.
    ///   - salt: any length up to ``maximumSaltByteCount``; empty means HashLen zero bytes.
    ///   - info: up to ``maximumInfoByteCount`` bytes.
    ///   - outputByteCount: 1 … ``HKDFHash/maximumOutputByteCount`` bytes.
    /// - Throws: ``CryptoError/Code/invalidInput`` for an output length of 0 or over 255 × HashLen;
    ///   ``CryptoError/Code/inputTooLarge``; ``CryptoError/Code/openSSLFailure``.
    public static func deriveKey(
        hash: HKDFHash,
        inputKeyMaterial: SecureBytes,
        salt: some Collection<UInt8>,
        info: some Collection<UInt8>,
        outputByteCount: Int
    ) throws -> SecureBytes {
        try self.checkOutput(outputByteCount, hash: hash)
        try self.check(salt.count, "salt", limit: self.maximumSaltByteCount)
        try self.check(info.count, "info", limit: self.maximumInfoByteCount)
        return try SecureBytes(unsafeUninitializedCount: outputByteCount) { output in
            try inputKeyMaterial.withUnsafeBytes { ikm in
                try withContiguousBytes(of: salt) { salt in
                    try withContiguousBytes(of: info) { info in
                        try self.derive(
                            hash: hash, mode: .extractAndExpand, key: ikm, salt: salt, info: info, into: output)
                    }
                }
            }
        }
    }

    private static func checkOutput(_ count: Int, hash: HKDFHash) throws {
        guard count > 0, count <= hash.maximumOutputByteCount else {
            throw CryptoError(
                .invalidInput,
                "HKDF-\(hash) output must be 1…\(hash.maximumOutputByteCount) bytes (255 × HashLen), got \(count)"
            )
        }
    }

    private static func check(_ count: Int, _ name: String, limit: Int) throws {
        guard count <= limit else {
            throw CryptoError(.inputTooLarge, "HKDF \(name) of \(count) bytes exceeds the limit of \(limit) bytes")
        }
    }

    enum Mode {
        case extractAndExpand, extractOnly, expandOnly
    }
}
