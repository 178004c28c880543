#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A final answer of the records gateway: its status, body and media type, whatever the status.
public struct RecordResponse: Sendable, Hashable {
    /// The HTTP status code (`201`, `200`, `403`, `410`, …).
    public let status: Int
    /// The body: the record for a successful read, JSON otherwise (see Examples/RecordGateway/SaMDRecordGateway.docc/Gateway.md).
    public let body: [UInt8]
    /// The `Content-Type` header, if any: the record type for a successful read.
    public let contentType: String?

    /// Every header field of the answer as it came, names lowercased, in order.
    public let headerFields: [HeaderField]

    /// One header field of an answer.
    public struct HeaderField: Sendable, Hashable {
        /// The field's name, lowercased (`samd-already-stored`).
        public let name: String
        /// The field's value as sent.
        public let value: String
    }

    /// An answer.
    /// - Parameters:
    ///   - status: the HTTP status code.
    ///   - body: the body's bytes.
    ///   - contentType: the `Content-Type` header, if any.
    ///   - headers: every header field, in order (names in any case).
    public init(status: Int, body: [UInt8], contentType: String?, headers: [(name: String, value: String)] = []) {
        self.status = status
        self.body = body
        self.contentType = contentType
        self.headerFields = headers.map { HeaderField(name: $0.name.lowercased(), value: $0.value) }
    }

    /// The first value of the header field `name` (any case), or `nil`.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return self.headerFields.first { $0.name == wanted }?.value
    }

    /// Whether the gateway answered a sealed upload with `SaMD-Already-Stored: true`: the very same envelope
    /// was already the record at that address (a delivery repeated after a lost answer), and nothing new was
    /// written.
    public var isAlreadyStored: Bool {
        self.isSuccess && self.header("samd-already-stored")?.lowercased() == "true"
    }

    /// Whether the status is 2xx.
    public var isSuccess: Bool { (200..<300).contains(self.status) }

    /// The record's revision from a successful `PUT`'s body `{"revision":N}`, else `nil`.
    public var revision: Int64? {
        self.jsonFields?.revision
    }

    /// The `error` code of a refusal's JSON body (`forbidden`, `not-found`, `gone`, …), else `nil`.
    public var errorCode: String? {
        self.jsonFields?.error
    }

    /// The two fields of the gateway's JSON bodies a client reads; a field of another type is absent.
    private struct JSONFields: Decodable {
        let revision: Int64?
        let error: String?

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            self.revision = try? container.decodeIfPresent(Int64.self, forKey: .revision)
            self.error = try? container.decodeIfPresent(String.self, forKey: .error)
        }

        enum Key: String, CodingKey { case revision, error }
    }

    private var jsonFields: JSONFields? {
        guard self.contentType?.hasPrefix("application/json") == true else { return nil }
        return try? JSONDecoder().decode(JSONFields.self, from: Data(self.body))
    }

    /// The standard reason phrase of ``status`` (`Created`, `Forbidden`, …).
    public var reasonPhrase: String {
        switch self.status {
        case 200: "OK"
        case 201: "Created"
        case 400: "Bad Request"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 413: "Payload Too Large"
        case 415: "Unsupported Media Type"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status \(self.status)"
        }
    }
}
