import Foundation
import Logging
import SaMDKeys
import SaMDKeysTestSupport
import SaMDLocalPostgres
import SaMDPostgres

/// Two instances of a service over one database (two pools, two `PostgresKeyStore`s), the KEKs in one SoftHSM2
/// token that both reach: the first creates the key store, the second opens it as another process would (a
/// custody made again from the record the store keeps, with the PIN).
final class KeyStoreInstances: Sendable {
    let server: LocalPostgresServer
    let location: PostgresLocation
    let custodian: KeyStoreCustodian
    let pools: [PostgresConnectionPool]
    let stores: [PostgresKeyStore]

    var a: FileKeyStore { self.stores[0].keys }
    var b: FileKeyStore { self.stores[1].keys }

    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    private init(
        server: LocalPostgresServer, location: PostgresLocation, custodian: KeyStoreCustodian,
        pools: [PostgresConnectionPool], stores: [PostgresKeyStore]
    ) {
        self.server = server
        self.location = location
        self.custodian = custodian
        self.pools = pools
        self.stores = stores
    }

    /// Runs `body` with two instances on a fresh database of the shared server (or on `database`), and closes
    /// them afterwards, whatever `body` did.
    static func with<T>(
        database: (server: LocalPostgresServer, url: String, location: PostgresLocation)? = nil,
        configuration: PostgresConnectionPool.Configuration = PostgresTestServer.testPoolConfiguration,
        _ body: (KeyStoreInstances) async throws -> T
    ) async throws -> T {
        let instances = try await Self.make(database: database, configuration: configuration)
        do {
            let result = try await body(instances)
            await instances.close()
            return result
        } catch {
            await instances.close()
            throw error
        }
    }

    /// Two instances on a fresh database of the shared server, or of `database`.
    static func make(
        database: (server: LocalPostgresServer, url: String, location: PostgresLocation)? = nil,
        configuration: PostgresConnectionPool.Configuration = PostgresTestServer.testPoolConfiguration,
        lockTimeout: Duration = FileKeyStore.defaultLockTimeout
    ) async throws -> KeyStoreInstances {
        let (server, _, location) = try database ?? PostgresTestServer.database()
        let custodian = try KeyStoreCustody.token.makeCustodian()
        var pools: [PostgresConnectionPool] = []
        var stores: [PostgresKeyStore] = []
        do {
            for _ in 0..<2 {
                pools.append(try PostgresTestServer.pool(location, server: server, configuration: configuration))
            }
            stores.append(
                try await PostgresKeyStore.create(
                    pool: pools[0], custody: custodian.custody, lockTimeout: lockTimeout, logger: Self.quiet))
            stores.append(
                try await PostgresKeyStore.open(
                    pool: pools[1], custody: { try custodian.reopenCustody($0) }, lockTimeout: lockTimeout,
                    logger: Self.quiet))
        } catch {
            for store in stores { await store.close() }
            for pool in pools { await pool.close() }
            custodian.remove()
            throw error
        }
        return KeyStoreInstances(
            server: server, location: location, custodian: custodian, pools: pools, stores: stores)
    }

    /// Stops both listeners, closes both pools and removes the token.
    func close() async {
        for store in self.stores { await store.close() }
        for pool in self.pools { await pool.close() }
        self.custodian.remove()
    }

    /// Terminates the backends of this database's listeners (each runs `LISTEN samd_keys`), as an administrator.
    func terminateListeners() throws {
        try self.server.administer(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' "
                + "AND datname = current_database();",
            database: self.location.database)
    }
}

/// Runs blocking work (the key store's synchronous API, which waits on the pool) on a thread of its own: never on
/// Swift's cooperative pool, whose few threads the pool's own tasks need.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// Tests `condition` until it holds or `deadline` passes (a change made by another instance arrives as a
/// notification: there is nothing to await).
func eventually(within deadline: Duration, _ condition: @escaping @Sendable () throws -> Bool) async throws -> Bool {
    let end = ContinuousClock.now + deadline
    while true {
        if try await offPool(condition) { return true }
        if ContinuousClock.now >= end { return false }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// A key-store lock kept by a test across `await`s (a `KeyStoreLock` is not `Sendable`).
/// `@unchecked Sendable`: the test drops it once, after the thread that took it is done with it.
final class HeldLock: @unchecked Sendable {
    var lock: (any KeyStoreLock)?

    init(_ lock: any KeyStoreLock) {
        self.lock = lock
    }

    func release() {
        self.lock = nil
    }
}

/// Runs `body` with a `PostgresKeyPersistence` of its own on a fresh database, closing it afterwards.
func withPersistences<T>(
    count: Int = 1, lockTimeouts: [Duration] = [],
    configuration: PostgresConnectionPool.Configuration = PostgresTestServer.testPoolConfiguration,
    _ body: ([PostgresKeyPersistence], LocalPostgresServer, PostgresLocation) async throws -> T
) async throws -> T {
    let (server, _, location) = try PostgresTestServer.database()
    var pools: [PostgresConnectionPool] = []
    var persistences: [PostgresKeyPersistence] = []
    func close() async {
        for persistence in persistences { await persistence.close() }
        for pool in pools { await pool.close() }
    }
    do {
        for index in 0..<count {
            let pool = try PostgresTestServer.pool(location, server: server, configuration: configuration)
            pools.append(pool)
            persistences.append(
                try await PostgresKeyPersistence(
                    pool: pool, lockTimeout: index < lockTimeouts.count ? lockTimeouts[index] : .seconds(5),
                    logger: KeyStoreInstances.quiet))
        }
        let result = try await body(persistences, server, location)
        await close()
        return result
    } catch {
        await close()
        throw error
    }
}
