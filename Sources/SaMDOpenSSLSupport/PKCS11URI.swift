// RFC 7512 PKCS #11 URIs: what names a token, a key or a module, for TLS private keys and KEK custody alike.

/// A PKCS #11 URI (RFC 7512): which module, token and object to use, e.g.
/// `pkcs11:token=samd;object=gateway-tls;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so`.
///
/// Parsing follows RFC 7512 §2.3's grammar strictly:
/// - the whole URI is at most ``maximumLengthBytes`` (4096) bytes, checked before anything else;
/// - the scheme `pkcs11:` is matched case-insensitively (RFC 3986 §3.1); attribute names are case-sensitive;
/// - path attributes are separated by `;`, query attributes by `&`; every character is from the RFC's `pk11-pchar`
///   (path) or `pk11-qchar` (query) sets or a `%XX` escape; a `%` not followed by two hexadecimal digits is refused;
/// - each attribute appears at most once (a repeated one is refused, whatever its spelling of escapes);
/// - `type` is one of `public`, `private`, `cert`, `secret-key`, `data`; `slot-id` is decimal digits (a
///   `CK_SLOT_ID`); `library-version` is `M` or `M.N`; `id` is bytes (`CKA_ID`), every other value is UTF-8 text
///   after percent-decoding (PKCS #11's `CK_UTF8CHAR` fields);
/// - **`pin-value` is refused**, in the query and in the path, in any case (``PKCS11URIError/Code/pinValueRefused``):
///   a PIN never comes from a URI, which ends
///   up in process lists, shell histories and logs. The PIN comes from the environment or a file instead.
///
/// Attributes that RFC 7512 does not define are vendor-specific (§2.3, conventionally prefixed `x-`). They are kept,
/// in order, in ``vendorPathAttributes`` and ``vendorQueryAttributes``. RFC 7512 §2.5: a consumer that does not
/// understand a path attribute must match no object, while an unknown query attribute is ignored; SaMDKit's
/// consumers therefore refuse to use a URI with vendor path attributes and ignore vendor query attributes.
///
/// ``description`` is the URI re-encoded (every byte outside the unreserved set percent-encoded), so it carries no
/// control characters and, since `pin-value` is refused, no secret: it is safe for logs.
///
/// - SeeAlso: RFC 7512, The PKCS #11 URI Scheme; PKCS #11 v2.40 §3 (`CK_TOKEN_INFO`, `CK_INFO`, `CK_SLOT_INFO`) and
///   §4 (`CKA_LABEL`, `CKA_ID`, `CKA_CLASS`) for what each attribute matches.
public struct PKCS11URI: Sendable, Hashable, CustomStringConvertible {
    /// The largest URI accepted, in bytes (UTF-8), checked before parsing.
    public static let maximumLengthBytes = 4096

    /// An object class (RFC 7512 `type`, PKCS #11 `CKA_CLASS`).
    public enum ObjectType: String, Sendable, Hashable, CaseIterable {
        /// `CKO_PUBLIC_KEY`.
        case `public`
        /// `CKO_PRIVATE_KEY`.
        case `private`
        /// `CKO_CERTIFICATE`.
        case cert
        /// `CKO_SECRET_KEY`.
        case secretKey = "secret-key"
        /// `CKO_DATA`.
        case data
    }

    /// A library version (`library-version`, PKCS #11 `CK_INFO.libraryVersion`): `major` or `major.minor`.
    public struct Version: Sendable, Hashable, CustomStringConvertible {
        /// The major version, 0–255 (`CK_VERSION.major`).
        public var major: UInt8
        /// The minor version, 0–255 (`CK_VERSION.minor`); RFC 7512 reads `M` alone as `M.0`.
        public var minor: UInt8

        /// A version `major.minor`.
        public init(major: UInt8, minor: UInt8 = 0) {
            self.major = major
            self.minor = minor
        }

        /// `major.minor`.
        public var description: String { "\(self.major).\(self.minor)" }
    }

    /// `token`: the token label (`CK_TOKEN_INFO.label`, at most 32 bytes in the token, not padded here).
    public var token: String?
    /// `manufacturer`: the token manufacturer (`CK_TOKEN_INFO.manufacturerID`).
    public var manufacturer: String?
    /// `model`: the token model (`CK_TOKEN_INFO.model`).
    public var model: String?
    /// `serial`: the token serial number (`CK_TOKEN_INFO.serialNumber`).
    public var serial: String?
    /// `object`: the object label (`CKA_LABEL`).
    public var object: String?
    /// `type`: the object class (`CKA_CLASS`).
    public var type: ObjectType?
    /// `id`: the object identifier (`CKA_ID`), bytes.
    public var id: [UInt8]?
    /// `library-manufacturer` (`CK_INFO.manufacturerID`).
    public var libraryManufacturer: String?
    /// `library-description` (`CK_INFO.libraryDescription`).
    public var libraryDescription: String?
    /// `library-version` (`CK_INFO.libraryVersion`).
    public var libraryVersion: Version?
    /// `slot-description` (`CK_SLOT_INFO.slotDescription`).
    public var slotDescription: String?
    /// `slot-manufacturer` (`CK_SLOT_INFO.manufacturerID`).
    public var slotManufacturer: String?
    /// `slot-id` (`CK_SLOT_ID`, decimal).
    public var slotID: UInt64?
    /// `module-path` (query): the absolute path of the PKCS #11 module (a shared library) to load.
    public var modulePath: String?
    /// `module-name` (query): a module name for the platform to resolve (e.g. `softhsm2`).
    public var moduleName: String?
    /// `pin-source` (query): where the PIN is, e.g. `file:/etc/samd/token.pin` (RFC 7512 §2.3). Not a PIN itself.
    public var pinSource: String?
    /// Vendor-specific path attributes (names RFC 7512 does not define), decoded, in URI order.
    public var vendorPathAttributes: [(name: String, value: String)] { self.vendorPath.map { ($0.name, $0.value) } }
    /// Vendor-specific query attributes (ignored by SaMDKit's consumers), decoded, in URI order.
    public var vendorQueryAttributes: [(name: String, value: String)] {
        self.vendorQuery.map { ($0.name, $0.value) }
    }

    private var vendorPath: [Attribute] = []
    private var vendorQuery: [Attribute] = []

    private struct Attribute: Sendable, Hashable {
        let name: String
        let value: String
    }

    /// An empty URI (`pkcs11:`), to fill in attribute by attribute.
    public init() {}

    /// Parses `text` as an RFC 7512 URI.
    /// - Throws: ``PKCS11URIError`` with ``PKCS11URIError/Code/tooLong`` over ``maximumLengthBytes``,
    ///   ``PKCS11URIError/Code/notPKCS11`` without the `pkcs11:` scheme, ``PKCS11URIError/Code/pinValueRefused`` for
    ///   a `pin-value` attribute, ``PKCS11URIError/Code/duplicateAttribute`` for a repeated attribute, and
    ///   ``PKCS11URIError/Code/malformed`` for anything else outside the grammar (a bad escape, a character that
    ///   must be escaped, an empty or invalid attribute name, an invalid `type`, `slot-id` or `library-version`,
    ///   text that is not UTF-8). Messages quote the input escaped, never a `pin-value`.
    public init(parsing text: String) throws {
        let bytes = Array(text.utf8)
        guard bytes.count <= Self.maximumLengthBytes else {
            throw PKCS11URIError(.tooLong, "a PKCS #11 URI is at most \(Self.maximumLengthBytes) bytes")
        }
        let scheme = Array("pkcs11:".utf8)
        guard bytes.count >= scheme.count,
            zip(bytes, scheme).allSatisfy({ Self.lowercased($0) == $1 })
        else {
            throw PKCS11URIError(.notPKCS11, "not a PKCS #11 URI: it must start with pkcs11: (RFC 7512)")
        }
        let rest = bytes.dropFirst(scheme.count)
        let pathPart: ArraySlice<UInt8>
        let queryPart: ArraySlice<UInt8>?
        if let question = rest.firstIndex(of: UInt8(ascii: "?")) {
            pathPart = rest[rest.startIndex..<question]
            queryPart = rest[(question + 1)...]
        } else {
            pathPart = rest
            queryPart = nil
        }
        var seen: Set<String> = []
        if !pathPart.isEmpty {
            for component in pathPart.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false) {
                let (name, raw) = try Self.splitAttribute(component, allowed: Self.pathCharacters, part: "path")
                // A query attribute in the path is no attribute RFC 7512 knows, but a PIN there is a PIN all the
                // same: refused wherever it is, never kept as a vendor attribute (and printed).
                if name.lowercased() == "pin-value" {
                    throw PKCS11URIError(
                        .pinValueRefused,
                        "a PIN is never taken from a URI (pin-value): give it in SAMD_PKCS11_PIN or a PIN file")
                }
                guard seen.insert(name).inserted else {
                    throw PKCS11URIError(.duplicateAttribute, "the path attribute \(name) appears more than once")
                }
                try self.setPathAttribute(name, raw)
            }
        }
        if let queryPart, !queryPart.isEmpty {
            for component in queryPart.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false) {
                let (name, raw) = try Self.splitAttribute(component, allowed: Self.queryCharacters, part: "query")
                if name.lowercased() == "pin-value" {
                    throw PKCS11URIError(
                        .pinValueRefused,
                        "a PIN is never taken from a URI (pin-value): give it in SAMD_PKCS11_PIN or a PIN file")
                }
                guard seen.insert("?" + name).inserted else {
                    throw PKCS11URIError(.duplicateAttribute, "the query attribute \(name) appears more than once")
                }
                try self.setQueryAttribute(name, raw)
            }
        }
    }

    /// The URI, every value percent-encoded outside RFC 3986's unreserved characters: safe to log (no control
    /// characters, no PIN).
    public var description: String {
        var path: [String] = []
        func add(_ name: String, _ value: String?) {
            if let value { path.append("\(name)=\(Self.encode(Array(value.utf8)))") }
        }
        add("token", self.token)
        add("manufacturer", self.manufacturer)
        add("model", self.model)
        add("serial", self.serial)
        add("object", self.object)
        add("type", self.type?.rawValue)
        if let id = self.id { path.append("id=\(Self.encode(id, all: true))") }
        add("library-manufacturer", self.libraryManufacturer)
        add("library-description", self.libraryDescription)
        add("library-version", self.libraryVersion?.description)
        add("slot-description", self.slotDescription)
        add("slot-manufacturer", self.slotManufacturer)
        add("slot-id", self.slotID.map { String($0) })
        for attribute in self.vendorPath { add(Self.encode(Array(attribute.name.utf8)), attribute.value) }
        var query: [String] = []
        func addQuery(_ name: String, _ value: String?) {
            if let value { query.append("\(name)=\(Self.encode(Array(value.utf8), keepSlash: true))") }
        }
        addQuery("module-name", self.moduleName)
        addQuery("module-path", self.modulePath)
        addQuery("pin-source", self.pinSource)
        for attribute in self.vendorQuery { addQuery(Self.encode(Array(attribute.name.utf8)), attribute.value) }
        return "pkcs11:" + path.joined(separator: ";") + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    /// The URI without its query component (`module-path`, `module-name`, `pin-source`, vendor query attributes):
    /// what names the object inside the module, as OpenSSL's `pkcs11` engine takes it.
    public var pathOnly: PKCS11URI {
        var copy = self
        copy.modulePath = nil
        copy.moduleName = nil
        copy.pinSource = nil
        copy.vendorQuery = []
        return copy
    }

    public static func == (lhs: PKCS11URI, rhs: PKCS11URI) -> Bool { lhs.description == rhs.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.description) }
}

extension PKCS11URI {
    // RFC 3986 unreserved, then RFC 7512's pk11-res-avail, pk11-path-res-avail and pk11-query-res-avail.
    private static let unreserved = Set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
    private static let reservedAvailable = Set(":[]@!$'()*+,=".utf8)
    private static let pathCharacters = unreserved.union(reservedAvailable).union("&".utf8)
    private static let queryCharacters = unreserved.union(reservedAvailable).union("/?|".utf8)
    private static let nameCharacters = Set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }

    /// `name=value` split at the first `=`; the name checked against `pk11-v-attr-nm-char`, the value against
    /// `allowed` and escapes, then percent-decoded.
    private static func splitAttribute(_ component: ArraySlice<UInt8>, allowed: Set<UInt8>, part: String) throws
        -> (String, [UInt8])
    {
        guard let equals = component.firstIndex(of: UInt8(ascii: "=")) else {
            throw PKCS11URIError(
                .malformed, "a \(part) attribute is name=value: \(Self.printable(component)) has no '='")
        }
        let name = component[component.startIndex..<equals]
        guard !name.isEmpty, name.allSatisfy(Self.nameCharacters.contains) else {
            throw PKCS11URIError(.malformed, "invalid \(part) attribute name \(Self.printable(name))")
        }
        let nameText = String(decoding: name, as: UTF8.self)
        return (nameText, try Self.decode(component[(equals + 1)...], allowed: allowed, attribute: nameText))
    }

    private static func decode(_ value: ArraySlice<UInt8>, allowed: Set<UInt8>, attribute: String) throws -> [UInt8] {
        var decoded: [UInt8] = []
        decoded.reserveCapacity(value.count)
        var index = value.startIndex
        while index < value.endIndex {
            let byte = value[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < value.endIndex,
                    let high = Self.hexValue(value[index + 1]), let low = Self.hexValue(value[index + 2])
                else {
                    throw PKCS11URIError(
                        .malformed, "invalid percent-escape in the value of \(attribute): '%' needs two hex digits")
                }
                decoded.append(high << 4 | low)
                index += 3
            } else {
                guard allowed.contains(byte) else {
                    throw PKCS11URIError(
                        .malformed,
                        "the value of \(attribute) holds \(Self.printable([byte][...])), which must be percent-encoded")
                }
                decoded.append(byte)
                index += 1
            }
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func text(_ bytes: [UInt8], attribute: String) throws -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw PKCS11URIError(.malformed, "the value of \(attribute) is not UTF-8 after percent-decoding")
        }
        return text
    }

    private mutating func setPathAttribute(_ name: String, _ raw: [UInt8]) throws {
        switch name {
        case "token": self.token = try Self.text(raw, attribute: name)
        case "manufacturer": self.manufacturer = try Self.text(raw, attribute: name)
        case "model": self.model = try Self.text(raw, attribute: name)
        case "serial": self.serial = try Self.text(raw, attribute: name)
        case "object": self.object = try Self.text(raw, attribute: name)
        case "id": self.id = raw
        case "library-manufacturer": self.libraryManufacturer = try Self.text(raw, attribute: name)
        case "library-description": self.libraryDescription = try Self.text(raw, attribute: name)
        case "slot-description": self.slotDescription = try Self.text(raw, attribute: name)
        case "slot-manufacturer": self.slotManufacturer = try Self.text(raw, attribute: name)
        case "type":
            guard let type = ObjectType(rawValue: try Self.text(raw, attribute: name)) else {
                throw PKCS11URIError(
                    .malformed,
                    "type is one of public, private, cert, secret-key, data, not \(Self.printable(raw[...]))")
            }
            self.type = type
        case "slot-id":
            guard !raw.isEmpty, raw.count <= 20, raw.allSatisfy({ (0x30...0x39).contains($0) }),
                let slot = UInt64(String(decoding: raw, as: UTF8.self))
            else {
                throw PKCS11URIError(.malformed, "slot-id is a decimal CK_SLOT_ID, not \(Self.printable(raw[...]))")
            }
            self.slotID = slot
        case "library-version":
            let parts = raw.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
            let numbers = parts.compactMap(Self.versionNumber)
            guard (1...2).contains(parts.count), numbers.count == parts.count else {
                throw PKCS11URIError(
                    .malformed, "library-version is M or M.N (0–255 each), not \(Self.printable(raw[...]))")
            }
            self.libraryVersion = Version(major: numbers[0], minor: numbers.count > 1 ? numbers[1] : 0)
        default:
            self.vendorPath.append(Attribute(name: name, value: try Self.text(raw, attribute: name)))
        }
    }

    private mutating func setQueryAttribute(_ name: String, _ raw: [UInt8]) throws {
        switch name {
        case "module-path": self.modulePath = try Self.text(raw, attribute: name)
        case "module-name": self.moduleName = try Self.text(raw, attribute: name)
        case "pin-source": self.pinSource = try Self.text(raw, attribute: name)
        default: self.vendorQuery.append(Attribute(name: name, value: try Self.text(raw, attribute: name)))
        }
    }

    private static func versionNumber(_ digits: ArraySlice<UInt8>) -> UInt8? {
        guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return UInt8(String(decoding: digits, as: UTF8.self))
    }

    /// Percent-encodes every byte outside the unreserved set (all of them for `all`); `/` kept for query paths.
    private static func encode(_ bytes: [UInt8], all: Bool = false, keepSlash: Bool = false) -> String {
        var text = ""
        for byte in bytes {
            if !all && (Self.unreserved.contains(byte) || (keepSlash && byte == UInt8(ascii: "/"))) {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let digits = Array("0123456789ABCDEF".utf8)
                text += "%" + String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]], as: UTF8.self)
            }
        }
        return text
    }

    /// Text quoted for a message (a label, a module path): at most 64 bytes, everything but unreserved characters
    /// and `/` percent-encoded, so that no control character reaches a terminal or a log.
    package static func printable(_ text: String) -> String {
        let bytes = Array(text.utf8)
        return "'" + Self.encode(Array(bytes.prefix(64)), keepSlash: true) + (bytes.count > 64 ? "…" : "") + "'"
    }

    /// Input quoted for a message: at most 64 bytes, everything but unreserved characters percent-encoded.
    static func printable(_ bytes: ArraySlice<UInt8>) -> String {
        let shown = Self.encode(Array(bytes.prefix(64)))
        return "'" + shown + (bytes.count > 64 ? "…" : "") + "'"
    }
}

/// A PKCS #11 URI that cannot be used: not RFC 7512, too long, or carrying a PIN.
///
/// Compare by ``code`` (stable); ``reason`` is for people and quotes input only escaped and bounded.
public struct PKCS11URIError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The stable identity of the error.
    public let code: Code
    /// What went wrong, in words, without secrets.
    public let reason: String
    /// Where the error was raised (`#fileID`).
    public let file: String
    /// Where the error was raised (`#line`).
    public let line: Int

    /// Makes an error (raised by ``PKCS11URI``; public for adapters and tests).
    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    /// `PKCS11URIError.code: reason`.
    public var description: String { "PKCS11URIError.\(self.code): \(self.reason)" }

    public static func == (lhs: PKCS11URIError, rhs: PKCS11URIError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }

    /// The stable identity of a ``PKCS11URIError``. New codes may be added in minor releases.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's name, as its property is spelled.
        public let description: String
        private init(_ description: String) { self.description = description }

        /// Longer than ``PKCS11URI/maximumLengthBytes``; refused before parsing.
        public static let tooLong = Code("tooLong")
        /// Not a `pkcs11:` URI.
        public static let notPKCS11 = Code("notPKCS11")
        /// Outside RFC 7512's grammar: a bad escape, a character that must be escaped, a bad name or value.
        public static let malformed = Code("malformed")
        /// An attribute appears twice.
        public static let duplicateAttribute = Code("duplicateAttribute")
        /// The URI holds `pin-value`: a PIN never comes from a URI or a command line.
        public static let pinValueRefused = Code("pinValueRefused")
        /// The URI is valid but cannot serve this use (a missing `module-path`, an attribute the consumer cannot
        /// honour, the wrong object type).
        public static let unsupported = Code("unsupported")
    }
}
