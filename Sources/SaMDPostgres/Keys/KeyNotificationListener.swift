import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The connection that keeps a ``KeyGenerationMirror`` current: one of its own (made with the pool's connector,
/// never leased from the pool), which runs `LISTEN samd_keys` and applies every notification to the mirror.
///
/// While it listens, the mirror is trusted; when the connection is lost (the server restarted, the backend was
/// terminated, the network failed) the mirror is emptied and not trusted until the listener listens again. It
/// connects again with back-off (0.1 s, doubling, at most ``maximumBackoff``). A connection that fails silently is
/// found by a heartbeat: `LISTEN samd_keys` again (a no-op for the server) every ``heartbeatInterval``, which
/// must answer within ``heartbeatTimeout`` or the connection is closed — so the mirror is never trusted longer
/// than that after notifications stopped arriving.
final class KeyNotificationListener: Sendable {
    /// The longest wait between two connection attempts.
    static let maximumBackoff = Duration.seconds(5)
    static let minimumBackoff = Duration.milliseconds(100)
    /// How often the listening connection is checked.
    static let heartbeatInterval = Duration.seconds(5)
    /// How long the check may take.
    static let heartbeatTimeout = Duration.seconds(5)

    private let task: Task<Void, Never>
    /// The first outcome: listening (`true`) or failed (`false`).
    private let firstOutcome: AsyncStream<Bool>
    private let counter: Counter

    /// Starts listening in the background.
    init(connector: PostgresConnector, mirror: KeyGenerationMirror, logger: Logger) {
        let (outcomes, continuation) = AsyncStream.makeStream(of: Bool.self, bufferingPolicy: .bufferingNewest(1))
        self.firstOutcome = outcomes
        let counter = Counter()
        self.task = Task {
            await Self.run(
                connector: connector, mirror: mirror, logger: logger, outcomes: continuation, counter: counter)
        }
        self.counter = counter
    }

    /// Waits for the first attempt's outcome: `true` when the listener listens.
    func waitForFirstAttempt() async -> Bool {
        for await outcome in self.firstOutcome { return outcome }
        return false
    }

    /// How many times the listener started listening (1 after the first success).
    var listeningStarts: Int { self.counter.value.load(ordering: .relaxed) }

    /// Stops the listener and waits until its connection is closed.
    func stop() async {
        self.task.cancel()
        await self.task.value
    }

    deinit {
        self.task.cancel()
    }

    private static func run(
        connector: PostgresConnector, mirror: KeyGenerationMirror, logger: Logger,
        outcomes: AsyncStream<Bool>.Continuation, counter: Counter
    ) async {
        var backoff = Self.minimumBackoff
        var attempt = 0
        var wasListening = true // so that a first failure is logged
        while !Task.isCancelled {
            attempt += 1
            var listened = false
            var failure: String?
            do {
                let connection = try await connector.connect(id: -attempt)
                do {
                    try await connection.listen(on: KeyNotification.channel) { notifications in
                        mirror.listenerStarted()
                        counter.value.add(1, ordering: .relaxed)
                        listened = true
                        outcomes.yield(true)
                        logger.info(
                            "listening for key-store changes",
                            metadata: [
                                "event": "samd.postgres.keys-listening", "location": "\(connector.location)",
                            ])
                        try await Self.listen(connection, notifications, mirror: mirror, logger: logger)
                    }
                } catch {
                    failure = "\(PostgresStoreError(error).code)"
                }
                mirror.listenerStopped()
                try? await connection.close()
            } catch {
                mirror.listenerStopped()
                failure = "\(PostgresStoreError(error).code)"
            }
            outcomes.yield(false)
            if Task.isCancelled { break }
            if listened || wasListening {
                // Once per loss, not at every attempt while the server is down.
                logger.warning(
                    "the key-store listener is not listening: revisions are read from the database until it is back",
                    metadata: [
                        "event": "samd.postgres.keys-listener-lost", "location": "\(connector.location)",
                        "reason": "\(failure ?? "ended")",
                    ])
            }
            wasListening = listened
            if listened { backoff = Self.minimumBackoff }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, Self.maximumBackoff)
        }
        mirror.listenerStopped()
        outcomes.finish()
    }

    /// Applies notifications until the connection ends or the heartbeat fails (then throws), or the task is
    /// cancelled.
    private static func listen(
        _ connection: PostgresConnection, _ notifications: PostgresNotificationSequence, mirror: KeyGenerationMirror,
        logger: Logger
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await notification in notifications {
                    mirror.apply(KeyNotification(payload: notification.payload))
                }
                throw PostgresStoreError(.unavailable, "the notifications ended")
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: Self.heartbeatInterval)
                    try await PostgresConnector.withDeadline(
                        .now() + TimeAmount(Self.heartbeatTimeout),
                        onTimeout: { connection.close().whenComplete { _ in } }
                    ) {
                        try await connection.query(
                            PostgresQuery(unsafeSQL: #"LISTEN "\#(KeyNotification.channel)""#), logger: logger
                        ).drain()
                    }
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// The count of starts, shared with the background task.
    private final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }
}
