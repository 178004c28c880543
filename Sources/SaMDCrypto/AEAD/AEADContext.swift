/// A keyed AEAD context for sealing and opening many messages under one key.
///
/// The key is set up once (for AES-GCM, the key schedule and GHASH tables are computed
/// once) and each call sets only the nonce, so the chunks of a stream cost no per-chunk
/// key set-up. Output goes into the caller's buffers, so no call allocates.
///
/// A context is not thread-safe: use one per task. Output buffers may be the very same
/// memory as the input (in-place operation) but must not partially overlap it.
///
/// Opening never releases unauthenticated plaintext: when the tag does not verify, the
/// output buffer is zeroed before ``CryptoError/Code/authenticationFailed`` is thrown.
public final class AEADContext {
    /// The algorithm this context runs.
    public let algorithm: AEADAlgorithm
    private let backend: any AEADBackend

    /// Creates a context for `algorithm` keyed with `key`.
    /// - Parameter key: exactly ``AEADAlgorithm/keyByteCount`` (32) bytes.
    /// - Throws: ``CryptoError/Code/invalidKeySize`` for any other key length;
    ///   ``CryptoError/Code/openSSLFailure`` if OpenSSL cannot set up the cipher (for example,
    ///   ChaCha20-Poly1305 when only a FIPS provider is loaded);
    ///   ``CryptoError/Code/notAllowedInProfile`` for XChaCha20-Poly1305 under the `nist` profile.
    public init(algorithm: AEADAlgorithm, key: SecureBytes) throws {
        try LibraryGate.check()
        try algorithm.checkKeySize(key.count)
        self.algorithm = algorithm
        switch algorithm {
        case .aes256GCM, .chaCha20Poly1305:
            self.backend = try EVPAEAD(algorithm: algorithm, key: key)
        case .xChaCha20Poly1305:
            try CryptoProfile.requireNonFIPSAlgorithmsAllowed(algorithm.rawValue)
            self.backend = SodiumXChaCha20Poly1305(key: key)
        }
    }

    /// Seals `plaintext`, writing the ciphertext (same length) to `ciphertext` and the tag to `tag`.
    /// - Parameters:
    ///   - nonce: exactly ``AEADAlgorithm/nonceByteCount`` bytes; never reuse one under the same key.
    ///   - associatedData: authenticated, not encrypted; any length.
    ///   - ciphertext: at least `plaintext.count` bytes; may be the plaintext's own memory.
    ///   - tag: exactly 16 bytes, overlapping neither the plaintext nor the ciphertext.
    /// - Throws: ``CryptoError/Code/unsupportedNonceSize``, ``CryptoError/Code/unsupportedTagSize``,
    ///   ``CryptoError/Code/outputBufferTooSmall``, ``CryptoError/Code/inputTooLarge``,
    ///   ``CryptoError/Code/invalidInput`` (partially overlapping buffers, or a tag buffer overlapping
    ///   either), ``CryptoError/Code/openSSLFailure``, ``CryptoError/Code/notAllowedInProfile``
    ///   (XChaCha20-Poly1305 under `nist`).
    public func seal(
        plaintext: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        ciphertext: UnsafeMutableRawBufferPointer,
        tag: UnsafeMutableRawBufferPointer
    ) throws {
        try self.validate(input: plaintext, nonce: nonce, tagCount: tag.count, output: ciphertext)
        let tagBytes = UnsafeRawBufferPointer(tag)
        if overlaps(tagBytes, UnsafeRawBufferPointer(rebasing: ciphertext[..<plaintext.count]))
            || overlaps(tagBytes, plaintext)
        {
            throw CryptoError(.invalidInput, "the tag buffer overlaps the plaintext or the ciphertext")
        }
        let output = UnsafeMutableRawBufferPointer(rebasing: ciphertext[..<plaintext.count])
        try self.backend.seal(
            AEADOperation(input: plaintext, output: output, nonce: nonce, associatedData: associatedData), tag: tag)
    }

    /// Seals `plaintext` into `output` as ciphertext followed by the 16-byte tag.
    /// - Parameter output: at least `plaintext.count + 16` bytes; may start at the plaintext's own memory.
    /// - Returns: the number of bytes written, `plaintext.count + 16`.
    /// - Throws: as ``seal(plaintext:nonce:associatedData:ciphertext:tag:)``.
    @discardableResult
    public func seal(
        _ plaintext: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws -> Int {
        try self.algorithm.checkSizes(inputByteCount: plaintext.count, nonceByteCount: nonce.count)
        let total = plaintext.count + AEADAlgorithm.tagByteCount
        guard output.count >= total else {
            throw CryptoError(.outputBufferTooSmall, "output holds \(output.count) bytes, sealing needs \(total)")
        }
        try self.seal(
            plaintext: plaintext,
            nonce: nonce,
            associatedData: associatedData,
            ciphertext: UnsafeMutableRawBufferPointer(rebasing: output[..<plaintext.count]),
            tag: UnsafeMutableRawBufferPointer(rebasing: output[plaintext.count..<total])
        )
        return total
    }

    /// Opens `ciphertext` under `tag`, writing the plaintext (same length) to `plaintext`.
    /// - Parameter tag: exactly 16 bytes, not overlapping the plaintext output; a shorter or longer
    ///   (truncated) tag is refused, not tried.
    /// - Throws: ``CryptoError/Code/authenticationFailed`` when the tag does not verify (the output is then
    ///   zeroed); ``CryptoError/Code/unsupportedNonceSize``, ``CryptoError/Code/unsupportedTagSize``,
    ///   ``CryptoError/Code/outputBufferTooSmall``, ``CryptoError/Code/inputTooLarge``, ``CryptoError/Code/invalidInput``.
    public func open(
        ciphertext: UnsafeRawBufferPointer,
        tag: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        plaintext: UnsafeMutableRawBufferPointer
    ) throws {
        try self.validate(input: ciphertext, nonce: nonce, tagCount: tag.count, output: plaintext)
        if overlaps(tag, UnsafeRawBufferPointer(plaintext)) {
            throw CryptoError(.invalidInput, "the tag overlaps the plaintext output")
        }
        let output = UnsafeMutableRawBufferPointer(rebasing: plaintext[..<ciphertext.count])
        try self.backend.open(
            AEADOperation(input: ciphertext, output: output, nonce: nonce, associatedData: associatedData), tag: tag)
    }

    /// Opens ciphertext-followed-by-tag into `output`.
    /// - Parameter output: at least `ciphertextAndTag.count - 16` bytes; may start at the input's own memory,
    ///   must not overlap the tag.
    /// - Returns: the number of plaintext bytes written.
    /// - Throws: ``CryptoError/Code/authenticationFailed`` also when the input is shorter than a tag;
    ///   otherwise as ``open(ciphertext:tag:nonce:associatedData:plaintext:)``.
    @discardableResult
    public func open(
        _ ciphertextAndTag: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws -> Int {
        guard ciphertextAndTag.count >= AEADAlgorithm.tagByteCount else {
            throw CryptoError(.authenticationFailed, "input of \(ciphertextAndTag.count) bytes is shorter than a tag")
        }
        let plaintextCount = ciphertextAndTag.count - AEADAlgorithm.tagByteCount
        guard output.count >= plaintextCount else {
            throw CryptoError(
                .outputBufferTooSmall, "output holds \(output.count) bytes, opening needs \(plaintextCount)")
        }
        // In-place: the tag sits right after the ciphertext, which is where the plaintext ends,
        // so it never overlaps the plaintext bytes; check against the exact plaintext span.
        let plaintext = UnsafeMutableRawBufferPointer(rebasing: output[..<plaintextCount])
        try self.validate(
            input: UnsafeRawBufferPointer(rebasing: ciphertextAndTag[..<plaintextCount]),
            nonce: nonce,
            tagCount: AEADAlgorithm.tagByteCount,
            output: plaintext
        )
        let tag = UnsafeRawBufferPointer(rebasing: ciphertextAndTag[plaintextCount...])
        if overlaps(tag, UnsafeRawBufferPointer(plaintext)) {
            throw CryptoError(.invalidInput, "the plaintext output overlaps the tag")
        }
        let ciphertext = UnsafeRawBufferPointer(rebasing: ciphertextAndTag[..<plaintextCount])
        try self.backend.open(
            AEADOperation(input: ciphertext, output: plaintext, nonce: nonce, associatedData: associatedData), tag: tag)
        return plaintextCount
    }

    private func validate(
        input: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer,
        tagCount: Int,
        output: UnsafeMutableRawBufferPointer
    ) throws {
        try self.algorithm.checkSizes(inputByteCount: input.count, nonceByteCount: nonce.count, tagByteCount: tagCount)
        guard output.count >= input.count else {
            throw CryptoError(.outputBufferTooSmall, "output holds \(output.count) bytes, needs \(input.count)")
        }
        guard !partiallyOverlaps(input, UnsafeMutableRawBufferPointer(rebasing: output[..<input.count])) else {
            throw CryptoError(.invalidInput, "input and output partially overlap; use the same buffer or separate ones")
        }
    }
}

/// The buffers of one AEAD operation, validated by ``AEADContext`` before a backend sees them: `input` (the
/// plaintext to seal or the ciphertext to open) and `output` of the same length, which may be the same memory;
/// the nonce of the algorithm's length; the associated data.
struct AEADOperation {
    let input: UnsafeRawBufferPointer
    let output: UnsafeMutableRawBufferPointer
    let nonce: UnsafeRawBufferPointer
    let associatedData: UnsafeRawBufferPointer
}

/// What an AEAD implementation provides.
protocol AEADBackend: AnyObject {
    /// Encrypts `operation.input` into `operation.output` and writes the 16-byte tag.
    func seal(_ operation: AEADOperation, tag: UnsafeMutableRawBufferPointer) throws

    /// Decrypts `operation.input` into `operation.output` when `tag` verifies; must zero the output before
    /// throwing on a tag mismatch.
    func open(_ operation: AEADOperation, tag: UnsafeRawBufferPointer) throws
}
