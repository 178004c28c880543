import BenchmarkSupport
import Foundation
import SaMDDevPKI
import SaMDLocalPostgres

#if canImport(Glibc)
    import Glibc
#endif

/// The PostgreSQL server of one run of this target, shared by its benchmarks.
///
/// package-benchmark runs every benchmark in a process of its own, one after another, children of one
/// `BenchmarkTool` process (the run). The first of them to need the server starts it (`LocalPostgresServer`: TLS
/// 1.3 only, a development PKI made now, 127.0.0.1 and a free port) in `/dev/shm` when it exists, else the temporary
/// directory, in a directory named for the run; the later ones find it there and connect to it. Each process works
/// in a database of its own (``database(_:)``), so no benchmark sees another's rows or keys.
///
/// The server outlives the process that started it, so that process also starts a keeper (`/bin/sh`, detached from
/// every descriptor): once the run has ended — every benchmark done, failed or killed, and the benchmark tool gone
/// — it stops the server and deletes its directory. Run outside package-benchmark (the executable alone, every
/// benchmark in one process), the run is that process.
enum RunServer {
    /// What a benchmark process connects with: a database URL (`sslmode=verify-full`) and the password file.
    struct Connection: Sendable {
        let url: String
        let passwordFile: String
    }

    /// Where the servers of runs live: memory when the machine has it mounted, as the gateway section's stores.
    static let base: String = {
        var status = stat()
        if stat("/dev/shm", &status) == 0, status.st_mode & S_IFMT == S_IFDIR, access("/dev/shm", W_OK) == 0 {
            return "/dev/shm"
        }
        return ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    }()

    /// The run this process belongs to: the benchmark tool that started it, or itself.
    static let owner: pid_t = {
        let parent = getppid()
        let name = (try? String(contentsOfFile: "/proc/\(parent)/comm", encoding: .utf8)) ?? ""
        return name.hasPrefix("BenchmarkTool") ? parent : getpid()
    }()

    static var directory: String { "\(self.base)/samd-bench-postgres-\(self.owner)" }
    private static var readyFile: String { self.directory + "/ready" }
    private static var failedFile: String { self.directory + "/failed" }

    /// The run's server, started by the first caller of the run.
    private static let shared: Result<Connection, BenchmarkCheckFailure> = {
        do {
            return .success(try RunServer.startOrFind())
        } catch let error as BenchmarkCheckFailure {
            return .failure(error)
        } catch {
            return .failure(BenchmarkCheckFailure(description: "the run's PostgreSQL server: \(error)"))
        }
    }()

    /// The run's server (started now if this process is the run's first to need it) and the URL of its application
    /// database.
    static func connection() throws -> Connection {
        try self.shared.get()
    }

    /// The URL of `database` on the run's server.
    static func url(_ connection: Connection, database: String) throws -> String {
        guard var components = URLComponents(string: connection.url) else {
            throw BenchmarkCheckFailure(description: "the run's server URL does not parse")
        }
        components.path = "/" + database
        guard let url = components.string else {
            throw BenchmarkCheckFailure(description: "no URL for database \(database)")
        }
        return url
    }

    private static func startOrFind() throws -> Connection {
        // mkdir decides, atomically, which process of the run starts the server.
        if mkdir(self.directory, 0o755) == 0 {
            chmod(self.directory, 0o755)
            try self.startKeeper()
            do {
                return try self.start()
            } catch {
                // The run's later processes fail at once with the cause, not after waiting.
                try? Data("\(error)".utf8).write(to: URL(fileURLWithPath: self.failedFile))
                throw error
            }
        }
        guard errno == EEXIST else {
            throw BenchmarkCheckFailure(description: "cannot make \(self.directory): errno \(errno)")
        }
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOfFile: self.readyFile, encoding: .utf8) {
                let lines = text.split(separator: "\n").map(String.init)
                try BenchmarkCheck.that(lines.count == 2, "\(self.readyFile) is not a URL and a password file")
                return Connection(url: lines[0], passwordFile: lines[1])
            }
            if let failure = try? String(contentsOfFile: self.failedFile, encoding: .utf8) {
                throw BenchmarkCheckFailure(description: "the run's PostgreSQL server did not start: \(failure)")
            }
            usleep(50_000)
        }
        throw BenchmarkCheckFailure(
            description: "the run's PostgreSQL server in \(self.directory) was not ready within 120 s")
    }

    /// Starts the server, lets the application role create databases, and says where it is (`ready`).
    private static func start() throws -> Connection {
        let pki = try DevelopmentPKI()
        let files = [
            ("server-chain.pem", pki.server.chainPEM), ("server-key.pem", pki.server.privateKeyPEM),
            ("root.pem", pki.root.certificate.certificatePEM),
        ]
        for (name, text) in files {
            let path = self.directory + "/" + name
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            chmod(path, 0o600)
        }
        let server = try LocalPostgresServer.start(
            in: self.directory + "/server", certificatePath: self.directory + "/server-chain.pem",
            keyPath: self.directory + "/server-key.pem", certificateAuthorityPath: self.directory + "/root.pem")
        // Each benchmark process makes a database of its own, as the application role.
        try server.administer("ALTER ROLE \(LocalPostgresServer.applicationRole) CREATEDB;")
        let connection = Connection(url: server.url, passwordFile: server.passwordFile)
        let temporary = self.readyFile + ".partial"
        try Data("\(connection.url)\n\(connection.passwordFile)".utf8).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, self.readyFile) == 0 else {
            throw BenchmarkCheckFailure(description: "cannot write \(self.readyFile): errno \(errno)")
        }
        return connection
    }

    /// The keeper: waits until the run's process and this one have exited (or are zombies), then stops the server (a fast
    /// shutdown, immediate after 30 s) and deletes the directory. Started before the server, so that a failure
    /// while starting it leaves nothing behind either.
    private static func startKeeper() throws {
        let script = """
            trap '' INT HUP
            alive() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" != Z ]; }
            while alive "$1" || alive "$2"; do sleep 0.5; done
            pidfile="$3/server/data/postmaster.pid"
            if [ -f "$pidfile" ]; then
                pid=$(head -n 1 "$pidfile")
                kill -INT "$pid" 2>/dev/null
                n=0
                while kill -0 "$pid" 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
                kill -QUIT "$pid" 2>/dev/null
                while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
            fi
            rm -rf "$3"
            """
        let arguments = [
            "/bin/sh", "-c", script, "samd-bench-postgres-keeper", "\(self.owner)", "\(getpid())", self.directory,
        ]
        // No descriptor of this process stays open in the keeper, nor in the server started after it
        // (package-benchmark's pipes to this process among them): the reader of a pipe must see it close.
        Self.closeOnExec()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for descriptor in Int32(0)...2 {
            posix_spawn_file_actions_addopen(
                &actions, descriptor, "/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A process group of its own: Ctrl-C on the run does not reach it before its work is done.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let cArguments = arguments.map { strdup($0) } + [nil]
        defer {
            for pointer in cArguments { free(pointer) }
        }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, "/bin/sh", &actions, &attributes, cArguments, environ)
        guard spawned == 0 else {
            throw BenchmarkCheckFailure(description: "cannot start the PostgreSQL keeper: errno \(spawned)")
        }
    }

    /// Marks every descriptor above standard error close-on-exec.
    private static func closeOnExec() {
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for descriptor in descriptors.compactMap({ Int32($0) }) where descriptor > 2 {
            let flags = fcntl(descriptor, F_GETFD)
            if flags >= 0 { _ = fcntl(descriptor, F_SETFD, flags | FD_CLOEXEC) }
        }
    }
}
