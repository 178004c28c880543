import BenchmarkCatalog
import BenchmarkSupport
import Foundation
import Logging
import NIOPosix
import PostgresNIO
import SaMDCrypto
import SaMDKeys
import SaMDPostgres
import SaMDStore
import Synchronization

/// One side with its record set filled (every record put once, every subject key made and cached), made once per
/// benchmark process and side; the workloads of the benchmarks and the checks of what they did.
final class StoreFixture: Sendable {
    let side: any RecordSide
    let records: RecordSet
    /// The generation each task's records were last put with (every record of a task is put by one iteration).
    private let generations: Mutex<[Int]>

    private static let made = Mutex<[BenchmarkSide: Task<StoreFixture, any Error>]>([:])

    /// The fixture of `side` in this process, made by the first caller.
    static func shared(_ side: BenchmarkSide) async throws -> StoreFixture {
        let task = Self.made.withLock { made in
            if let task = made[side] { return task }
            let task = Task { try await Self.make(side) }
            made[side] = task
            return task
        }
        return try await task.value
    }

    private init(side: any RecordSide, records: RecordSet) {
        self.side = side
        self.records = records
        self.generations = Mutex([Int](repeating: 0, count: records.shape.tasks))
    }

    private static func make(_ kind: BenchmarkSide) async throws -> StoreFixture {
        let records = RecordSet(BenchmarkSettings.plan.recordSet)
        let side: any RecordSide
        switch kind {
        case .postgresStore:
            let pool = try await Self.pool(database: "ours")
            let custody = try PKCS11Custody.create(
                uri: try BenchmarkToken.unusedTokenURI(), pin: SecureBytes(copying: Array(BenchmarkToken.pin.utf8)))
            let keys = try await PostgresKeyStore.create(pool: pool, custody: custody)
            let store = try await PostgresRecordStore(pool: pool, keyStore: keys.keys)
            // The path the issue measures: the key store in the same database, its generation checked by the
            // record's own statement.
            try BenchmarkCheck.that(store.checksKeyGenerationAtCommit, "the store does not check keys at commit")
            side = RecordStoreSide(store: store, records: records)
        case .rawPostgresNIO:
            side = try await Self.rawSide(records: records, purpose: "raw")
        case .blockingRawPostgresNIO:
            let raw = try await Self.rawSide(records: records, purpose: "blocking")
            // As many threads as the store's own pool (`PostgresRecordStore.Configuration.threadCount`).
            let threads = NIOThreadPool(numberOfThreads: PostgresRecordStore.Configuration().threadCount)
            threads.start()
            side = BlockingRawSide(raw: raw, threads: threads)
        case .storeStatements:
            let pool = try await Self.pool(database: "statements")
            side = try await StoreStatementSide.make(
                pool: pool, records: records, logger: Logger(label: "samdkit.benchmark.raw"))
        case .sqliteStore:
            // Beside the server's files (memory when /dev/shm exists), in the run's directory, which the keeper
            // deletes even when this process is killed.
            _ = try RunServer.connection()
            let directory = try temporaryDirectory("sqlite", in: RunServer.directory)
            let custody = try PKCS11Custody.create(
                uri: try BenchmarkToken.unusedTokenURI(), pin: SecureBytes(copying: Array(BenchmarkToken.pin.utf8)))
            let keys = try FileKeyStore.create(at: directory + "/keys", custody: custody)
            let store = try EncryptedRecordStore(
                directory: directory + "/records", keyStore: keys, configuration: .init(durableCommits: true))
            side = RecordStoreSide(store: store, records: records)
        default:
            throw BenchmarkCheckFailure(description: "no store benchmark side \(kind.rawValue)")
        }
        let fixture = StoreFixture(side: side, records: records)
        // Every record once, every task at once: the subject keys made and cached, the pool's connections open.
        try await fixture.put(tasks: 0..<records.shape.tasks)
        try await fixture.checkWritten(tasks: 0..<records.shape.tasks)
        return fixture
    }

    /// The reference: a new database with the plain table.
    private static func rawSide(records: RecordSet, purpose: String) async throws -> RawPostgresSide {
        let pool = try await Self.pool(database: purpose)
        let logger = Logger(label: "samdkit.benchmark.raw")
        try await pool.withConnection { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: RawPostgresSide.createTable), logger: logger)
        }
        return RawPostgresSide(pool: pool, records: records, logger: logger)
    }

    /// A pool on a new database of the run's server, made by the application role (`CREATE DATABASE`).
    private static func pool(database purpose: String) async throws -> PostgresConnectionPool {
        let server = try RunServer.connection()
        let name = "bench_\(getpid())_\(purpose)"
        let application = try Self.pool(url: server.url, passwordFile: server.passwordFile)
        do {
            try await application.withConnection { connection in
                _ = try await connection.query(
                    "CREATE DATABASE \(unescaped: name)", logger: Logger(label: "samdkit.benchmark"))
            }
        } catch {
            await application.close()
            throw error
        }
        await application.close()
        return try Self.pool(url: try RunServer.url(server, database: name), passwordFile: server.passwordFile)
    }

    /// The same pool for every side: SaMDTLS connections, the default bounds (16 connections).
    private static func pool(url: String, passwordFile: String) throws -> PostgresConnectionPool {
        let location = try PostgresLocation(url)
        let credentials = try PostgresCredentials.resolve(for: location, environment: ["PGPASSFILE": passwordFile])
        return try PostgresConnectionPool(connector: PostgresConnector(location: location, credentials: credentials))
    }

    // MARK: Workloads

    /// Every record of each task in `tasks` put once, with the tasks' next generation: the tasks at once, each
    /// one record at a time.
    func put(tasks: Range<Int>) async throws {
        let generations = self.generations.withLock { generations in
            for task in tasks { generations[task] += 1 }
            return generations
        }
        let side = self.side
        let count = self.records.shape.recordsPerTask
        if tasks.count == 1 {
            let task = tasks.lowerBound
            for record in 0..<count {
                try await side.put(task: task, record: record, generation: generations[task])
            }
            return
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in tasks {
                group.addTask {
                    for record in 0..<count {
                        try await side.put(task: task, record: record, generation: generations[task])
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Every record of each task in `tasks` got once, the tasks at once: task by task, record by record, for ``check(got:tasks:)``.
    func get(tasks: Range<Int>) async throws -> [[UInt8]] {
        let side = self.side
        let count = self.records.shape.recordsPerTask
        if tasks.count == 1 {
            let task = tasks.lowerBound
            var got: [[UInt8]] = []
            got.reserveCapacity(count)
            for record in 0..<count {
                got.append(try await side.get(task: task, record: record))
            }
            return got
        }
        return try await withThrowingTaskGroup(of: (Int, [[UInt8]]).self) { group in
            for task in tasks {
                group.addTask {
                    var got: [[UInt8]] = []
                    got.reserveCapacity(count)
                    for record in 0..<count {
                        got.append(try await side.get(task: task, record: record))
                    }
                    return (task, got)
                }
            }
            var all = [[[UInt8]]](repeating: [], count: tasks.count)
            for try await (task, got) in group {
                all[task - tasks.lowerBound] = got
            }
            return all.flatMap { $0 }
        }
    }

    // MARK: Checks

    /// Every record of `tasks` reads back as the payload of the tasks' last generation.
    func checkWritten(tasks: Range<Int>) async throws {
        let got = try await self.get(tasks: tasks)
        try self.check(got: got, tasks: tasks)
    }

    /// `got` (``get(tasks:)``) is every record of `tasks` at the tasks' last generation.
    func check(got: [[UInt8]], tasks: Range<Int>) throws {
        let generations = self.generations.withLock { $0 }
        let count = self.records.shape.recordsPerTask
        try BenchmarkCheck.that(
            got.count == tasks.count * count, "\(got.count) records read, not \(tasks.count * count)")
        for (offset, task) in tasks.enumerated() {
            for record in 0..<count {
                let expected = self.records.payload(task: task, record: record, generation: generations[task])
                try BenchmarkCheck.that(
                    got[offset * count + record] == expected,
                    "task \(task) record \(record) does not read back as generation \(generations[task]) put it")
            }
        }
    }
}
