import Foundation
import SaMDKeys
import SaMDKeysTestSupport
import SaMDLocalPostgres
import SaMDPostgres
import SaMDStore
import SaMDTestSupport
import Testing

/// The PostgreSQL store against a server of the test's own: what its data files hold, and a server that stops and
/// comes back.
@Suite("PostgreSQL store and its server")
struct PostgresStoreServerTests {
    @Test(
        "after a CHECKPOINT, no record's plaintext and no subject or record id is in the data files, the WAL or the log"
    )
    func nothingInClear() async throws {
        let (server, _) = try PostgresTestServer.dedicated()
        defer { server.remove() }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("samd-scan-\(UUID())").path
        try FileManager.default.createDirectory(
            atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let keyStore = try KeyStoreCustodian.passphraseCustodian().create(at: root + "/keys")
        let location = try PostgresLocation(server.url)
        let pool = try PostgresTestServer.pool(location, server: server)
        let store = try await PostgresRecordStore(pool: pool, keyStore: keyStore)
        let records = try MedicalRecords.load(from: MedicalRecords.packageFolder).filter { $0.1.count >= 64 }
        #expect(records.count >= 4)
        var needles: [(String, [UInt8])] = []
        for (index, (name, payload)) in records.enumerated() {
            let subject = "MRN-scan-\(index)-4d3f9a"
            let recordID = "record-\(name)-7c1e"
            try await store.put(payload, subject: subject, recordID: recordID, recordType: "application/octet-stream")
            // Small records are streamed too, so both paths are scanned.
            try await store.put(
                streaming: Pieces(count: 2, size: 300_000), subject: subject, recordID: recordID + "-streamed",
                recordType: "application/octet-stream", expectedRevision: nil)
            needles.append(("subject of \(name)", Array(subject.utf8)))
            needles.append(("record id of \(name)", Array(recordID.utf8)))
            // A window from the middle of the payload: long enough not to occur by chance.
            let middle = payload.count / 2
            needles.append(("plaintext of \(name)", Array(payload[middle..<min(payload.count, middle + 48)])))
        }
        needles.append(("streamed plaintext", Array(Pieces(count: 2, size: 300_000).piece(1)[1000..<1048])))
        try server.administer("CHECKPOINT;")
        try await store.close()
        await pool.close()
        try server.stop()
        let files = server.dataFiles() + [server.logFile]
        #expect(files.count > 100)
        var scanned = 0
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            scanned += data.count
            for (what, needle) in needles {
                #expect(data.range(of: Data(needle)) == nil, "\(what) found in \(file)")
            }
        }
        #expect(scanned > 10 << 20)
    }

    @Test("while the server is down every call is unavailable (retryable) within about a second; it recovers by itself")
    func serverRestart() async throws {
        let (server, _) = try PostgresTestServer.dedicated()
        defer { server.remove() }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("samd-restart-\(UUID())").path
        try FileManager.default.createDirectory(
            atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let keyStore = try KeyStoreCustodian.passphraseCustodian().create(at: root + "/keys")
        let location = try PostgresLocation(server.url)
        let pool = try PostgresTestServer.pool(
            location, server: server, configuration: .init(leaseTimeout: .seconds(30)))
        let store = try await PostgresRecordStore(pool: pool, keyStore: keyStore)
        try await store.put(Array("before".utf8), subject: "MRN-1", recordID: "r", recordType: "text/plain")
        try server.stop()
        for _ in 0..<3 {
            let started = ContinuousClock.now
            let error = await #expect(throws: RecordStoreError.self) {
                try await store.get(subject: "MRN-1", recordID: "r")
            }
            #expect(error?.code == .unavailable)
            #expect(error?.isRetryable == true)
            // After `unavailableAfter` (1 s) of failing attempts, long before the lease timeout (30 s), even on a
            // loaded machine.
            #expect(ContinuousClock.now - started < .seconds(20))
        }
        let write = await #expect(throws: RecordStoreError.self) {
            try await store.put(Array("during".utf8), subject: "MRN-1", recordID: "r2", recordType: "text/plain")
        }
        #expect(write?.code == .unavailable)
        try server.start()
        let deadline = ContinuousClock.now + .seconds(30)
        var recovered = false
        while ContinuousClock.now < deadline {
            if let record = try? await store.get(subject: "MRN-1", recordID: "r") {
                #expect(record.payload == Array("before".utf8))
                recovered = true
                break
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(recovered)
        try await store.put(Array("after".utf8), subject: "MRN-1", recordID: "r2", recordType: "text/plain")
        #expect(try await store.get(subject: "MRN-1", recordID: "r2").payload == Array("after".utf8))
        try await store.close()
        await pool.close()
    }
}
