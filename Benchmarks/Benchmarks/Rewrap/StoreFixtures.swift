import BenchmarkCatalog
import BenchmarkSupport
import CReference
import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys
import SaMDStore
import Synchronization

/// A record store per commit mode, for `put`: SQLite's `synchronous = FULL` (the default: every commit
/// fsync'd before `put` returns) and `NORMAL` (the WAL synced at checkpoints only), side by side.
final class PutFixture: @unchecked Sendable { // used by one benchmark thread at a time
    let records: EncryptedRecordStore
    private var next = 0
    let payload = [UInt8](repeating: 0x7B, count: 1024)

    private static let instances = Mutex<[Bool: PutFixture]>([:])

    static func shared(durable: Bool) throws -> PutFixture {
        try self.instances.withLock { instances in
            if let instance = instances[durable] { return instance }
            let made = try PutFixture(durable: durable)
            instances[durable] = made
            return made
        }
    }

    private init(durable: Bool) throws {
        // One record: the subject key exists, so what is measured is the record's seal and commit.
        self.records = try filledStore(
            "samd-put-bench", records: 1, patients: 1, configuration: .init(durableCommits: durable))
    }

    /// Stores `count` new records (each a 201: no replacement); returns the last revision.
    func put(_ count: Int) throws -> Int64 {
        var revision: Int64 = 0
        for _ in 0..<count {
            self.next += 1
            revision = try self.records.put(
                self.payload, subject: "patient-0", recordID: "record-\(self.next)", recordType: "application/fhir+json"
            ).revision
        }
        return revision
    }
}

final class RekeyFixture: Sendable {
    let records: EncryptedRecordStore
    let sample: [(subject: String, record: String)]

    private static let instance = Mutex<RekeyFixture?>(nil)

    static func shared() throws -> RekeyFixture {
        try self.instance.withLock { instance in
            if let instance { return instance }
            let made = try RekeyFixture(BenchmarkSettings.plan.rekey)
            instance = made
            return made
        }
    }

    private init(_ settings: StoreShape) throws {
        self.records = try filledStore("samd-rekey-bench", records: settings.records, patients: settings.patients)
        let perPatient = settings.records / settings.patients
        self.sample = [(0, 0), (settings.patients - 1, perPatient - 1)].map { ("patient-\($0.0)", "record-\($0.1)") }
    }

    func checkASample() throws {
        for (subject, record) in self.sample {
            let stored = try self.records.get(subject: subject, recordID: record)
            try BenchmarkCheck.that(stored.payload.count == 1024, "\(subject)/\(record) did not open after the re-key")
        }
    }
}

/// What a re-key must do at the least, per record, written directly on SQLite's and OpenSSL's C APIs: read
/// the row, rewrap its wrapped DEK (raw EVP unwrap + wrap), update the row — in key order, in transactions of
/// 256 rows, with the store's settings: WAL journal, `synchronous = FULL` (durable), `secure_delete = ON` (the
/// old envelope zeroed, not left in free pages). Its rows have random keys, like the store's.
final class RawRekeyFloor: @unchecked Sendable { // used by one benchmark thread at a time
    private let database: OpaquePointer
    private let rewrap = RawRewrap()
    private let original: [UInt8]
    let rows: Int

    private static let instance = Mutex<RawRekeyFloor?>(nil)

    static func shared() throws -> RawRekeyFloor {
        try self.instance.withLock { instance in
            if let instance { return instance }
            let made = try RawRekeyFloor(rows: BenchmarkSettings.plan.rekey.records)
            instance = made
            return made
        }
    }

    private init(rows: Int) throws {
        let directory = try temporaryDirectory("samd-rekey-floor")
        var database: OpaquePointer?
        guard sqlite3_open(directory + "/floor.sqlite", &database) == SQLITE_OK, let database else {
            throw BenchmarkCheckFailure(description: "sqlite3_open")
        }
        self.database = database
        self.rows = rows
        // About a 1 KiB record's envelope: header with the wrapped DEK first, then the payload.
        self.original = self.rewrap.wrappedDEK + [UInt8](repeating: 0x33, count: 1024 + 246 - 60)
        try self.execute("PRAGMA journal_mode = WAL")
        try self.execute("PRAGMA synchronous = FULL")
        try self.execute("PRAGMA secure_delete = ON")
        // The key before the envelope, as in the store: a rewrap then changes only the row's own page, not
        // the overflow page that holds the rest of the envelope.
        try self.execute(
            "CREATE TABLE record (record_index BLOB PRIMARY KEY NOT NULL, wrapping_key TEXT NOT NULL, envelope BLOB NOT NULL) WITHOUT ROWID"
        )
        try self.execute("BEGIN")
        let insert = try self.prepare("INSERT INTO record (record_index, envelope, wrapping_key) VALUES (?, ?, 'v1')")
        defer { sqlite3_finalize(insert) }
        var envelope = self.original
        for _ in 0..<rows {
            // Random keys, as the store's are (HMAC outputs): the table has the shape a store's has, not the
            // denser, sequential one keys inserted in order would give.
            let index = (0..<32).map { _ in UInt8.random(in: 0...255) }
            sqlite3_bind_blob(insert, 1, index, 32, SQLITE_TRANSIENT)
            sqlite3_bind_blob(insert, 2, &envelope, Int32(envelope.count), SQLITE_TRANSIENT)
            guard sqlite3_step(insert) == SQLITE_DONE else { throw BenchmarkCheckFailure(description: "insert") }
            sqlite3_reset(insert)
        }
        try self.execute("COMMIT")
    }

    deinit {
        sqlite3_close(self.database)
    }

    /// Puts every row back under the old KEK (before a measured run, which rewraps them to the new one).
    func reset() throws {
        let update = try self.prepare("UPDATE record SET envelope = ?, wrapping_key = 'v1'")
        defer { sqlite3_finalize(update) }
        sqlite3_bind_blob(update, 1, self.original, Int32(self.original.count), SQLITE_TRANSIENT)
        guard sqlite3_step(update) == SQLITE_DONE else { throw BenchmarkCheckFailure(description: "reset") }
    }

    /// Rewraps every row once; returns how many.
    func run() throws -> Int {
        let select = try self.prepare(
            "SELECT record_index, envelope FROM record WHERE record_index > ? ORDER BY record_index LIMIT 256")
        let update = try self.prepare("UPDATE record SET envelope = ?, wrapping_key = 'v2' WHERE record_index = ?")
        defer {
            sqlite3_finalize(select)
            sqlite3_finalize(update)
        }
        var after = [UInt8](repeating: 0, count: 0)
        var done = 0
        while true {
            sqlite3_bind_blob(select, 1, after, Int32(after.count), SQLITE_TRANSIENT)
            var page: [([UInt8], [UInt8])] = []
            while sqlite3_step(select) == SQLITE_ROW {
                let index = Array(
                    UnsafeRawBufferPointer(
                        start: sqlite3_column_blob(select, 0), count: Int(sqlite3_column_bytes(select, 0))))
                var envelope = Array(
                    UnsafeRawBufferPointer(
                        start: sqlite3_column_blob(select, 1), count: Int(sqlite3_column_bytes(select, 1))))
                envelope.replaceSubrange(0..<60, with: self.rewrap.rewrap(Array(envelope[0..<60])))
                page.append((index, envelope))
            }
            sqlite3_reset(select)
            guard let last = page.last else { break }
            after = last.0
            try self.execute("BEGIN IMMEDIATE")
            for (index, envelope) in page {
                sqlite3_bind_blob(update, 1, envelope, Int32(envelope.count), SQLITE_TRANSIENT)
                sqlite3_bind_blob(update, 2, index, 32, SQLITE_TRANSIENT)
                guard sqlite3_step(update) == SQLITE_DONE else { throw BenchmarkCheckFailure(description: "update") }
                sqlite3_reset(update)
                done += 1
            }
            try self.execute("COMMIT")
        }
        // The wrapped DEK a row now holds opens under the new KEK.
        try BenchmarkCheck.that(
            self.rewrap.unwrapsUnderNewKEK(self.rewrap.rewrap(self.rewrap.wrappedDEK)), "the raw rewrap does not open")
        return done
    }

    private func execute(_ sql: String) throws {
        guard sqlite3_exec(self.database, sql, nil, nil, nil) == SQLITE_OK else {
            throw BenchmarkCheckFailure(description: "\(sql): \(String(cString: sqlite3_errmsg(self.database)))")
        }
    }

    private func prepare(_ sql: String) throws -> OpaquePointer {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(self.database, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw BenchmarkCheckFailure(description: "prepare \(sql)")
        }
        return statement
    }
}

/// SQLite's SQLITE_TRANSIENT (a destructor of -1: copy the bytes), which Swift does not import.
let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
