/// Names one version of one key: `name:version`, as envelopes, key rings and the CLI write it.
public struct KeyIdentifier: Sendable, Hashable, Codable, CustomStringConvertible, Comparable {
    /// 1 … 64 characters of `A-Z a-z 0-9 . _ -`.
    public let name: String
    /// 1 … 2^32 − 1.
    public let version: UInt32

    public static let maximumNameByteCount = 64

    /// - Throws: ``EnvelopeError/Code/malformed`` for a name outside the alphabet or length, or version 0.
    public init(name: String, version: UInt32) throws {
        guard Self.isValid(name: Array(name.utf8)) else {
            throw EnvelopeError(.malformed, "a key name is 1 to 64 characters of A-Z a-z 0-9 . _ -")
        }
        guard version > 0 else {
            throw EnvelopeError(.malformed, "key versions start at 1")
        }
        self.name = name
        self.version = version
    }

    /// Parses `name:version`.
    /// - Throws: ``EnvelopeError/Code/malformed``.
    public init(parsing text: String) throws {
        guard let colon = text.lastIndex(of: ":"), let version = UInt32(text[text.index(after: colon)...]) else {
            throw EnvelopeError(.malformed, "a key is written NAME:VERSION, e.g. records:3")
        }
        try self.init(name: String(text[..<colon]), version: version)
    }

    static func isValid(name bytes: [UInt8]) -> Bool {
        (1...maximumNameByteCount).contains(bytes.count)
            && bytes.allSatisfy {
                (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || (0x30...0x39).contains($0)
                    || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D
            }
    }

    public var description: String {
        "\(self.name):\(self.version)"
    }

    enum CodingKeys: String, CodingKey {
        case name, version
    }

    /// Decoding validates like ``init(name:version:)``: a stored identifier is untrusted input.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            name: container.decode(String.self, forKey: .name), version: container.decode(UInt32.self, forKey: .version)
        )
    }

    public static func < (lhs: KeyIdentifier, rhs: KeyIdentifier) -> Bool {
        (lhs.name, lhs.version) < (rhs.name, rhs.version)
    }
}
