import CSaMDOpenSSL

extension AESKeyWrap {
    /// Runs one wrap or unwrap on OpenSSL's AES-*-WRAP / AES-*-WRAP-PAD ciphers, which take the
    /// whole input in one `EVP_CipherUpdate`. Returns the number of bytes written to `output`;
    /// on failure `output` is zeroed.
    static func run(
        _ variant: Variant,
        wrapping: Bool,
        input: UnsafeRawBufferPointer,
        kek: SecureBytes,
        into output: UnsafeMutableRawBufferPointer
    ) throws -> Int {
        try LibraryGate.check()
        let cipher: OpaquePointer? =
            switch (variant, kek.count) {
            case (.kw, 16): EVP_aes_128_wrap()
            case (.kw, 24): EVP_aes_192_wrap()
            case (.kw, _): EVP_aes_256_wrap()
            case (.kwp, 16): EVP_aes_128_wrap_pad()
            case (.kwp, 24): EVP_aes_192_wrap_pad()
            case (.kwp, _): EVP_aes_256_wrap_pad()
            }
        guard let context = EVP_CIPHER_CTX_new() else {
            throw CryptoError.openSSL("EVP_CIPHER_CTX_new failed")
        }
        defer { EVP_CIPHER_CTX_free(context) }
        EVP_CIPHER_CTX_set_flags(context, Int32(EVP_CIPHER_CTX_FLAG_WRAP_ALLOW))
        let initialised = kek.withUnsafeBytes { kek in
            EVP_CipherInit_ex2(
                context, cipher, kek.baseAddress!.assumingMemoryBound(to: UInt8.self), nil, wrapping ? 1 : 0, nil)
        }
        guard initialised == 1 else {
            throw CryptoError.openSSL("EVP_CipherInit_ex2 could not set up AES key wrap")
        }
        var written: Int32 = 0
        let updated = EVP_CipherUpdate(
            context,
            output.baseAddress!.assumingMemoryBound(to: UInt8.self),
            &written,
            input.baseAddress!.assumingMemoryBound(to: UInt8.self),
            Int32(input.count)
        )
        guard updated == 1, written >= 0, Int(written) <= output.count else {
            secureZero(output)
            if wrapping {
                throw CryptoError.openSSL("AES key wrap failed")
            }
            throw CryptoError(
                .authenticationFailed,
                "the wrapped key did not pass its integrity check",
                openSSLErrors: OpenSSLErrorEntry.drainQueue()
            )
        }
        return Int(written)
    }
}
