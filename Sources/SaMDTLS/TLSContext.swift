public import Logging
import Synchronization

/// A validated ``TLSConfiguration`` ready for connections, whose identity can be replaced while it serves.
///
/// Building it reads every file, parses every certificate and key, and validates the identity completely
/// (see ``reload()``), so a misconfiguration fails here, not at the first handshake. It holds one OpenSSL
/// `SSL_CTX`, shared by every connection made from it; ``reload()`` builds a new one from the same
/// configuration (re-reading its files) and swaps it in atomically: new handshakes use it, open
/// connections keep theirs (their peers are verified again under it: see ``reload()``). Sessions and tickets issued under the old one are not resumed under the new one,
/// so a reload that changes trust roots, CRLs or the peer policy applies to every later connection.
public final class TLSContext: Sendable {
    private let current: Mutex<SSLContextBox>
    /// The highest CRL number accepted per issuer, for the life of this context (never lowered by a reload).
    private let crlHighWater: CRLHighWaterMark
    /// The configuration this context was built from.
    public let configuration: TLSConfiguration
    let logger: Logger
    /// Open connections whose peers are verified again after each reload (``TLSPeerRevalidationHandler``).
    let openConnections = TLSOpenConnections()

    /// Validates `configuration` and makes the OpenSSL context.
    /// - Parameters:
    ///   - configuration: the role, identity, trust, versions and bounds; see ``TLSConfiguration``.
    ///   - logger: where security events go (label suggestion `samdkit.tls`).
    /// - Throws: ``TLSError`` — ``TLSError/Code/invalidConfiguration`` for an unsafe or incomplete
    ///   configuration, ``TLSError/Code/invalidIdentity`` for an identity that cannot serve (empty chain, key
    ///   not matching, leaf expired or not yet valid, wrong EKU, a keyUsage without digitalSignature
    ///   (RFC 5280 §4.2.1.3, RFC 8446 §4.4.2.2), chain out of order, wrong passphrase),
    ///   ``TLSError/Code/io`` for an unreadable file, ``TLSError/Code/fipsProviderUnavailable`` for the `nist`
    ///   profile without a FIPS provider; for a private key in a PKCS #11 token (``TLSTokenKey``),
    ///   ``TLSError/Code/pkcs11EngineUnavailable``, ``TLSError/Code/pkcs11ModuleUnavailable``,
    ///   ``TLSError/Code/pkcs11TokenAbsent``, ``TLSError/Code/pkcs11PINIncorrect``, ``TLSError/Code/pkcs11PINLocked``,
    ///   ``TLSError/Code/pkcs11PINUnavailable``, ``TLSError/Code/pkcs11KeyNotFound``,
    ///   ``TLSError/Code/pkcs11KeyMismatch``, and ``TLSError/Code/invalidConfiguration`` for a URI the engine cannot
    ///   use.
    public init(configuration: TLSConfiguration, logger: Logger = Logger(label: "samdkit.tls")) throws {
        self.configuration = configuration
        self.logger = logger
        let crlHighWater = CRLHighWaterMark(logger: logger)
        self.crlHighWater = crlHighWater
        self.current = Mutex(
            try SSLContextBox(
                configuration: configuration, sessionCache: ClientSessionCache(), crlHighWater: crlHighWater))
    }

    /// The context new connections use.
    var box: SSLContextBox {
        self.current.withLock { $0 }
    }

    /// Server side: how many sessions the resumption cache holds now, and its bound. For tests.
    @_spi(Testing) public var serverSessionCache: (count: Int, limit: Int) {
        self.box.serverSessionCache
    }

    /// This endpoint's current leaf certificate (subject, SANs, SPKI pin, expiry), or `nil` without identity.
    public var certificate: TLSPeerIdentity? {
        self.box.ownCertificate
    }

    /// Re-reads the configuration's files (identity, trust roots, CRLs), validates them completely — the key
    /// matches the certificate, the leaf is valid now, carries the EKU of this role and (when it has a
    /// keyUsage) digitalSignature, each chain
    /// certificate is issued and signed by the next — and only then swaps them in. On failure nothing changes:
    /// the old identity keeps serving, and the refusal is logged (`samd.tls.identity-reload-refused`).
    ///
    /// After a swap, every open connection with a ``TLSPeerRevalidationHandler`` (every connection of a
    /// ``TLSServer``) has its peer's chain verified again under the new trust state, before this returns; a
    /// peer that no longer verifies (revoked, its CA removed, no longer allowed) is told and closed after a
    /// grace period (see ``TLSPeerRevalidationHandler``).
    ///
    /// A CRL of an issuer with a lower CRL number than this context has already accepted is refused too
    /// (`invalidConfiguration`, event `samd.tls.crl-rollback-refused`): revocation never goes backwards while
    /// the context lives (RFC 5280 §5.2.3).
    /// - Throws: the ``TLSError`` that refused the new identity or CRLs.
    public func reload() throws {
        do {
            let fresh = try SSLContextBox(
                configuration: self.configuration, sessionCache: ClientSessionCache(), crlHighWater: self.crlHighWater)
            let previous = self.current.withLock { box in
                let previous = box
                box = fresh
                return previous
            }
            _ = previous
            TLSEvents.identityReloaded(self.logger, certificate: fresh.ownCertificate)
            // Trust state (roots, CRLs, peer policy) may have changed: open connections are verified again.
            self.openConnections.revalidate(under: fresh)
        } catch let error as TLSError {
            TLSEvents.identityReloadRefused(self.logger, error: error)
            throw error
        }
    }
}
