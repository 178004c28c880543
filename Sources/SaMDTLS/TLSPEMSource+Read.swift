// Reading the PEM of a configuration: bytes given, or a file, bounded in size.

import Foundation

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
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw TLSError(.io, "\(what): cannot open \(path)")
            }
            defer { try? handle.close() }
            do {
                let data = try handle.read(upToCount: Self.maximumFileSize + 1) ?? Data()
                guard data.count <= Self.maximumFileSize else {
                    throw TLSError(
                        .invalidConfiguration, "\(what): \(path) is larger than \(Self.maximumFileSize) bytes")
                }
                return [UInt8](data)
            } catch let error as TLSError {
                throw error
            } catch {
                throw TLSError(.io, "\(what): cannot read \(path): \(error)")
            }
        }
    }
}
