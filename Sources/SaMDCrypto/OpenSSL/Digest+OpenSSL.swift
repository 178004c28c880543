import CSaMDOpenSSL

extension DigestAlgorithm {
    private var openSSLName: String {
        switch self {
        case .sha256: "SHA256"
        case .sha512: "SHA512"
        }
    }

    func hash(bytes: UnsafeRawBufferPointer) throws -> [UInt8] {
        try LibraryGate.check()
        let algorithm = self
        return try [UInt8](unsafeUninitializedCapacity: self.byteCount) { output, count in
            var written: UInt32 = 0
            // Implicit fetch per call: honours the default properties (fips=yes under nist).
            let digest: OpaquePointer? =
                switch algorithm {
                case .sha256: EVP_sha256()
                case .sha512: EVP_sha512()
                }
            var scratch: UInt8 = 0
            let ok = withUnsafeMutablePointer(to: &scratch) { scratch in
                EVP_Digest(
                    bytes.baseAddress ?? UnsafeRawPointer(scratch),
                    bytes.count,
                    output.baseAddress,
                    &written,
                    digest,
                    nil
                )
            }
            guard ok == 1, Int(written) == algorithm.byteCount else {
                throw CryptoError.openSSL("EVP_Digest(\(algorithm)) failed")
            }
            count = Int(written)
        }
    }

    func mac(key: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) throws -> [UInt8] {
        try LibraryGate.check()
        let algorithm = self
        return try [UInt8](unsafeUninitializedCapacity: self.byteCount) { output, count in
            var written = 0
            var scratch: UInt8 = 0
            let result = withUnsafeMutablePointer(to: &scratch) { scratch in
                EVP_Q_mac(
                    nil,
                    "HMAC",
                    nil,
                    algorithm.openSSLName,
                    nil,
                    key.baseAddress,
                    key.count,
                    message.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(scratch),
                    message.count,
                    output.baseAddress,
                    output.count,
                    &written
                )
            }
            guard result != nil, written == algorithm.byteCount else {
                throw CryptoError.openSSL("EVP_Q_mac(HMAC-\(algorithm)) failed")
            }
            count = written
        }
    }
}
