public import Hummingbird
public import Logging
import NIOCore
import SaMDTLS

/// Lets a request through only when the client verified in its connection's TLS handshake holds `role` under
/// a ``TLSRolePolicy``; otherwise answers 403 and logs a security event.
///
/// Events, on ``logger`` (or, without one, the request's logger `context.logger`), with a stable `event` field under ``eventNamespace``
/// (default `samd.http`): `<namespace>.request-refused` (warning: `role`, `method`, `route` — the route's
/// template, never the path —, `status` 403, `peer` — the client's first SAN URI, else DNS name, else subject
/// —, `remote`) and, before it, `<namespace>.role-not-issued` when a SAN of the client names the role but its
/// chain does not go through a CA the role is bound to (`role`, `resumed`). A request without a verified
/// client (not served through ``SaMDTLSChannel``, or a server that asks for no client certificate) is
/// refused the same way. The 403 body is JSON, `{"error":"forbidden","message":…}`, naming the role only.
public struct TLSRoleMiddleware<Context: TLSRequestContext, Role: Hashable & Sendable>: RouterMiddleware {
    /// The role a request needs.
    public let role: Role
    /// Who holds which role.
    public let policy: TLSRolePolicy<Role>
    /// The prefix of the events' names.
    public let eventNamespace: String
    /// Where the events go; `nil`: the request's logger.
    public let logger: Logger?

    /// - Parameters:
    ///   - role: the role a request needs.
    ///   - policy: who holds which role; one policy for all of a server's routes (it remembers what full
    ///     handshakes found, for resumed sessions).
    ///   - logger: where the events go (default: the request's logger).
    ///   - eventNamespace: the prefix of the events' names (default `samd.http`).
    public init(
        _ role: Role, policy: TLSRolePolicy<Role>, logger: Logger? = nil, eventNamespace: String = "samd.http"
    ) {
        self.role = role
        self.policy = policy
        self.logger = logger
        self.eventNamespace = eventNamespace
    }

    /// Calls `next` when the client holds ``role``; answers 403 otherwise.
    /// - Parameters:
    ///   - request: the request.
    ///   - context: its context, with the connection's TLS summary.
    ///   - next: the rest of the chain.
    /// - Returns: `next`'s response, or the 403.
    /// - Throws: what `next` throws.
    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let decision = context.tlsConnection.map(self.policy.decide)
        if let decision, decision.roles.contains(self.role) {
            return try await next(request, context)
        }
        let logger = self.logger ?? context.logger
        var metadata = Self.client(context)
        if decision?.refusedByIssuer.contains(self.role) == true {
            metadata["event"] = "\(self.eventNamespace).role-not-issued"
            metadata["role"] = "\(self.role)"
            metadata["resumed"] = "\(context.tlsConnection?.sessionResumed ?? false)"
            logger.warning(
                "role not granted: the client certificate was not issued by the role's CA", metadata: metadata)
        }
        metadata["event"] = "\(self.eventNamespace).request-refused"
        metadata["role"] = "\(self.role)"
        metadata["method"] = "\(request.method.rawValue)"
        metadata["route"] = "\(context.endpointPath ?? "")"
        metadata["status"] = "403"
        metadata["resumed"] = nil
        logger.warning("request refused: the client certificate lacks the role", metadata: metadata)
        return Self.forbidden(role: "\(self.role)")
    }

    /// The client as events name it: `peer` and `remote`.
    static func client(_ context: Context) -> Logger.Metadata {
        var metadata: Logger.Metadata = [:]
        if let peer = context.tlsPeer { metadata["peer"] = "\(peer.displayName)" }
        if let address = context.remoteAddress {
            metadata["remote"] = "\(address.ipAddress.map { Self.endpoint($0, address.port ?? 0) } ?? "\(address)")"
        }
        return metadata
    }

    static func endpoint(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// 403 with `{"error":"forbidden","message":"this client certificate does not hold the <role> role"}`.
    static func forbidden(role: String) -> Response {
        let body = #"{"error":"forbidden","message":"this client certificate does not hold the \#(role) role"}"#
        return Response(
            status: .forbidden, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}
