public import SaMDTLS
import Synchronization

/// Who holds which role, decided from the client certificate verified in the TLS handshake — never from
/// anything in an HTTP request.
///
/// A role is granted by SAN: an entry containing `:` is compared with the certificate's SAN URIs (exactly:
/// `spiffe://…`, `urn:uuid:…`), any other entry with its SAN DNS names (ASCII case-insensitively, RFC 4343;
/// no wildcard expansion). IP addresses never grant a role. A role can be bound to the CAs that may issue it
/// (``Grant/issuers``): its SANs then count only for a certificate whose verified chain goes through one of
/// those CAs, compared by key (`TLSIssuingAuthority.issued(_:)`). Without that binding every CA the TLS context
/// trusts can mint the role by putting the SAN in a certificate.
///
/// A resumed TLS session verifies no chain (its identity is its leaf alone): its issuer-bound roles are what
/// the full handshake that made the session found for that leaf, remembered here for at most
/// ``rememberedLeafLimit`` leaves (the oldest forgotten first); forgotten, they are not granted — fail
/// closed. A session can only be resumed from a full handshake of this process, so one policy object must
/// serve all of a server's connections.
public final class TLSRolePolicy<Role: Hashable & Sendable>: Sendable {
    /// The SANs that grant a role, and the CAs that may issue it.
    public struct Grant: Sendable {
        /// SAN URIs (entries containing `:`) and DNS names (the others) that grant the role.
        public var sans: [String]
        /// When not empty, a ``sans`` entry counts only for a certificate issued under one of these CAs.
        public var issuers: [TLSIssuingAuthority]

        /// - Parameters:
        ///   - sans: SAN URIs (containing `:`) and DNS names.
        ///   - issuers: the CAs that may issue the role (empty: any CA the TLS context trusts).
        public init(sans: [String], issuers: [TLSIssuingAuthority] = []) {
            self.sans = sans
            self.issuers = issuers
        }
    }

    /// What a connection's client holds.
    public struct Decision: Sendable, Hashable {
        /// The roles granted.
        public let roles: Set<Role>
        /// Roles a SAN of the client names but whose issuer binding its chain does not meet (for the log).
        public let refusedByIssuer: Set<Role>
    }

    /// Roles every verified client holds.
    public let everyClient: Set<Role>
    /// Roles granted by SAN (and issuer).
    public let grants: [Role: Grant]
    /// The most leaves whose issuer-bound roles are remembered for resumed sessions.
    public static var rememberedLeafLimit: Int { 4096 }
    /// The roles bound to issuing CAs, with their CAs (taken from ``grants`` once, not per request).
    private let issuerBound: [(role: Role, issuers: [TLSIssuingAuthority])]
    private let issued = Mutex(IssuedRoles())

    /// - Parameters:
    ///   - everyClient: roles every verified client holds.
    ///   - grants: roles granted by SAN, with the CAs that may issue them.
    /// - Throws: `TLSError` (`invalidConfiguration`) for an empty SAN entry, one with spaces, or an IP address.
    public init(everyClient: Set<Role>, grants: [Role: Grant]) throws {
        for (role, grant) in grants {
            for entry in grant.sans {
                guard !entry.isEmpty, !entry.contains(where: { $0.isWhitespace }) else {
                    throw TLSError(
                        .invalidConfiguration,
                        "a SAN granting \(role) is a URI or DNS name without spaces; one is empty or has spaces")
                }
                if case .ipAddress = TLSServerName(entry) {
                    throw TLSError(
                        .invalidConfiguration,
                        "\(entry): an IP address cannot grant a role; give the client's SAN URI or DNS name")
                }
            }
        }
        self.everyClient = everyClient
        self.grants = grants
        self.issuerBound = grants.filter { !$0.value.issuers.isEmpty }.map { ($0.key, $0.value.issuers) }
    }

    /// What the client of `connection` holds; nothing without a verified client.
    public func decide(_ connection: TLSConnectionInfo) -> Decision {
        guard let peer = connection.peer else { return Decision(roles: [], refusedByIssuer: []) }
        guard !self.issuerBound.isEmpty else { return self.decide(peer, issued: []) }
        let leaf = peer.certificateChain.first ?? []
        let issued: Set<Role>
        if connection.sessionResumed {
            issued = self.issued.withLock { $0.roles[leaf] } ?? []
        } else {
            issued = self.issuedRoles(of: peer)
            self.issued.withLock { $0.remember(issued, for: leaf) }
        }
        return self.decide(peer, issued: issued)
    }

    /// The roles `peer`, verified with its whole chain, holds (a chain of the leaf alone holds no
    /// issuer-bound role).
    public func roles(of peer: TLSPeerIdentity) -> Set<Role> {
        self.decide(peer, issued: self.issuedRoles(of: peer)).roles
    }

    /// The issuer-bound roles whose CAs `peer`'s verified chain goes through.
    private func issuedRoles(of peer: TLSPeerIdentity) -> Set<Role> {
        Set(self.issuerBound.filter { $0.issuers.contains { $0.issued(peer) } }.map(\.role))
    }

    private func decide(_ peer: TLSPeerIdentity, issued: Set<Role>) -> Decision {
        var roles = self.everyClient
        var refused: Set<Role> = []
        for (role, grant) in self.grants where Self.matches(peer, grant.sans) {
            if grant.issuers.isEmpty || issued.contains(role) {
                roles.insert(role)
            } else {
                refused.insert(role)
            }
        }
        return Decision(roles: roles, refusedByIssuer: refused)
    }

    /// Whether a SAN of `peer` is among `entries` (URIs exactly, DNS names ASCII case-insensitively).
    public static func matches(_ peer: TLSPeerIdentity, _ entries: [String]) -> Bool {
        entries.contains { entry in
            if entry.contains(":") { return peer.uris.contains(entry) }
            let name = asciiLowercased(entry)
            return peer.dnsNames.contains { asciiLowercased($0) == name }
        }
    }

    private static func asciiLowercased(_ text: String) -> String {
        String(decoding: text.utf8.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    /// Issuer-bound roles found by full handshakes, by leaf certificate (DER), bounded.
    private struct IssuedRoles: ~Copyable {
        var roles: [[UInt8]: Set<Role>] = [:]
        var order: [[UInt8]] = []

        mutating func remember(_ issued: Set<Role>, for leaf: [UInt8]) {
            guard !leaf.isEmpty else { return }
            if self.roles.updateValue(issued, forKey: leaf) == nil {
                self.order.append(leaf)
                if self.order.count > TLSRolePolicy.rememberedLeafLimit {
                    self.roles[self.order.removeFirst()] = nil
                }
            }
        }
    }
}
