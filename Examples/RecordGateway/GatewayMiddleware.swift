import HTTPTypes
import Hummingbird
import SaMDHummingbird
import SaMDRecordService

/// The gateway's outermost middleware: what applies to every request before routing, and to every response.
///
/// Before routing: a target that is not origin-form or has an empty path segment is 404
/// (``GatewayRouting/isRoutable(_:)``); a declared `Content-Length` over the limit (for a sealed upload, the
/// envelope of a record of that limit: ``GatewayRoutes/bodyLimit(_:core:)``) is 413 before a byte of the body is
/// read, whatever the route (the connection then closes). After: Hummingbird's 404 becomes the
/// gateway's JSON one, any other error a 500 with fixed words; every response gets `Cache-Control: no-store`
/// and `X-Content-Type-Options: nosniff` (patient data: never cached, never sniffed as another type).
struct GatewayResponseMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext

    let core: GatewayCore

    static let notFound = GatewayReply.error(.notFound, "not-found", "no such resource")

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response: Response
        let limit = GatewayRoutes.bodyLimit(request, core: self.core)
        if !GatewayRouting.isRoutable(request.head.path ?? "") {
            response = Self.notFound.response
        } else if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            GatewayEvents.bodyTooLarge(self.core.logger, client: context.client, limit: limit, declared: declared)
            response = GatewayRoutes.tooLarge(limit: limit).response
        } else {
            do {
                response = try await next(request, context)
            } catch let error as HTTPError where error.status == .notFound {
                response = Self.notFound.response
            } catch {
                // No route throws but for a lost connection; nothing of the error is shown.
                response =
                    GatewayReply.error(
                        .internalServerError, "internal-error", "the request could not be completed"
                    ).response
            }
        }
        response.headers[.cacheControl] = "no-store"
        response.headers[.xContentTypeOptions] = "nosniff"
        return response
    }
}

extension HTTPField.Name {
    /// `X-Content-Type-Options` (WHATWG Fetch §3.5).
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
}
