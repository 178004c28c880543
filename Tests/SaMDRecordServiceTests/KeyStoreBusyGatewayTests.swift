// The key store never stops the gateway: a process that holds the key store's lock and is stopped (SIGSTOP)
// made every PUT wait forever on flock, until the thread pool was full and the gateway answered nothing.

import Foundation
import SaMDRecordGateway
import SaMDRecordService
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("A stopped key-store lock holder does not stop the gateway")
struct KeyStoreBusyGatewayTests {
    static let record = Array(#"{"resourceType":"Observation","id":"obs-1","status":"final"}"#.utf8)

    @Test(.timeLimit(.minutes(3)))
    func newSubjectsPutsAnswer503WithRetryAfterWithinTheBoundKnownOnesAndGetsKeepWorking() async throws {
        let curl = try ProgramLocations.requiredTool("curl")
        let stores = try Harness.Stores()
        let gateway = try await Harness.GatewayProcess(Harness.GatewayProcess.standardArguments(stores))
        defer { gateway.stop() }
        let device = RecordClient(host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("device"))
        let reader = RecordClient(host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("reader"))
        #expect(
            try await device.put(subject: "p", recordID: "r-0", recordType: "application/fhir+json", body: Self.record)
                .status == 201)

        // A real process takes the key store's lock (as `samd-vault keys rotate` does), then is stopped. It is
        // started by a shell (which prints its pid) so that this process never waits on a stopped child.
        let lock = stores.keysPath + "/lock"
        let shell = try ChildProcess(
            URL(fileURLWithPath: "/bin/sh"),
            ["-c", "flock --exclusive --close \"$0\" sh -c 'echo held; exec sleep 300' & echo \"pid $!\"; wait", lock]
        )
        defer { Self.end(shell) }
        // Two writers print here in either order: the holder's "held" and the shell's "pid N"; wait for both.
        #expect(
            await shell.wait(timeout: .seconds(20)) {
                let lines = shell.standardOutput.text.split(separator: "\n", omittingEmptySubsequences: false)
                return lines.dropLast().contains("held") && lines.dropLast().contains { $0.hasPrefix("pid ") }
            })
        let holder = try #require(
            shell.standardOutput.text.split(separator: "\n").first { $0.hasPrefix("pid ") }.flatMap {
                Int32($0.dropFirst(4))
            })
        kill(holder, SIGSTOP)

        // A PUT for a subject whose key is known (cached) needs no store-wide lock: stored.
        #expect(
            try await device.put(subject: "p", recordID: "r-1", recordType: "application/fhir+json", body: Self.record)
                .status == 201)
        // A PUT for a new subject needs the store lock to make its key: 503 with Retry-After, within the key store's
        // lock timeout (5 s) and a loaded machine's margin.
        let pki = Harness.pki
        let url = "https://127.0.0.1:\(gateway.port)/records/n/r-1"
        let clock = ContinuousClock()
        let started = clock.now
        let put = try await ChildProcess.run(
            curl,
            [
                "--silent", "--show-error", "--max-time", "60", "--cacert", pki.root, "--cert", pki.cert("device"),
                "--key", pki.key("device"),
                "-X", "PUT", "-H", "Content-Type: application/fhir+json", "--data-binary", "{}", "-D", "-", "-o",
                "/dev/null", url,
            ]
        )
        let waited = clock.now - started
        #expect(put.status == 0, "\(put)")
        #expect(put.output.hasPrefix("HTTP/1.1 503"), "\(put)")
        #expect(put.output.lowercased().contains("\r\nretry-after: 1\r\n"), "\(put)")
        #expect(waited < .seconds(30), "\(waited)")
        // Several at once: none waits past the bound (no thread is held for ever).
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 2..<6 {
                group.addTask {
                    try await RecordClient(
                        host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("device")
                    )
                    .put(subject: "q-\(index)", recordID: "r", recordType: "application/fhir+json", body: Self.record)
                    .status
                }
            }
            for try await status in group { #expect(status == 503) }
        }
        #expect(clock.now - started < .seconds(60))
        // GETs need no lock: answered with the record (a read that needed the lock would be 503 past the lock's
        // timeout, whatever the machine's load), and without a wait as long as the PUTs' (bounded loosely: timing
        // on a machine running the whole suite is not what this proves).
        let readStarted = clock.now
        let read = try await reader.get(subject: "p", recordID: "r-0")
        #expect(read.status == 200 && read.body == Self.record)
        #expect(clock.now - readStarted < .seconds(30))

        // The holder goes on and ends: new subjects' PUTs are stored again.
        Self.end(shell)
        #expect(
            try await device.put(subject: "n", recordID: "r-1", recordType: "application/fhir+json", body: Self.record)
                .status == 201)
        await device.close()
        await reader.close()
    }

    /// Continues and kills the `flock` holder (which alone holds the lock: `--close`) and the command it ran,
    /// then the shell that started them.
    static func end(_ shell: ChildProcess) {
        for pid in Self.children(of: shell.process.processIdentifier) {
            let grandchildren = Self.children(of: pid)
            kill(pid, SIGCONT)
            kill(pid, SIGKILL)
            for grandchild in grandchildren { kill(grandchild, SIGKILL) }
        }
        shell.kill()
    }

    static func children(of pid: Int32) -> [Int32] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { Int32($0) }
    }
}
