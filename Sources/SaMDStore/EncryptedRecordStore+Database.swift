import Foundation
import GRDB
import Logging
import SaMDKeys

/// The database: opening the connection pool with its pragmas, read and write transactions, the WAL's
/// truncation, the settings a job changes for its run, and SQLite's errors as the store's.
extension EncryptedRecordStore {
    /// Opens the database at `path` (the file ``prepareDatabaseFile(_:)`` judged): every connection checks
    /// the files again, bounds the values it reads, zeroes deleted content and truncates the WAL when it
    /// resets; the writer commits with the configured `synchronous`; the schema is brought up to date.
    /// - Throws: ``RecordStoreError/Code/storage`` when the database cannot be opened or migrated.
    static func openDatabase(
        _ path: String, file: (device: UInt64, inode: UInt64), configuration: Configuration
    ) throws -> DatabasePool {
        // Every value SQLite reads is bounded by this, before it is allocated: the largest envelope and the
        // rest of its row. An edited row cannot make the store read more (SQLITE_TOOBIG: limitExceeded).
        let valueLimit = Self.envelopeByteCount(forPayload: configuration.maximumRecordByteCount) + 4096
        var grdb = GRDB.Configuration()
        grdb.busyMode = .timeout(configuration.busyTimeout.timeInterval)
        grdb.label = "samdkit.store"
        grdb.prepareDatabase { db in
            // SQLite opens the path it is given, following links: each new connection (readers are opened
            // on demand) checks that it is still the file judged here.
            try Self.checkDatabaseFiles(path, file: file)
            db.limitValueLength(toBytes: valueLimit)
            // Deleted and overwritten content is zeroed in the file, not left in free pages.
            try db.execute(sql: "PRAGMA secure_delete = ON")
            // A WAL that is reset after a checkpoint is truncated to nothing, instead of keeping old frames
            // (page images of earlier revisions) until new ones overwrite them.
            try db.execute(sql: "PRAGMA journal_size_limit = 0")
        }
        do {
            let database = try DatabasePool(path: path, configuration: grdb)
            // GRDB sets NORMAL on its writer connection (the only one that commits) when it opens the pool.
            let synchronous = configuration.durableCommits ? "FULL" : "NORMAL"
            try database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            }
            try Schema.migrator.migrate(database)
            return database
        } catch let error as DatabaseError {
            throw Self.storageError(error, "opening \(path)")
        }
    }

    func reading<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try self.database.read(body)
        } catch let error as DatabaseError {
            throw Self.storageError(error, what)
        }
    }

    /// A read on the writer's connection, outside any write transaction (it takes no write lock). For a job
    /// that reads rows and then updates them: the writer's page cache then holds the pages the update needs
    /// (a reader's cache is dropped at every commit of the writer, and the pages are read again from the
    /// database and the WAL).
    func readingOnTheWriter<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try self.database.writeWithoutTransaction { db in try Self.transaction(.deferred, db, body) }
        } catch let error as DatabaseError {
            throw Self.storageError(error, what)
        }
    }

    /// A write transaction begun with `BEGIN IMMEDIATE`, so writers in other processes wait (up to the busy
    /// timeout) instead of failing halfway.
    /// - Parameter synchronous: how this commit is synced, whatever the store's configuration (restored
    ///   afterwards): `FULL`, the WAL fsync'd at the commit; `NORMAL`, only at the next synced commit or
    ///   checkpoint — for a job that commits many batches and makes them durable together with a `FULL`
    ///   commit before it relies on them. Within one use of the writer connection: no other write of this
    ///   process commits in between.
    func writing<T>(_ what: String, synchronous: String? = nil, _ body: (Database) throws -> T) throws -> T {
        precondition(synchronous == nil || synchronous == "FULL" || synchronous == "NORMAL")
        let configured = self.configuration.durableCommits ? "FULL" : "NORMAL"
        do {
            return try self.database.writeWithoutTransaction { db in
                if let synchronous {
                    try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
                }
                defer {
                    if synchronous != nil { try? db.execute(sql: "PRAGMA synchronous = \(configured)") }
                }
                return try Self.transaction(.immediate, db, body)
            }
        } catch let error as DatabaseError {
            throw Self.storageError(error, what)
        }
    }

    /// Runs `body` in a transaction of `kind` on `db`, committed when it returns and rolled back when it throws.
    private static func transaction<T>(
        _ kind: Database.TransactionKind, _ db: Database, _ body: (Database) throws -> T
    ) throws -> T {
        var result: T?
        try db.inTransaction(kind) {
            result = try body(db)
            return .commit
        }
        return result!
    }

    static func storageError(_ error: DatabaseError, _ what: String) -> RecordStoreError {
        // The SQLite result code and message only: never the statement's arguments.
        if error.resultCode == .SQLITE_TOOBIG {
            // A value over the connection's limit (SQLITE_LIMIT_LENGTH): an edited row, refused unread.
            return RecordStoreError(.limitExceeded, "\(what): a stored value is larger than any record may be")
        }
        return RecordStoreError(
            .storage, "\(what): SQLite error \(error.resultCode.rawValue) (\(error.message ?? "no message"))")
    }

    /// Copies every WAL frame into the database and truncates `records.sqlite-wal` to zero bytes
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`), so that no page image of a replaced or deleted envelope is left
    /// in it. It waits for readers up to the busy timeout; if one still holds the WAL it is logged
    /// (`samd.store.wal-truncate-incomplete`) and the next replacement or shredding truncates it, the write
    /// itself stands.
    func truncateWAL(after what: String) {
        do {
            try self.database.writeWithoutTransaction { db in
                _ = try db.checkpoint(.truncate)
            }
        } catch {
            self.logger.warning(
                "WAL not truncated",
                metadata: [
                    "event": "samd.store.wal-truncate-incomplete", "after": "\(what)",
                    "reason": "\((error as? DatabaseError).map { "\($0.resultCode)" } ?? "\(type(of: error))")",
                ]
            )
        }
    }

    /// The writer connection's settings a whole-store job changes for its run (``SubjectRekeyJob``), to put back.
    struct JobConnectionSettings {
        let cacheSize: Int
        let journalSizeLimit: Int
    }

    /// Tunes the writer connection for a job that reads every row of a batch and then rewrites it: a page
    /// cache of 32 MiB (the default 2 MiB is evicted before the rows are written, and every page is read again
    /// from the database and the WAL), and a WAL that is not truncated at each reset (`journal_size_limit` -1:
    /// regrowing the file from zero on every reset made each synced commit cost more). The job truncates the
    /// WAL itself after every batch (``truncateWAL(after:)``), so no page image outlives a batch.
    /// - Returns: what ``restore(_:)`` puts back when the job ends.
    func jobConnectionSettings() throws -> JobConnectionSettings {
        do {
            return try self.database.writeWithoutTransaction { db in
                let settings = JobConnectionSettings(
                    cacheSize: try Int.fetchOne(db, sql: "PRAGMA cache_size") ?? -2000,
                    journalSizeLimit: try Int.fetchOne(db, sql: "PRAGMA journal_size_limit") ?? 0
                )
                _ = try Row.fetchOne(db, sql: "PRAGMA cache_size = -32768")
                _ = try Row.fetchOne(db, sql: "PRAGMA journal_size_limit = -1")
                return settings
            }
        } catch let error as DatabaseError {
            throw Self.storageError(error, "tuning the database connection for a job")
        }
    }

    /// Puts back the writer connection's settings after a job (``jobConnectionSettings()``); logged if it cannot.
    func restore(_ settings: JobConnectionSettings) {
        do {
            try self.database.writeWithoutTransaction { db in
                _ = try Row.fetchOne(db, sql: "PRAGMA cache_size = \(settings.cacheSize)")
                _ = try Row.fetchOne(db, sql: "PRAGMA journal_size_limit = \(settings.journalSizeLimit)")
            }
        } catch {
            self.logger.warning(
                "database connection settings not restored after a job",
                metadata: ["event": "samd.store.job-settings-not-restored"])
        }
    }
}
