import HTTPTypes
import SaMDRecordService
import SaMDStore

/// A request refused before the store sees it: the answer to give.
struct GatewayRefusal: Error {
    let reply: GatewayReply

    init(_ reply: GatewayReply) {
        self.reply = reply
    }
}

/// The gateway's routes, as Hummingbird's router writes their templates (what logs show: never the ids).
enum GatewayRoute: String, Sendable, CaseIterable {
    case health = "/healthz"
    case record = "/records/:subject/:id"
    case subject = "/subjects/:subject"

    /// The route as logs and Hummingbird's `endpointPath` give it: `/records/{subject}/{id}`.
    var template: String {
        self.rawValue.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix(":") ? "{\(segment.dropFirst())}" : String(segment)
        }.joined(separator: "/")
    }

    /// The methods each route answers; the others are answered 405 with `Allow`.
    var allowedMethods: [HTTPRequest.Method] {
        switch self {
        case .health: [.get]
        case .record: [.get, .put]
        case .subject: [.delete]
        }
    }
}

/// The request target rules the router does not apply, and the strict decoding of ids.
enum GatewayRouting {
    /// Whether the router may see `target` (the request's path as Hummingbird has it: an absolute-form target
    /// is already reduced to its path and query, which RFC 9112 §3.2.2 has servers accept): origin-form, no
    /// fragment (not part of a request target, RFC 9112 §3.2) and no empty path segment. Hummingbird's router
    /// skips empty segments, so `//records/p/r`, `/records//r` and `/records/p/r/` would reach the record
    /// route; the gateway answers them 404 instead, as any path that is not exactly a route's.
    static func isRoutable(_ target: String) -> Bool {
        guard !target.contains("#"), let segments = Self.pathSegments(of: target) else { return false }
        return !segments.contains(where: \.isEmpty)
    }

    /// The ids of a route's parameters, percent-decoded strictly and checked by the store's own rule
    /// (`EncryptedRecordStore.isValidIdentifier(_:)`: no dot segment — `%2e%2E` is `..` too —, no control
    /// character, 1 to 512 bytes); otherwise throws the 400 to answer.
    static func identifiers(_ raw: [Substring?]) throws(GatewayRefusal) -> [String] {
        var ids: [String] = []
        for segment in raw {
            guard let segment, let id = Self.percentDecoded(segment) else {
                throw GatewayRefusal(
                    .error(.badRequest, "invalid-request", "the path has an invalid percent-encoding or is not UTF-8"))
            }
            guard EncryptedRecordStore.isValidIdentifier(id) else {
                throw GatewayRefusal(
                    .error(
                        .badRequest, "invalid-request",
                        "a subject or record id is 1 to 512 bytes of UTF-8 without control characters, and not . or .."
                    ))
            }
            ids.append(id)
        }
        return ids
    }

    /// The record type a `PUT` names (`Content-Type`, else `application/octet-stream`); the 400 to answer
    /// otherwise throws the 400 to answer: more than one, or one that is not a media type without parameters.
    static func recordType(_ values: [String], header: String = "Content-Type") throws(GatewayRefusal) -> String {
        guard values.count <= 1 else {
            throw GatewayRefusal(.error(.badRequest, "invalid-request", "more than one \(header)"))
        }
        let type = values.first.map { $0.trimmingASCIISpaces() } ?? RecordTypes.fallback
        guard EncryptedRecordStore.isValidRecordType(type) else {
            throw GatewayRefusal(
                .error(
                    .badRequest, "invalid-request",
                    "\(header) must be a media type without parameters, type/subtype (RFC 6838 restricted names, 3 to 127 bytes)"
                ))
        }
        return type
    }

    /// The raw (still percent-encoded) segments of an origin-form target's path, without the query; `nil`
    /// for a target that is not origin-form (`*`, absolute-form).
    static func pathSegments(of uri: String) -> [Substring]? {
        guard uri.hasPrefix("/") else { return nil }
        let path = uri.prefix { $0 != "?" && $0 != "#" }
        return path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
    }

    /// Strict percent-decoding (RFC 3986 §2.1) into UTF-8: `%` must be followed by two hexadecimal digits and
    /// the result must be valid UTF-8; `nil` otherwise. `+` stays `+`.
    static func percentDecoded(_ segment: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(segment.utf8.count)
        var iterator = segment.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue)
            else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension String {
    func trimmingASCIISpaces() -> String {
        let utf8 = self.utf8
        guard let first = utf8.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return "" }
        let last = utf8.lastIndex(where: { $0 != 0x20 && $0 != 0x09 })!
        return String(self[first...last])
    }
}
