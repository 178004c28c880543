import SaMDHummingbird
import SaMDRecordService
public import SaMDTLS

/// What a client of the records gateway may do. Every client whose certificate chains to the gateway's client
/// CA (and passes its TLS peer policy) is a ``device``; ``reader`` and ``shredder`` are granted by SAN in the
/// ``RecordGatewayConfiguration``.
public enum RecordRole: String, Sendable, Hashable, CaseIterable {
    /// May store records (`PUT /records/…`) and ask for `/healthz`. Every verified client has it.
    case device
    /// May also read records (`GET /records/…`).
    case reader
    /// May also crypto-shred a subject (`DELETE /subjects/…`).
    case shredder
}

/// How a ``RecordGateway`` serves: its TLS context, who holds which role, and its limits.
///
/// Roles are granted by SAN: an entry containing `:` is compared with the client certificate's SAN URIs
/// (exactly: `spiffe://…`, `urn:uuid:…`), any other entry with its SAN DNS names (ASCII case-insensitively,
/// RFC 4343; no wildcard expansion). The certificate is the one verified in the TLS handshake; nothing in
/// the HTTP request can claim a role.
///
/// A role can be bound to the CAs that may issue it (``readerIssuers``, ``shredderIssuers``): its SANs then
/// count only for a certificate whose verified chain goes through one of those CAs, compared by key
/// (`TLSIssuingAuthority.issued(_:)`). Without that binding every CA the TLS context trusts can mint
/// a reader or shredder by putting the SAN in a certificate; the recommended deployment issues staff
/// certificates from a CA of their own, apart from the device CA, and binds the staff roles to it.
public struct RecordGatewayConfiguration: Sendable {
    /// The server's TLS context. It must be a server context that requires client certificates
    /// (`TLSConfiguration.gatewayServer(identity:clientTrustRoots:peerPolicy:)`).
    public var tls: TLSContext
    /// SAN values granted the ``RecordRole/reader`` role (a URI SAN if the value contains `:`, else a DNS SAN).
    public var readers: [String]
    /// SAN values granted the ``RecordRole/shredder`` role (same matching as ``readers``).
    public var shredders: [String]
    /// When not empty, a ``readers`` SAN counts only for a certificate issued under one of these CAs (its
    /// verified chain goes through a certificate with the CA's key). Empty: any CA the TLS context trusts.
    public var readerIssuers: [TLSIssuingAuthority]
    /// When not empty, a ``shredders`` SAN counts only for a certificate issued under one of these CAs (as
    /// ``readerIssuers``).
    public var shredderIssuers: [TLSIssuingAuthority]
    /// The largest request body accepted, in bytes (default 64 MiB, the store's default record limit). A
    /// larger `Content-Length` is answered 413 before the body is read; a chunked body that grows past it is
    /// answered 413 as soon as it does. Either way the connection is closed.
    public var maximumBodyByteCount: Int
    /// The request body bytes that all connections together may hold in memory at once, in bytes (default
    /// 256 MiB; at least ``maximumBodyByteCount``). A body of at most the store's `streamingBufferByteCount`
    /// (1 MiB) is held whole until it is stored; a larger or chunked one streams into the store, and holds at
    /// most that much. Without this bound every connection could hold its share. Bytes are reserved **as they
    /// arrive**, not when a `Content-Length` announces them: a client that announces 64 MiB and sends a byte
    /// a second holds a few bytes, not 64 MiB. A `PUT` whose declared `Content-Length` does not fit what is
    /// free now is answered 503 (with `Retry-After`) before its body is read; a body (declared or chunked)
    /// that stops fitting as it arrives is answered 503 as soon as it does. Either way the connection is
    /// closed. Not given to the initialiser, it is the larger of 256 MiB and ``maximumBodyByteCount``.
    public var maximumBufferedBodyByteCount: Int
    /// The slowest a request body may arrive, in bytes per second (default 1 024; 0: not checked). Measured
    /// over consecutive windows of ``bodyRateWindow``, the first starting when the request head
    /// arrives (so the first window is the grace period): a window in which fewer than
    /// `minimumBodyBytesPerSecond × bodyRateWindow` body bytes arrived ends the request — 408
    /// (`body-too-slow`), its bytes given back, the connection closed. Together with reservation as bytes
    /// arrive, a handful of slow uploads cannot hold the body budget for long.
    public var minimumBodyBytesPerSecond: Int
    /// The length of the windows over which ``minimumBodyBytesPerSecond`` is measured (default 10 s; more
    /// than 0, at most 3 600 s).
    public var bodyRateWindow: Duration
    /// How long a connection may wait for its next request (default 30 s; more than 0). Counted from
    /// the handshake or the last response; a slowly sent request head counts against it too, and so does a
    /// response the client does not read: a connection whose responses stay unread this long is closed.
    public var idleTimeout: Duration
    /// How long a request may take to arrive, from its head to the end of its body (default 120 s; more than
    /// 0). Past it the gateway answers 408 and closes the connection.
    public var requestTimeout: Duration
    /// On ``RecordGateway/stop()``, how long requests in progress may take to finish (default 10 s; 0 or more,
    /// at most 3 600 s) before their connections are closed anyway. Also how long a connection whose client is no
    /// longer valid (revoked by a CRL reload, its CA removed, its certificate expired:
    /// `TLSPeerInvalidatedEvent`) may take to finish its request in flight.
    public var shutdownGracePeriod: Duration
    /// The longest a connection may carry requests (default 3 600 s; more than 0, at most 86 400 s):
    /// once it is this old it closes after the request in flight (`Connection: close`), or at once when idle,
    /// so that every client makes a fresh handshake — under the trust roots, CRLs and identity in force then —
    /// at least this often.
    public var maximumConnectionAge: Duration

    /// The most connections open at once, handshaking or established (at least 1). A TCP connection over it
    /// is closed at once, before any TLS, and refusals are logged once per 10 s
    /// (`samd.tls.connections-refused`). Default: `TLSConnectionLimit.defaultMaximumConnections()`
    /// — the process's descriptor limit less those open and a reserve — so that the gateway never runs out of
    /// descriptors for its database, key store and CRL files.
    public var maximumConnections: Int

    /// The default of ``maximumConnectionAge``: one hour.
    public static let defaultMaximumConnectionAge: Duration = .seconds(3_600)
    /// The default of ``idleTimeout``: 30 seconds. A device that sends a reading a minute reconnects for each
    /// (a resumed handshake, without certificate verification cost) instead of holding a descriptor in between.
    public static let defaultIdleTimeout: Duration = .seconds(30)

    /// The default of ``maximumBodyByteCount``: 64 MiB, as `EncryptedRecordStore.Configuration`.
    public static let defaultMaximumBodyByteCount = 64 << 20
    /// The default of ``maximumBufferedBodyByteCount``: 256 MiB, four bodies of the default limit.
    public static let defaultMaximumBufferedBodyByteCount = 256 << 20
    /// The default of ``minimumBodyBytesPerSecond``: 1 KiB/s (a 2G cellular link carries several times that).
    public static let defaultMinimumBodyBytesPerSecond = 1024
    /// The largest ``minimumBodyBytesPerSecond`` accepted: 1 GiB/s.
    public static let largestMinimumBodyBytesPerSecond = 1 << 30

    /// A configuration (`maximumBufferedBodyByteCount` `nil`: the larger of 256 MiB and `maximumBodyByteCount`);
    /// `tls` must require client certificates (checked by ``RecordGateway/start(host:port:configuration:store:logger:group:)``).
    public init(
        tls: TLSContext,
        readers: [String] = [],
        shredders: [String] = [],
        readerIssuers: [TLSIssuingAuthority] = [],
        shredderIssuers: [TLSIssuingAuthority] = [],
        maximumBodyByteCount: Int = defaultMaximumBodyByteCount,
        maximumBufferedBodyByteCount: Int? = nil,
        minimumBodyBytesPerSecond: Int = defaultMinimumBodyBytesPerSecond,
        bodyRateWindow: Duration = .seconds(10),
        idleTimeout: Duration = defaultIdleTimeout,
        requestTimeout: Duration = .seconds(120),
        shutdownGracePeriod: Duration = .seconds(10),
        maximumConnectionAge: Duration = defaultMaximumConnectionAge,
        maximumConnections: Int? = nil
    ) {
        self.tls = tls
        self.readers = readers
        self.shredders = shredders
        self.readerIssuers = readerIssuers
        self.shredderIssuers = shredderIssuers
        self.maximumBodyByteCount = maximumBodyByteCount
        self.maximumBufferedBodyByteCount =
            maximumBufferedBodyByteCount ?? max(Self.defaultMaximumBufferedBodyByteCount, maximumBodyByteCount)
        self.minimumBodyBytesPerSecond = minimumBodyBytesPerSecond
        self.bodyRateWindow = bodyRateWindow
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
        self.shutdownGracePeriod = shutdownGracePeriod
        self.maximumConnectionAge = maximumConnectionAge
        self.maximumConnections = maximumConnections ?? TLSConnectionLimit.defaultMaximumConnections()
    }

    /// The roles `peer` holds: always ``RecordRole/device``, plus ``RecordRole/reader`` and
    /// ``RecordRole/shredder`` when one of its SANs is listed and — for a role bound to issuers — its
    /// verified chain goes through one of them. A chain of the leaf alone (a resumed session) holds no bound
    /// role here; ``RecordGateway`` remembers what the full handshake of a resumed session found.
    public func roles(of peer: TLSPeerIdentity) -> Set<RecordRole> {
        (try? self.rolePolicy().roles(of: peer)) ?? [.device]
    }

    /// The role policy: every client a device, readers and shredders by SAN and issuing CA.
    /// - Throws: `TLSError` (`invalidConfiguration`) for a SAN entry that is empty, has spaces or is an IP address.
    func rolePolicy() throws -> TLSRolePolicy<RecordRole> {
        try TLSRolePolicy(
            everyClient: [.device],
            grants: [
                .reader: .init(sans: self.readers, issuers: self.readerIssuers),
                .shredder: .init(sans: self.shredders, issuers: self.shredderIssuers),
            ])
    }

    /// Checks everything that can be checked before listening; returns the role policy it built.
    /// - Throws: `RecordServiceError.Code.invalidConfiguration`.
    func validate() throws -> TLSRolePolicy<RecordRole> {
        let tls = self.tls.configuration
        guard tls.role == .server else {
            throw RecordServiceError(.invalidConfiguration, "the gateway needs a server TLS context")
        }
        guard tls.verifiesPeer else {
            throw RecordServiceError(
                .invalidConfiguration, "the gateway's TLS context must require client certificates (client trust roots)"
            )
        }
        // The SAN entries: not empty, no spaces, never an IP address (TLSRolePolicy's rule).
        let roles: TLSRolePolicy<RecordRole>
        do {
            roles = try self.rolePolicy()
        } catch let error as TLSError {
            throw RecordServiceError(.invalidConfiguration, error.reason)
        }
        guard self.maximumBodyByteCount >= 1 else {
            throw RecordServiceError(.invalidConfiguration, "maximumBodyByteCount is at least 1 byte")
        }
        guard self.maximumBufferedBodyByteCount >= self.maximumBodyByteCount else {
            throw RecordServiceError(
                .invalidConfiguration, "maximumBufferedBodyByteCount is at least maximumBodyByteCount")
        }
        guard (0...Self.largestMinimumBodyBytesPerSecond).contains(self.minimumBodyBytesPerSecond) else {
            throw RecordServiceError(
                .invalidConfiguration, "minimumBodyBytesPerSecond is 0 to \(Self.largestMinimumBodyBytesPerSecond)")
        }
        guard self.bodyRateWindow > .zero, self.bodyRateWindow <= .seconds(3_600) else {
            throw RecordServiceError(.invalidConfiguration, "bodyRateWindow is more than 0 and at most 3 600 seconds")
        }
        guard self.requestTimeout > .zero, self.requestTimeout <= .seconds(86_400) else {
            throw RecordServiceError(.invalidConfiguration, "requestTimeout is more than 0 and at most 86 400 seconds")
        }
        // Below a second, a connection is closed before it can carry a request: the gateway would answer nothing.
        for (name, value) in [("idleTimeout", self.idleTimeout), ("maximumConnectionAge", self.maximumConnectionAge)] {
            guard value >= .seconds(1), value <= .seconds(86_400) else {
                throw RecordServiceError(.invalidConfiguration, "\(name) is 1 to 86 400 seconds")
            }
        }
        guard self.maximumConnections >= 1 else {
            throw RecordServiceError(.invalidConfiguration, "maximumConnections is at least 1")
        }
        guard self.shutdownGracePeriod >= .zero, self.shutdownGracePeriod <= .seconds(3_600) else {
            throw RecordServiceError(.invalidConfiguration, "shutdownGracePeriod is 0 to 3 600 seconds")
        }
        return roles
    }
}
