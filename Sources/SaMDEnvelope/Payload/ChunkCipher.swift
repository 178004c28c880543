import SaMDCrypto

/// The per-message state of C2SP chunked encryption: the derived AEAD key (in a keyed context), the
/// base nonce, and the running nonce. Not thread-safe: one per stream.
final class ChunkCipher {
    static let infoPrefix = Array("c2sp.org/chunked-encryption@v1+".utf8)

    /// Test hook: told the index of every chunk about to be opened, so tests can prove that header
    /// failures stop before any chunk is decrypted. Task-local.
    @TaskLocal static var openObserver: (@Sendable (UInt64) -> Void)? = nil

    let suite: PayloadSuite
    private let aead: AEADContext
    private let baseNonce: [UInt8]
    private var nonce: [UInt8]

    private init(suite: PayloadSuite, aead: AEADContext, baseNonce: [UInt8]) {
        self.suite = suite
        self.aead = aead
        self.baseNonce = baseNonce
        self.nonce = baseNonce
    }

    static func checkInputKey(_ inputKey: SecureBytes, suite: PayloadSuite) throws {
        guard inputKey.count == suite.algorithm.keyByteCount else {
            throw EnvelopeError(
                .malformed,
                "the input key of \(suite) is \(suite.algorithm.keyByteCount) bytes, got \(inputKey.count)"
            )
        }
    }

    /// Derives key, base nonce and commitment (c2sp.org/chunked-encryption, "Key derivation").
    private static func derive(
        suite: PayloadSuite,
        inputKey: SecureBytes,
        context: some Collection<UInt8>,
        salt: some Collection<UInt8>
    ) throws -> (AEADContext, baseNonce: [UInt8], commitment: SecureBytes) {
        try self.checkInputKey(inputKey, suite: suite)
        guard context.count <= ChunkedPayload.maximumContextByteCount else {
            throw EnvelopeError(
                .limitExceeded,
                "an encryption context of \(context.count) bytes exceeds \(ChunkedPayload.maximumContextByteCount)"
            )
        }
        precondition(salt.count == ChunkedPayload.saltByteCount)
        let keyCount = suite.algorithm.keyByteCount
        let nonceCount = suite.algorithm.nonceByteCount
        var info: [UInt8] = []
        info.reserveCapacity(Self.infoPrefix.count + suite.aeadName.utf8.count + 1 + salt.count + context.count)
        info += Self.infoPrefix
        info += suite.aeadName.utf8
        info.append(0)
        info += salt
        info += context
        return try EnvelopeError.mappingCryptoErrors("deriving the payload keys") {
            let derived = try SecureBytes(
                unsafeUninitializedCount: keyCount + nonceCount + ChunkedPayload.commitmentByteCount
            ) { output in
                try inputKey.withUnsafeBytes { prk in
                    try info.withUnsafeBytes { info in
                        try HKDF.expand(hash: .sha512, pseudoRandomKey: prk, info: info, into: output)
                    }
                }
            }
            return try derived.withUnsafeBytes { derived in
                let key = try SecureBytes(copying: UnsafeRawBufferPointer(rebasing: derived[..<keyCount]))
                let baseNonce = Array(derived[keyCount..<(keyCount + nonceCount)])
                let commitment = try SecureBytes(
                    copying: UnsafeRawBufferPointer(rebasing: derived[(keyCount + nonceCount)...]))
                return (try AEADContext(algorithm: suite.algorithm, key: key), baseNonce, commitment)
            }
        }
    }

    /// A cipher for sealing, and the 56-byte payload header (salt ‖ commitment) to write first.
    static func forSealing(
        suite: PayloadSuite,
        inputKey: SecureBytes,
        context: some Collection<UInt8>,
        salt: [UInt8]
    ) throws -> (ChunkCipher, header: [UInt8]) {
        let (aead, baseNonce, commitment) = try self.derive(
            suite: suite, inputKey: inputKey, context: context, salt: salt)
        let header = salt + commitment.withUnsafeBytes { Array($0) }
        return (ChunkCipher(suite: suite, aead: aead, baseNonce: baseNonce), header)
    }

    /// A cipher for opening: derives from the header's salt and checks its commitment in constant time
    /// before anything else. A wrong key or context fails here, before any chunk is opened.
    convenience init(
        suite: PayloadSuite,
        inputKey: SecureBytes,
        context: some Collection<UInt8>,
        header: some Collection<UInt8>
    ) throws {
        precondition(header.count == ChunkedPayload.headerByteCount)
        let header = Array(header)
        let (aead, baseNonce, commitment) = try Self.derive(
            suite: suite,
            inputKey: inputKey,
            context: context,
            salt: header[..<ChunkedPayload.saltByteCount]
        )
        guard commitment.constantTimeEquals(header[ChunkedPayload.saltByteCount...]) else {
            throw EnvelopeError(
                .authenticationFailed,
                "the key commitment does not match: wrong key, wrong encryption context, or a modified header"
            )
        }
        self.init(suite: suite, aead: aead, baseNonce: baseNonce)
    }

    /// Sets `nonce` to the base nonce XOR `index` as a big-endian integer as wide as the nonce.
    private func prepareNonce(index: UInt64) throws {
        guard index < ChunkedPayload.maximumChunkCount else {
            throw EnvelopeError(.limitExceeded, "a payload has at most \(ChunkedPayload.maximumChunkCount) chunks")
        }
        let count = self.nonce.count
        for position in 0..<8 {
            let shift = UInt64(8 * position)
            self.nonce[count - 1 - position] =
                self.baseNonce[count - 1 - position] ^ UInt8(truncatingIfNeeded: index >> shift)
        }
    }

    /// Seals one chunk into `output` (chunk length + 16 bytes). Returns the bytes written.
    @discardableResult
    func seal(chunk: UnsafeRawBufferPointer, index: UInt64, into output: UnsafeMutableRawBufferPointer) throws -> Int {
        try self.prepareNonce(index: index)
        return try EnvelopeError.mappingCryptoErrors("sealing chunk \(index)") {
            try self.nonce.withUnsafeBytes { nonce in
                try self.aead.seal(
                    chunk, nonce: nonce, associatedData: UnsafeRawBufferPointer(start: nil, count: 0), into: output)
            }
        }
    }

    /// Opens one sealed chunk (16 … 16 400 bytes) into `output`. Returns the plaintext bytes written;
    /// on failure `output` holds no plaintext.
    @discardableResult
    func open(chunk: UnsafeRawBufferPointer, index: UInt64, into output: UnsafeMutableRawBufferPointer) throws -> Int {
        try self.prepareNonce(index: index)
        Self.openObserver?(index)
        return try EnvelopeError.mappingCryptoErrors("chunk \(index) did not authenticate") {
            try self.nonce.withUnsafeBytes { nonce in
                try self.aead.open(
                    chunk, nonce: nonce, associatedData: UnsafeRawBufferPointer(start: nil, count: 0), into: output)
            }
        }
    }
}
