public import ArgumentParser

/// A `HOST:PORT` endpoint as every example program takes it: `127.0.0.1:8443`, `[::1]:8443`,
/// `gateway.example:8443`. An IPv6 address must be written in brackets; the port is one to five ASCII
/// decimal digits, 0…65535 (0: any free port, for listening) — no sign, no other numerals, no padding past
/// five digits.
/// - SeeAlso: RFC 3986 §3.2.2–3.2.3 (host and port in an authority, IPv6 literals in brackets)
///
/// Options take it through ``parse(_:)`` (`transform: Endpoint.parse`), which says the rule when a value is
/// refused; it is deliberately not `ExpressibleByArgument`, whose refusal names only the value.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// The host: a DNS name or an IP address (without brackets).
    public let host: String
    /// The port, 0…65535.
    public let port: Int

    /// Parses `text`; `nil` when it is not `HOST:PORT`.
    public init?(parsing text: String) {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), hostPart.contains(":") else { return nil }
            portPart = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            guard !hostPart.contains(":") else { return nil }
        }
        guard !hostPart.isEmpty, !portPart.isEmpty, portPart.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
            portPart.utf8.count <= 5, let port = Int(portPart), (0...65535).contains(port)
        else { return nil }
        self.host = String(hostPart)
        self.port = port
    }

    /// `text` as an endpoint, for an option's or argument's `transform:`; a `ValidationError` that says the rule
    /// (exit 64) when it is not `HOST:PORT` — ArgumentParser's own message names only the value.
    public static func parse(_ text: String) throws -> Endpoint {
        guard let endpoint = Endpoint(parsing: text) else {
            throw ValidationError(
                "write HOST:PORT, an IPv6 address in brackets ([::1]:8443), the port 0 to 65535 in at most five digits")
        }
        return endpoint
    }

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `HOST:PORT`, an IPv6 host in brackets.
    public var description: String {
        Self.format(host: self.host, port: self.port)
    }

    /// `HOST:PORT`, an IPv6 host in brackets.
    public static func format(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
