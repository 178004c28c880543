import Foundation
import Logging
import SaMDTLS

/// The gateway's security events, logged through swift-log with a stable `event` field in the
/// `samd.gateway.*` namespace (schema: Docs/SecurityEvents.md, "samd.gateway.*").
///
/// Clients are named by their verified certificate (`peer`: first SAN URI, else DNS name, else subject) and
/// their socket address (`remote`); requests by method and route template. Never logged: subject ids, record
/// ids, record contents, the request target.
enum GatewayEvents {
    /// Who a connection belongs to, as logged with each of its events.
    struct Client: Sendable {
        var peer: String?
        var remote: String?

        var metadata: Logger.Metadata {
            var metadata: Logger.Metadata = [:]
            if let peer { metadata["peer"] = "\(peer)" }
            if let remote { metadata["remote"] = "\(remote)" }
            return metadata
        }
    }

    static func started(_ logger: Logger, address: String, readers: [String], shredders: [String], maximumBodyByteCount: Int) {
        logger.notice(
            "records gateway listening",
            metadata: [
                "event": "samd.gateway.started",
                "address": "\(address)",
                "readers": "\(readers.joined(separator: ","))",
                "shredders": "\(shredders.joined(separator: ","))",
                "max_body_bytes": "\(maximumBodyByteCount)",
            ]
        )
    }

    static func stopped(_ logger: Logger, address: String) {
        logger.notice("records gateway stopped", metadata: ["event": "samd.gateway.stopped", "address": "\(address)"])
    }

    static func requestRefused(_ logger: Logger, client: Client, role: RecordRole, method: String, route: GatewayRoute) {
        var metadata = client.metadata
        metadata["event"] = "samd.gateway.request-refused"
        metadata["role"] = "\(role.rawValue)"
        metadata["method"] = "\(method)"
        metadata["route"] = "\(route.rawValue)"
        metadata["status"] = "403"
        logger.warning("request refused: the client certificate lacks the role", metadata: metadata)
    }

    static func recordStored(_ logger: Logger, client: Client, revision: Int64, key: String, recordType: String, bytes: Int) {
        var metadata = client.metadata
        metadata["event"] = "samd.gateway.record-stored"
        metadata["revision"] = "\(revision)"
        metadata["key"] = "\(key)"
        metadata["record_type"] = "\(recordType)"
        metadata["bytes"] = "\(bytes)"
        logger.info("record stored", metadata: metadata)
    }

    static func recordRead(_ logger: Logger, client: Client, revision: Int64, recordType: String, bytes: Int) {
        var metadata = client.metadata
        metadata["event"] = "samd.gateway.record-read"
        metadata["revision"] = "\(revision)"
        metadata["record_type"] = "\(recordType)"
        metadata["bytes"] = "\(bytes)"
        logger.info("record read", metadata: metadata)
    }

    static func subjectShredded(_ logger: Logger, client: Client, key: String, destroyedAt: Date, records: Int) {
        var metadata = client.metadata
        metadata["event"] = "samd.gateway.subject-shredded"
        metadata["key"] = "\(key)"
        metadata["destroyed_at"] = "\(destroyedAt)"
        metadata["records"] = "\(records)"
        logger.notice("subject crypto-shredded", metadata: metadata)
    }

    static func recordAuthenticationFailed(_ logger: Logger, client: Client, method: String) {
        var metadata = client.metadata
        metadata["event"] = "samd.gateway.record-authentication-failed"
        metadata["method"] = "\(method)"
        metadata["status"] = "500"
        logger.error("a stored record failed authentication: tampered with or copied from another record", metadata: metadata)
    }

    static func storeFailed(_ logger: Logger, client: Client, method: String, route: GatewayRoute, error: String, status: Int) {
        var metadata = client.metadata
        metadata["event"] = "samd.gateway.store-failed"
        metadata["method"] = "\(method)"
        metadata["route"] = "\(route.rawValue)"
        metadata["error"] = "\(error)"
        metadata["status"] = "\(status)"
        logger.error("the record store failed", metadata: metadata)
    }

    static func bodyTooLarge(_ logger: Logger, client: Client, limit: Int, declared: Int?) {
        var metadata = client.metadata
        metadata["event"] = "samd.gateway.body-too-large"
        metadata["limit"] = "\(limit)"
        if let declared { metadata["content_length"] = "\(declared)" }
        metadata["status"] = "413"
        logger.warning("request body over the limit; connection closed", metadata: metadata)
    }

    static func requestTimeout(_ logger: Logger, client: Client, seconds: Double) {
        var metadata = client.metadata
        metadata["event"] = "samd.gateway.request-timeout"
        metadata["seconds"] = "\(seconds)"
        metadata["status"] = "408"
        logger.warning("request not received in time; connection closed", metadata: metadata)
    }

    static func bodiesOverBudget(_ logger: Logger, client: Client, limit: Int) {
        var metadata = client.metadata
        metadata["event"] = "samd.gateway.bodies-over-budget"
        metadata["limit"] = "\(limit)"
        metadata["status"] = "503"
        logger.warning("request bodies in memory at their limit; request refused, connection closed", metadata: metadata)
    }

    static func responseUnread(_ logger: Logger, client: Client, seconds: Double) {
        var metadata = client.metadata
        metadata["event"] = "samd.gateway.response-unread"
        metadata["seconds"] = "\(seconds)"
        logger.warning("the client did not read its answers in time; connection closed", metadata: metadata)
    }
}
