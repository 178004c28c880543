import Logging
import NIOCore
import PostgresNIO
import SaMDEnvelope
import SaMDKeys
import Synchronization
import _ConnectionPoolModule

/// The key store's locks as PostgreSQL session-level advisory locks, two-int form (`pg_advisory_lock(classid,
/// objid)`), held on connections leased from the pool for as long as a lock is held.
///
/// A lock is the session's: PostgreSQL releases it when the session ends — a killed process, a closed
/// connection — so no lock outlives its holder. Several locks share a session (a re-key batch holds the store
/// lock and one lock per subject of the batch: one connection each would empty the pool), under two rules:
/// - a session never holds one key for two holders (PostgreSQL's advisory locks are re-entrant within a session:
///   a second holder would be let in);
/// - a session never *waits*: a lock is tried there (`pg_try_advisory_lock…`, which PostgreSQL refuses when it
///   conflicts with a holder or a waiter, so waiting writers keep their turn), and when it is not had, it is
///   waited for on a new session of its own (`pg_advisory_lock…` with `lock_timeout`), which other locks share
///   only once it holds it. So an unlock never queues behind a wait, and PostgreSQL's lock queue orders every wait.
/// A session goes back to the pool when it holds nothing and runs nothing; one whose connection was lost is
/// closed, never returned.
final class AdvisoryLockSessions: Sendable {
    /// The classid of the key store's locks: 0x53414D4B, ASCII `SAMK`.
    static let keyStoreClass: Int32 = 0x5341_4D4B

    /// One leased connection.
    final class Session: Sendable {
        let id: Int
        let lease: ConnectionLease<PostgresConnection>
        var connection: PostgresConnection { self.lease.connection }

        init(id: Int, lease: ConnectionLease<PostgresConnection>) {
            self.id = id
            self.lease = lease
        }
    }

    private struct SessionState {
        let session: Session
        /// Holds and reservations, per objid, in either mode.
        var held: [Int32: Int] = [:]
        /// Statements sent and not yet answered (tries, refreshes, unlocks).
        var statements = 0
        /// A blocking `pg_advisory_lock…` runs: nothing else is sent to this session.
        var waiting = false
        /// The connection was lost or is unusable: its locks are gone; never chosen, closed when done with.
        var lost = false

        var isIdle: Bool { self.held.isEmpty && self.statements == 0 && !self.waiting }
    }

    private struct State {
        var sessions: [Int: SessionState] = [:]
        var nextID = 0
    }

    let pool: PostgresConnectionPool
    let timeout: Duration
    let logger: Logger
    private let state = Mutex(State())
    private let statementCount = Atomic<Int>(0)

    init(pool: PostgresConnectionPool, timeout: Duration, logger: Logger) {
        self.pool = pool
        self.timeout = timeout
        self.logger = logger
    }

    /// Statements sent so far (each one round trip).
    var statements: Int { self.statementCount.load(ordering: .relaxed) }

    /// Takes the lock `objid` in `mode`, waiting at most ``timeout``, then runs `refresh` on its session (what the
    /// lock protects, read from the database after the lock was had); blocks the calling thread.
    /// - Throws: `EnvelopeError.Code.keyUnavailable` when the lock was not had in time, `storeUnavailable` when the
    ///   database cannot be
    ///   reached; what `refresh` throws (the lock is released first).
    func acquire(
        _ objid: Int32, _ mode: KeyStoreLockMode, what: String,
        refresh: @escaping @Sendable (PostgresConnection) async throws -> Void
    ) throws -> AdvisoryLock {
        let deadline = ContinuousClock.now + self.timeout
        if let session = self.reserveOnOpenSession(objid) {
            // Not had there (held elsewhere, or a waiter queued first), or the session failed (it is given up, and
            // closed once its other locks are released): waited for on a session of its own.
            let got = (try? Blocking.wait { try await self.tryLock(objid, mode, on: session) })
            if got == true {
                self.statementEnded(on: session.id, waitEnded: false)
                return try self.finish(objid, mode, on: session, refresh: refresh, what: what)
            }
            self.unreserve(objid, on: session.id, statementEnded: true, lost: got == nil)
        }
        let lease: ConnectionLease<PostgresConnection>
        do {
            lease = try Blocking.wait { try await self.pool.lease() }
        } catch {
            throw self.unavailable(error, what: what)
        }
        let session = self.open(lease, waitingFor: objid)
        do {
            let remaining = max(deadline - ContinuousClock.now, .milliseconds(1))
            try Blocking.wait { try await self.waitForLock(objid, mode, on: session, within: remaining) }
        } catch {
            let timedOut = ["55P03", "57014"].contains(PostgresStoreError(error).sqlState)
            self.unreserve(objid, on: session.id, statementEnded: true, lost: !timedOut, waitEnded: true)
            if timedOut {
                throw EnvelopeError(
                    .keyUnavailable,
                    "\(what) was not had within \(self.timeout): another process or instance holds it; try again")
            }
            throw self.unavailable(error, what: what)
        }
        self.statementEnded(on: session.id, waitEnded: true)
        return try self.finish(objid, mode, on: session, refresh: refresh, what: what)
    }

    /// The lock is had on `session`: runs `refresh` there, and gives the lock to its holder.
    private func finish(
        _ objid: Int32, _ mode: KeyStoreLockMode, on session: Session,
        refresh: @escaping @Sendable (PostgresConnection) async throws -> Void, what: String
    ) throws -> AdvisoryLock {
        let lock = AdvisoryLock(objid: objid, mode: mode, session: session.id, owner: self)
        self.statementStarted(on: session.id)
        do {
            self.statementCount.add(1, ordering: .relaxed)
            try Blocking.wait { try await refresh(session.connection) }
            self.statementEnded(on: session.id, waitEnded: false)
        } catch {
            self.statementEnded(on: session.id, waitEnded: false)
            // `lock` is released as it goes out of scope.
            throw error as? EnvelopeError ?? self.unavailable(error, what: what)
        }
        return lock
    }

    /// Releases a lock (from its holder's `deinit`): the session forgets it at once, and the unlock is sent in a
    /// task; a session left holding nothing goes back to the pool.
    func release(_ objid: Int32, _ mode: KeyStoreLockMode, on sessionID: Int) {
        let session: Session? = self.state.withLock { state in
            guard var entry = state.sessions[sessionID] else { return nil }
            entry.held[objid] = (entry.held[objid] ?? 1) - 1
            if entry.held[objid] == 0 { entry.held[objid] = nil }
            guard !entry.lost else {
                state.sessions[sessionID] = entry
                return nil
            }
            entry.statements += 1
            state.sessions[sessionID] = entry
            return entry.session
        }
        guard let session else {
            self.settle(sessionID)
            return
        }
        Task {
            var failed = false
            do {
                self.statementCount.add(1, ordering: .relaxed)
                let released = try await self.bounded(session) {
                    var result = false
                    for try await value in try await session.connection.query(
                        "SELECT \(unescaped: Self.function(mode, .unlock))(\(Self.keyStoreClass), \(objid))",
                        logger: self.logger
                    ).decode(Bool.self) {
                        result = value
                    }
                    return result
                }
                failed = !released
            } catch {
                failed = true
            }
            if failed {
                self.logger.warning(
                    "a key-store lock was not released cleanly: its PostgreSQL session is closed",
                    metadata: ["event": "samd.postgres.keys-lock-release-failed", "objid": "\(objid)"])
            }
            self.unreserve(nil, on: sessionID, statementEnded: true, lost: failed)
        }
    }

    /// Waits, at most `timeout`, until no statement is in flight on the sessions — the unlocks released locks
    /// send in tasks: before the pool closes, so that they reach the server rather than fail against a pool
    /// that is closing (a rotation's end logged dozens of `keys-lock-release-failed` warnings).
    func settle(timeout: Duration = .seconds(5)) async {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let busy = self.state.withLock { state in state.sessions.values.contains { $0.statements > 0 } }
            guard busy else { return }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    // MARK: Statements

    private enum Use { case lock, tryLock, unlock }

    private static func function(_ mode: KeyStoreLockMode, _ use: Use) -> String {
        let suffix = mode == .shared ? "_shared" : ""
        switch use {
        case .lock: return "pg_advisory_lock" + suffix
        case .tryLock: return "pg_try_advisory_lock" + suffix
        case .unlock: return "pg_advisory_unlock" + suffix
        }
    }

    private func tryLock(_ objid: Int32, _ mode: KeyStoreLockMode, on session: Session) async throws -> Bool {
        self.statementCount.add(1, ordering: .relaxed)
        return try await self.bounded(session) {
            var got = false
            for try await value in try await session.connection.query(
                "SELECT \(unescaped: Self.function(mode, .tryLock))(\(Self.keyStoreClass), \(objid))",
                logger: self.logger
            ).decode(Bool.self) {
                got = value
            }
            return got
        }
    }

    /// `pg_advisory_lock…` with `lock_timeout` (and `statement_timeout` just past it) set for this statement only:
    /// `set_config(…, true)` lasts until the end of the statement's own transaction.
    private func waitForLock(_ objid: Int32, _ mode: KeyStoreLockMode, on session: Session, within: Duration)
        async throws
    {
        self.statementCount.add(1, ordering: .relaxed)
        let milliseconds = PostgresConnectionPool.milliseconds(within)
        try await self.bounded(session, extra: within) {
            try await session.connection.query(
                """
                WITH timeouts AS MATERIALIZED (
                    SELECT set_config('lock_timeout', \(String(milliseconds)), true),
                        set_config('statement_timeout', \(String(milliseconds + 1000)), true))
                SELECT \(unescaped: Self.function(mode, .lock))(\(Self.keyStoreClass), \(objid)) FROM timeouts
                """,
                logger: self.logger
            ).drain()
        }
    }

    /// Runs `body` on `session` within the pool's query timeout (plus `extra`); past it the connection is closed
    /// (its locks go with it).
    private func bounded<T: Sendable>(
        _ session: Session, extra: Duration = .zero, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let connection = session.connection
        return try await PostgresConnector.withDeadline(
            .now() + TimeAmount(self.pool.configuration.queryTimeout + extra),
            onTimeout: { connection.close().whenComplete { _ in } }
        ) { try await body() }
    }

    // MARK: Bookkeeping

    /// An open session that may try `objid` now (not lost, not waiting, not holding it), with `objid` reserved
    /// there and a statement counted.
    private func reserveOnOpenSession(_ objid: Int32) -> Session? {
        self.state.withLock { state in
            guard
                let id = state.sessions.first(where: {
                    !$0.value.lost && !$0.value.waiting && $0.value.held[objid] == nil
                })?
                .key
            else { return nil }
            state.sessions[id]!.held[objid] = 1
            state.sessions[id]!.statements += 1
            return state.sessions[id]!.session
        }
    }

    /// A new session for `lease`, waiting for `objid`.
    private func open(_ lease: ConnectionLease<PostgresConnection>, waitingFor objid: Int32) -> Session {
        let session = self.state.withLock { state in
            state.nextID += 1
            let session = Session(id: state.nextID, lease: lease)
            state.sessions[session.id] = SessionState(
                session: session, held: [objid: 1], statements: 1, waiting: true)
            return session
        }
        lease.connection.closeFuture.whenComplete { _ in self.sessionClosed(session.id) }
        return session
    }

    private func statementStarted(on id: Int) {
        self.state.withLock { $0.sessions[id]?.statements += 1 }
    }

    private func statementEnded(on id: Int, waitEnded: Bool) {
        self.state.withLock { state in
            state.sessions[id]?.statements -= 1
            if waitEnded { state.sessions[id]?.waiting = false }
        }
    }

    /// Undoes a reservation of `objid` (when given) after a statement, marks the session lost if it is, and
    /// returns the session to the pool (or closes it) when nothing is left on it.
    private func unreserve(_ objid: Int32?, on id: Int, statementEnded: Bool, lost: Bool, waitEnded: Bool = false) {
        self.state.withLock { state in
            guard var entry = state.sessions[id] else { return }
            if let objid {
                entry.held[objid] = (entry.held[objid] ?? 1) - 1
                if entry.held[objid] == 0 { entry.held[objid] = nil }
            }
            if statementEnded { entry.statements -= 1 }
            if waitEnded { entry.waiting = false }
            if lost { entry.lost = true }
            state.sessions[id] = entry
        }
        self.settle(id)
    }

    /// The session's connection closed: every lock on it is gone.
    private func sessionClosed(_ id: Int) {
        let held = self.state.withLock { state -> Int in
            guard state.sessions[id] != nil else { return 0 }
            state.sessions[id]!.lost = true
            return state.sessions[id]!.held.values.reduce(0, +)
        }
        if held > 0 {
            self.logger.warning(
                "a PostgreSQL session holding key-store locks was lost: PostgreSQL released its locks",
                metadata: ["event": "samd.postgres.keys-lock-session-lost", "locks": "\(held)"])
        }
        self.settle(id)
    }

    /// Returns an idle session to the pool, or closes a lost one once nothing is left on it.
    private func settle(_ id: Int) {
        let done: SessionState? = self.state.withLock { state in
            guard let entry = state.sessions[id], entry.isIdle else { return nil }
            state.sessions[id] = nil
            return entry
        }
        guard let done else { return }
        if done.lost {
            // A session whose state is not known must not go back to the pool holding a lock: closed, and handed
            // back once closed (the pool then forgets it).
            let lease = done.session.lease
            done.session.connection.close().whenComplete { _ in lease.release() }
        } else {
            done.session.lease.release()
        }
    }

    private func unavailable(_ error: any Error, what: String) -> EnvelopeError {
        PostgresKeyPersistence.envelopeError(error, doing: "take \(what)", location: self.pool.location.description)
    }
}

/// A key-store lock held as a PostgreSQL advisory lock; released when this object is.
final class AdvisoryLock: KeyStoreLock {
    let objid: Int32
    let mode: KeyStoreLockMode
    let session: Int
    let owner: AdvisoryLockSessions

    init(objid: Int32, mode: KeyStoreLockMode, session: Int, owner: AdvisoryLockSessions) {
        self.objid = objid
        self.mode = mode
        self.session = session
        self.owner = owner
    }

    deinit {
        self.owner.release(self.objid, self.mode, on: self.session)
    }
}
