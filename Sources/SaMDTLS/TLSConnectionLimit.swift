public import Logging
public import NIOCore
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A bound on the number of connections a server holds open at once, so that it never runs out of file
/// descriptors: past the process's `RLIMIT_NOFILE`, `accept` fails (`EMFILE`) for every waiting connection
/// and nothing else the process needs (a database file, a CRL, a log) can be opened either.
///
/// A server asks ``admit(_:)`` for each accepted connection before anything else is done with it; a
/// connection over the bound is closed at once (the client sees its TCP connection closed before any TLS)
/// and counted. Refusals are logged at most once per ``logInterval`` (`samd.tls.connections-refused`, with
/// the number refused since the previous such event), never once per connection.
public final class TLSConnectionLimit: Sendable {
    /// The most connections open at once.
    public let maximumConnections: Int
    /// The shortest time between two `samd.tls.connections-refused` events.
    public let logInterval: Duration
    private let logger: Logger

    private struct State {
        var open = 0
        var refusedSinceEvent = 0
        var lastEvent: ContinuousClock.Instant?
        var acceptFailuresSinceEvent = 0
        var lastAcceptEvent: ContinuousClock.Instant?
    }

    private let state = Mutex(State())

    /// - Parameters:
    ///   - maximumConnections: at least 1.
    ///   - logger: where the `samd.tls.connections-refused` events go.
    ///   - logInterval: the shortest time between two such events (default 10 seconds).
    public init(maximumConnections: Int, logger: Logger, logInterval: Duration = .seconds(10)) {
        self.maximumConnections = max(maximumConnections, 1)
        self.logger = logger
        self.logInterval = logInterval
    }

    /// A bound whose events go to `context`'s logger, with the other `samd.tls.*` events.
    public convenience init(maximumConnections: Int, context: TLSContext, logInterval: Duration = .seconds(10)) {
        self.init(maximumConnections: maximumConnections, logger: context.logger, logInterval: logInterval)
    }

    /// Descriptors kept free, beyond those already open, for what a server opens while it serves (database
    /// and journal files, key and CRL files on reload, log files, sockets it connects): 32, plus a tenth of
    /// the limit.
    public static func reservedDescriptors(limit: Int) -> Int {
        32 + limit / 10
    }

    /// The default bound: this process's soft `RLIMIT_NOFILE`, less the descriptors open now (counted in
    /// `/proc/self/fd`; 0 where there is none), less ``reservedDescriptors(limit:)``; at least 1. An unlimited
    /// limit counts as 1 048 576. Call it once everything the server keeps open (listening socket aside) is
    /// open.
    public static func defaultMaximumConnections() -> Int {
        var limit = rlimit()
        #if canImport(Glibc)
            let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
            let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return 1024 }
        let soft = limit.rlim_cur == rlim_t.max ? 1 << 20 : Int(clamping: limit.rlim_cur)
        let open = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.count ?? 1) - 1
        return max(soft - max(open, 0) - Self.reservedDescriptors(limit: soft), 1)
    }

    /// A ``TLSAcceptBackoffHandler`` for a listening channel whose failures are logged at most once per
    /// ``logInterval`` (`samd.tls.accept-failed`, with the number of failures since the previous event).
    public func makeAcceptBackoffHandler(delay: Duration = .seconds(1)) -> TLSAcceptBackoffHandler {
        TLSAcceptBackoffHandler(delay: delay) { error in
            if let count = self.note(\.acceptFailuresSinceEvent, at: ContinuousClock.now, lastEvent: \.lastAcceptEvent)
            {
                TLSEvents.acceptFailed(
                    self.logger, failures: count, error: "\(error.description)", interval: self.logInterval)
            }
        }
    }

    /// The connections open now (admitted and not yet closed).
    public var openConnections: Int {
        self.state.withLock { $0.open }
    }

    /// Counts `channel` until it closes and returns `true`, or — at the bound — returns `false` and counts a
    /// refusal (the caller closes the channel).
    public func admit(_ channel: any Channel) -> Bool {
        let admitted = self.state.withLock { state in
            guard state.open < self.maximumConnections else { return false }
            state.open += 1
            return true
        }
        guard admitted else {
            if let refused = self.note(\.refusedSinceEvent, at: ContinuousClock.now, lastEvent: \.lastEvent) {
                TLSEvents.connectionsRefused(
                    self.logger,
                    refused: refused,
                    maximumConnections: self.maximumConnections,
                    interval: self.logInterval
                )
            }
            return false
        }
        channel.closeFuture.whenComplete { _ in
            self.state.withLock { $0.open -= 1 }
        }
        return true
    }

    /// Counts one occurrence in `counter`; returns the count to log (and starts a new interval) when the last
    /// event of this kind is at least ``logInterval`` old, `nil` otherwise.
    private func note(
        _ counter: WritableKeyPath<State, Int>,
        at now: ContinuousClock.Instant,
        lastEvent: WritableKeyPath<State, ContinuousClock.Instant?>
    ) -> Int? {
        self.state.withLock { state in
            state[keyPath: counter] += 1
            if let last = state[keyPath: lastEvent], now - last < self.logInterval { return nil }
            defer {
                state[keyPath: counter] = 0
                state[keyPath: lastEvent] = now
            }
            return state[keyPath: counter]
        }
    }
}
