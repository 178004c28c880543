// samd-gateway past its descriptor limit: started under a low `ulimit -n`, flooded with more TCP connections
// than it has descriptors, it must neither spin a core on failing accepts nor stop serving once the flood is
// gone. Real gateway processes; CPU time read from /proc/PID/stat.

import Foundation
import SaMDRecordGateway
import SaMDRecordService
import SaMDTLS
import SaMDTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("samd-gateway under descriptor exhaustion", .serialized)
struct GatewayDescriptorLimitTests {
    /// The descriptor limit the gateway runs under.
    static let descriptorLimit = 128
    /// More TCP connections than the gateway has descriptors.
    static let floodCount = 200

    /// CPU seconds (user + system) the process has used so far, from /proc/PID/stat.
    static func cpuSeconds(_ pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the command name (which may hold spaces) in parentheses: state is field 3, utime 14, stime 15.
        guard let close = stat.lastIndex(of: ")") else { throw SetupFailure("unreadable /proc/\(pid)/stat") }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else {
            throw SetupFailure("unreadable /proc/\(pid)/stat")
        }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU seconds the process uses over `seconds` of wall time.
    static func cpuUse(_ pid: Int32, over seconds: Double) async throws -> Double {
        let before = try Self.cpuSeconds(pid)
        try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
        return try Self.cpuSeconds(pid) - before
    }

    /// Plain TCP connections to 127.0.0.1:`port` (they complete in the listen backlog whether or not the
    /// gateway accepts them), each closed once: by ``closeAll()`` or when released.
    final class Flood {
        private(set) var descriptors: [Int32]

        init(_ count: Int, port: Int) throws {
            self.descriptors = []
            for _ in 0..<count { self.descriptors.append(try LoopbackPort.connect(to: port)) }
        }

        func closeAll() {
            for fd in self.descriptors { close(fd) }
            self.descriptors = []
        }

        deinit { self.closeAll() }
    }

    /// A client over a new connection is served (`/healthz` 200) within `timeout` seconds.
    static func served(port: Int, timeout: Double = 30) async throws -> Bool {
        let context = try Harness.clientContext("device")
        return await eventually(timeout: timeout) {
            let client = RecordClient(
                host: "127.0.0.1", port: port, context: context, connectTimeout: .seconds(5),
                requestTimeout: .seconds(5))
            return (try? await client.health())?.status == 200
        }
    }

    @Test func failingAcceptsBackOffInsteadOfSpinningAndServiceResumes() async throws {
        let stores = try Harness.Stores()
        // A bound above the descriptor limit: accept itself fails (EMFILE) while the flood lasts.
        let gateway = try await Harness.GatewayProcess(
            Harness.GatewayProcess.standardArguments(stores) + ["--max-connections", "100000"],
            descriptorLimit: Self.descriptorLimit
        )
        defer { gateway.stop() }
        let pid = gateway.child.process.processIdentifier
        let flood = try Flood(Self.floodCount, port: gateway.port)
        // Let the gateway take what it can, then measure while the rest wait with no descriptor to take them.
        try await Task.sleep(for: .seconds(1))
        let used = try await Self.cpuUse(pid, over: 4)
        flood.closeAll()
        #expect(used < 1.0, "the gateway used \(used) s of CPU in 4 s with its descriptors exhausted")
        // The failures are logged, once per interval (10 s), not once per failed accept.
        let events = gateway.log.components(separatedBy: "event=samd.tls.accept-failed").count - 1
        #expect(events >= 1 && events <= 2, "\(events) accept-failed events: \(gateway.log.suffix(2000))")
        #expect(
            try await Self.served(port: gateway.port), "no client served after the flood: \(gateway.log.suffix(2000))")
    }

    @Test func connectionsOverTheBoundAreClosedAndLoggedOncePerInterval() async throws {
        let stores = try Harness.Stores()
        let gateway = try await Harness.GatewayProcess(
            Harness.GatewayProcess.standardArguments(stores),
            descriptorLimit: Self.descriptorLimit
        )
        defer { gateway.stop() }
        let pid = gateway.child.process.processIdentifier
        #expect(await gateway.waitForLog("max_connections="))
        let bound = try #require(
            gateway.log.components(separatedBy: "max_connections=").dropFirst().first.flatMap {
                Int($0.prefix { $0.isNumber })
            }
        )
        #expect(
            bound > 0 && bound < Self.descriptorLimit,
            "default --max-connections \(bound) under ulimit -n \(Self.descriptorLimit)")

        let flood = try Flood(Self.floodCount, port: gateway.port)
        // The connections over the bound are closed by the gateway (end of stream) at once — well before the
        // handshake timeout (10 s) could close them.
        let deadline = Date() + 8
        var refused = 0
        while Date() < deadline {
            refused = flood.descriptors.filter { LoopbackPort.peerClosed($0) }.count
            if refused >= Self.floodCount - bound { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(refused >= Self.floodCount - bound, "\(refused) of \(Self.floodCount) closed; bound \(bound)")
        let used = try await Self.cpuUse(pid, over: 3)
        #expect(used < 1.0, "the gateway used \(used) s of CPU in 3 s at its connection bound")
        // Refusals are logged once per interval, not once per connection.
        let events = gateway.log.components(separatedBy: "event=samd.tls.connections-refused").count - 1
        #expect(events >= 1 && events <= 3, "\(events) connections-refused events for \(refused) refusals")
        // A burst accepted faster than the refusals are carried out (each on its connection's event loop) may
        // meet EMFILE for a moment on a loaded machine: then accepting pauses, logged once per interval.
        let acceptFailures = gateway.log.components(separatedBy: "event=samd.tls.accept-failed").count - 1
        #expect(acceptFailures <= 1, "\(gateway.log.suffix(2000))")

        flood.closeAll()
        #expect(
            try await Self.served(port: gateway.port), "no client served after the flood: \(gateway.log.suffix(2000))")
    }
}
