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

    func seal(_ operation: AEADOperation, tag: UnsafeMutableRawBufferPointer) throws {
        try self.start(nonce: operation.nonce, encrypting: true)
        try self.update(operation.associatedData, into: nil)
        try self.update(operation.input, into: operation.output)
        try self.finish()
        guard
            EVP_CIPHER_CTX_ctrl(self.context, EVP_CTRL_AEAD_GET_TAG, Int32(tag.count), tag.baseAddress) == 1
        else {
            secureZero(operation.output)
            throw CryptoError.openSSL("EVP_CTRL_AEAD_GET_TAG failed")
        }
    }

    func open(_ operation: AEADOperation, tag: UnsafeRawBufferPointer) throws {
        try self.start(nonce: operation.nonce, encrypting: false)
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
            try self.update(operation.associatedData, into: nil)
            try self.update(operation.input, into: operation.output)
        } catch {
            secureZero(operation.output)
            throw error
        }
        var finalLength: Int32 = 0
        var scratch: UInt8 = 0
        guard EVP_CipherFinal_ex(self.context, &scratch, &finalLength) == 1 else {
            // The tag did not verify: the bytes already written are unauthenticated.
            secureZero(operation.output)
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

    /// Feeds `input` to the cipher in steps of at most `maximumStep` bytes: as associated data when `output` is
    /// `nil`, otherwise encrypting or decrypting it into `output` (as long as `input`).
    private func update(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer?) throws {
        guard let inputBase = input.baseAddress, input.count > 0 else { return }
        let outputBase = output?.baseAddress
        guard output == nil || outputBase != nil else { return }
        var offset = 0
        while offset < input.count {
            let step = min(input.count - offset, Self.maximumStep)
            var written: Int32 = 0
            guard
                EVP_CipherUpdate(
                    self.context,
                    outputBase.map { ($0 + offset).assumingMemoryBound(to: UInt8.self) },
                    &written,
                    (inputBase + offset).assumingMemoryBound(to: UInt8.self),
                    Int32(step)
                ) == 1, output == nil || Int(written) == step
            else {
                throw CryptoError.openSSL(
                    output == nil ? "EVP_CipherUpdate failed on associated data" : "EVP_CipherUpdate failed")
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
