import Logging
import SaMDHummingbird
import SaMDStore
import Synchronization

/// What every connection and request of one gateway shares: its configuration, store, role policy, logger,
/// counters and the budget of request bodies held in memory.
final class GatewayCore: Sendable {
    let configuration: RecordGatewayConfiguration
    let store: any RecordStore
    let logger: Logger
    /// Who holds which role (one policy for every connection: it remembers, for resumed sessions, what full
    /// handshakes found).
    let roles: TLSRolePolicy<RecordRole>
    let counters = Mutex(RecordGatewayStatistics())
    /// Request body bytes held by all requests now, at most `configuration.maximumBufferedBodyByteCount`.
    private let bufferedBodyBytes = Mutex(0)

    init(
        configuration: RecordGatewayConfiguration, roles: TLSRolePolicy<RecordRole>, store: any RecordStore,
        logger: Logger
    ) {
        self.configuration = configuration
        self.roles = roles
        self.store = store
        self.logger = logger
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

    /// Gives `count` reserved body bytes back.
    func releaseBodyBytes(_ count: Int) {
        self.bufferedBodyBytes.withLock { $0 -= count }
    }
}
