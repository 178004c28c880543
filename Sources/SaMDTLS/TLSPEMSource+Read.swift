// Reading the PEM of a configuration: bytes given, or a file, bounded in size.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension TLSTrustRoots {
    func pemBytes() throws -> [UInt8] {
        switch self {
        case .file(let path): try TLSPEMSource.file(path).read(what: "trust roots")
        case .pem(let bytes): bytes
        case .system: []
        }
    }
}

extension TLSPEMSource {
    /// The largest PEM file read (1 MiB): certificate chains, keys, CA bundles and CRLs are far smaller.
    static let maximumFileSize = 1 << 20

    func read(what: String) throws -> [UInt8] {
        switch self {
        case .bytes(let bytes):
            guard bytes.count <= Self.maximumFileSize else {
                throw TLSError(.invalidConfiguration, "\(what): more than \(Self.maximumFileSize) bytes")
            }
            return bytes
        case .file(let path):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw TLSError(.io, "\(what): cannot open \(path)") }
            defer { close(fd) }
            // Read to the end, but never more than one byte past the limit.
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 64 << 10)
            while bytes.count <= Self.maximumFileSize {
                let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw TLSError(.io, "\(what): cannot read \(path): \(String(cString: strerror(errno)))")
                }
                if count == 0 { break }
                bytes += chunk[..<count]
            }
            guard bytes.count <= Self.maximumFileSize else {
                throw TLSError(.invalidConfiguration, "\(what): \(path) is larger than \(Self.maximumFileSize) bytes")
            }
            return bytes
        }
    }
}
