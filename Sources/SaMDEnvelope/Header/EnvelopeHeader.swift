/// The envelope header: everything before the payload.
///
/// ```
/// offset  size  field
///  0      4     magic "SMDE"
///  4      1     format version (1)
///  5      1     payload suite (1 Cobblestone-256, 2 chunked XChaCha20-Poly1305)
///  6      1     wrap mode (1 KEK: AES-256-GCM; 2 recipient: X25519 sealed box)
///  7      1     key name length N (1…64)
///  8      N     key name (A-Z a-z 0-9 . _ -)
///  8+N    4     key version (u32, big-endian, ≥ 1)
///  12+N   2     wrapped-DEK length W (60 in mode 1, 112 in mode 2; nothing else is accepted)
///  14+N   W     wrapped DEK
/// ```
/// The wrapped DEK is bound to bytes 0 ..< 14+N (the authenticated prefix), so no header field can
/// be changed without the unwrap failing.
public struct EnvelopeHeader: Sendable, Hashable {
    public static let magic: [UInt8] = Array("SMDE".utf8)
    /// The format version this library writes and reads.
    public static let formatVersion: UInt8 = 1
    /// The longest header: 14 + 64 + 112 = 190 bytes.
    public static let maximumByteCount =
        14 + KeyIdentifier.maximumNameByteCount + WrapMode.recipient.wrappedKeyByteCount

    /// How the record's DEK is wrapped.
    public enum WrapMode: UInt8, Sendable, Hashable, Codable, CustomStringConvertible {
        /// AES-256-GCM under a 256-bit KEK (or subject key): 12-byte nonce ‖ 32-byte DEK ‖ 16-byte tag,
        /// the authenticated prefix as associated data.
        case keyEncryptionKey = 1
        /// A libsodium sealed box to an X25519 public key holding DEK ‖ SHA-256(authenticated prefix):
        /// a device can seal records that only the holder of the private key (the gateway) can open.
        case recipient = 2

        /// The exact wrapped-DEK length of this mode, in bytes.
        public var wrappedKeyByteCount: Int {
            switch self {
            case .keyEncryptionKey: 12 + 32 + 16
            case .recipient: 48 + 32 + 32
            }
        }

        public var description: String {
            switch self {
            case .keyEncryptionKey: "kek"
            case .recipient: "recipient"
            }
        }
    }

    public let suite: PayloadSuite
    public let wrapMode: WrapMode
    /// The key that wrapped the DEK (exact name and version, never an alias).
    public let key: KeyIdentifier
    /// The wrapped DEK.
    public let wrappedKey: [UInt8]

    /// The header's bytes, as written.
    public var encoded: [UInt8] {
        var bytes = self.authenticatedPrefix
        bytes += self.wrappedKey
        return bytes
    }

    /// The header length in bytes.
    public var byteCount: Int {
        14 + self.key.name.utf8.count + self.wrappedKey.count
    }

    /// Bytes 0 ..< 14+N: everything the DEK wrap is bound to.
    var authenticatedPrefix: [UInt8] {
        Self.authenticatedPrefix(suite: self.suite, wrapMode: self.wrapMode, key: self.key)
    }

    static func authenticatedPrefix(suite: PayloadSuite, wrapMode: WrapMode, key: KeyIdentifier) -> [UInt8] {
        // Built in one allocation: this runs for every record sealed, opened or rewrapped.
        let name = key.name.utf8
        var bytes: [UInt8] = []
        bytes.reserveCapacity(14 + name.count + wrapMode.wrappedKeyByteCount)
        bytes += Self.magic
        bytes += [Self.formatVersion, suite.rawValue, wrapMode.rawValue, UInt8(name.count)]
        bytes += name
        bytes += [
            UInt8(key.version >> 24), UInt8((key.version >> 16) & 0xFF), UInt8((key.version >> 8) & 0xFF),
            UInt8(key.version & 0xFF),
        ]
        let wrapped = wrapMode.wrappedKeyByteCount
        bytes += [UInt8(wrapped >> 8), UInt8(wrapped & 0xFF)]
        return bytes
    }

    init(suite: PayloadSuite, wrapMode: WrapMode, key: KeyIdentifier, wrappedKey: [UInt8]) {
        precondition(wrappedKey.count == wrapMode.wrappedKeyByteCount)
        self.suite = suite
        self.wrapMode = wrapMode
        self.key = key
        self.wrappedKey = wrappedKey
    }

    /// Parses the header at the start of `bytes` (which may go on with the payload). Every length is
    /// checked against its bound before it is used; nothing is allocated from an unchecked length.
    /// - Throws: ``EnvelopeError/Code/truncated`` when `bytes` ends inside the header;
    ///   ``EnvelopeError/Code/malformed`` for a wrong magic, key name or wrapped-key length;
    ///   ``EnvelopeError/Code/unsupportedVersion``; ``EnvelopeError/Code/unsupportedSuite`` for an unknown
    ///   suite or wrap mode.
    public static func parse(_ bytes: some Collection<UInt8>) throws -> EnvelopeHeader {
        let bytes = Array(bytes.prefix(Self.maximumByteCount))
        func need(_ count: Int) throws {
            guard bytes.count >= count else {
                throw EnvelopeError(.truncated, "the data ends inside the envelope header (\(bytes.count) bytes)")
            }
        }
        try need(4)
        guard Array(bytes[0..<4]) == Self.magic else {
            throw EnvelopeError(.malformed, "not a SaMDKit envelope (no SMDE magic)")
        }
        try need(8)
        guard bytes[4] == Self.formatVersion else {
            throw EnvelopeError(
                .unsupportedVersion,
                "envelope format version \(bytes[4]); this library reads version \(Self.formatVersion)")
        }
        guard let suite = PayloadSuite(rawValue: bytes[5]) else {
            throw EnvelopeError(.unsupportedSuite, "unknown payload suite \(bytes[5])")
        }
        guard let wrapMode = WrapMode(rawValue: bytes[6]) else {
            throw EnvelopeError(.unsupportedSuite, "unknown key-wrap mode \(bytes[6])")
        }
        let nameCount = Int(bytes[7])
        guard (1...KeyIdentifier.maximumNameByteCount).contains(nameCount) else {
            throw EnvelopeError(.malformed, "a key name of \(nameCount) bytes")
        }
        try need(14 + nameCount)
        let nameBytes = Array(bytes[8..<(8 + nameCount)])
        guard KeyIdentifier.isValid(name: nameBytes) else {
            throw EnvelopeError(.malformed, "the key name has characters outside A-Z a-z 0-9 . _ -")
        }
        let versionBytes = bytes[(8 + nameCount)..<(12 + nameCount)].map(UInt32.init)
        let version = versionBytes[0] << 24 | versionBytes[1] << 16 | versionBytes[2] << 8 | versionBytes[3]
        let key = try KeyIdentifier(name: String(decoding: nameBytes, as: UTF8.self), version: version)
        let wrappedCount = Int(bytes[12 + nameCount]) << 8 | Int(bytes[13 + nameCount])
        guard wrappedCount == wrapMode.wrappedKeyByteCount else {
            throw EnvelopeError(
                .malformed,
                "a wrapped DEK of \(wrappedCount) bytes; mode \(wrapMode) has \(wrapMode.wrappedKeyByteCount)")
        }
        try need(14 + nameCount + wrappedCount)
        let wrapped = Array(bytes[(14 + nameCount)..<(14 + nameCount + wrappedCount)])
        return EnvelopeHeader(suite: suite, wrapMode: wrapMode, key: key, wrappedKey: wrapped)
    }
}
