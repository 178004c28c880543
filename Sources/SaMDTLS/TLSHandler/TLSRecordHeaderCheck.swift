import NIOCore

/// Checks that the peer's first bytes begin a TLS record: content type handshake (22) — or alert (21) from a
/// server — then protocol version major 3 and a minor version of at most 4 (RFC 8446 §5.1). Plaintext peers
/// are refused here without handing their bytes to OpenSSL. A client's first byte with the high bit set is an
/// SSLv2 record header (an SSLv2-format ClientHello): refused with the alert OpenSSL answers it with
/// (RFC 6176).
struct TLSRecordHeaderCheck {
    /// Why the peer's first bytes were refused, and the record to send when OpenSSL has none.
    struct Refusal {
        var error: TLSError
        var alertRecord: [UInt8]?
    }

    /// The fatal `protocol_version` alert answering an SSLv2-format ClientHello, byte for byte what OpenSSL
    /// sends: a TLS 1.0 alert record (RFC 8446 §5.1, §6), level fatal (2), description 70.
    static let protocolVersionAlertRecord: [UInt8] = [21, 3, 1, 0, 2, 2, 70]

    let role: TLSConfiguration.Role
    /// How many of the peer's first bytes were checked (the header's first three bytes are).
    private(set) var checkedBytes = 0

    init(role: TLSConfiguration.Role) {
        self.role = role
    }

    /// Whether the three bytes checked have all arrived.
    var isComplete: Bool { self.checkedBytes >= 3 }

    /// Checks the bytes of `buffer` that belong to the first record's header and were not checked yet.
    /// - Returns: the refusal, or `nil` when they are (so far) a TLS record header.
    mutating func check(_ buffer: ByteBuffer) -> Refusal? {
        let bytes = buffer.readableBytesView.prefix(max(3 - self.checkedBytes, 0))
        for byte in bytes {
            let position = self.checkedBytes
            self.checkedBytes += 1
            if position == 0, self.role == .server, byte & 0x80 != 0 {
                let error = TLSError(
                    .protocolVersion,
                    "the client sent an SSLv2-format ClientHello (first byte 0x\(String(byte, radix: 16))): SSL 2.0 and its hello format are not supported (RFC 6176)"
                )
                return Refusal(error: error, alertRecord: Self.protocolVersionAlertRecord)
            }
            let valid: Bool =
                switch position {
                case 0: byte == 22 || (self.role == .client && byte == 21)
                case 1: byte == 3
                default: byte <= 4
                }
            if !valid {
                let what =
                    position == 0 && (0x20...0x7e).contains(byte) ? "text such as an HTTP request" : "no TLS record"
                let error = TLSError(
                    .notTLS,
                    "the peer is not speaking TLS: byte \(position) of its first record is 0x\(String(byte, radix: 16)) (\(what))"
                )
                return Refusal(error: error, alertRecord: nil)
            }
        }
        return nil
    }
}
