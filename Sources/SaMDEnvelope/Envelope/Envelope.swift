import SaMDCrypto

/// Envelope encryption of whole records: a fresh random DEK per record, wrapped by a named, versioned
/// key (``EnvelopeHeader``); the payload sealed under the DEK with C2SP chunked encryption, bound to
/// the record's ``EncryptionContext``. See <doc:EnvelopeFormat>.
public enum Envelope {
    /// Seals `plaintext` for the record described by `context`.
    /// - Parameters:
    ///   - plaintext: the record, at most ``ChunkedPayload/maximumChunkCount`` chunks of 16 KiB.
    ///   - context: the record's encryption context, bound into the payload and not stored.
    ///   - key: the KEK or subject key that wraps the fresh DEK; its identifier is written in the header.
    ///   - suite: ``PayloadSuite/cobblestone256`` unless the device lacks AES instructions.
    /// - Returns: header ‖ payload.
    /// - Throws: ``EnvelopeError/Code/crypto`` when a primitive fails; ``EnvelopeError/Code/limitExceeded``.
    public static func seal(
        _ plaintext: some Collection<UInt8>,
        context: EncryptionContext,
        to key: SealingKey,
        suite: PayloadSuite = .cobblestone256
    ) throws -> [UInt8] {
        let fresh = try FreshRecordSecrets()
        return try self.seal(
            plaintext, context: context, to: key, suite: suite, dek: fresh.dek, wrapNonce: fresh.wrapNonce,
            salt: fresh.salt)
    }

    /// Opens an envelope. Returns the plaintext only when the header, the key commitment and every chunk
    /// authenticated and the payload ended with its final chunk.
    /// - Throws: ``EnvelopeError/Code/authenticationFailed`` (tampered, wrong context, wrong key);
    ///   ``EnvelopeError/Code/keyNotFound``, ``EnvelopeError/Code/keyDestroyed``, ``EnvelopeError/Code/keyNotUsable``
    ///   from `keys`; ``EnvelopeError/Code/truncated``, ``EnvelopeError/Code/malformed``,
    ///   ``EnvelopeError/Code/unsupportedVersion``, ``EnvelopeError/Code/unsupportedSuite``.
    public static func open(
        _ envelope: some Collection<UInt8>,
        context: EncryptionContext,
        keys: some EnvelopeKeyProvider
    ) throws -> [UInt8] {
        let envelope = Array(envelope)
        let header = try EnvelopeHeader.parse(envelope)
        let dek = try header.unwrapDEK(keys: keys)
        return try ChunkedPayload.open(
            envelope[header.byteCount...], suite: header.suite, inputKey: dek, context: context.canonicalBytes)
    }

    /// Rewraps an envelope to `newKey`: a new header around the same DEK; the payload bytes are identical.
    /// Needs the old key (through `keys`), never the encryption context.
    /// - Throws: as ``open(_:context:keys:)`` for the header; ``EnvelopeError/Code/crypto``.
    public static func rewrap(
        _ envelope: some Collection<UInt8>,
        keys: some EnvelopeKeyProvider,
        to newKey: SealingKey
    ) throws -> [UInt8] {
        let envelope = Array(envelope)
        let header = try EnvelopeHeader.parse(envelope)
        return try self.rewrapHeader(header, keys: keys, to: newKey).encoded + envelope[header.byteCount...]
    }

    /// The new header for rewrapping a record whose payload stays where it is (files, databases).
    public static func rewrapHeader(
        _ header: EnvelopeHeader,
        keys: some EnvelopeKeyProvider,
        to newKey: SealingKey
    ) throws -> EnvelopeHeader {
        let dek = try header.unwrapDEK(keys: keys)
        return try EnvelopeHeader.sealing(dek, suite: header.suite, to: newKey)
    }

    /// Header facts, without any key. `envelope` may be the whole envelope or just its beginning; the
    /// plaintext length is given when `totalByteCount` (the whole envelope's size) is known.
    /// - Throws: as ``EnvelopeHeader/parse(_:)``; ``EnvelopeError/Code/truncated`` when `totalByteCount` is a
    ///   length no message seals to.
    public static func inspect(_ envelope: some Collection<UInt8>, totalByteCount: Int? = nil) throws -> EnvelopeInfo {
        let header = try EnvelopeHeader.parse(envelope)
        var plaintextCount: Int?
        if let total = totalByteCount {
            guard let count = ChunkedPayload.plaintextByteCount(sealedCount: total - header.byteCount) else {
                throw EnvelopeError(.truncated, "an envelope of \(total) bytes does not hold a whole payload")
            }
            plaintextCount = count
        }
        return EnvelopeInfo(header: header, payloadByteCount: plaintextCount)
    }

    /// Seals with every random input given: ``seal(_:context:to:suite:)`` with fresh ones, and the published
    /// test vectors with fixed ones — one path for both. `wrapNonce` is used in mode 1, `ephemeralPrivateKey`
    /// (the sealed box's ephemeral X25519 key; nil draws one) in mode 2.
    static func seal(
        _ plaintext: some Collection<UInt8>,
        context: EncryptionContext,
        to key: SealingKey,
        suite: PayloadSuite,
        dek: SecureBytes,
        wrapNonce: [UInt8],
        salt: [UInt8],
        ephemeralPrivateKey: X25519.PrivateKey? = nil
    ) throws -> [UInt8] {
        let header = try EnvelopeHeader.sealing(
            dek, suite: suite, to: key, wrapNonce: wrapNonce, ephemeralPrivateKey: ephemeralPrivateKey)
        return try ChunkedPayload.seal(
            plaintext, suite: suite, inputKey: dek, context: context.canonicalBytes, salt: salt, prefix: header.encoded)
    }
}

/// The random values one new record needs — its DEK, the payload salt and the DEK wrap's nonce — drawn from
/// the CSPRNG in one call: each call to OpenSSL's DRBG re-keys it, and three calls were a fifth of sealing a
/// small record (Docs/Performance.md). The DEK stays in guarded memory; the salt and nonce are public.
struct FreshRecordSecrets {
    let dek: SecureBytes
    let salt: [UInt8]
    let wrapNonce: [UInt8]

    init() throws {
        let dekCount = DEKWrap.dekByteCount
        let saltCount = ChunkedPayload.saltByteCount
        let nonceCount = AEADAlgorithm.aes256GCM.nonceByteCount
        (self.dek, self.salt, self.wrapNonce) = try EnvelopeError.mappingCryptoErrors("generating a DEK") {
            let random = try SecureBytes(randomByteCount: dekCount + saltCount + nonceCount)
            return try random.withUnsafeBytes { random in
                (
                    try SecureBytes(copying: UnsafeRawBufferPointer(rebasing: random[..<dekCount])),
                    Array(random[dekCount..<(dekCount + saltCount)]),
                    Array(random[(dekCount + saltCount)...])
                )
            }
        }
    }
}

/// What ``Envelope/inspect(_:totalByteCount:)`` reports: header facts, never a key.
public struct EnvelopeInfo: Sendable, Hashable, Codable {
    public let formatVersion: Int
    public let suite: String
    public let wrapMode: String
    public let kekName: String
    public let kekVersion: UInt32
    public let headerByteCount: Int
    public let chunkSize: Int
    /// The plaintext length in bytes, when the envelope's total size was known.
    public let payloadLength: Int?

    init(header: EnvelopeHeader, payloadByteCount: Int?) {
        self.formatVersion = Int(EnvelopeHeader.formatVersion)
        self.suite = header.suite.description
        self.wrapMode = header.wrapMode.description
        self.kekName = header.key.name
        self.kekVersion = header.key.version
        self.headerByteCount = header.byteCount
        self.chunkSize = ChunkedPayload.chunkByteCount
        self.payloadLength = payloadByteCount
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version"
        case suite
        case wrapMode = "wrap_mode"
        case kekName = "kek_name"
        case kekVersion = "kek_version"
        case headerByteCount = "header_length"
        case chunkSize = "chunk_size"
        case payloadLength = "payload_length"
    }
}
