public import SaMDCrypto

/// What a TLS endpoint is and whom it accepts: a value type, secure by default, turned into a
/// ``TLSContext`` (which validates it completely) before any connection is made.
///
/// Defaults, each deliberate:
/// - TLS 1.3 only (RFC 8446). TLS 1.2 only through ``allowsTLS12``, and then with ECDHE key exchange and
///   AEAD suites only (RFC 9325 §4.2).
/// - No compression, no renegotiation, no 0-RTT early data.
/// - A client always verifies the server: chain to ``trustRoots``, EKU serverAuth, and the server's name
///   (DNS SAN for a name, IP SAN for an address).
/// - A server given ``trustRoots`` requires a client certificate that chains to them with EKU clientAuth;
///   there is no "ask but do not require" mode.
/// - Every verified peer must also satisfy ``peerPolicy``.
///
/// Build the common shapes with ``deviceClient(identity:trustRoots:peerPolicy:)``,
/// ``gatewayServer(identity:clientTrustRoots:peerPolicy:)``, ``client(trustRoots:)`` and
/// ``server(identity:)``.
public struct TLSConfiguration: Sendable {
    /// Which end of the connection this configuration is for.
    public enum Role: String, Sendable, Hashable {
        case client
        case server
    }

    /// Which end of the connection this configuration is for.
    public var role: Role
    /// This endpoint's certificate chain and private key. Required for servers; for clients it makes the
    /// connection mutual TLS.
    public var identity: TLSIdentitySource?
    /// The roots the peer's chain must lead to. Required for clients. For servers, setting it requires every
    /// client to present a certificate that chains to them.
    public var trustRoots: TLSTrustRoots?
    /// CRLs (PEM) checked for every certificate of the peer's chain (`X509_V_FLAG_CRL_CHECK_ALL`). When any
    /// is given, a chain certificate whose issuer has no valid CRL here is refused (``TLSError/Code/crlUnavailable``).
    public var certificateRevocationLists: [TLSPEMSource]
    /// Allow-lists applied to a peer whose chain verified. Empty: any verified peer.
    public var peerPolicy: TLSPeerPolicy
    /// Permit TLS 1.2 (ECDHE + AEAD suites only) beside TLS 1.3. Default `false`.
    public var allowsTLS12: Bool
    /// The algorithm profile: `default` or `nist` (SP 800-52r2).
    public var profile: TLSProfile
    /// ALPN protocol names in preference order (RFC 7301), e.g. `["h2", "http/1.1"]`. Empty: no ALPN. A server
    /// with a list refuses clients that offer ALPN but none of these (alert 120); clients that offer no ALPN
    /// are served.
    public var applicationProtocols: [String]
    /// Session resumption with TLS 1.3 tickets (RFC 8446 §4.6.1). Default `true`.
    public var sessionResumption: Bool
    /// Server: how long a session ticket may be used (default 2 hours; 1 second to 7 days, RFC 8446 §4.6.1), in
    /// whole seconds (OpenSSL's unit: a fraction is dropped).
    public var sessionTicketLifetime: Duration
    /// The longest a connection may stay open (at least 1 second), counted from the end of its handshake,
    /// after which it is closed with close_notify. `nil`: no limit.
    public var maximumConnectionAge: Duration?
    /// How long an established connection may go without a byte in either direction (at least 1 second),
    /// after which it is closed with close_notify. `nil` (the default): no limit. Set it on servers facing
    /// many peers, so that silent ones do not hold connections forever.
    public var idleTimeout: Duration?
    /// The time a handshake may take (default 10 seconds; 1 to 600 seconds).
    public var handshakeTimeout: Duration
    /// After sending close_notify (or a fatal alert), how long to wait for the peer's before closing anyway
    /// (default 5 seconds; 1 to 600 seconds).
    public var closeTimeout: Duration
    /// The longest chain accepted from the peer, counting intermediates (default 4; 1…10).
    public var maximumChainDepth: Int

    /// A configuration with every default; prefer the named factories.
    public init(role: Role) {
        self.role = role
        self.identity = nil
        self.trustRoots = nil
        self.certificateRevocationLists = []
        self.peerPolicy = TLSPeerPolicy()
        self.allowsTLS12 = false
        self.profile = .default
        self.applicationProtocols = []
        self.sessionResumption = true
        self.sessionTicketLifetime = .seconds(7_200)
        self.maximumConnectionAge = nil
        self.idleTimeout = nil
        self.handshakeTimeout = .seconds(10)
        self.closeTimeout = .seconds(5)
        self.maximumChainDepth = 4
    }

    /// A device-side mutual-TLS client: presents `identity`, verifies the server against `trustRoots`
    /// (EKU serverAuth, name or IP SAN) and, optionally, against `peerPolicy` (e.g. an SPKI pin).
    public static func deviceClient(
        identity: TLSIdentitySource,
        trustRoots: TLSTrustRoots,
        peerPolicy: TLSPeerPolicy = TLSPeerPolicy()
    ) -> TLSConfiguration {
        var configuration = TLSConfiguration(role: .client)
        configuration.identity = identity
        configuration.trustRoots = trustRoots
        configuration.peerPolicy = peerPolicy
        return configuration
    }

    /// A client without a certificate of its own that verifies the server against `trustRoots`.
    public static func client(trustRoots: TLSTrustRoots) -> TLSConfiguration {
        var configuration = TLSConfiguration(role: .client)
        configuration.trustRoots = trustRoots
        return configuration
    }

    /// A gateway server that requires every client to present a certificate chaining to `clientTrustRoots`
    /// with EKU clientAuth, and allowed by `peerPolicy`.
    public static func gatewayServer(
        identity: TLSIdentitySource,
        clientTrustRoots: TLSTrustRoots,
        peerPolicy: TLSPeerPolicy = TLSPeerPolicy()
    ) -> TLSConfiguration {
        var configuration = TLSConfiguration(role: .server)
        configuration.identity = identity
        configuration.trustRoots = clientTrustRoots
        configuration.peerPolicy = peerPolicy
        return configuration
    }

    /// A server that does not authenticate its clients (for example a public health-check endpoint).
    public static func server(identity: TLSIdentitySource) -> TLSConfiguration {
        var configuration = TLSConfiguration(role: .server)
        configuration.identity = identity
        return configuration
    }

    /// Whether this configuration authenticates the peer by certificate: always for clients; for servers
    /// exactly when ``trustRoots`` is set.
    public var verifiesPeer: Bool {
        self.role == .client || self.trustRoots != nil
    }
}

/// The algorithm profile of a TLS endpoint.
public enum TLSProfile: String, Sendable, Hashable, CaseIterable {
    /// TLS 1.3 suites AES-256-GCM, ChaCha20-Poly1305 and AES-128-GCM, in that (server) preference order;
    /// groups X25519, P-256, P-384; signatures ECDSA (SHA-256/384/512), Ed25519, Ed448, RSA-PSS and
    /// RSA PKCS#1 v1.5 (SHA-256/384/512).
    case `default`
    /// NIST SP 800-52r2: AES-GCM suites only, groups P-256 and P-384 only, ECDSA/RSA-PSS/RSA signatures
    /// with SHA-256/384, and the OpenSSL FIPS provider (`CryptoProfile.nist`), which is
    /// activated when the context is built. Where the platform has no FIPS provider, building the context
    /// fails with ``TLSError/Code/fipsProviderUnavailable``.
    case nist
}

/// PEM bytes, given directly or read from a file when the context is built (and again on reload).
public enum TLSPEMSource: Sendable, Hashable {
    /// A PEM file, read when the ``TLSContext`` is built or reloaded.
    case file(String)
    /// PEM text.
    case bytes([UInt8])

    /// The file path, when the source is a file.
    public var path: String? {
        if case .file(let path) = self { return path }
        return nil
    }
}

/// This endpoint's certificate chain and private key.
///
/// The chain is the leaf certificate first, then the intermediates that lead to the root, all kept and sent
/// (the root itself may be left out). The key is PEM: PKCS#8, traditional, or encrypted PKCS#8 with a
/// passphrase — or a key held in a PKCS #11 token (``tokenKey``, made by ``token(certificateChain:privateKey:)-(String,_)``).
public struct TLSIdentitySource: Sendable {
    /// The certificate chain, PEM, leaf first.
    public var certificateChain: TLSPEMSource
    /// The private key, PEM.
    public var privateKey: TLSPEMSource
    /// The passphrase of an encrypted private key.
    public var passphrase: SecureBytes?
    /// A private key in a PKCS #11 token instead of ``privateKey`` (which, like ``passphrase``, is then unused); see
    /// ``TLSTokenKey``.
    public var tokenKey: TLSTokenKey?

    /// An identity in two PEM files, read when the context is built and again at each reload.
    public static func files(certificateChain: String, privateKey: String, passphrase: SecureBytes? = nil) -> Self {
        TLSIdentitySource(
            certificateChain: .file(certificateChain), privateKey: .file(privateKey), passphrase: passphrase)
    }

    /// An identity held in memory (PEM text).
    public static func pem(certificateChain: [UInt8], privateKey: [UInt8], passphrase: SecureBytes? = nil) -> Self {
        TLSIdentitySource(
            certificateChain: .bytes(certificateChain), privateKey: .bytes(privateKey), passphrase: passphrase)
    }

    /// An identity from two sources.
    public init(certificateChain: TLSPEMSource, privateKey: TLSPEMSource, passphrase: SecureBytes? = nil) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.passphrase = passphrase
    }
}

/// The trust roots a peer's chain must lead to.
public enum TLSTrustRoots: Sendable, Hashable {
    /// CA certificates in a PEM file (one or more).
    case file(String)
    /// CA certificates as PEM text.
    case pem([UInt8])
    /// The operating system's default CA store (OpenSSL's default paths). For clients that reach public
    /// servers; a device fleet should pin its own roots instead.
    case system
}

/// Allow-lists applied after a peer's chain verified, so that a certificate from the right CA is still
/// refused unless it names an expected peer.
///
/// When every list is empty, any verified peer is allowed. Otherwise the peer is allowed when at least one
/// entry of any list matches (the lists are alternatives, not requirements):
/// - ``uris``: a SAN URI equal to an entry (exact, e.g. `urn:uuid:…` device ids, `spiffe://…` ids);
/// - ``dnsNames``: a SAN DNS name equal to an entry (case-insensitive, no wildcard expansion);
/// - ``subjects``: the subject distinguished name, RFC 2253 form (e.g. `CN=device-0001,O=Example`);
/// - ``spkiSHA256``: the SHA-256 of the DER SubjectPublicKeyInfo (a key pin, RFC 7469 §2.4), 32 bytes.
public struct TLSPeerPolicy: Sendable, Hashable {
    /// SAN URIs allowed, compared exactly (`urn:uuid:…`, `spiffe://…`).
    public var uris: Set<String>
    /// SAN DNS names allowed, compared case-insensitively (kept lowercase however they are set); wildcards are
    /// not expanded.
    public var dnsNames: Set<String> {
        didSet {
            let lowercase = Set(self.dnsNames.map { $0.lowercased() })
            if lowercase != self.dnsNames { self.dnsNames = lowercase }
        }
    }
    /// Subject distinguished names allowed, RFC 2253 form as ``TLSPeerIdentity/subject`` prints them.
    public var subjects: Set<String>
    /// SHA-256 digests (32 bytes each) of allowed DER SubjectPublicKeyInfo structures.
    public var spkiSHA256: Set<[UInt8]>

    /// A policy; with no arguments, one that allows any verified peer.
    public init(
        uris: Set<String> = [],
        dnsNames: Set<String> = [],
        subjects: Set<String> = [],
        spkiSHA256: Set<[UInt8]> = []
    ) {
        self.uris = uris
        self.dnsNames = Set(dnsNames.map { $0.lowercased() })
        self.subjects = subjects
        self.spkiSHA256 = spkiSHA256
    }

    /// Whether every list is empty, so that any verified peer is allowed.
    public var allowsAnyVerifiedPeer: Bool {
        self.uris.isEmpty && self.dnsNames.isEmpty && self.subjects.isEmpty && self.spkiSHA256.isEmpty
    }

    /// Whether `peer` is allowed.
    public func allows(_ peer: TLSPeerIdentity) -> Bool {
        if self.allowsAnyVerifiedPeer { return true }
        if peer.uris.contains(where: self.uris.contains) { return true }
        if peer.dnsNames.contains(where: { self.dnsNames.contains($0.lowercased()) }) { return true }
        if self.subjects.contains(peer.subject) { return true }
        if self.spkiSHA256.contains(peer.spkiSHA256) { return true }
        return false
    }
}
