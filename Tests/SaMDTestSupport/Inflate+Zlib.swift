import CTestZlib

/// Inflates zlib-wrapped data (RFC 1950), growing the output buffer until it fits.
public func inflate(_ compressed: [UInt8]) -> [UInt8]? {
    var capacity = max(compressed.count * 8, 1024)
    while capacity <= 64 << 20 {
        var output = [UInt8](repeating: 0, count: capacity)
        var length = uLongf(capacity)
        let status = output.withUnsafeMutableBufferPointer { output in
            compressed.withUnsafeBufferPointer { input in
                uncompress(output.baseAddress, &length, input.baseAddress, uLong(input.count))
            }
        }
        switch status {
        case Z_OK:
            return Array(output[..<Int(length)])
        case Z_BUF_ERROR:
            capacity *= 4
        default:
            return nil
        }
    }
    return nil
}
