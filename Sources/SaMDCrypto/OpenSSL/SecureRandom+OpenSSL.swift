import CSaMDOpenSSL

extension SecureRandom {
    /// `RAND_bytes` takes an `int` length; larger requests are served in steps.
    private static let maximumStep = 1 << 30

    static func fillFromOpenSSL(_ buffer: UnsafeMutableRawBufferPointer) throws {
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            let step = min(buffer.count - offset, Self.maximumStep)
            guard RAND_bytes((base + offset).assumingMemoryBound(to: UInt8.self), Int32(step)) == 1 else {
                secureZero(buffer)
                throw CryptoError.openSSL(.randomGenerationFailed, "RAND_bytes failed")
            }
            offset += step
        }
    }
}
