// A record acknowledged to a device must survive a power loss: the gateway answers 201 only after the commit
// is on stable storage (the WAL fsync'd), seen in the gateway's own system calls.

import Foundation
import SaMDRecordGateway
import SaMDRecordService
import SaMDTLSTestSupport
import Testing

@Suite("Acknowledged means durable")
struct DurableAcknowledgementTests {
    static let record = Array(#"{"resourceType":"Observation","id":"obs-1","status":"final"}"#.utf8)

    /// With SQLite's `synchronous = NORMAL` (WAL mode) a commit is written to `records.sqlite-wal` but synced
    /// only at the next checkpoint: the 201 left before the record was durable. The gateway runs under
    /// `strace -f`; for each new record, the first write of the answer to the device's socket must come after
    /// an `fsync`/`fdatasync` of the WAL has returned.
    @Test func a201IsWrittenToTheSocketOnlyAfterTheWALIsSynced() async throws {
        let stores = try Harness.Stores()
        let trace = stores.directory.file("gateway.strace")
        let gateway = try await Harness.GatewayProcess(
            Harness.GatewayProcess.standardArguments(stores),
            tracer: ["-f", "-yy", "-ttt", "-e", "trace=fsync,fdatasync,sendmsg,sendto,write,writev", "-o", trace]
        )
        defer { gateway.stop() }
        let device = RecordClient(host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("device"))
        // The first PUT connects (handshake, session tickets) and makes the subject key; the ones judged are
        // new records on that same connection, whose only socket writes are their answers.
        let first = try await device.put(
            subject: "p", recordID: "r-0", recordType: "application/fhir+json", body: Self.record)
        #expect(first.status == 201, "\(first)")
        for index in 1...3 {
            let sent = Date().timeIntervalSince1970
            let response = try await device.put(
                subject: "p", recordID: "r-\(index)", recordType: "application/fhir+json", body: Self.record)
            #expect(response.status == 201, "\(response)")
            var verdict: StraceVerdict?
            _ = await eventually(timeout: 20) {
                verdict = Self.judge(
                    trace: (try? String(contentsOfFile: trace, encoding: .utf8)) ?? "", after: sent, port: gateway.port)
                return verdict != nil
            }
            let found = try #require(verdict, "no write to the device's socket traced after the request")
            #expect(
                found.walSyncedBeforeAnswer,
                "the answer to PUT r-\(index) was written before the WAL was synced:\n\(found.excerpt)")
        }
        await device.close()
    }

    struct StraceVerdict {
        let walSyncedBeforeAnswer: Bool
        let excerpt: String
    }

    /// Reads an `strace -f -yy -ttt` log from the first call at or after `after` (seconds since 1970): nil
    /// until a write to a TCP socket whose local port is `port` appears; then whether an `fsync` or
    /// `fdatasync` of `records.sqlite-wal` had returned before that write began.
    static func judge(trace: String, after: Double, port: Int) -> StraceVerdict? {
        var synced = false
        var pendingSync: Set<Substring> = []
        var seen: [Substring] = []
        for line in trace.split(separator: "\n") {
            // "PID SECONDS.MICROS call(...)"
            let fields = line.split(separator: " ", maxSplits: 2)
            guard fields.count == 3, let time = Double(fields[1]), time >= after else { continue }
            let (pid, call) = (fields[0], fields[2])
            seen.append(line)
            if call.hasPrefix("fsync(") || call.hasPrefix("fdatasync(") {
                guard call.contains("records.sqlite-wal>") else { continue }
                if call.hasSuffix("<unfinished ...>") {
                    pendingSync.insert(pid)
                } else if call.contains(") = 0") {
                    synced = true
                }
            } else if call.hasPrefix("<... fsync resumed>") || call.hasPrefix("<... fdatasync resumed>") {
                if pendingSync.remove(pid) != nil, call.contains(") = 0") { synced = true }
            } else if ["write(", "writev(", "sendmsg(", "sendto("].contains(where: { call.hasPrefix($0) }),
                call.contains("<TCP:[127.0.0.1:\(port)->") || call.contains("<TCP:[[::ffff:127.0.0.1]:\(port)->")
            {
                return StraceVerdict(walSyncedBeforeAnswer: synced, excerpt: seen.suffix(40).joined(separator: "\n"))
            }
        }
        return nil
    }
}
