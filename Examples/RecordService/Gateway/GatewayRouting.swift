import NIOHTTP1
import SaMDStore

/// What a request asks the store to do, decided from its method, target and headers before its body is read.
enum GatewayOperation: Sendable {
    case health
    case putRecord(subject: String, recordID: String, recordType: String)
    case getRecord(subject: String, recordID: String)
    case shredSubject(String)
}

/// The gateway's routes (the templates are what logs show: never the ids in them).
enum GatewayRoute: String, Sendable {
    case health = "/healthz"
    case record = "/records/{subject}/{id}"
    case subject = "/subjects/{subject}"

    /// The methods each route answers, for 405's `Allow`.
    var allowedMethods: [HTTPMethod] {
        switch self {
        case .health: [.GET]
        case .record: [.GET, .PUT]
        case .subject: [.DELETE]
        }
    }
}

/// Routing: from a request head to an operation, or to the refusal to send once the request has arrived.
enum GatewayRouting {
    enum Decision: Sendable {
        case perform(GatewayOperation, route: GatewayRoute)
        /// Answer with `reply`; `refusedRole` is set when the client lacks a role (403, logged).
        case refuse(GatewayReply, route: GatewayRoute?, refusedRole: RecordRole?)
    }

    /// Decides what `head` asks for, given the client's `roles`. Order: path (404), method (405), role (403),
    /// percent-decoding of the ids (400), the ids by the store's own rule
    /// (`EncryptedRecordStore.isValidIdentifier(_:)`: no dot segment, even percent-encoded; 400), record type
    /// (400).
    static func decide(_ head: HTTPRequestHead, roles: Set<RecordRole>) -> Decision {
        guard let segments = Self.pathSegments(of: head.uri) else {
            return .refuse(.error(.notFound, "not-found", "no such resource"), route: nil, refusedRole: nil)
        }
        let route: GatewayRoute
        switch (segments.first, segments.count) {
        case ("healthz", 1): route = .health
        case ("records", 3): route = .record
        case ("subjects", 2): route = .subject
        default:
            return .refuse(.error(.notFound, "not-found", "no such resource"), route: nil, refusedRole: nil)
        }
        guard route.allowedMethods.contains(head.method) else {
            var reply = GatewayReply.error(
                .methodNotAllowed, "method-not-allowed", "this resource does not answer that method")
            reply.headers.append(("allow", route.allowedMethods.map(\.rawValue).joined(separator: ", ")))
            return .refuse(reply, route: route, refusedRole: nil)
        }
        let required: RecordRole =
            switch (route, head.method) {
            case (.record, .GET): .reader
            case (.subject, _): .shredder
            default: .device
            }
        guard roles.contains(required) else {
            return .refuse(
                .error(.forbidden, "forbidden", "this client certificate does not hold the \(required.rawValue) role"),
                route: route,
                refusedRole: required
            )
        }
        let decoded = segments.dropFirst().map(Self.percentDecoded)
        guard decoded.allSatisfy({ $0 != nil }) else {
            return .refuse(
                .error(.badRequest, "invalid-request", "the path has an invalid percent-encoding or is not UTF-8"),
                route: route, refusedRole: nil)
        }
        let ids = decoded.map { $0! }
        // After decoding: `%2e%2E` is `..` too. Dot segments, control characters and empty ids never reach the store.
        guard ids.allSatisfy(EncryptedRecordStore.isValidIdentifier) else {
            return .refuse(
                .error(
                    .badRequest, "invalid-request",
                    "a subject or record id is 1 to 512 bytes of UTF-8 without control characters, and not . or .."),
                route: route,
                refusedRole: nil
            )
        }
        switch route {
        case .health:
            return .perform(.health, route: route)
        case .subject:
            return .perform(.shredSubject(ids[0]), route: route)
        case .record where head.method == .GET:
            return .perform(.getRecord(subject: ids[0], recordID: ids[1]), route: route)
        case .record:
            let types = head.headers["content-type"]
            guard types.count <= 1 else {
                return .refuse(
                    .error(.badRequest, "invalid-request", "more than one Content-Type"), route: route, refusedRole: nil
                )
            }
            let type = types.first.map { $0.trimmingASCIISpaces() } ?? RecordTypes.fallback
            guard EncryptedRecordStore.isValidRecordType(type) else {
                return .refuse(
                    .error(
                        .badRequest, "invalid-request",
                        "Content-Type must be a media type without parameters, type/subtype (RFC 6838 restricted names, 3 to 127 bytes)"
                    ),
                    route: route,
                    refusedRole: nil
                )
            }
            return .perform(.putRecord(subject: ids[0], recordID: ids[1], recordType: type), route: route)
        }
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
