import CSaMDOpenSSL

extension HKDF {
    /// Runs OpenSSL's HKDF in `mode`. `salt` and `info` may be nil (absent).
    /// On failure `output` is zeroed.
    static func derive(
        hash: HKDFHash,
        mode: Mode,
        key: UnsafeRawBufferPointer,
        salt: UnsafeRawBufferPointer?,
        info: UnsafeRawBufferPointer?,
        into output: UnsafeMutableRawBufferPointer
    ) throws {
        try LibraryGate.check()
        if mode == .extractOnly {
            precondition(output.count == hash.byteCount, "HKDF-Extract outputs exactly HashLen bytes")
        }
        // Fetched once per crypto profile, so the default properties (fips=yes under nist) are honoured.
        guard let context = EVP_KDF_CTX_new(try FetchedAlgorithms.kdf("HKDF")) else {
            throw CryptoError.openSSL("EVP_KDF_CTX_new failed")
        }
        defer { EVP_KDF_CTX_free(context) }

        var modeValue: Int32 =
            switch mode {
            case .extractAndExpand: EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND
            case .extractOnly: EVP_KDF_HKDF_MODE_EXTRACT_ONLY
            case .expandOnly: EVP_KDF_HKDF_MODE_EXPAND_ONLY
            }
        var scratch: UInt8 = 0
        let ok = withUnsafeMutablePointer(to: &scratch) { scratch in
            withUnsafeMutablePointer(to: &modeValue) { modeValue in
                // OpenSSL refuses a NULL key pointer even for an empty key: point empty buffers at a scratch byte.
                func base(_ buffer: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer {
                    UnsafeMutableRawPointer(mutating: buffer.baseAddress) ?? UnsafeMutableRawPointer(scratch)
                }
                var parameters: [OSSL_PARAM] = [
                    OSSL_PARAM_construct_utf8_string(
                        ParameterName.digest,
                        UnsafeMutablePointer(mutating: hash.openSSLName),
                        0
                    ),
                    OSSL_PARAM_construct_int(ParameterName.mode, modeValue),
                    OSSL_PARAM_construct_octet_string(ParameterName.key, base(key), key.count),
                ]
                if let salt {
                    parameters.append(OSSL_PARAM_construct_octet_string(ParameterName.salt, base(salt), salt.count))
                }
                if let info {
                    parameters.append(OSSL_PARAM_construct_octet_string(ParameterName.info, base(info), info.count))
                }
                parameters.append(OSSL_PARAM_construct_end())
                return EVP_KDF_derive(
                    context,
                    output.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    output.count,
                    parameters
                )
            }
        }
        guard ok == 1 else {
            secureZero(output)
            throw CryptoError.openSSL("EVP_KDF_derive(HKDF-\(hash)) failed")
        }
    }

    /// OSSL_PARAM keeps the key name pointer, so names must be static C strings.
    private enum ParameterName {
        static var digest: UnsafePointer<CChar> { cString("digest") }
        static var mode: UnsafePointer<CChar> { cString("mode") }
        static var key: UnsafePointer<CChar> { cString("key") }
        static var salt: UnsafePointer<CChar> { cString("salt") }
        static var info: UnsafePointer<CChar> { cString("info") }
    }
}

extension HKDFHash {
    /// The OpenSSL digest name, as a static C string.
    fileprivate var openSSLName: UnsafePointer<CChar> {
        switch self {
        case .sha256: cString("SHA256")
        case .sha512: cString("SHA512")
        }
    }
}

/// A pointer to the NUL-terminated bytes of a string literal, valid for the whole process.
private func cString(_ literal: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(literal.utf8Start).assumingMemoryBound(to: CChar.self)
}
