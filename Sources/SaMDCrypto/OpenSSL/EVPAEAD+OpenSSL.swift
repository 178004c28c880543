import CSaMDOpenSSL

/// AES-256-GCM and ChaCha20-Poly1305 on one OpenSSL `EVP_CIPHER_CTX`, keyed once.
///
/// Each seal or open re-initialises only the nonce (`EVP_CipherInit_ex2` with no cipher
/// and no key), so the key schedule is computed once per context. The cipher comes from
/// ``FetchedAlgorithms`` (fetched once per crypto profile), so it honours the library context's
/// default properties (`fips=yes` under the `nist` profile).
final class EVPAEAD: AEADBackend {
    /// `EVP_CipherUpdate` takes an `int` length; longer inputs are fed in steps of this size.
    private static let maximumStep = 1 << 30

    private let context: OpaquePointer

    init(algorithm: AEADAlgorithm, key: SecureBytes) throws {
        guard let context = EVP_CIPHER_CTX_new() else {
            throw CryptoError.openSSL("EVP_CIPHER_CTX_new failed")
        }
        self.context = context
        let cipher: OpaquePointer?
        do {
            cipher =
                switch algorithm {
                case .aes256GCM: try FetchedAlgorithms.cipher("AES-256-GCM")
                case .chaCha20Poly1305: try FetchedAlgorithms.cipher("ChaCha20-Poly1305")
                case .xChaCha20Poly1305: nil
                }
        } catch {
            EVP_CIPHER_CTX_free(context)
            throw error
        }
        let ok = key.withUnsafeBytes { key in
            EVP_CipherInit_ex2(context, cipher, key.baseAddress?.assumingMemoryBound(to: UInt8.self), nil, 1, nil)
        }
        guard ok == 1 else {
            throw CryptoError.openSSL("EVP_CipherInit_ex2 could not set up \(algorithm)")
        }
    }

    deinit {
        // Frees the context and cleanses its copy of the key schedule.
        EVP_CIPHER_CTX_free(self.context)
    }

    func seal(
        plaintext: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        ciphertext: UnsafeMutableRawBufferPointer,
        tag: UnsafeMutableRawBufferPointer
    ) throws {
        try self.start(nonce: nonce, encrypting: true)
        try self.update(associatedData: associatedData)
        try self.update(input: plaintext, output: ciphertext)
        try self.finish()
        guard
            EVP_CIPHER_CTX_ctrl(self.context, EVP_CTRL_AEAD_GET_TAG, Int32(tag.count), tag.baseAddress) == 1
        else {
            secureZero(ciphertext)
            throw CryptoError.openSSL("EVP_CTRL_AEAD_GET_TAG failed")
        }
    }

    func open(
        ciphertext: UnsafeRawBufferPointer,
        tag: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        plaintext: UnsafeMutableRawBufferPointer
    ) throws {
        try self.start(nonce: nonce, encrypting: false)
        // The tag is copied into the context before any plaintext is written.
        guard
            EVP_CIPHER_CTX_ctrl(
                self.context,
                EVP_CTRL_AEAD_SET_TAG,
                Int32(tag.count),
                UnsafeMutableRawPointer(mutating: tag.baseAddress)
            ) == 1
        else {
            throw CryptoError.openSSL("EVP_CTRL_AEAD_SET_TAG failed")
        }
        do {
            try self.update(associatedData: associatedData)
            try self.update(input: ciphertext, output: plaintext)
        } catch {
            secureZero(plaintext)
            throw error
        }
        var finalLength: Int32 = 0
        var scratch: UInt8 = 0
        guard EVP_CipherFinal_ex(self.context, &scratch, &finalLength) == 1 else {
            // The tag did not verify: the bytes already written are unauthenticated.
            secureZero(plaintext)
            throw CryptoError(
                .authenticationFailed, "the AEAD tag did not verify", openSSLErrors: OpenSSLErrorEntry.drainQueue())
        }
    }

    private func start(nonce: UnsafeRawBufferPointer, encrypting: Bool) throws {
        let ok = EVP_CipherInit_ex2(
            self.context,
            nil,
            nil,
            nonce.baseAddress?.assumingMemoryBound(to: UInt8.self),
            encrypting ? 1 : 0,
            nil
        )
        guard ok == 1 else {
            throw CryptoError.openSSL("EVP_CipherInit_ex2 could not set the nonce")
        }
    }

    private func update(associatedData: UnsafeRawBufferPointer) throws {
        guard let base = associatedData.baseAddress, associatedData.count > 0 else { return }
        var offset = 0
        while offset < associatedData.count {
            let step = min(associatedData.count - offset, Self.maximumStep)
            var written: Int32 = 0
            guard
                EVP_CipherUpdate(
                    self.context,
                    nil,
                    &written,
                    (base + offset).assumingMemoryBound(to: UInt8.self),
                    Int32(step)
                ) == 1
            else {
                throw CryptoError.openSSL("EVP_CipherUpdate failed on associated data")
            }
            offset += step
        }
    }

    private func update(input: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer) throws {
        guard let inputBase = input.baseAddress, let outputBase = output.baseAddress, input.count > 0 else { return }
        var offset = 0
        while offset < input.count {
            let step = min(input.count - offset, Self.maximumStep)
            var written: Int32 = 0
            guard
                EVP_CipherUpdate(
                    self.context,
                    (outputBase + offset).assumingMemoryBound(to: UInt8.self),
                    &written,
                    (inputBase + offset).assumingMemoryBound(to: UInt8.self),
                    Int32(step)
                ) == 1, Int(written) == step
            else {
                throw CryptoError.openSSL("EVP_CipherUpdate failed")
            }
            offset += step
        }
    }

    private func finish() throws {
        var finalLength: Int32 = 0
        var scratch: UInt8 = 0
        guard EVP_CipherFinal_ex(self.context, &scratch, &finalLength) == 1, finalLength == 0 else {
            throw CryptoError.openSSL("EVP_CipherFinal_ex failed")
        }
    }
}
