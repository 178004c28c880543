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

    public init(status: Int, body: [UInt8], contentType: String?) {
        self.status = status
        self.body = body
        self.contentType = contentType
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
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status \(self.status)"
        }
    }
}
