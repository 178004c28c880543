import Synchronization

/// The open connections of one ``TLSContext`` whose peers a ``TLSPeerRevalidationHandler`` watches, with the
/// chain each peer was verified with; after ``TLSContext/reload()`` each is verified again under the new
/// trust state.
final class TLSOpenConnections: Sendable {
    /// One watched connection: its verified chain and how to tell it that its peer no longer verifies.
    struct Entry: Sendable {
        let chain: [[UInt8]]
        /// Called (on any thread) with the refusal; the handler hops to its event loop.
        let invalidate: @Sendable (TLSError) -> Void
    }

    private struct State {
        var nextID: UInt64 = 0
        var entries: [UInt64: Entry] = [:]
    }

    private let state = Mutex(State())

    /// Watches a connection until ``remove(_:)``; returns its registration number.
    func add(_ entry: Entry) -> UInt64 {
        self.state.withLock { state in
            state.nextID += 1
            state.entries[state.nextID] = entry
            return state.nextID
        }
    }

    func remove(_ id: UInt64) {
        _ = self.state.withLock { $0.entries.removeValue(forKey: id) }
    }

    /// How many connections are watched now.
    var count: Int {
        self.state.withLock { $0.entries.count }
    }

    /// Verifies every watched peer's chain again under `box` (the context just swapped in) and tells each one
    /// that no longer verifies. Runs on the caller's thread; returns how many were told.
    @discardableResult
    func revalidate(under box: SSLContextBox) -> Int {
        let entries = self.state.withLock { Array($0.entries.values) }
        var refused = 0
        for entry in entries {
            if case .failure(let error) = box.reverify(chain: entry.chain) {
                refused += 1
                entry.invalidate(error)
            }
        }
        return refused
    }
}
