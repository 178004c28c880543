// subjectAltName entries, and the SaMDKit naming convention for devices and readers.

/// One subjectAltName entry of a development certificate.
///
/// Values are checked when a certificate is issued (``DevelopmentCertificateAuthority/issueLeaf(commonName:sans:ekus:keyType:notBefore:notAfter:serial:keyUsage:)``):
/// a dNSName must be letters, digits and hyphens in dot-separated labels (a leading `*.` is allowed), an
/// iPAddress must be IPv4 dotted-quad or IPv6 text, a URI must have a scheme, an rfc822Name must hold one `@`;
/// no value may be empty or contain a comma, a space or a control character.
///
/// SaMDKit names its clients with URIs: a device is `urn:samd:device:<id>` (``device(id:)``) and a reader
/// `urn:samd:reader:<id>` (``reader(id:)``), `<id>` being 1–64 characters of `A–Z a–z 0–9 . _ -`.
///
/// - SeeAlso: RFC 5280 §4.2.1.6.
public enum DevelopmentSAN: Sendable, Hashable, CustomStringConvertible {
    /// A dNSName, e.g. `"gateway.test"`.
    case dns(String)
    /// An iPAddress in textual form, `"127.0.0.1"` or `"::1"`.
    case ip(String)
    /// A uniformResourceIdentifier, e.g. `"urn:samd:device:0001"`.
    case uri(String)
    /// An rfc822Name (e-mail address).
    case email(String)

    /// The URI prefix of device identities: `urn:samd:device:`.
    public static let deviceURIPrefix = "urn:samd:device:"
    /// The URI prefix of reader identities: `urn:samd:reader:`.
    public static let readerURIPrefix = "urn:samd:reader:"
    /// The longest device or reader id, in characters (64).
    public static let maximumIdentifierLength = 64

    /// The SAN URI `urn:samd:device:<id>` of device `id`.
    /// - Throws: ``DevelopmentPKIError/Code/invalidIdentifier`` unless `id` is 1–64 characters of
    ///   `A–Z a–z 0–9 . _ -`.
    public static func device(id: String) throws -> DevelopmentSAN {
        try ClientRole.device.san(id: id)
    }

    /// The SAN URI `urn:samd:reader:<id>` of reader `id`.
    /// - Throws: ``DevelopmentPKIError/Code/invalidIdentifier`` unless `id` is 1–64 characters of
    ///   `A–Z a–z 0–9 . _ -`.
    public static func reader(id: String) throws -> DevelopmentSAN {
        try ClientRole.reader.san(id: id)
    }

    /// Whether `id` is a valid device or reader id: 1–64 characters, each of `A–Z a–z 0–9 . _ -`.
    public static func isValidIdentifier(_ id: String) -> Bool {
        NameSyntax.isIdentifier(id, maximumLength: self.maximumIdentifierLength)
    }

    /// The value without its kind: the name, address, URI or e-mail address.
    public var value: String {
        switch self {
        case .dns(let value), .ip(let value), .uri(let value), .email(let value): value
        }
    }

    /// The form OpenSSL prints: `DNS:gateway.test`, `IP Address:127.0.0.1`, `URI:urn:samd:device:0001`,
    /// `email:a@b.test`.
    public var description: String {
        switch self {
        case .dns(let value): "DNS:\(value)"
        case .ip(let value): "IP Address:\(value)"
        case .uri(let value): "URI:\(value)"
        case .email(let value): "email:\(value)"
        }
    }

    /// Whether the value is well formed for its kind (see the type's documentation).
    var isWellFormed: Bool {
        switch self {
        case .dns(let value): NameSyntax.isDNSName(value)
        case .ip(let value): NameSyntax.isIPAddress(value)
        case .uri(let value): NameSyntax.isURI(value)
        case .email(let value): NameSyntax.isEmailAddress(value)
        }
    }

}

/// The two kinds of TLS client SaMDKit names: devices and readers.
enum ClientRole: String, Sendable {
    case device
    case reader

    /// `urn:samd:device:` or `urn:samd:reader:`.
    var uriPrefix: String {
        self == .device ? DevelopmentSAN.deviceURIPrefix : DevelopmentSAN.readerURIPrefix
    }

    /// `device-<id>` or `reader-<id>`: the base file name.
    func baseName(id: String) -> String {
        "\(self.rawValue)-\(id)"
    }

    /// The subject CN: `device-<id>` or `reader-<id>` when that fits the 64 characters RFC 5280 allows a
    /// common name (`ub-common-name`, Appendix A), otherwise `<id>` alone. The SAN URI names the client in
    /// full either way.
    func commonName(id: String) -> String {
        let prefixed = self.baseName(id: id)
        return prefixed.utf8.count <= 64 ? prefixed : id
    }

    /// The SAN URI of `id`, which must be a valid identifier.
    /// - Throws: ``DevelopmentPKIError/Code/invalidIdentifier``.
    func san(id: String, file: String = #fileID, line: Int = #line) throws -> DevelopmentSAN {
        guard DevelopmentSAN.isValidIdentifier(id) else {
            throw DevelopmentPKIError(
                .invalidIdentifier,
                "\(self.rawValue) id \"\(NameSyntax.printable(id))\" is not 1–\(DevelopmentSAN.maximumIdentifierLength) characters of A-Z a-z 0-9 . _ -",
                file: file, line: line)
        }
        return .uri(self.uriPrefix + id)
    }
}
