import Logging

/// Security events, logged through swift-log with a stable `event` metadata field.
///
/// Names (stable across versions): `samd.tls.handshake-succeeded`, `samd.tls.handshake-failed`,
/// `samd.tls.connection-failed`, `samd.tls.unclean-shutdown`, `samd.tls.connection-max-age`,
/// `samd.tls.connection-idle`,
/// `samd.tls.connection-dropped`, `samd.tls.connection-invalidated`, `samd.tls.connections-refused`,
/// `samd.tls.accept-failed`, `samd.tls.identity-reloaded`, `samd.tls.identity-reload-refused`,
/// `samd.tls.crl-rollback-refused`. Fields:
/// `role`, `remote` (address:port), `peer` (the first SAN URI, DNS name or subject), `peer_subject`,
/// `peer_issuer`, `peer_serial`, `peer_spki_sha256`, `tls_version`, `cipher_suite`, `resumed`, `alpn`,
/// `after_handshake`, `error` (a ``TLSError/Code``), `origin` (`local`/`peer`), `alert`, `reason`,
/// `waiting`, `certificate` (own subject), `not_after`, `grace_seconds`, `refused`, `maximum_connections`,
/// `interval_seconds`, `failures`, `detail`, `crl_issuer`, `crl_number`, `accepted_crl_number`. Never key
/// material, passphrases or application data.
enum TLSEvents {
    static func handshakeSucceeded(
        _ logger: Logger, role: TLSConfiguration.Role, remote: String?, info: TLSConnectionInfo
    ) {
        var metadata = Self.metadata("samd.tls.handshake-succeeded", role: role, remote: remote)
        metadata["tls_version"] = "\(info.protocolVersion)"
        metadata["cipher_suite"] = "\(info.cipherSuite)"
        metadata["resumed"] = "\(info.sessionResumed)"
        if let alpn = info.applicationProtocol { metadata["alpn"] = "\(alpn)" }
        if let peer = info.peer {
            metadata["peer"] = "\(peer.displayName)"
            metadata["peer_subject"] = "\(peer.subject)"
            metadata["peer_spki_sha256"] = "\(peer.spkiSHA256Hex)"
        }
        logger.info("TLS handshake succeeded", metadata: metadata)
    }

    static func handshakeFailed(
        _ logger: Logger,
        role: TLSConfiguration.Role,
        remote: String?,
        error: TLSError,
        refusedPeer: TLSPeerIdentity? = nil,
        afterHandshake: Bool = false
    ) {
        var metadata = Self.metadata("samd.tls.handshake-failed", role: role, remote: remote, error: error)
        if let refusedPeer { Self.addCertificate(of: refusedPeer, to: &metadata) }
        if afterHandshake { metadata["after_handshake"] = "true" }
        logger.warning("TLS handshake failed", metadata: metadata)
    }

    static func connectionFailed(_ logger: Logger, role: TLSConfiguration.Role, remote: String?, error: TLSError) {
        logger.warning(
            "TLS connection failed",
            metadata: Self.metadata("samd.tls.connection-failed", role: role, remote: remote, error: error))
    }

    static func connectionDropped(_ logger: Logger, remote: String?, waiting: Int) {
        var metadata = Self.metadata("samd.tls.connection-dropped", role: .server, remote: remote)
        metadata["waiting"] = "\(waiting)"
        logger.warning("TLS connection closed: the application is not taking connections", metadata: metadata)
    }

    static func uncleanShutdown(_ logger: Logger, role: TLSConfiguration.Role, remote: String?) {
        logger.warning(
            "TLS connection ended without close_notify",
            metadata: Self.metadata("samd.tls.unclean-shutdown", role: role, remote: remote))
    }

    static func maximumAgeReached(_ logger: Logger, role: TLSConfiguration.Role, remote: String?) {
        logger.info(
            "TLS connection reached its maximum age and is being closed",
            metadata: Self.metadata("samd.tls.connection-max-age", role: role, remote: remote))
    }

    static func idleTimeoutReached(_ logger: Logger, role: TLSConfiguration.Role, remote: String?) {
        logger.info(
            "TLS connection idle for too long and is being closed",
            metadata: Self.metadata("samd.tls.connection-idle", role: role, remote: remote))
    }

    static func connectionInvalidated(
        _ logger: Logger,
        role: TLSConfiguration.Role,
        remote: String?,
        reason: String,
        peer: TLSPeerIdentity?,
        error: TLSError,
        gracePeriod: Duration
    ) {
        var metadata = Self.metadata("samd.tls.connection-invalidated", role: role, remote: remote, error: error)
        metadata["reason"] = "\(reason)"
        metadata["detail"] = "\(error.reason)"
        metadata["grace_seconds"] = "\(gracePeriod.components.seconds)"
        if let peer {
            Self.addCertificate(of: peer, to: &metadata)
            metadata["not_after"] = "\(peer.notAfter)"
        }
        logger.warning("TLS peer no longer valid: the open connection is being closed", metadata: metadata)
    }

    static func connectionsRefused(_ logger: Logger, refused: Int, maximumConnections: Int, interval: Duration) {
        let metadata: Logger.Metadata = [
            "event": "samd.tls.connections-refused",
            "role": "server",
            "refused": "\(refused)",
            "maximum_connections": "\(maximumConnections)",
            "interval_seconds": "\(interval.components.seconds)",
        ]
        logger.warning(
            "TCP connections refused: the server holds its maximum number of connections", metadata: metadata)
    }

    static func acceptFailed(_ logger: Logger, failures: Int, error: String, interval: Duration) {
        let metadata: Logger.Metadata = [
            "event": "samd.tls.accept-failed",
            "role": "server",
            "failures": "\(failures)",
            "reason": "\(error)",
            "interval_seconds": "\(interval.components.seconds)",
        ]
        logger.error("accepting connections failed (descriptors exhausted?); pausing accept", metadata: metadata)
    }

    static func identityReloaded(_ logger: Logger, certificate: TLSPeerIdentity?) {
        var metadata: Logger.Metadata = ["event": "samd.tls.identity-reloaded"]
        if let certificate {
            metadata["certificate"] = "\(certificate.subject)"
            metadata["not_after"] = "\(certificate.notAfter)"
        }
        logger.notice("TLS identity reloaded", metadata: metadata)
    }

    static func crlRollbackRefused(_ logger: Logger, issuer: String, crlNumber: CRLNumber, acceptedCRLNumber: CRLNumber)
    {
        let metadata: Logger.Metadata = [
            "event": "samd.tls.crl-rollback-refused",
            "crl_issuer": "\(issuer)",
            "crl_number": "\(crlNumber)",
            "accepted_crl_number": "\(acceptedCRLNumber)",
        ]
        logger.error(
            "A CRL older than, or other than, the one already accepted was refused; the CRLs in service stay",
            metadata: metadata)
    }

    static func identityReloadRefused(_ logger: Logger, error: TLSError) {
        var metadata = Self.errorMetadata(error)
        metadata["event"] = "samd.tls.identity-reload-refused"
        logger.error("TLS identity reload refused; the previous identity stays in service", metadata: metadata)
    }

    /// The fields every connection event has: `event`, `role`, and `remote` when it is known.
    /// With `error`, its fields too (``errorMetadata(_:)``).
    private static func metadata(
        _ event: String, role: TLSConfiguration.Role, remote: String?, error: TLSError? = nil
    ) -> Logger.Metadata {
        var metadata = error.map(Self.errorMetadata) ?? [:]
        metadata["event"] = "\(event)"
        metadata["role"] = "\(role.rawValue)"
        if let remote { metadata["remote"] = "\(remote)" }
        return metadata
    }

    /// The fields that name a peer's certificate: `peer`, `peer_subject`, `peer_issuer`, `peer_serial`.
    private static func addCertificate(of peer: TLSPeerIdentity, to metadata: inout Logger.Metadata) {
        metadata["peer"] = "\(peer.displayName)"
        metadata["peer_subject"] = "\(peer.subject)"
        metadata["peer_issuer"] = "\(peer.issuer)"
        metadata["peer_serial"] = "\(peer.serialNumber)"
    }

    static func errorMetadata(_ error: TLSError) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "error": "\(error.code)",
            "origin": "\(error.origin.rawValue)",
            "reason": "\(error.reason)",
        ]
        if let alert = error.alert { metadata["alert"] = "\(alert)" }
        return metadata
    }
}
