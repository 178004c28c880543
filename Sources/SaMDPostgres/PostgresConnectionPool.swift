import Foundation
public import Logging
import NIOCore
public import PostgresNIO
import Synchronization
import _ConnectionPoolModule

/// A bounded pool of PostgreSQL connections over SaMDTLS (``PostgresConnector``), on postgres-nio's connection
/// pool (`_ConnectionPoolModule`, the one `PostgresClient` uses: request queue, back-off while the server is
/// down, idle timeout, keep-alive). Shared by the record store, the key persistence and the jobs of one process.
///
/// Bounds and deadlines (``Configuration``): at most ``Configuration/maximumConnections`` connections; a caller
/// waits at most ``Configuration/leaseTimeout`` for one (then ``PostgresStoreError/Code/unavailable``, with the
/// last connection attempt's cause); every
/// statement is bounded on the server (`statement_timeout`, `lock_timeout`,
/// `idle_in_transaction_session_timeout`, sent at startup) and on the client (``Configuration/queryTimeout``:
/// past it the connection is closed — a server that stopped answering cannot hold a caller). While the server
/// is down (or refuses this client), callers fail after ``Configuration/unavailableAfter`` and the pool keeps
/// trying to connect, with back-off; it serves again as soon as the server is back, without a restart.
///
/// Runs a background task from ``init(connector:configuration:logger:)`` until ``close()``.
public final class PostgresConnectionPool: Sendable {
    /// The pool's bounds.
    public struct Configuration: Sendable {
        /// The most connections open at once (16 by default; 1…1000).
        public var maximumConnections: Int
        /// How long a caller waits for a connection (5 s by default).
        public var leaseTimeout: Duration
        /// How long one use of a connection may take on the client's clock before the connection is closed
        /// (60 s by default).
        public var queryTimeout: Duration
        /// `statement_timeout` on the server: one statement's longest run (30 s by default).
        public var statementTimeout: Duration
        /// `lock_timeout` on the server: the longest wait for a row or advisory lock (5 s by default).
        public var lockTimeout: Duration
        /// A connection unused this long is closed (60 s by default).
        public var idleTimeout: Duration
        /// How often an idle connection is checked with `SELECT 1` (30 s by default).
        public var keepAliveInterval: Duration
        /// How long connection attempts may keep failing before the callers waiting for a connection fail at
        /// once, and so do new ones until an attempt succeeds (1 s by default; never more than the lease
        /// timeout): while the server is down, or refuses this client's certificate or password, callers learn
        /// it in about this time, with the cause, rather than at their lease timeout.
        public var unavailableAfter: Duration

        public init(
            maximumConnections: Int = 16,
            leaseTimeout: Duration = .seconds(5),
            queryTimeout: Duration = .seconds(60),
            statementTimeout: Duration = .seconds(30),
            lockTimeout: Duration = .seconds(5),
            idleTimeout: Duration = .seconds(60),
            keepAliveInterval: Duration = .seconds(30),
            unavailableAfter: Duration = .seconds(1)
        ) {
            self.maximumConnections = maximumConnections
            self.leaseTimeout = leaseTimeout
            self.queryTimeout = queryTimeout
            self.statementTimeout = statementTimeout
            self.lockTimeout = lockTimeout
            self.idleTimeout = idleTimeout
            self.keepAliveInterval = keepAliveInterval
            self.unavailableAfter = unavailableAfter
        }
    }

    typealias Pool = ConnectionPool<
        PostgresConnection, PostgresConnection.ID, ConnectionIDGenerator, ConnectionRequest<PostgresConnection>,
        ConnectionRequest<PostgresConnection>.ID, KeepAlive, NoOpConnectionPoolMetrics<PostgresConnection.ID>,
        ContinuousClock
    >

    /// The server, role and database.
    public let location: PostgresLocation
    public let configuration: Configuration
    let connector: PostgresConnector
    let logger: Logger
    private let pool: Pool
    private let runner: Task<Void, Never>
    /// The last connection attempt's failure, cleared by a success: what a caller that got no connection is told.
    private let lastConnectError: LastConnectError

    /// Starts a pool (no connection is made until one is asked for).
    /// - Parameters:
    ///   - connector: how connections are made (with the server-side timeouts of `configuration` added to its
    ///     startup parameters).
    ///   - configuration: bounds and deadlines.
    ///   - logger: where the pool's events go (connections failing, the server back).
    /// - Throws: ``PostgresStoreError/Code/invalidLocation`` for bounds out of range.
    public init(
        connector: PostgresConnector, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "samdkit.postgres")
    ) throws {
        guard (1...1000).contains(configuration.maximumConnections) else {
            throw PostgresStoreError(.invalidLocation, "a PostgreSQL pool holds 1 to 1000 connections")
        }
        for (name, value) in [
            ("lease timeout", configuration.leaseTimeout), ("query timeout", configuration.queryTimeout),
            ("statement timeout", configuration.statementTimeout), ("lock timeout", configuration.lockTimeout),
            ("idle timeout", configuration.idleTimeout), ("keep-alive interval", configuration.keepAliveInterval),
            ("unavailable-after time", configuration.unavailableAfter),
        ] where value <= .zero {
            throw PostgresStoreError(.invalidLocation, "the PostgreSQL pool's \(name) must be positive")
        }
        let milliseconds = { (duration: Duration) in "\(Self.milliseconds(duration))" }
        let sessionConnector = PostgresConnector(
            copying: connector,
            startupParameters: [
                ("statement_timeout", milliseconds(configuration.statementTimeout)),
                ("lock_timeout", milliseconds(configuration.lockTimeout)),
                ("idle_in_transaction_session_timeout", milliseconds(configuration.queryTimeout)),
            ])
        var poolConfiguration = ConnectionPoolConfiguration()
        poolConfiguration.minimumConnectionCount = 0
        poolConfiguration.maximumConnectionSoftLimit = configuration.maximumConnections
        poolConfiguration.maximumConnectionHardLimit = configuration.maximumConnections
        poolConfiguration.idleTimeout = configuration.idleTimeout
        // Attempts failing this long trip the pool's circuit breaker: waiting and new callers fail at once until a
        // connection succeeds again (the pool keeps trying, with back-off).
        poolConfiguration.circuitBreakerTripAfter = min(configuration.unavailableAfter, configuration.leaseTimeout)
        let location = connector.location
        let poolLogger = logger
        let lastConnectError = LastConnectError()
        self.lastConnectError = lastConnectError
        self.pool = Pool(
            configuration: poolConfiguration,
            idGenerator: ConnectionIDGenerator(),
            requestType: ConnectionRequest<PostgresConnection>.self,
            keepAliveBehavior: KeepAlive(interval: configuration.keepAliveInterval, logger: logger),
            observabilityDelegate: NoOpConnectionPoolMetrics(connectionIDType: PostgresConnection.ID.self),
            clock: ContinuousClock()
        ) { id, _ in
            do {
                let connection = try await sessionConnector.connect(id: id)
                lastConnectError.value.withLock { $0 = nil }
                return ConnectionAndMetadata(connection: connection, maximalStreamsOnConnection: 1)
            } catch let error as PostgresStoreError {
                lastConnectError.value.withLock { $0 = error }
                poolLogger.warning(
                    "cannot connect to PostgreSQL",
                    metadata: [
                        "event": "samd.postgres.connect-failed", "location": "\(location)", "code": "\(error.code)",
                        "reason": "\(error.reason)",
                    ])
                throw error
            }
        }
        let pool = self.pool
        self.runner = Task { await pool.run() }
        self.location = location
        self.configuration = configuration
        self.connector = sessionConnector
        self.logger = logger
    }

    /// Runs `body` with a connection of the pool, returned to the pool afterwards (closed if `body` ran past
    /// ``Configuration/queryTimeout``).
    /// - Throws: ``PostgresStoreError/Code/unavailable`` when no connection could be had within the lease
    ///   timeout, the connection was lost, or the deadline passed; PostgreSQL's and the connection's errors
    ///   that `body` throws as ``PostgresStoreError`` (``PostgresStoreError/init(_:)``); an error of any other
    ///   type that `body` throws (the caller's own: a row it refused) as it is.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T)
        async throws -> T
    {
        let lease = try await self.lease()
        defer { lease.release() }
        let connection = lease.connection
        do {
            return try await PostgresConnector.withDeadline(
                .now() + TimeAmount(self.configuration.queryTimeout), onTimeout: { connection.close() }
            ) { try await body(connection) }
        } catch let error as PostgresStoreError {
            throw error
        } catch let error as PSQLError {
            throw PostgresStoreError(error)
        } catch let error as PostgresDecodingError {
            throw PostgresStoreError(error)
        } catch let error as ChannelError {
            throw PostgresStoreError(error)
        } catch let error as IOError {
            throw PostgresStoreError(error)
        } catch {
            // The body's own error (a row the caller refused, a key store's): rethrown as it is. Wrapped, a
            // record too large to re-key became "unavailable" and stopped the re-key of every subject.
            throw error
        }
    }

    /// A connection of the pool, held until the lease is released: for a session that outlives one call (the key
    /// store's advisory locks, ``PostgresKeyPersistence``). The holder bounds its own statements, and closes the
    /// connection before releasing it when the session may hold anything that must not go back to the pool.
    /// - Throws: ``PostgresStoreError/Code/unavailable`` when no connection could be had within the lease timeout
    ///   (or attempts kept failing for ``Configuration/unavailableAfter``); `tlsRefused` or `authenticationFailed`
    ///   when the last attempt was refused so.
    func lease() async throws -> ConnectionLease<PostgresConnection> {
        let deadline = ContinuousClock.now + self.configuration.leaseTimeout
        // A lease granted just as the wait runs out is released, never dropped: a dropped lease is a connection
        // the pool counts as leased for ever.
        let handoff = LeaseHandoff()
        var failure: (any Error)?
        do {
            let lease = try await withThrowingTaskGroup(
                of: ConnectionLease<PostgresConnection>?.self, returning: ConnectionLease<PostgresConnection>?.self
            ) { group in
                group.addTask {
                    let lease = try await self.pool.leaseConnection()
                    guard handoff.claim() else {
                        lease.release()
                        return nil
                    }
                    return lease
                }
                group.addTask {
                    try? await Task.sleep(until: deadline)
                    return nil
                }
                defer { group.cancelAll() }
                while let result = try await group.next() {
                    if let result { return result }
                    // The wait ran out, unless the lease was claimed first: then it is on its way.
                    if handoff.abandon() { return nil }
                }
                return nil
            }
            if let lease { return lease }
        } catch {
            failure = error
        }
        // The last attempt's cause (a refused certificate, a wrong password, the server down) tells the operator
        // more than the wait; a refused certificate or login is that error itself: a configuration to fix, not a
        // server to wait for.
        let last = self.lastConnectError.value.withLock { $0 }
        if let last, last.code == .tlsRefused || last.code == .authenticationFailed {
            throw last
        }
        let cause =
            last.map { "\($0.code): \($0.reason)" } ?? failure.map { "\($0)" }
            ?? "every connection is busy for \(self.configuration.leaseTimeout)"
        throw PostgresStoreError(.unavailable, "no connection to \(self.location): \(cause)")
    }

    /// ``withConnection(_:)`` from synchronous code: blocks the calling thread until `body` finished. For the
    /// key store and the jobs, whose interfaces are synchronous; never call it on an event loop or in Swift's
    /// cooperative pool (it would hold one of their threads).
    public func blockingWithConnection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) throws -> T {
        try Blocking.wait { try await self.withConnection(body) }
    }

    /// `duration` in whole milliseconds, at least 1: PostgreSQL's unit for `statement_timeout` and `lock_timeout`
    /// (0 would mean no limit).
    static func milliseconds(_ duration: Duration) -> Int64 {
        max(1, duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    /// Closes every connection and stops the pool; waiting callers fail. Waits until the pool has stopped.
    public func close() async {
        self.runner.cancel()
        await self.runner.value
    }
}

/// Who gets a lease granted around the deadline: the waiting caller (``claim()`` first) or no one (``abandon()``
/// first: the leasing task releases it).
private final class LeaseHandoff: Sendable {
    private let state = Atomic<Int>(0) // 0 open, 1 claimed, 2 abandoned

    func claim() -> Bool {
        self.state.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged
    }

    func abandon() -> Bool {
        self.state.compareExchange(expected: 0, desired: 2, ordering: .acquiringAndReleasing).exchanged
    }
}

extension PostgresConnectionPool {
    /// The SaMDKit components whose tables this database holds, with their schema versions: `records`
    /// (``PostgresRecordStore``) and `keys` (``PostgresKeyPersistence``); empty for a database SaMDKit never
    /// used. Nothing is created — what a command that must not create a store (a key rotation) checks first.
    /// - Throws: ``PostgresStoreError`` — `unavailable`, `tlsRefused`, `authenticationFailed`, `query`.
    public func installedComponents() async throws -> [String: Int] {
        do {
            return try await self.withConnection { connection in
                try await PostgresSchema.installedVersions(on: connection, logger: self.logger)
            }
        } catch {
            throw PostgresStoreError(error)
        }
    }
}

/// The last connection attempt's failure, shared with the pool's connection factory.
private final class LastConnectError: Sendable {
    let value = Mutex<PostgresStoreError?>(nil)
}

/// Synchronous callers (the key store, the jobs, the example commands' main threads) waiting for asynchronous work.
package enum Blocking {
    /// Runs `body` in a task and blocks the calling thread until it finished (never call it on an event loop;
    /// `body` carries its own deadlines). The task runs on ``BlockingBridgeExecutor``'s threads, not Swift's
    /// cooperative pool: a caller that blocks a cooperative thread (a synchronous key-store call from async
    /// code, a job started in a task) cannot starve the task it waits for. The task releases `body` (and what it
    /// captured) before the caller wakes (``HandOver``).
    package static func wait<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let work = HandOver(body)
        Task(executorPreference: BlockingBridgeExecutor.shared) {
            do {
                box.result = .success(try await work.take()())
            } catch {
                box.result = .failure(error)
            }
            done.signal()
        }
        done.wait()
        return try box.result!.get()
    }
}

/// Work handed to another thread or task, taken once and released there before it reports back: what the work
/// captured (a store, a token's sessions) is then never released on that thread after the waiting caller went
/// on — a command that returned and exited while a token session pool was released on another thread crashed
/// in the token's teardown.
///
/// `@unchecked Sendable`: `work` is written at creation and taken under `lock`.
package final class HandOver<Work>: @unchecked Sendable {
    private let lock = NSLock()
    private var work: Work?

    package init(_ work: Work) {
        self.work = work
    }

    /// The work; it is no longer held here. A second call is a programming error.
    package func take() -> Work {
        self.lock.withLock {
            defer { self.work = nil }
            guard let work = self.work else { preconditionFailure("HandOver.take() called twice") }
            return work
        }
    }
}

/// The executor of the tasks that synchronous callers wait for (``Blocking/wait(_:)``): a concurrent Dispatch
/// queue, whose threads are Dispatch's own (it adds threads when they block), never the cooperative pool's fixed
/// few.
final class BlockingBridgeExecutor: TaskExecutor {
    static let shared = BlockingBridgeExecutor()
    private let queue = DispatchQueue(label: "samdkit.postgres.blocking", attributes: .concurrent)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// A result handed from a task to the thread that waits for it (written once, before the semaphore signals).
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// `SELECT 1` on an idle connection every `interval`: a connection the server or the network dropped is found
/// and replaced before a caller gets it.
struct KeepAlive: ConnectionKeepAliveBehavior {
    let interval: Duration
    let logger: Logger

    var keepAliveFrequency: Duration? { self.interval }

    func runKeepAlive(for connection: PostgresConnection) async throws {
        _ = try await connection.query("SELECT 1", logger: self.logger).get()
    }
}

extension PostgresConnector {
    /// A copy with `startupParameters` added.
    init(copying other: PostgresConnector, startupParameters: [(String, String)]) {
        self.location = other.location
        self.credentials = other.credentials
        self.tlsContext = other.tlsContext
        self.startupParameters = other.startupParameters + startupParameters
        self.group = other.group
        self.logger = other.logger
    }
}

extension PostgresStoreError {
    /// PostgreSQL's and the network's errors as the store's: connection lost, server shutting down or out of
    /// resources → ``Code/unavailable``; any other server error → ``Code/query`` with its SQLSTATE
    /// (``sqlState``). A ``PostgresStoreError`` stays as it is.
    public init(_ error: any Error) {
        if let error = error as? PostgresStoreError {
            self = error
            return
        }
        guard let error = error as? PSQLError else {
            self = PostgresStoreError(.unavailable, "PostgreSQL: \(error)")
            return
        }
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState] ?? "?????"
            // 08 connection exception, 53 insufficient resources, 57P admin shutdown / cannot connect now,
            // 58 system error (I/O).
            if state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57P") || state.hasPrefix("58") {
                self = PostgresStoreError(
                    .unavailable, "PostgreSQL is not available (SQLSTATE \(state))", sqlState: state)
            } else {
                self = PostgresStoreError(
                    .query, "PostgreSQL refused a statement (SQLSTATE \(state))", sqlState: state)
            }
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
            .queryCancelled:
            self = PostgresStoreError(.unavailable, "the connection to PostgreSQL was lost (\(error.code))")
        default:
            self = PostgresStoreError(.query, "PostgreSQL: \(error.code)")
        }
    }
}
