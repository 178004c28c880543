import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A PostgreSQL server of its own in a directory, for the demo, the tests and the benchmarks: Debian's
/// `postgresql-15` (or any PostgreSQL 13 or later under `/usr/lib/postgresql`), never the system's cluster.
///
/// What it makes in its directory: `data/` (the cluster, `initdb` with the C locale and UTF-8), `socket/` (the
/// Unix socket, 0700: only the server's own user reaches it, as the administrator `samd_admin`), `server.log`,
/// and `pgpass` (0600, the libpq password file of the application role). The server listens on 127.0.0.1 only,
/// accepts only TLS 1.3 there (`hostssl`, SCRAM-SHA-256; no plain `host` line), with the certificate and key it
/// was given; the application role `samd` owns the database `samd` and is no superuser.
///
/// Run as root, the cluster belongs to the `postgres` user (PostgreSQL refuses to run as root): every tool runs
/// through `runuser -u postgres`, the directory is made 0755 and each of its ancestors must be enterable by
/// others. Every wait has a deadline: ``toolTimeout`` for each tool, 60 s for the server to start or stop.
public final class LocalPostgresServer: Sendable {
    /// The application role, and the database it owns.
    public static let applicationRole = "samd"
    /// The database the application role owns.
    public static let applicationDatabase = "samd"
    /// The administrator (superuser) made by `initdb`; reached only over the Unix socket.
    public static let administratorRole = "samd_admin"
    /// How long one tool (`initdb`, `psql`, `pg_ctl`) may run.
    public static let toolTimeout = Duration.seconds(60)

    /// The server's directory.
    public let directory: String
    /// The TCP port on 127.0.0.1.
    public let port: Int
    /// The directory of PostgreSQL's programs.
    public let binaries: String
    /// The CA certificate (PEM) that issued the server's certificate, copied into the directory (`ca.pem`):
    /// what a client verifies the server with.
    public var certificateAuthorityPath: String { self.directory + "/ca.pem" }
    /// Whether the tools run as the `postgres` user (this process runs as root).
    let runsAsPostgresUser: Bool

    /// The libpq password file (`PGPASSFILE`) holding the application role's password.
    public var passwordFile: String { self.directory + "/pgpass" }
    /// The server's log.
    public var logFile: String { self.directory + "/server.log" }
    var dataDirectory: String { self.directory + "/data" }
    var socketDirectory: String { self.directory + "/socket" }

    /// The URL a client connects with: the application role and database on 127.0.0.1, `sslmode=verify-full`
    /// against ``certificateAuthorityPath``. Holds no password (that is in ``passwordFile``).
    public var url: String {
        self.url(database: Self.applicationDatabase)
    }

    /// ``url`` for another database of the same server (see ``createDatabase(_:)``).
    public func url(database: String) -> String {
        "postgresql://\(Self.applicationRole)@127.0.0.1:\(self.port)/\(database)?sslmode=verify-full&sslrootcert="
            + (self.certificateAuthorityPath.addingPercentEncoding(
                withAllowedCharacters: .urlQueryAllowed.subtracting(
                    CharacterSet(charactersIn: "&=+"))) ?? self.certificateAuthorityPath)
    }

    /// Makes a cluster in `directory` (which must not hold one) and starts it.
    /// - Parameters:
    ///   - directory: an absolute path; created if missing. Holds everything the server writes.
    ///   - certificatePath: the server's certificate chain (PEM), with 127.0.0.1 among its subject alternative
    ///     names (what `verify-full` checks).
    ///   - keyPath: its private key (PEM, unencrypted); copied into the cluster 0600.
    ///   - certificateAuthorityPath: the CA (PEM) that issued it.
    ///   - port: the port to listen on; `nil` picks a free one (and tries again with another if it was taken
    ///     meanwhile, up to 5 times).
    /// - Throws: ``LocalPostgresError`` when no PostgreSQL is installed, a tool fails or times out, or (as root)
    ///   an ancestor of `directory` cannot be entered by the `postgres` user.
    public static func start(
        in directory: String,
        certificatePath: String,
        keyPath: String,
        certificateAuthorityPath: String,
        port: Int? = nil
    ) throws -> LocalPostgresServer {
        let binaries = try Self.findBinaries()
        let runsAsPostgresUser = getuid() == 0
        try Self.prepare(directory: directory, runsAsPostgresUser: runsAsPostgresUser)
        var lastError: (any Error)?
        for _ in 0..<(port == nil ? 5 : 1) {
            let chosen = try port ?? Self.freePort()
            let server = LocalPostgresServer(
                directory: directory, port: chosen, binaries: binaries, runsAsPostgresUser: runsAsPostgresUser)
            do {
                if !FileManager.default.fileExists(atPath: server.dataDirectory + "/PG_VERSION") {
                    try server.initialise(certificatePath: certificatePath, keyPath: keyPath)
                    try? FileManager.default.removeItem(atPath: server.certificateAuthorityPath)
                    try FileManager.default.copyItem(
                        atPath: certificateAuthorityPath, toPath: server.certificateAuthorityPath)
                }
                try server.writePortConfiguration()
                try server.start()
                try server.createApplicationRole()
                return server
            } catch let error as LocalPostgresError where error.portTaken {
                lastError = error
                continue
            } catch {
                // Never leave a server behind that no one will stop.
                try? server.stop(immediately: true)
                throw error
            }
        }
        throw lastError ?? LocalPostgresError("PostgreSQL did not start")
    }

    init(directory: String, port: Int, binaries: String, runsAsPostgresUser: Bool) {
        self.directory = directory
        self.port = port
        self.binaries = binaries
        self.runsAsPostgresUser = runsAsPostgresUser
    }

    // MARK: Lifecycle

    /// Starts the server (after ``stop(immediately:)``) and waits until it accepts connections.
    /// - Throws: ``LocalPostgresError`` when it does not start within 60 s (its log's last lines say why).
    public func start() throws {
        let result = try self.runTool(
            "pg_ctl", ["-D", self.dataDirectory, "-l", self.logFile, "-w", "-t", "60", "start"], allowFailure: true)
        guard result.status == 0 else {
            let log = Self.tail(self.logFile)
            throw LocalPostgresError(
                "pg_ctl start failed (exit \(result.status)): \(result.output)\n\(log)",
                portTaken: log.contains("Address already in use"))
        }
    }

    /// Stops the server: `fast` (sessions ended, a clean shutdown checkpoint) or `immediate` (as a crash would:
    /// no checkpoint, recovery at the next start).
    /// - Throws: ``LocalPostgresError`` when `pg_ctl` fails other than for a server already stopped.
    public func stop(immediately: Bool = false) throws {
        guard FileManager.default.fileExists(atPath: self.dataDirectory + "/postmaster.pid") else { return }
        let result = try self.runTool(
            "pg_ctl", ["-D", self.dataDirectory, "-m", immediately ? "immediate" : "fast", "-w", "-t", "60", "stop"],
            allowFailure: true)
        guard result.status == 0 || !FileManager.default.fileExists(atPath: self.dataDirectory + "/postmaster.pid")
        else {
            throw LocalPostgresError("pg_ctl stop failed (exit \(result.status)): \(result.output)")
        }
    }

    /// Whether the server's postmaster is running (its pid file exists and names a live process).
    public var isRunning: Bool {
        guard let text = try? String(contentsOfFile: self.dataDirectory + "/postmaster.pid", encoding: .utf8),
            let first = text.split(separator: "\n").first, let pid = Int32(first)
        else { return false }
        return kill(pid, 0) == 0
    }

    /// Stops the server at once and deletes its directory. Best effort; for cleanup after tests and the demo.
    public func remove() {
        try? self.stop(immediately: true)
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    // MARK: Administration

    /// Runs SQL as the administrator over the Unix socket (`psql`, the SQL on its standard input, stopping at
    /// the first error) in `database`.
    /// - Returns: what `psql` printed, unaligned and without headers (`-At`).
    /// - Throws: ``LocalPostgresError`` when a statement fails.
    @discardableResult
    public func administer(_ sql: String, database: String = LocalPostgresServer.applicationDatabase) throws -> String {
        let result = try self.runTool(
            "psql",
            [
                "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", self.socketDirectory, "-p", "\(self.port)", "-U",
                Self.administratorRole, "-d", database,
            ],
            input: sql, allowFailure: true)
        guard result.status == 0 else {
            throw LocalPostgresError("psql failed (exit \(result.status)): \(result.output)")
        }
        return result.output
    }

    /// Makes another database owned by the application role (for a test of its own).
    /// - Parameter name: lowercase letters, digits and `_`, starting with a letter.
    /// - Throws: ``LocalPostgresError`` for another name, or when it exists.
    public func createDatabase(_ name: String) throws {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first),
            name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }),
            name.utf8.count <= 63
        else {
            throw LocalPostgresError("a database name is lowercase letters, digits and _: \(name)")
        }
        try self.administer(
            "CREATE DATABASE \(name) OWNER \(Self.applicationRole);", database: Self.applicationDatabase)
    }

    /// The files of the cluster's data directory, for scans of what is stored in clear.
    /// - Returns: paths of regular files under `data/base`, `data/global` and `data/pg_wal`.
    public func dataFiles() -> [String] {
        var files: [String] = []
        for sub in ["base", "global", "pg_wal"] {
            let root = self.dataDirectory + "/" + sub
            guard let walker = FileManager.default.enumerator(atPath: root) else { continue }
            for case let path as String in walker {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory),
                    !isDirectory.boolValue
                {
                    files.append(root + "/" + path)
                }
            }
        }
        return files
    }

    // MARK: Making the cluster

    private static func findBinaries() throws -> String {
        if let given = ProcessInfo.processInfo.environment["SAMD_POSTGRES_BIN"], !given.isEmpty {
            return given
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init)
            .filter { $0 >= 13 }.sorted()
        for version in versions.reversed()
        where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/pg_ctl") {
            return "\(root)/\(version)/bin"
        }
        throw LocalPostgresError(
            "no PostgreSQL server found under /usr/lib/postgresql (install postgresql-15: Scripts/setup does)")
    }

    private static func prepare(directory: String, runsAsPostgresUser: Bool) throws {
        guard directory.hasPrefix("/") else { throw LocalPostgresError("the server's directory must be absolute") }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard runsAsPostgresUser else {
            chmod(directory, 0o700)
            return
        }
        // The postgres user must reach the directory: every ancestor enterable by others.
        var ancestor = URL(fileURLWithPath: directory).deletingLastPathComponent().path
        while ancestor != "/" && !ancestor.isEmpty {
            var status = stat()
            guard stat(ancestor, &status) == 0, status.st_mode & 0o001 != 0 else {
                throw LocalPostgresError(
                    "the postgres user cannot enter \(ancestor), an ancestor of the server's directory (chmod o+x)")
            }
            ancestor = URL(fileURLWithPath: ancestor).deletingLastPathComponent().path
        }
        chmod(directory, 0o755)
        guard let user = getpwnam("postgres") else {
            throw LocalPostgresError("run as root, PostgreSQL needs the postgres user (installed with the server)")
        }
        chown(directory, user.pointee.pw_uid, user.pointee.pw_gid)
    }

    private func initialise(certificatePath: String, keyPath: String) throws {
        try self.runTool(
            "initdb",
            [
                "-D", self.dataDirectory, "-U", Self.administratorRole, "--auth-local=trust",
                "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-instructions",
            ])
        try self.makeOwnedDirectory(self.socketDirectory)
        for (source, name) in [(certificatePath, "server.crt"), (keyPath, "server.key")] {
            let target = self.dataDirectory + "/" + name
            try? FileManager.default.removeItem(atPath: target)
            try FileManager.default.copyItem(atPath: source, toPath: target)
            try self.giveToServer(target, mode: 0o600)
        }
        // No plain TCP: TLS with a password (SCRAM) on loopback, the Unix socket (0700) for the administrator.
        let hba = """
            local all \(Self.administratorRole) trust
            hostssl all all 127.0.0.1/32 scram-sha-256
            hostssl all all ::1/128 scram-sha-256

            """
        try self.writeServerFile("pg_hba.conf", hba)
        let settings = """
            listen_addresses = '127.0.0.1'
            unix_socket_directories = '\(self.socketDirectory)'
            unix_socket_permissions = 0700
            ssl = on
            ssl_cert_file = 'server.crt'
            ssl_key_file = 'server.key'
            ssl_min_protocol_version = 'TLSv1.3'
            password_encryption = 'scram-sha-256'
            shared_buffers = '32MB'
            max_connections = 200
            include_if_exists = 'samd-port.conf'

            """
        let configuration = self.dataDirectory + "/postgresql.conf"
        let existing = try String(contentsOfFile: configuration, encoding: .utf8)
        try self.writeServerFile("postgresql.conf", existing + "\n# SaMDKit's local server\n" + settings)
    }

    private func writePortConfiguration() throws {
        try self.writeServerFile("samd-port.conf", "port = \(self.port)\n")
    }

    /// The application role, with a fresh random password kept in ``passwordFile`` (never on a command line:
    /// the statement goes to `psql`'s standard input).
    private func createApplicationRole() throws {
        let exists = try self.administer(
            "SELECT count(*) FROM pg_roles WHERE rolname = '\(Self.applicationRole)';", database: "postgres")
        guard exists.trimmingCharacters(in: .whitespacesAndNewlines) == "0" else { return }
        var bytes = [UInt8](repeating: 0, count: 24)
        guard getentropy(&bytes, bytes.count) == 0 else { throw LocalPostgresError("no randomness for a password") }
        let password = Data(bytes).base64EncodedString().replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "+", with: "-")
        try self.administer(
            """
            CREATE ROLE \(Self.applicationRole) LOGIN PASSWORD '\(password)';
            CREATE DATABASE \(Self.applicationDatabase) OWNER \(Self.applicationRole);
            """, database: "postgres")
        let line = "*:*:*:\(Self.applicationRole):\(password)\n"
        let descriptor = open(self.passwordFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw LocalPostgresError("cannot write \(self.passwordFile): errno \(errno)") }
        defer { close(descriptor) }
        let written = line.utf8CString.withUnsafeBufferPointer { write(descriptor, $0.baseAddress, $0.count - 1) }
        guard written == line.utf8.count, fsync(descriptor) == 0 else {
            throw LocalPostgresError("cannot write \(self.passwordFile)")
        }
    }

    // MARK: Files and tools

    private func writeServerFile(_ name: String, _ text: String) throws {
        let path = self.dataDirectory + "/" + name
        try? FileManager.default.removeItem(atPath: path)
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            throw LocalPostgresError("cannot write \(path)")
        }
        try self.giveToServer(path, mode: 0o600)
    }

    private func makeOwnedDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try self.giveToServer(path, mode: 0o700)
    }

    private func giveToServer(_ path: String, mode: mode_t) throws {
        chmod(path, mode)
        guard self.runsAsPostgresUser else { return }
        guard let user = getpwnam("postgres"), chown(path, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
            throw LocalPostgresError("cannot give \(path) to the postgres user")
        }
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LocalPostgresError("no socket for a free port: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw LocalPostgresError("no free port on 127.0.0.1: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func tail(_ path: String, lines: Int = 12) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "" }
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// Runs one of PostgreSQL's programs (as the postgres user when root), killing it past ``toolTimeout``. Its
    /// standard input is `input` (from an unnamed temporary file) or /dev/null, its output goes to an unnamed
    /// temporary file read afterwards: no pipe, no thread, and the child reaped here with `waitpid`.
    @discardableResult
    private func runTool(_ name: String, _ arguments: [String], input: String? = nil, allowFailure: Bool = false)
        throws -> (status: Int32, output: String)
    {
        let tool = self.binaries + "/" + name
        let argv =
            self.runsAsPostgresUser
            // From `/`: the postgres user may not enter this process's working directory.
            ? ["/usr/sbin/runuser", "-u", "postgres", "--", "/usr/bin/env", "-C", "/", tool] + arguments
            : [tool] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["LC_ALL"] = "C"
        environment["PGPASSWORD"] = nil
        environment["PGPASSFILE"] = nil
        let output = try Self.unnamedFile()
        defer { close(output) }
        let standardInput = input == nil ? open("/dev/null", O_RDONLY | O_CLOEXEC) : try Self.unnamedFile()
        defer { close(standardInput) }
        if let input {
            let bytes = Array(input.utf8)
            guard bytes.withUnsafeBytes({ write(standardInput, $0.baseAddress, $0.count) }) == bytes.count,
                lseek(standardInput, 0, SEEK_SET) == 0
            else { throw LocalPostgresError("cannot prepare the input of \(name)") }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for argument in cArguments { free(argument) }
            for variable in cEnvironment { free(variable) }
        }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArguments, cEnvironment)
        guard spawned == 0 else { throw LocalPostgresError("cannot run \(argv[0]): errno \(spawned)") }
        let deadline = ContinuousClock.now + Self.toolTimeout
        var status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { throw LocalPostgresError("waitpid for \(name) failed: errno \(errno)") }
            if ContinuousClock.now > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw LocalPostgresError("\(name) did not finish within \(Self.toolTimeout)")
            }
            usleep(10_000)
        }
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let text = Self.readAll(output)
        if !allowFailure && exitStatus != 0 {
            throw LocalPostgresError("\(name) failed (exit \(exitStatus)): \(text)")
        }
        return (exitStatus, text)
    }

    /// A temporary file without a name (unlinked at once), open for reading and writing.
    private static func unnamedFile() throws -> Int32 {
        var template = Array((NSTemporaryDirectory() + "/samd-pg-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { throw LocalPostgresError("cannot make a temporary file: errno \(errno)") }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        return descriptor
    }

    /// What a tool wrote (at most 1 MiB).
    private static func readAll(_ descriptor: Int32) -> String {
        var bytes = [UInt8](repeating: 0, count: 1 << 20)
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        return String(decoding: bytes.prefix(max(0, count)), as: UTF8.self)
    }
}

/// A local PostgreSQL server could not be made, started or stopped.
public struct LocalPostgresError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The port chosen was taken meanwhile (another try picks another).
    let portTaken: Bool

    init(_ description: String, portTaken: Bool = false) {
        self.description = description
        self.portTaken = portTaken
    }
}
