extension AEADAlgorithm {
    /// Seals one message.
    /// - Parameters:
    ///   - plaintext: any length up to ``maximumPlaintextByteCount``.
    ///   - key: ``keyByteCount`` (32) bytes.
    ///   - nonce: exactly ``nonceByteCount`` bytes, never reused under the same key (see ``randomNonce()``).
    ///   - associatedData: authenticated, not encrypted.
    /// - Returns: the ciphertext followed by the 16-byte tag (`plaintext.count + 16` bytes).
    /// - Throws: as ``AEADContext/init(algorithm:key:)`` and
    ///   ``AEADContext/seal(plaintext:nonce:associatedData:ciphertext:tag:)``.
    public func seal(
        _ plaintext: some Collection<UInt8>,
        key: SecureBytes,
        nonce: some Collection<UInt8>,
        associatedData: some Collection<UInt8> = [UInt8]()
    ) throws -> [UInt8] {
        // Sizes are checked before any input is copied (a lazy collection may claim any count).
        try self.checkKeySize(key.count)
        try self.checkSizes(inputByteCount: plaintext.count, nonceByteCount: nonce.count)
        let context = try AEADContext(algorithm: self, key: key)
        return try withContiguousBytes(of: plaintext) { plaintext in
            try withContiguousBytes(of: nonce) { nonce in
                try withContiguousBytes(of: associatedData) { associatedData in
                    try [UInt8](unsafeUninitializedCapacity: plaintext.count + Self.tagByteCount) { buffer, count in
                        count = try context.seal(
                            plaintext,
                            nonce: nonce,
                            associatedData: associatedData,
                            into: UnsafeMutableRawBufferPointer(buffer)
                        )
                    }
                }
            }
        }
    }

    /// Opens one message sealed by ``seal(_:key:nonce:associatedData:)``.
    /// - Parameter ciphertextAndTag: the ciphertext followed by its 16-byte tag.
    /// - Returns: the plaintext, only when the tag verified.
    /// - Throws: ``CryptoError/Code/authenticationFailed`` when the tag does not verify (wrong key, nonce,
    ///   associated data, or tampered input — indistinguishable by design); otherwise as
    ///   ``AEADContext/open(ciphertext:tag:nonce:associatedData:plaintext:)``.
    public func open(
        _ ciphertextAndTag: some Collection<UInt8>,
        key: SecureBytes,
        nonce: some Collection<UInt8>,
        associatedData: some Collection<UInt8> = [UInt8]()
    ) throws -> [UInt8] {
        try self.checkKeySize(key.count)
        try self.checkSizes(
            inputByteCount: max(ciphertextAndTag.count - Self.tagByteCount, 0),
            nonceByteCount: nonce.count
        )
        let context = try AEADContext(algorithm: self, key: key)
        return try withContiguousBytes(of: ciphertextAndTag) { input in
            try withContiguousBytes(of: nonce) { nonce in
                try withContiguousBytes(of: associatedData) { associatedData in
                    try [UInt8](unsafeUninitializedCapacity: max(input.count - Self.tagByteCount, 0)) { buffer, count in
                        count = try context.open(
                            input,
                            nonce: nonce,
                            associatedData: associatedData,
                            into: UnsafeMutableRawBufferPointer(buffer)
                        )
                    }
                }
            }
        }
    }

    /// Opens a message whose tag is held apart from its ciphertext.
    /// - Parameter tag: exactly 16 bytes; any other length is refused with ``CryptoError/Code/unsupportedTagSize``.
    /// - Returns: the plaintext, only when the tag verified.
    /// - Throws: as ``open(_:key:nonce:associatedData:)``.
    public func open(
        ciphertext: some Collection<UInt8>,
        tag: some Collection<UInt8>,
        key: SecureBytes,
        nonce: some Collection<UInt8>,
        associatedData: some Collection<UInt8> = [UInt8]()
    ) throws -> [UInt8] {
        try self.checkKeySize(key.count)
        try self.checkSizes(inputByteCount: ciphertext.count, nonceByteCount: nonce.count, tagByteCount: tag.count)
        let context = try AEADContext(algorithm: self, key: key)
        return try withContiguousBytes(of: ciphertext) { ciphertext in
            try withContiguousBytes(of: tag) { tag in
                try withContiguousBytes(of: nonce) { nonce in
                    try withContiguousBytes(of: associatedData) { associatedData in
                        try [UInt8](unsafeUninitializedCapacity: ciphertext.count) { buffer, count in
                            try context.open(
                                ciphertext: ciphertext,
                                tag: tag,
                                nonce: nonce,
                                associatedData: associatedData,
                                plaintext: UnsafeMutableRawBufferPointer(buffer)
                            )
                            count = ciphertext.count
                        }
                    }
                }
            }
        }
    }
}
