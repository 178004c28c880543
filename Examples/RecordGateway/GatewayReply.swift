import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// One final response of the gateway: a status, a media type and a body. Bodies never hold a subject or
/// record id. ``GatewayResponseMiddleware`` adds the headers every response carries.
struct GatewayReply: Sendable {
    var status: HTTPResponse.Status
    var contentType: String
    var body: ByteBuffer
    var headers: HTTPFields = [:]

    /// A JSON body: the keys sorted, no whitespace.
    static func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> GatewayReply {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return GatewayReply(status: status, contentType: "application/json", body: ByteBuffer(bytes: data))
    }

    /// `{"error": code, "message": words}` — fixed words, never an id or store detail.
    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> GatewayReply {
        .json(status, ["error": code, "message": message])
    }

    /// The same reply, after which the connection closes (`Connection: close`): its request body is not read,
    /// or not all of it.
    func closing() -> GatewayReply {
        var reply = self
        reply.headers[.connection] = "close"
        return reply
    }

    /// A stored record: its bytes, with its record type as Content-Type — a type the uploading device chose,
    /// so a browser must not render it in the gateway's origin: `Content-Disposition: attachment` (download,
    /// RFC 6266) and `Content-Security-Policy: sandbox` (no scripts, a unique origin, should it be rendered
    /// anyway), beside the `nosniff` and `no-store` every response carries.
    static func record(_ payload: [UInt8], recordType: String) -> GatewayReply {
        GatewayReply(
            status: .ok,
            contentType: recordType,
            body: ByteBuffer(bytes: payload),
            headers: [.contentDisposition: "attachment", .contentSecurityPolicy: "sandbox"]
        )
    }

    /// The Hummingbird response: the status, `Content-Type`, `Content-Length` and the reply's own headers.
    var response: Response {
        var headers = self.headers
        headers[.contentType] = self.contentType
        headers[.contentLength] = String(self.body.readableBytes)
        return Response(status: self.status, headers: headers, body: ResponseBody(byteBuffer: self.body))
    }

    struct Revision: Encodable {
        let revision: Int64
    }

    struct Receipt: Encodable {
        let key: String
        let destroyedAt: String
        let records: Int

        enum CodingKeys: String, CodingKey {
            case key
            case destroyedAt = "destroyed_at"
            case records
        }
    }

    struct Health: Encodable {
        let status: String
    }
}
