public import SaMDCrypto
public import SaMDEnvelope
import Synchronization

/// A bounded cache of unwrapped subject keys, so that sealing and opening a patient's records does not unwrap
/// the subject key (a token call with PKCS#11 custody, file reads and the key store's locks with any custody)
/// for every record.
///
/// The lesson of the AWS Encryption SDK's hierarchical keyring: an entry lives at most ``Policy/timeToLive``
/// and serves at most ``Policy/maximumUses`` times, so a key taken from memory by an attacker, or left stale by
/// a change made in another process, has a bounded reach. At most ``Policy/capacity`` sealing and as many
/// opening entries are held; when either table is full, expired entries go, then the oldest, down to three
/// quarters of the capacity. An entry's material is `SecureBytes` (guarded memory, zeroed when its last copy is
/// released): evicting, expiring or removing an entry releases the cache's copy. The key store empties the
/// cache for a subject when it shreds or re-keys it, and empties it all when a KEK is rotated, retired,
/// destroyed or marked compromised.
///
/// Each entry carries the caller's ``Validity`` (for the directory store: the identity of the subject key's
/// file), checked at every use: a change the cache was not told about (another process shredded the subject)
/// makes the entry a miss.
public final class SubjectKeyCache: Sendable {
    /// The cache's bounds.
    public struct Policy: Sendable, Equatable {
        /// The most entries held (each ≈ 100 bytes of bookkeeping and one page of guarded memory shared with
        /// other keys); at least 1.
        public var capacity: Int
        /// How long an entry serves after it was unwrapped.
        public var timeToLive: Duration
        /// How many times an entry serves before it is unwrapped again; at least 1.
        public var maximumUses: Int

        /// 1 000 subjects, 5 minutes, 100 000 uses: at a gateway's busiest, a subject key is unwrapped about
        /// once per subject every five minutes.
        public static let `default` = Policy(capacity: 1_000, timeToLive: .seconds(300), maximumUses: 100_000)
        /// No caching: every use unwraps.
        public static let disabled = Policy(capacity: 0, timeToLive: .zero, maximumUses: 0)

        public init(capacity: Int, timeToLive: Duration, maximumUses: Int) {
            self.capacity = max(0, capacity)
            self.timeToLive = max(.zero, timeToLive)
            self.maximumUses = max(0, maximumUses)
        }

        var isEnabled: Bool { self.capacity > 0 && self.timeToLive > .zero && self.maximumUses > 0 }
    }

    /// What makes an entry still true: compared for equality at every use (e.g. a file's inode, size and
    /// modification time).
    public typealias Validity = [UInt64]

    /// Counts since the cache was made, for benchmarks and metrics.
    public struct Statistics: Sendable, Equatable {
        /// Uses served from the cache.
        public var hits = 0
        /// Uses that found no live entry.
        public var misses = 0
        /// Entries dropped: expired, used up, invalid, evicted for room, or removed.
        public var evictions = 0
    }

    private struct Entry {
        var identifier: KeyIdentifier
        var material: SecureBytes
        var validity: Validity
        var expires: ContinuousClock.Instant
        var usesLeft: Int
        var sequence: UInt64
    }

    private struct State {
        /// Keyed by subject key name: the version that seals.
        var sealing: [String: Entry] = [:]
        /// Keyed by exact version: the versions that open.
        var opening: [KeyIdentifier: Entry] = [:]
        var nextSequence: UInt64 = 0
        var statistics = Statistics()
    }

    /// The bounds this cache keeps.
    public let policy: Policy
    private let state = Mutex(State())
    private let clock: @Sendable () -> ContinuousClock.Instant

    /// - Parameters:
    ///   - policy: the bounds; ``Policy/default`` unless measured otherwise.
    ///   - clock: the monotonic clock, for tests.
    public init(policy: Policy = .default, clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.policy = policy
        self.clock = clock
    }

    /// The cached sealing key of the subject key `name` when its entry is live and `validity` matches; counts a
    /// use.
    public func sealingKey(forSubjectKeyNamed name: String, validity: Validity) -> SealingKey? {
        self.state.withLock { state in
            Self.use(&state.sealing, name, validity: validity, now: self.clock(), statistics: &state.statistics)
                .map { .keyEncryptionKey($0.identifier, $0.material) }
        }
    }

    /// The cached material of the subject key version `identifier` when its entry is live and `validity`
    /// matches; counts a use.
    public func openingKey(for identifier: KeyIdentifier, validity: Validity) -> SecureBytes? {
        self.state.withLock { state in
            Self.use(&state.opening, identifier, validity: validity, now: self.clock(), statistics: &state.statistics)
                .map(\.material)
        }
    }

    /// Whether `identifier` is the cached sealing version of its subject key, live and with `validity`; counts no
    /// use (for the check before a sealed record is made durable).
    public func isSealingKey(_ identifier: KeyIdentifier, validity: Validity) -> Bool {
        self.state.withLock { state in
            guard let entry = state.sealing[identifier.name] else { return false }
            return entry.identifier == identifier && entry.validity == validity && entry.expires > self.clock()
        }
    }

    /// Keeps `material` as the sealing version `identifier` of the subject key `name` (also as an opening key).
    public func insertSealingKey(_ identifier: KeyIdentifier, _ material: SecureBytes, validity: Validity) {
        guard self.policy.isEnabled else { return }
        self.state.withLock { state in
            let entry = self.entry(identifier, material, validity, &state)
            state.sealing[identifier.name] = entry
            state.opening[identifier] = entry
            self.evictForRoom(&state)
        }
    }

    /// Keeps `material` as the subject key version `identifier`, for opening.
    public func insertOpeningKey(_ identifier: KeyIdentifier, _ material: SecureBytes, validity: Validity) {
        guard self.policy.isEnabled else { return }
        self.state.withLock { state in
            state.opening[identifier] = self.entry(identifier, material, validity, &state)
            self.evictForRoom(&state)
        }
    }

    /// Drops every entry of the subject key `name` (shredded, re-keyed, rewrapped).
    public func removeSubjectKey(named name: String) {
        self.state.withLock { state in
            let before = state.sealing.count + state.opening.count
            state.sealing[name] = nil
            state.opening = state.opening.filter { $0.key.name != name }
            state.statistics.evictions += before - state.sealing.count - state.opening.count
        }
    }

    /// Drops every entry (a KEK rotated, retired, destroyed or compromised; the store closed).
    public func removeAll() {
        self.state.withLock { state in
            state.statistics.evictions += state.sealing.count + state.opening.count
            state.sealing = [:]
            state.opening = [:]
        }
    }

    /// The entries held now: sealing keys plus opening keys (a sealing key counts in both).
    public var count: Int { self.state.withLock { $0.sealing.count + $0.opening.count } }

    /// Hits, misses and evictions so far.
    public var statistics: Statistics { self.state.withLock { $0.statistics } }

    // MARK: Internals

    private func entry(_ identifier: KeyIdentifier, _ material: SecureBytes, _ validity: Validity, _ state: inout State)
        -> Entry
    {
        state.nextSequence += 1
        return Entry(
            identifier: identifier, material: material, validity: validity,
            expires: self.clock().advanced(by: self.policy.timeToLive), usesLeft: self.policy.maximumUses,
            sequence: state.nextSequence)
    }

    private static func use<Key: Hashable>(
        _ entries: inout [Key: Entry], _ key: Key, validity: Validity, now: ContinuousClock.Instant,
        statistics: inout Statistics
    ) -> Entry? {
        guard var entry = entries[key] else {
            statistics.misses += 1
            return nil
        }
        guard entry.expires > now, entry.usesLeft > 0, entry.validity == validity else {
            entries[key] = nil
            statistics.misses += 1
            statistics.evictions += 1
            return nil
        }
        entry.usesLeft -= 1
        entries[key] = entry.usesLeft > 0 ? entry : nil
        if entry.usesLeft == 0 { statistics.evictions += 1 }
        statistics.hits += 1
        return entry
    }

    /// Drops expired entries, then the oldest, until both tables are within the capacity.
    private func evictForRoom(_ state: inout State) {
        guard state.sealing.count > self.policy.capacity || state.opening.count > self.policy.capacity else { return }
        let now = self.clock()
        let before = state.sealing.count + state.opening.count
        state.sealing = state.sealing.filter { $0.value.expires > now }
        state.opening = state.opening.filter { $0.value.expires > now }
        // Down to three quarters of the capacity, so a full cache sorts once per capacity/4 insertions, not at
        // every one.
        let target = max(1, self.policy.capacity - self.policy.capacity / 4)
        if state.sealing.count > self.policy.capacity {
            let keep = state.sealing.sorted { $0.value.sequence > $1.value.sequence }.prefix(target)
            state.sealing = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
        }
        if state.opening.count > self.policy.capacity {
            let keep = state.opening.sorted { $0.value.sequence > $1.value.sequence }.prefix(target)
            state.opening = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
        }
        state.statistics.evictions += before - state.sealing.count - state.opening.count
    }
}
