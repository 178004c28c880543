import Foundation
import Logging
import SaMDLocalPostgres
import SaMDPostgres
import SaMDTLSTestSupport
import Synchronization

/// The PostgreSQL server of this test process: one `LocalPostgresServer` (Debian's postgresql-15) started on first
/// use in a temporary directory, on 127.0.0.1 and a free port, with a certificate of a test PKI made now; stopped
/// and deleted when the process exits. Each test takes a database of its own (``database()``); a test that stops
/// or restarts the server makes a server of its own (``dedicated()``).
enum PostgresTestServer {
    /// The shared server and its PKI.
    static let shared: Result<(server: LocalPostgresServer, pki: PKIDirectory), any Error> = Result {
        try start()
    }

    private static let databaseCounter = Atomic<Int>(0)
    private static let started = Mutex<[LocalPostgresServer]>([])

    /// A fresh database on the shared server, owned by the application role, and its URL.
    static func database() throws -> (server: LocalPostgresServer, url: String, location: PostgresLocation) {
        let (server, _) = try shared.get()
        let name = "test_\(getpid())_\(databaseCounter.add(1, ordering: .relaxed).newValue)"
        try server.createDatabase(name)
        let url = server.url(database: name)
        return (server, url, try PostgresLocation(url))
    }

    /// A server of the test's own (to stop, restart or scan); removed by `remove()` or at exit.
    static func dedicated() throws -> (server: LocalPostgresServer, pki: PKIDirectory) {
        try start()
    }

    /// Pools in tests wait up to 30 s for a connection: the whole suite runs tests side by side on two cores, where
    /// a TLS handshake and a SCRAM login can take seconds. The tests check behaviour, not speed (the benchmarks do).
    static let testPoolConfiguration = PostgresConnectionPool.Configuration(leaseTimeout: .seconds(30))

    /// A pool on `location` with the server's password file.
    static func pool(
        _ location: PostgresLocation, server: LocalPostgresServer,
        configuration: PostgresConnectionPool.Configuration = Self.testPoolConfiguration
    ) throws -> PostgresConnectionPool {
        let credentials = try PostgresCredentials.resolve(
            for: location, environment: ["PGPASSFILE": server.passwordFile])
        return try PostgresConnectionPool(
            connector: PostgresConnector(location: location, credentials: credentials), configuration: configuration)
    }

    private static func start() throws -> (server: LocalPostgresServer, pki: PKIDirectory) {
        let pki = try PKIDirectory()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-postgres-\(getpid())-\(UUID().uuidString.prefix(8))"
        ).path
        let server = try LocalPostgresServer.start(
            in: directory, certificatePath: pki.cert("server"), keyPath: pki.key("server"),
            certificateAuthorityPath: pki.root)
        let first = started.withLock { servers in
            servers.append(server)
            return servers.count == 1
        }
        if first {
            atexit {
                for server in PostgresTestServer.started.withLock({ $0 }) { server.remove() }
            }
        }
        return (server, pki)
    }
}
