public import SaMDCrypto

/// C2SP chunked encryption (c2sp.org/chunked-encryption, v1): the payload of every envelope.
///
/// Layout: `salt (24) ‖ commitment (32) ‖ chunk 0 ‖ … ‖ chunk n`, where every chunk but the last
/// holds exactly 16 384 plaintext bytes and the last holds fewer (possibly none); each chunk is the
/// AEAD ciphertext plus its 16-byte tag, under a nonce that is the base nonce XOR the chunk index.
/// Key, base nonce and commitment come from
/// `HKDF-Expand(SHA-512, prk = input key, info = "c2sp.org/chunked-encryption@v1+" ‖ aead ‖ 0x00 ‖ salt ‖ context)`.
/// The commitment is checked before any chunk is opened.
public enum ChunkedPayload {
    /// Plaintext bytes per full chunk: 16 384.
    public static let chunkByteCount = 16_384
    /// Bytes of one full sealed chunk: 16 400.
    public static let sealedChunkByteCount = chunkByteCount + AEADAlgorithm.tagByteCount
    /// Salt bytes: 24.
    public static let saltByteCount = 24
    /// Commitment bytes: 32.
    public static let commitmentByteCount = 32
    /// Bytes before the first chunk: 56.
    public static let headerByteCount = saltByteCount + commitmentByteCount
    /// The most chunks a payload may have: 2^32 (64 TiB), the lowest limit the specification allows.
    public static let maximumChunkCount: UInt64 = 1 << 32
    /// The longest encryption context, in bytes (1 KiB); the HKDF `info` that carries it is bounded.
    public static let maximumContextByteCount = 1024

    /// The sealed size of a message of `plaintextCount` bytes.
    public static func sealedByteCount(plaintextCount: Int) -> Int {
        let fullChunks = plaintextCount / chunkByteCount
        return headerByteCount + fullChunks * sealedChunkByteCount + (plaintextCount - fullChunks * chunkByteCount)
            + AEADAlgorithm.tagByteCount
    }

    /// The plaintext size of a well-formed sealed payload of `sealedCount` bytes, or nil when no message
    /// seals to that length (truncated, or shorter than a header and one tag).
    public static func plaintextByteCount(sealedCount: Int) -> Int? {
        guard sealedCount >= headerByteCount + AEADAlgorithm.tagByteCount else { return nil }
        let body = sealedCount - headerByteCount
        let fullChunks = body / sealedChunkByteCount
        let last = body - fullChunks * sealedChunkByteCount
        guard last >= AEADAlgorithm.tagByteCount else { return nil }
        return fullChunks * chunkByteCount + last - AEADAlgorithm.tagByteCount
    }

    /// Seals a whole message.
    /// - Parameters:
    ///   - message: the plaintext, at most ``maximumChunkCount`` chunks of ``chunkByteCount`` bytes.
    ///   - suite: the AEAD and chunk layout (C2SP chunked encryption).
    ///   - inputKey: the record's DEK, exactly the AEAD's key length (32 bytes).
    ///   - context: bound into the key derivation; up to ``maximumContextByteCount`` bytes.
    /// - Returns: ``sealedByteCount(plaintextCount:)`` bytes.
    /// - Throws: ``EnvelopeError/Code/limitExceeded`` for an oversized context or message;
    ///   ``EnvelopeError/Code/crypto`` when a primitive fails (wrong key length included).
    public static func seal(
        _ message: some Collection<UInt8>,
        suite: PayloadSuite = .cobblestone256,
        inputKey: SecureBytes,
        context: some Collection<UInt8>
    ) throws -> [UInt8] {
        try self.seal(message, suite: suite, inputKey: inputKey, context: context, salt: self.randomSalt())
    }

    /// Opens a whole sealed payload. Nothing is returned unless every chunk authenticated and the
    /// message ended with its short final chunk.
    /// - Throws: ``EnvelopeError/Code/authenticationFailed`` (wrong key, wrong context, tampered bytes,
    ///   reordered or duplicated chunks, trailing data after a valid final chunk);
    ///   ``EnvelopeError/Code/truncated`` for a length no message seals to;
    ///   ``EnvelopeError/Code/limitExceeded``; ``EnvelopeError/Code/crypto`` (wrong key length included).
    public static func open(
        _ sealed: some Collection<UInt8>,
        suite: PayloadSuite = .cobblestone256,
        inputKey: SecureBytes,
        context: some Collection<UInt8>
    ) throws -> [UInt8] {
        // Read in place (an array or a slice of one is not copied).
        try withContiguousBytes(of: sealed) { sealed in
            try self.open(sealed, suite: suite, inputKey: inputKey, context: context)
        }
    }

    private static func open(
        _ sealed: UnsafeRawBufferPointer,
        suite: PayloadSuite,
        inputKey: SecureBytes,
        context: some Collection<UInt8>
    ) throws -> [UInt8] {
        guard let plaintextCount = self.plaintextByteCount(sealedCount: sealed.count) else {
            // Still check the key and commitment first where the header is whole, so a wrong key is
            // reported as such and not as truncation.
            if sealed.count >= headerByteCount {
                _ = try ChunkCipher(
                    suite: suite, inputKey: inputKey, context: context, header: sealed[..<headerByteCount])
            } else {
                try ChunkCipher.checkInputKey(inputKey, suite: suite)
            }
            throw EnvelopeError(
                .truncated, "a payload of \(sealed.count) bytes is not a whole message (truncated or cut mid-chunk)")
        }
        let cipher = try ChunkCipher(
            suite: suite, inputKey: inputKey, context: context, header: sealed[..<headerByteCount])
        // Every byte of the output is written by a chunk before it is returned; on any failure the bytes
        // written so far (authenticated chunks of a message that failed later) are zeroed before the memory
        // is released.
        return try [UInt8](unsafeUninitializedCapacity: plaintextCount) { plaintext, initializedCount in
            let plaintext = UnsafeMutableRawBufferPointer(plaintext)
            do {
                try self.forEachChunk(
                    of: headerByteCount..<sealed.count, length: sealedChunkByteCount, outputStride: chunkByteCount
                ) {
                    index, input, output in
                    try cipher.open(
                        chunk: UnsafeRawBufferPointer(rebasing: sealed[input]),
                        index: index,
                        into: UnsafeMutableRawBufferPointer(rebasing: plaintext[output...])
                    )
                }
            } catch {
                SecureMemory.zero(plaintext)
                throw error
            }
            initializedCount = plaintextCount
        }
    }

    /// Seals a whole message after `prefix` (an envelope header), into one new array: prefix ‖ payload.
    static func seal(
        _ message: some Collection<UInt8>,
        suite: PayloadSuite,
        inputKey: SecureBytes,
        context: some Collection<UInt8>,
        salt: [UInt8],
        prefix: [UInt8] = []
    ) throws -> [UInt8] {
        let (cipher, header) = try ChunkCipher.forSealing(
            suite: suite, inputKey: inputKey, context: context, salt: salt)
        let total = prefix.count + self.sealedByteCount(plaintextCount: message.count)
        return try withContiguousBytes(of: message) { message in
            try [UInt8](unsafeUninitializedCapacity: total) { sealed, initializedCount in
                let sealed = UnsafeMutableRawBufferPointer(sealed)
                sealed.copyBytes(from: prefix)
                UnsafeMutableRawBufferPointer(rebasing: sealed[prefix.count..<(prefix.count + headerByteCount)])
                    .copyBytes(from: header)
                try self.forEachChunk(of: 0..<message.count, length: chunkByteCount, outputStride: sealedChunkByteCount)
                {
                    index, input, output in
                    try cipher.seal(
                        chunk: UnsafeRawBufferPointer(rebasing: message[input]),
                        index: index,
                        into: UnsafeMutableRawBufferPointer(
                            rebasing: sealed[(prefix.count + headerByteCount + output)...])
                    )
                }
                initializedCount = total
            }
        }
    }

    /// Walks `input` as the format cuts it (c2sp.org/chunked-encryption): whole chunks of `length` bytes,
    /// then a final chunk shorter than that, possibly empty — so a message never ends on a full chunk. Calls
    /// `body` with each chunk's index, its range in the input, and its offset in the output (`index` ×
    /// `outputStride`).
    private static func forEachChunk(
        of input: Range<Int>,
        length: Int,
        outputStride: Int,
        _ body: (_ index: UInt64, _ input: Range<Int>, _ output: Int) throws -> Void
    ) rethrows {
        var index: UInt64 = 0
        var start = input.lowerBound
        var output = 0
        while true {
            let isFinal = input.upperBound - start < length
            let end = isFinal ? input.upperBound : start + length
            try body(index, start..<end, output)
            if isFinal { return }
            start = end
            output += outputStride
            index += 1
        }
    }

    static func randomSalt() throws -> [UInt8] {
        try EnvelopeError.mappingCryptoErrors("no salt") { try SecureRandom.bytes(count: saltByteCount) }
    }
}
