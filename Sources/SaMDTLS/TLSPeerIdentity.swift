#if canImport(FoundationEssentials)
    public import struct FoundationEssentials.Date
#else
    public import struct Foundation.Date
#endif

/// The peer's certificate as verified in the handshake: its names, subject and key, handed to the
/// application to decide what the peer may do.
///
/// Only certificates whose chain verified (and that the ``TLSPeerPolicy`` allowed) are reported; a server
/// that does not authenticate clients reports no peer identity.
public struct TLSPeerIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The subject distinguished name, RFC 2253 form (`CN=device-0001,O=Example`).
    public let subject: String
    /// The issuer distinguished name, RFC 2253 form.
    public let issuer: String
    /// The serial number, lowercase hexadecimal.
    public let serialNumber: String
    /// SAN URIs (RFC 5280 §4.2.1.6): device UUIDs (`urn:uuid:…`), SPIFFE ids.
    public let uris: [String]
    /// SAN DNS names.
    public let dnsNames: [String]
    /// SAN IP addresses, in textual form (`127.0.0.1`, `::1`).
    public let ipAddresses: [String]
    /// SAN e-mail addresses.
    public let emailAddresses: [String]
    /// SHA-256 of the DER SubjectPublicKeyInfo, 32 bytes (RFC 7469 §2.4 pin).
    public let spkiSHA256: [UInt8]
    /// The end of the certificate's validity.
    public let notAfter: Date
    /// The DER certificates of the verified chain, leaf first, up to and including the trust root. For a
    /// resumed session, where no chain is verified again, the leaf and the certificates the peer presented
    /// with it in the session's original handshake (verified then).
    public let certificateChain: [[UInt8]]

    /// Makes an identity; SaMDTLS builds these from verified certificates, the initializer is public for tests.
    public init(
        subject: String,
        issuer: String,
        serialNumber: String,
        uris: [String],
        dnsNames: [String],
        ipAddresses: [String],
        emailAddresses: [String],
        spkiSHA256: [UInt8],
        notAfter: Date,
        certificateChain: [[UInt8]]
    ) {
        self.subject = subject
        self.issuer = issuer
        self.serialNumber = serialNumber
        self.uris = uris
        self.dnsNames = dnsNames
        self.ipAddresses = ipAddresses
        self.emailAddresses = emailAddresses
        self.spkiSHA256 = spkiSHA256
        self.notAfter = notAfter
        self.certificateChain = certificateChain
    }

    /// The SPKI pin in lowercase hexadecimal.
    public var spkiSHA256Hex: String {
        self.spkiSHA256.map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]])
        }.joined()
    }

    /// The most specific name for logs: the first SAN URI, else the first DNS name, else the subject.
    public var displayName: String {
        self.uris.first ?? self.dnsNames.first ?? self.subject
    }

    public var description: String {
        "TLSPeerIdentity(\(self.displayName), subject: \(self.subject))"
    }
}

/// What the handshake settled on, available once a connection is established.
public struct TLSConnectionInfo: Sendable, Hashable {
    /// `"TLSv1.3"` or `"TLSv1.2"`.
    public let protocolVersion: String
    /// The IANA name of the cipher suite (`TLS_AES_256_GCM_SHA384`).
    public let cipherSuite: String
    /// The ALPN protocol both sides agreed on, if any.
    public let applicationProtocol: String?
    /// Server side: the SNI host name the client asked for (RFC 6066 §3); client side: the one it sent.
    public let serverName: String?
    /// Whether the session was resumed from a ticket (no certificate exchange).
    public let sessionResumed: Bool
    /// The verified peer, or `nil` when this side does not authenticate the peer (a server without
    /// client trust roots).
    public let peer: TLSPeerIdentity?

    /// Makes a summary; SaMDTLS builds these at the end of a handshake, the initializer is public for tests.
    public init(
        protocolVersion: String,
        cipherSuite: String,
        applicationProtocol: String?,
        serverName: String?,
        sessionResumed: Bool,
        peer: TLSPeerIdentity?
    ) {
        self.protocolVersion = protocolVersion
        self.cipherSuite = cipherSuite
        self.applicationProtocol = applicationProtocol
        self.serverName = serverName
        self.sessionResumed = sessionResumed
        self.peer = peer
    }
}

/// The address a client connects to, which decides how the server is authenticated: a DNS name is sent as
/// SNI and matched against DNS SANs; an IP address is never sent as SNI (RFC 6066 §3) and is matched
/// against IP SANs only.
public enum TLSServerName: Sendable, Hashable, CustomStringConvertible {
    case dns(String)
    case ipAddress(String)

    /// Classifies `name`: an IPv4 or IPv6 literal (brackets allowed) is an IP address, anything else a DNS name.
    public init(_ name: String) {
        var text = name
        if text.hasPrefix("["), text.hasSuffix("]") {
            text = String(text.dropFirst().dropLast())
        }
        if IPAddressText.isIPv4(text) || IPAddressText.isIPv6(text) {
            self = .ipAddress(text)
        } else {
            self = .dns(name)
        }
    }

    public var description: String {
        switch self {
        case .dns(let name): name
        case .ipAddress(let address): address
        }
    }
}

/// Textual IP address recognition, strict enough to route a name to the IP check.
enum IPAddressText {
    static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        return parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber)
                && Int(part).map { $0 <= 255 } == true
        }
    }

    static func isIPv6(_ text: String) -> Bool {
        guard text.contains(":"), text.count <= 45 else { return false }
        return text.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." || $0 == "%" }
    }
}
