import ArgumentParser
import Foundation
import Logging
import NIOCore
import SaMDCrypto
import SaMDExampleSupport
import SaMDKeys
import SaMDTLS

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reports `error` on standard error and returns the exit code to throw.
func connectionFailure(_ error: any Error, while doing: String) -> ExitCode {
    printError("\(doing): \(failureDescription(error))")
    return ExitCode(ExitStatus.code(forConnection: error))
}

extension Endpoint {
    /// `HOST:PORT` of a socket address, IPv6 in brackets.
    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return format(host: ip, port: port)
    }
}

/// Builds a peer policy from `--allow-peer` values: `spki:sha256:<64 hex>` is a pin, a value with ':' a SAN URI,
/// anything else a SAN DNS name.
func peerPolicy(from values: [String]) throws -> TLSPeerPolicy {
    var uris: Set<String> = []
    var dnsNames: Set<String> = []
    var pins: Set<[UInt8]> = []
    for value in values {
        if case .ipAddress = TLSServerName(value) {
            throw ValidationError(
                "--allow-peer \(value): an IP address cannot be allowed by name; allow the peer's SAN URI, DNS name or spki:sha256: pin"
            )
        }
        if value.lowercased().hasPrefix("spki:sha256:") {
            let hex = Array(value.dropFirst("spki:sha256:".count))
            guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
                throw ValidationError(
                    "--allow-peer \(escapingControlCharacters(value)): a pin is spki:sha256: followed by 64 hexadecimal digits"
                )
            }
            pins.insert(stride(from: 0, to: 64, by: 2).map { UInt8(String(hex[$0...$0 + 1]), radix: 16)! })
        } else if value.contains(":") {
            uris.insert(value)
        } else {
            guard !value.isEmpty else { throw ValidationError("--allow-peer needs a value") }
            dnsNames.insert(value)
        }
    }
    return TLSPeerPolicy(uris: uris, dnsNames: dnsNames, spkiSHA256: pins)
}

/// Blocking reads and writes of standard input and output, kept off Swift's cooperative threads.
enum StandardStreams {
    private static let inputQueue = DispatchQueue(label: "samd-tls.stdin")
    static let chunkSize = 64 * 1024

    /// The next chunk of standard input, or `nil` at its end.
    static func read() async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { continuation in
            self.inputQueue.async {
                var buffer = [UInt8](repeating: 0, count: self.chunkSize)
                while true {
                    let count = buffer.withUnsafeMutableBytes { systemRead(STDIN_FILENO, $0.baseAddress, $0.count) }
                    if count > 0 {
                        continuation.resume(returning: Array(buffer.prefix(count)))
                        return
                    }
                    if count == 0 {
                        continuation.resume(returning: nil)
                        return
                    }
                    if errno == EINTR { continue }
                    continuation.resume(throwing: POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO))
                    return
                }
            }
        }
    }

    /// Writes all of `buffer` to standard output.
    static func write(_ buffer: ByteBuffer) throws {
        try buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = systemWrite(STDOUT_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
                }
                offset += written
            }
        }
    }
}

private func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}

private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}
