import Foundation
import Logging
import NIOCore
import SaMDExampleSupport
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

        /// `address` as events give it: `host:port`, `[v6]:port`.
        static func describe(_ address: SocketAddress?) -> String? {
            guard let address else { return nil }
            return address.ipAddress.map { Endpoint.format(host: $0, port: address.port ?? 0) } ?? "\(address)"
        }

        var metadata: Logger.Metadata {
            var metadata: Logger.Metadata = [:]
            if let peer { metadata["peer"] = "\(peer)" }
            if let remote { metadata["remote"] = "\(remote)" }
            return metadata
        }

        /// ``metadata`` with `event` (`samd.gateway.` + `name`) and `fields`.
        func metadata(event name: String, _ fields: Logger.Metadata) -> Logger.Metadata {
            var metadata = self.metadata.merging(fields) { $1 }
            metadata["event"] = "samd.gateway.\(name)"
            return metadata
        }
    }

    static func started(
        _ logger: Logger,
        address: String,
        readers: [String],
        shredders: [String],
        readerIssuers: [TLSIssuingAuthority],
        shredderIssuers: [TLSIssuingAuthority],
        maximumBodyByteCount: Int,
        maximumConnections: Int
    ) {
        var metadata: Logger.Metadata = [
            "event": "samd.gateway.started",
            "address": "\(address)",
            "readers": "\(readers.joined(separator: ","))",
            "shredders": "\(shredders.joined(separator: ","))",
            "max_body_bytes": "\(maximumBodyByteCount)",
            "max_connections": "\(maximumConnections)",
        ]
        // The CAs a role is bound to, by subject (for people; the binding compares keys).
        if !readerIssuers.isEmpty { metadata["reader_cas"] = "\(readerIssuers.map(\.subject).joined(separator: "; "))" }
        if !shredderIssuers.isEmpty {
            metadata["shredder_cas"] = "\(shredderIssuers.map(\.subject).joined(separator: "; "))"
        }
        logger.notice("records gateway listening", metadata: metadata)
    }

    static func stopped(_ logger: Logger, address: String) {
        logger.notice("records gateway stopped", metadata: ["event": "samd.gateway.stopped", "address": "\(address)"])
    }

    static func recordStored(
        _ logger: Logger, client: Client, revision: Int64, key: String, recordType: String, bytes: Int
    ) {
        logger.info(
            "record stored",
            metadata: client.metadata(
                event: "record-stored",
                ["revision": "\(revision)", "key": "\(key)", "record_type": "\(recordType)", "bytes": "\(bytes)"]
            )
        )
    }

    /// A sealed upload stored (`stored`) or recognised as stored already (`already-stored`).
    static func sealedUploadStored(
        _ logger: Logger, client: Client, revision: Int64, key: String, recordType: String, bytes: Int,
        alreadyStored: Bool
    ) {
        logger.info(
            alreadyStored ? "sealed upload already stored" : "sealed upload stored",
            metadata: client.metadata(
                event: "sealed-upload-stored",
                [
                    "revision": "\(revision)", "key": "\(key)", "record_type": "\(recordType)", "bytes": "\(bytes)",
                    "outcome": "\(alreadyStored ? "already-stored" : "stored")",
                ]
            )
        )
    }

    /// A sealed upload refused: `reason` is the answer's error code (`envelope-not-authentic`,
    /// `not-sealed-to-recipient`, `recipient-key-unknown`). No id, no byte of the envelope.
    static func sealedUploadRefused(_ logger: Logger, client: Client, reason: String, status: Int) {
        logger.warning(
            "sealed upload refused",
            metadata: client.metadata(event: "sealed-upload-refused", ["reason": "\(reason)", "status": "\(status)"])
        )
    }

    static func recordRead(_ logger: Logger, client: Client, revision: Int64, recordType: String, bytes: Int) {
        logger.info(
            "record read",
            metadata: client.metadata(
                event: "record-read", ["revision": "\(revision)", "record_type": "\(recordType)", "bytes": "\(bytes)"])
        )
    }

    static func subjectShredded(_ logger: Logger, client: Client, key: String, destroyedAt: Date, records: Int) {
        logger.notice(
            "subject crypto-shredded",
            metadata: client.metadata(
                event: "subject-shredded", ["key": "\(key)", "destroyed_at": "\(destroyedAt)", "records": "\(records)"])
        )
    }

    static func recordAuthenticationFailed(_ logger: Logger, client: Client, method: String) {
        logger.error(
            "a stored record failed authentication: tampered with or copied from another record",
            metadata: client.metadata(event: "record-authentication-failed", ["method": "\(method)", "status": "500"])
        )
    }

    static func storeFailed(
        _ logger: Logger, client: Client, method: String, route: GatewayRoute, error: String, status: Int
    ) {
        logger.error(
            "the record store failed",
            metadata: client.metadata(
                event: "store-failed",
                ["method": "\(method)", "route": "\(route.template)", "error": "\(error)", "status": "\(status)"]
            )
        )
    }

    static func bodyTooLarge(_ logger: Logger, client: Client, limit: Int, declared: Int?) {
        var fields: Logger.Metadata = ["limit": "\(limit)", "status": "413"]
        if let declared { fields["content_length"] = "\(declared)" }
        logger.warning(
            "request body over the limit; connection closed", metadata: client.metadata(event: "body-too-large", fields)
        )
    }

    static func requestTimeout(_ logger: Logger, client: Client, seconds: Double) {
        logger.warning(
            "request not received in time; connection closed",
            metadata: client.metadata(event: "request-timeout", ["seconds": "\(seconds)", "status": "408"])
        )
    }

    static func connectionMaximumAge(_ logger: Logger, client: Client, seconds: Double) {
        logger.info(
            "connection at its maximum age; closing after the request in flight",
            metadata: client.metadata(event: "connection-max-age", ["seconds": "\(seconds)"])
        )
    }

    static func bodyTooSlow(_ logger: Logger, client: Client, bytes: Int, seconds: Double, minimum: Int) {
        logger.warning(
            "request body arriving too slowly; request dropped, connection closed",
            metadata: client.metadata(
                event: "body-too-slow",
                [
                    "bytes": "\(bytes)", "seconds": "\(seconds)", "minimum_bytes_per_second": "\(minimum)",
                    "status": "408",
                ]
            )
        )
    }

    static func bodiesOverBudget(_ logger: Logger, client: Client, limit: Int) {
        logger.warning(
            "request bodies in memory at their limit; request refused, connection closed",
            metadata: client.metadata(event: "bodies-over-budget", ["limit": "\(limit)", "status": "503"])
        )
    }

    static func responseUnread(_ logger: Logger, client: Client, seconds: Double) {
        logger.warning(
            "the client did not read its answers in time; connection closed",
            metadata: client.metadata(event: "response-unread", ["seconds": "\(seconds)"])
        )
    }
}
