// A large upload streams into the store: samd-gateway (a child process, its peak resident memory read from
// /proc) stores a 48 MiB record without holding it — the body is sealed a mebibyte at a time into the store's
// spool file and written into its row in pieces.

import Foundation
import SaMDCrypto
import SaMDRecordGateway
import SaMDRecordService
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("Records gateway: large uploads stream into the store")
struct GatewayStreamingTests {
    /// The process's peak resident set (`VmHWM` of /proc/PID/status), in bytes.
    static func peakResidentBytes(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") })
        let kibibytes = try #require(Int(line.split(separator: " ").dropFirst().first ?? ""))
        return kibibytes << 10
    }

    @Test func aLargeUploadRaisesTheGatewaysPeakMemoryByFarLessThanTheRecord() async throws {
        let stores = try Harness.Stores()
        let gateway = try await Harness.GatewayProcess(Harness.GatewayProcess.standardArguments(stores))
        defer { gateway.stop() }
        let pid = gateway.child.processIdentifier
        let device = RecordClient(host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("device"))
        // Warm: one small record through the whole path (TLS, routes, key store, SQLite).
        #expect(
            try await device.put(subject: "p", recordID: "warm", body: Array(repeating: 1, count: 4096)).status == 201)
        let before = try Self.peakResidentBytes(pid)
        let record = try SecureRandom.bytes(count: 48 << 20)
        let stored = try await device.put(subject: "p", recordID: "big", body: record)
        #expect(stored.status == 201, "\(stored)")
        let growth = try Self.peakResidentBytes(pid) - before
        // Buffered whole, the record would be held at least twice (plaintext and envelope), 96 MiB; streamed, the
        // gateway holds a mebibyte of it and SQLite its page cache.
        #expect(growth < 24 << 20, "the gateway's peak resident memory grew by \(growth >> 20) MiB for a 48 MiB upload")
        await device.close()
        let reader = RecordClient(host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("reader"))
        let read = try await reader.get(subject: "p", recordID: "big")
        #expect(read.status == 200)
        #expect(read.body == record, "the streamed record does not read back identical")
        await reader.close()
    }
}
