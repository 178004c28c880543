import Foundation
import Logging
import PostgresNIO
import SaMDCrypto
import SaMDKeys
import SaMDKeysTestSupport
import SaMDLocalPostgres
import SaMDStore
import Testing

@testable import SaMDPostgres

/// Writes the fixtures `PostgresFormatTests` reads, into the source tree (`Tests/SaMDPostgresTests/Fixtures`):
/// run only with `SAMD_WRITE_POSTGRES_FIXTURES=1` (`swift test --filter PostgresFormatFixtureGenerator`), when a
/// format version changes. See the fixtures' README.md.
@Suite(
    "PostgreSQL format fixtures: the generator",
    .enabled(if: ProcessInfo.processInfo.environment["SAMD_WRITE_POSTGRES_FIXTURES"] == "1"))
struct PostgresFormatFixtureGenerator {
    /// Synthetic payloads (no patient, no third-party content): a FHIR-shaped observation, a 40 000-byte pattern
    /// (three 16 KiB chunks), an HL7-v2-shaped text and a streamed 20 000-byte pattern.
    static func pattern(_ count: Int, _ seed: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7 &+ ($0 >> 8)) }
    }

    @Test("writes schema-v1.sql, catalog-v1.txt and store-v1/ from this version's code")
    func generate() async throws {
        let (server, _, location) = try PostgresTestServer.database()
        let pool = try PostgresTestServer.pool(location, server: server)
        let quiet = KeyStoreInstances.quiet
        let persistence = try await PostgresKeyPersistence(pool: pool, logger: quiet)
        let passphrase = KeyStoreCustody.passphraseText
        // A passphrase custody, which PostgresKeyStore refuses (its KEK material would be in the database): the
        // fixture's keys must be reconstructible from committed bytes, and a token cannot be committed. The rows'
        // format is the same for either custody (the documents are opaque to SaMDPostgres).
        let custody = try PassphraseCustody.create(
            passphrase: try SecureBytes(copying: Array(passphrase.utf8)), kdf: KeyStoreCustody.fastKDF)
        let keys = try await offPool {
            try FileKeyStore.create(in: persistence, custody: custody, logger: quiet)
        }
        let store = try await PostgresRecordStore(pool: pool, keyStore: keys, logger: quiet)
        #expect(store.checksKeyGenerationAtCommit)

        var manifest = FormatFixture.Manifest(passphrase: passphrase, records: [], shredded: [], kekVersions: [])
        func put(_ payload: [UInt8], _ subject: String, _ recordID: String, _ type: String) async throws {
            let written = try await store.put(
                payload, subject: subject, recordID: recordID, recordType: type, expectedRevision: nil)
            manifest.records.removeAll { $0.subject == subject && $0.recordID == recordID }
            manifest.records.append(
                .init(
                    subject: subject, recordID: recordID, recordType: type, revision: written.revision,
                    payload: Data(payload).base64EncodedString()))
        }
        let observation = { (value: Int) in
            Array(
                #"{"resourceType":"Observation","id":"obs-0001","status":"final","code":{"text":"synthetic heart rate"},"valueQuantity":{"value":\#(value),"unit":"/min"}}"#
                    .utf8)
        }
        try await put(observation(72), "Zoë-0001", "obs-0001", "application/fhir+json")
        try await put(observation(75), "Zoë-0001", "obs-0001", "application/fhir+json") // revision 2
        try await put(Self.pattern(40_000, 1), "Zoë-0001", "scan-0002", "application/octet-stream")
        try await put(
            Array("MSH|^~\\&|SYNTHETIC|FIXTURE|||20260101000000||ORU^R01|0001|P|2.5\rPID|1||MRN-0002\r".utf8),
            "MRN-0002", "msg-0001", "text/plain")
        let streamed = Self.pattern(20_000, 2)
        let upload = try await store.put(
            streaming: AsyncStream<[UInt8]> {
                $0.yield(streamed)
                $0.finish()
            }, subject: "MRN-0002", recordID: "upload-0002",
            recordType: "application/octet-stream", expectedRevision: 0)
        manifest.records.append(
            .init(
                subject: "MRN-0002", recordID: "upload-0002", recordType: "application/octet-stream",
                revision: upload.revision, payload: Data(streamed).base64EncodedString()))
        try await store.put(
            Array("synthetic record of a subject shredded next".utf8), subject: "MRN-0003", recordID: "obs-0001",
            recordType: "text/plain", expectedRevision: nil)
        let shredded = try await store.shred(subject: "MRN-0003")
        manifest.shredded.append(
            .init(
                subject: "MRN-0003", recordID: "obs-0001", key: "\(shredded.receipt.key)",
                recordCount: shredded.recordCount))
        // A KEK rotation (subject keys rewrapped under records:2) and a subject re-key (records rewrapped under each
        // subject key's version 2): both checkpoints, finished.
        _ = try await offPool { try KeyRotationJob(store: store).run(newKEKVersion: true) }
        _ = try await offPool { try SubjectRekeyJob(store: store).run() }
        manifest.kekVersions = try await offPool { try keys.list() }.map { "\($0.identifier) \($0.state)" }
        try await store.close()
        await persistence.close()
        await pool.close()

        let directory = FormatFixture.source
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("store-v1"), withIntermediateDirectories: true)
        try Self.schemaText().write(
            to: directory.appendingPathComponent("schema-v1.sql"), atomically: true, encoding: .utf8)
        let fresh = try PostgresTestServer.database()
        let freshPool = try PostgresTestServer.pool(fresh.location, server: fresh.server)
        try await migrateBoth(freshPool)
        await freshPool.close()
        try (FormatFixture.catalog(fresh.server, database: fresh.location.database).joined(separator: "\n") + "\n")
            .write(to: directory.appendingPathComponent("catalog-v1.txt"), atomically: true, encoding: .utf8)
        try Self.dump(server, location: location).write(
            to: directory.appendingPathComponent("store-v1/dump.sql"), atomically: true, encoding: .utf8)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try (encoder.encode(manifest) + Data("\n".utf8)).write(
            to: directory.appendingPathComponent("store-v1/records.json"))
    }

    /// schema-v1.sql: the statements of the migrations, as the code holds them.
    static func schemaText() -> String {
        let records = [PostgresSchema.versionTable] + PostgresSchema.recordsV1
        let keys = PostgresKeyPersistence.schemaSteps.flatMap { $0 }
        return """
            -- SaMDKit's PostgreSQL tables: every statement the migrations of version 1 run, in order, exactly as the
            -- code holds them (PostgresSchema.swift, Keys/PostgresKeyPersistence.swift). PostgresFormat.md quotes
            -- the same text; PostgresFormatTests checks code, this file and the document against each other.
            -- Written by PostgresFormatFixtureGenerator; see README.md.

            -- Every migration, first (under pg_advisory_xact_lock(1396788548, 0)):

            \(records[0]);

            -- Component "records", version 1 (PostgresRecordStore):

            \(records.dropFirst().map { $0 + ";" }.joined(separator: "\n\n"))

            -- Component "keys", version 1 (PostgresKeyPersistence):

            \(keys.map { $0 + ";" }.joined(separator: "\n\n"))

            """
    }

    /// `pg_dump` of the database, schema and rows, without owners or privileges.
    static func dump(_ server: LocalPostgresServer, location: PostgresLocation) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: server.binaries + "/pg_dump")
        process.arguments = ["--no-owner", "--no-privileges", "--dbname=" + server.url(database: location.database)]
        process.environment = ["PGPASSFILE": server.passwordFile, "LC_ALL": "C", "PGTZ": "UTC"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let text = String(data: data, encoding: .utf8) else {
            throw FixtureError(description: "pg_dump failed (exit \(process.terminationStatus))")
        }
        return text
    }
}

/// Migrates both components in the pool's database, as PostgresRecordStore and PostgresKeyPersistence do when
/// they open it.
func migrateBoth(_ pool: PostgresConnectionPool) async throws {
    let persistence = try await PostgresKeyPersistence(pool: pool, logger: KeyStoreInstances.quiet)
    await persistence.close()
    try await pool.withConnection { connection in
        try await PostgresSchema.migrate(
            component: "records", steps: [PostgresSchema.recordsV1], on: connection, logger: KeyStoreInstances.quiet)
    }
}
