public import Foundation

/// Shared by the test targets (a module of its own, as swift-nio keeps its test utilities).
extension Array where Element == UInt8 {
    /// Bytes from a hex string; traps on malformed test data.
    public init(hex: String) {
        precondition(hex.count % 2 == 0, "odd-length hex")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else {
                preconditionFailure("malformed hex")
            }
            bytes.append(byte)
            index = next
        }
        self = bytes
    }

    public var hex: String {
        self.map { String(format: "%02x", $0) }.joined()
    }
}
