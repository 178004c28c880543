import Dispatch
import Foundation
import SaMDDevPKI
import SaMDExampleSupport
import SaMDLocalPostgres
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `--postgres`: the PostgreSQL server the demo starts in its work directory (`postgres/`: the cluster `data/`,
/// `server.log`, the application role's password file `pgpass`), on 127.0.0.1 and a free port, TLS 1.3 only,
/// with the development PKI's `server` certificate (its SANs include 127.0.0.1) and the PKI's root as the CA its
/// clients verify it with (`sslmode=verify-full`).
///
/// The server never outlives the demo. ``finish()`` — at the end, and in `Demo.run`'s `defer` when a step
/// throws — removes it with a temporary work directory, or stops it (fast shutdown: sessions ended, a
/// checkpoint) and keeps its files with `--work-directory`. SIGINT or SIGTERM do the same at any point, even
/// while the server is starting, then end the process with 128 + the signal's number.
final class DemoDatabase: Sendable {
    /// The server's directory in the work directory.
    static let directoryName = "postgres"

    let server: LocalPostgresServer
    /// Whether the server's files stay (`--work-directory`) when it is stopped.
    let isKept: Bool
    private let lifetime: ServerLifetime

    private init(server: LocalPostgresServer, isKept: Bool, lifetime: ServerLifetime) {
        self.server = server
        self.isKept = isKept
        self.lifetime = lifetime
    }

    /// Starts the server in `postgres/` of `work`. As root, the cluster belongs to the `postgres` user (PostgreSQL
    /// refuses to run as root; `LocalPostgresServer` runs its tools through `runuser`): the work directory is
    /// made enterable by others (0711, not listable) so that that user reaches `postgres/`.
    /// - Throws: `DemoSetupError` — 69 when PostgreSQL is not installed or does not start, 73 when the work
    ///   directory cannot be made enterable.
    static func start(
        in work: WorkDirectory, pki: DevelopmentPKIFiles, say: @escaping @Sendable (String) -> Void
    ) throws -> DemoDatabase {
        if getuid() == 0 { try work.allowEntering() }
        let directory = work.path + "/" + Self.directoryName
        let lifetime = ServerLifetime(work: work, directory: directory, say: say)
        let server: LocalPostgresServer
        do {
            server = try LocalPostgresServer.start(
                in: directory, certificatePath: pki.certificate("server"), keyPath: pki.key("server"),
                certificateAuthorityPath: pki.rootCA)
        } catch {
            lifetime.failedToStart()
            throw DemoSetupError(
                description: "PostgreSQL cannot be started in \(directory): \(error)", exitCode: ExitStatus.unavailable)
        }
        lifetime.started(server)
        say(
            "PostgreSQL: \(directory), listening on 127.0.0.1:\(server.port) (TLS 1.3 only, the PKI's server certificate, verified against its root)"
        )
        return DemoDatabase(server: server, isKept: !work.isTemporary, lifetime: lifetime)
    }

    /// What the scan reads, once PostgreSQL has written every change to its data files (`CHECKPOINT`, as the
    /// administrator): the cluster's data files (`base/`, `global/`, `pg_wal/`) and the server's log.
    /// - Throws: `LocalPostgresError` when the checkpoint fails.
    func filesAfterCheckpoint() throws -> [String] {
        try self.server.administer("CHECKPOINT;")
        return self.server.dataFiles() + [self.server.logFile]
    }

    /// Where the records and the key store are, and the server: rows of the summary.
    var locations: [(String, String)] {
        [
            (
                "records stored in",
                "PostgreSQL: database \(LocalPostgresServer.applicationDatabase) on 127.0.0.1:\(self.server.port) (PostgresRecordStore: envelopes under blind indexes), written and read by gateways A and B"
            ),
            (
                "key store (metadata, wrapped subject keys)",
                "the same database (PostgresKeyStore), shared by instances A and B; only its KEKs are in the token"
            ),
            (
                "PostgreSQL server",
                "\(self.server.directory): TLS 1.3 only, on 127.0.0.1; stopped at the end\(self.isKept ? ", its files kept" : " and removed")"
            ),
        ]
    }

    /// Stops the server (kept) or removes it (with a temporary work directory), and says so; once.
    func finish() {
        self.lifetime.finish()
    }

    /// `say`, silent once a signal interrupted the demo: the steps still running fail as the server goes away,
    /// and their failures are not the demo's.
    func untilInterrupted(_ say: @escaping @Sendable (String) -> Void) -> @Sendable (String) -> Void {
        { [lifetime] line in
            if !lifetime.isInterrupted { say(line) }
        }
    }
}

/// Who stops the server — the demo's flow at its end or a signal — and when. `Sendable`: a `Mutex` holds the
/// state.
private final class ServerLifetime: Sendable {
    private enum State {
        /// `LocalPostgresServer.start` runs; the signal that came meanwhile, handled when it returns.
        case starting(interruptedBy: Int32?)
        case running(LocalPostgresServer)
        /// The flow is stopping it (``finish()``): a signal then changes nothing, the demo ends right after.
        case stopping
        /// A signal is stopping it and will end the process.
        case interrupted
        case finished
    }

    private let state = Mutex<State>(.starting(interruptedBy: nil))
    private let work: WorkDirectory
    private let directory: String
    private let say: @Sendable (String) -> Void
    private let watcher = SignalWatcher.forStopping()

    init(work: WorkDirectory, directory: String, say: @escaping @Sendable (String) -> Void) {
        self.work = work
        self.directory = directory
        self.say = say
        let signals = self.watcher.signals
        Task.detached {
            for await number in signals { self.interrupted(by: number) }
        }
    }

    var isInterrupted: Bool {
        self.state.withLock { state in
            switch state {
            case .interrupted, .starting(interruptedBy: .some): true
            default: false
            }
        }
    }

    func started(_ server: LocalPostgresServer) {
        let signal: Int32? = self.state.withLock { state in
            if case .starting(let signal?) = state {
                state = .interrupted
                return signal
            }
            state = .running(server)
            return nil
        }
        if let signal { self.stopAndExit(server, signal: signal) }
    }

    func failedToStart() {
        let signal: Int32? = self.state.withLock { state in
            defer { state = .finished }
            if case .starting(let signal?) = state { return signal }
            return nil
        }
        if let signal {
            self.say("interrupted (\(SignalWatcher.name(signal)))")
            self.end(signal)
        }
    }

    func finish() {
        let (server, interrupted): (LocalPostgresServer?, Bool) = self.state.withLock { state in
            switch state {
            case .running(let server):
                state = .stopping
                return (server, false)
            case .interrupted: return (nil, true)
            default: return (nil, false)
            }
        }
        if interrupted {
            // The signal's handler is stopping the server and ends the process: the flow must not end it first.
            while true { sleep(60) }
        }
        guard let server else { return }
        self.stop(server)
        self.state.withLock { $0 = .finished }
    }

    private func interrupted(by signal: Int32) {
        enum Action {
            /// Nothing now: the start or the flow's own stop is under way.
            case wait
            case stop(LocalPostgresServer)
            /// The server is stopped already.
            case exit
        }
        let action: Action = self.state.withLock { state in
            switch state {
            case .starting:
                state = .starting(interruptedBy: signal)
                return .wait
            case .running(let server):
                state = .interrupted
                return .stop(server)
            case .stopping, .interrupted: return .wait
            case .finished: return .exit
            }
        }
        switch action {
        case .wait: return
        case .stop(let server): self.stopAndExit(server, signal: signal)
        case .exit:
            self.say("interrupted (\(SignalWatcher.name(signal)))")
            self.end(signal)
        }
    }

    private func stopAndExit(_ server: LocalPostgresServer, signal: Int32) -> Never {
        self.say("interrupted (\(SignalWatcher.name(signal))): stopping PostgreSQL")
        self.stop(server)
        self.end(signal)
    }

    /// Removes the server with a temporary work directory; stops it and says where its files are otherwise.
    private func stop(_ server: LocalPostgresServer) {
        if self.work.isTemporary {
            server.remove()
            self.say("PostgreSQL stopped and removed (with the temporary work directory)")
            return
        }
        do {
            try server.stop()
        } catch {
            self.say("PostgreSQL did not stop cleanly (\(error)); stopping it at once")
            try? server.stop(immediately: true)
        }
        self.say(
            server.isRunning
                ? "PostgreSQL is STILL RUNNING in \(self.directory): stop it with pg_ctl -D \(self.directory)/data stop"
                : "PostgreSQL stopped; its files are kept in \(self.directory) (data/: the cluster, server.log, pgpass: the application role's password, 0600)"
        )
    }

    /// Removes a temporary work directory and ends the process with 128 + `signal`.
    private func end(_ signal: Int32) -> Never {
        self.work.removeIfTemporary()
        exit(128 + signal)
    }
}
