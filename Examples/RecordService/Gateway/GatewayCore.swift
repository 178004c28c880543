import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SaMDExampleSupport
import SaMDKeys
import SaMDStore
import SaMDTLS
import Synchronization

/// What every connection of one gateway shares: its configuration, store, logger and counters.
final class GatewayCore: Sendable {
    let configuration: RecordGatewayConfiguration
    let store: EncryptedRecordStore
    let logger: Logger
    /// Where the store's synchronous calls (SQLite, fsync, key store) run: never on an event loop.
    let threadPool: NIOThreadPool
    let counters = Mutex(RecordGatewayStatistics())
    let stopping = Mutex(false)
    /// Request body bytes held by all connections now, at most `configuration.maximumBufferedBodyByteCount`.
    private let bufferedBodyBytes = Mutex(0)
    /// What the full handshakes found about issuer-bound roles, by leaf certificate, for resumed sessions.
    private let issuedRoles = Mutex(IssuedRolesCache())

    init(
        configuration: RecordGatewayConfiguration, store: EncryptedRecordStore, logger: Logger,
        threadPool: NIOThreadPool
    ) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        self.threadPool = threadPool
    }

    /// Whether `count` more body bytes would fit the shared budget now (nothing is reserved).
    func bodyBytesFit(_ count: Int) -> Bool {
        let limit = self.configuration.maximumBufferedBodyByteCount
        return self.bufferedBodyBytes.withLock { held in count <= limit - held }
    }

    /// Reserves `count` more body bytes of the shared budget; `false` (nothing reserved) when they do not fit.
    func reserveBodyBytes(_ count: Int) -> Bool {
        let limit = self.configuration.maximumBufferedBodyByteCount
        return self.bufferedBodyBytes.withLock { held in
            guard count <= limit - held else { return false }
            held += count
            return true
        }
    }

    /// The roles of a client verified in a handshake. A resumed session's identity is its leaf alone (no
    /// chain is verified again): its issuer-bound roles are what the full handshake that made the session
    /// found for that leaf, remembered here; forgotten (bounded cache), they are not granted — fail closed.
    func roles(of peer: TLSPeerIdentity, resumed: Bool) -> (roles: Set<RecordRole>, refusedByIssuer: [RecordRole]) {
        let configuration = self.configuration
        guard configuration.bindsRolesToIssuers else { return (configuration.roles(of: peer), []) }
        let leaf = peer.certificateChain.first ?? []
        let issued: Set<RecordRole>
        if resumed {
            issued = self.issuedRoles.withLock { $0.roles(for: leaf) } ?? []
        } else {
            issued = configuration.issuedRoles(of: peer)
            self.issuedRoles.withLock { $0.remember(issued, for: leaf) }
        }
        return (
            configuration.roles(of: peer, issuedRoles: issued),
            configuration.rolesRefusedByIssuer(peer, issuedRoles: issued)
        )
    }

    /// Gives `count` reserved body bytes back.
    func releaseBodyBytes(_ count: Int) {
        self.bufferedBodyBytes.withLock { $0 -= count }
    }
}

/// The issuer-bound roles full handshakes found, by leaf certificate (DER), at most ``limit`` leaves (the
/// oldest forgotten first): a resumed session can only come from a full handshake of this process.
struct IssuedRolesCache {
    static let limit = 4096
    private var roles: [[UInt8]: Set<RecordRole>] = [:]
    private var order: [[UInt8]] = []

    func roles(for leaf: [UInt8]) -> Set<RecordRole>? {
        self.roles[leaf]
    }

    mutating func remember(_ issued: Set<RecordRole>, for leaf: [UInt8]) {
        guard !leaf.isEmpty else { return }
        if self.roles.updateValue(issued, forKey: leaf) == nil {
            self.order.append(leaf)
            if self.order.count > Self.limit {
                self.roles[self.order.removeFirst()] = nil
            }
        }
    }
}

/// Sent down each connection's pipeline when the gateway stops: idle connections close now, busy ones after
/// their response.
struct GatewayShutdownEvent: Sendable {}
