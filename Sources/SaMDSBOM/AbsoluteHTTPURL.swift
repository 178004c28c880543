import Foundation

extension SBOMInventory {
    /// Whether `text` is an absolute http or https URL that RFC 3986 allows, in the strict form that
    /// ``vexDocument(_:assessments:publisherNamespace:)`` takes as a publisher namespace and that the advisory
    /// references handed on in a VEX document must have (their schemas require a URI):
    /// - the scheme `http` or `https` (any case), then `//` and an authority without userinfo: a URL such as
    ///   `https://trusted.example@evil.example` names another host than it seems to, so `@` before the path is
    ///   refused;
    /// - a host: a registered name or IPv4 address (RFC 3986 §3.2.2 `reg-name`, not empty: unreserved,
    ///   sub-delims, `%XX`); then optionally `:` and a port from 1 to 65535. An IP literal (`[::1]`) is refused:
    ///   CycloneDX's `iri-reference` (RFC 3987) checkers refuse it, and no advisory or publisher is found there;
    /// - a path, query and fragment made only of unreserved characters, sub-delims, `:`, `@`, `/`, `?` and
    ///   valid percent-escapes (`%` and two hexadecimal digits), with at most one `#` (§3.3 to §3.5).
    ///
    /// No white space, control character, quote, angle bracket or non-ASCII character is accepted (an IRI is
    /// not a URI).
    /// - SeeAlso: RFC 3986 §2.1 (percent-encoding), §2.2, §2.3, §3 (syntax components), §3.2.1 (userinfo, and
    ///   §7.6 on its use to mislead).
    public static func isAbsoluteHTTPURL(_ text: String) -> Bool {
        var rest = Substring(text)
        guard let colon = rest.firstIndex(of: ":"),
            ["http", "https"].contains(rest[..<colon].lowercased()),
            rest[colon...].hasPrefix("://")
        else { return false }
        rest = rest[rest.index(colon, offsetBy: 3)...]
        let authorityEnd = rest.firstIndex(where: { "/?#".contains($0) }) ?? rest.endIndex
        guard AbsoluteHTTPURL.isAuthority(rest[..<authorityEnd]) else { return false }
        let tail = rest[authorityEnd...]
        guard tail.filter({ $0 == "#" }).count <= 1 else { return false }
        return AbsoluteHTTPURL.isMadeOf(tail, extra: ":@/?#")
    }
}

/// The pieces of RFC 3986's grammar that ``SBOMInventory/isAbsoluteHTTPURL(_:)`` checks.
enum AbsoluteHTTPURL {
    /// RFC 3986 §2.3 unreserved and §2.2 sub-delims.
    static let unreservedAndSubDelims = Set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=")

    /// `host [":" port]` without userinfo; the host a non-empty reg-name; the port 1 to 65535.
    static func isAuthority(_ authority: Substring) -> Bool {
        let host: Substring
        var port: Substring?
        if let colon = authority.firstIndex(of: ":") {
            host = authority[..<colon]
            port = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty, Self.isMadeOf(host, extra: "") else { return false }
        guard let port else { return true }
        guard (1...5).contains(port.count), port.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(port)
        else { return false }
        return (1...65535).contains(number)
    }

    /// Whether `text` is only unreserved characters, sub-delims, the characters of `extra` and valid `%XX`
    /// escapes.
    static func isMadeOf(_ text: Substring, extra: String) -> Bool {
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character == "%" {
                let digits = text[text.index(after: index)...].prefix(2)
                guard digits.count == 2, digits.allSatisfy({ $0.isASCII && $0.isHexDigit }) else { return false }
                index = digits.endIndex
                continue
            }
            guard Self.unreservedAndSubDelims.contains(character) || extra.contains(character) else { return false }
            index = text.index(after: index)
        }
        return true
    }

}
