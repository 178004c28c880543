// samd-agent reads a record from its file as it sends it: a large record costs it a fixed amount of memory, and a
// file that changes size while it is sent is refused without the gateway storing anything.

import Foundation
import SaMDCrypto
import SaMDRecordService
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("samd-agent: streamed uploads")
struct AgentStreamingTests {
    /// Runs the agent under a small Python parent that reports the agent's peak resident set
    /// (`getrusage(RUSAGE_CHILDREN).ru_maxrss`, taken when the agent was reaped: its whole life) in bytes.
    static func runMeasured(_ arguments: [String]) async throws -> (run: ChildProcess.Run, peak: Int) {
        let agent = try ProgramLocations.binary("samd-agent")
        let script = """
            import resource, subprocess, sys
            status = subprocess.run(sys.argv[1:]).returncode
            print("peak-kib", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
            sys.exit(status)
            """
        let run = try await ChildProcess.run(
            try ProgramLocations.requiredTool("python3"), ["-c", script, agent.path] + arguments,
            timeout: .seconds(300))
        let line = try #require(run.standardError.split(separator: "\n").last { $0.hasPrefix("peak-kib ") })
        let kibibytes = try #require(Int(line.dropFirst("peak-kib ".count)))
        return (run, kibibytes << 10)
    }

    @Test func aLargeRecordCostsTheAgentAFixedAmountOfMemory() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let work = try Harness.TemporaryDirectory()
        let small = work.file("small.dcm")
        try Data(repeating: 1, count: 1024).write(to: URL(fileURLWithPath: small))
        let large = work.file("large.dcm")
        let record = try SecureRandom.bytes(count: 60 << 20)
        try Data(record).write(to: URL(fileURLWithPath: large))

        let idle = try await Self.runMeasured(AgentCLITests.arguments("device", port: gateway.port) + [small])
        #expect(idle.run.status == 0, "\(idle.run)")
        let sending = try await Self.runMeasured(AgentCLITests.arguments("device", port: gateway.port) + [large])
        #expect(sending.run.status == 0, "\(sending.run)")
        #expect(sending.run.output.hasPrefix("large.dcm: \(60 << 20) bytes, 201 Created, revision 1\n"))
        // Read whole, the record would be held about three times (the file, the array, the buffer): 180 MiB.
        let growth = sending.peak - idle.peak
        #expect(
            growth <= 32 << 20,
            "the agent's peak resident memory grew by \(growth >> 20) MiB for a 60 MiB record (\(idle.peak >> 20) → \(sending.peak >> 20) MiB)"
        )
        let reader = try gateway.client("reader")
        let read = try await reader.get(subject: "patient-0815", recordID: "large.dcm")
        #expect(read.status == 200)
        #expect(read.body == record, "the streamed record does not read back identical")
        await reader.close()
        await gateway.stop()
    }

    @Test func aFileThatChangesSizeWhileSentIsRefusedAndNothingIsStored() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        // A /proc file reports a size of 0 and yields bytes: to the agent, a file that grew after it was measured.
        let run = try await ChildProcess.run(
            try ProgramLocations.binary("samd-agent"),
            AgentCLITests.arguments("device", port: gateway.port) + ["/proc/version"])
        #expect(run.status == 66, "\(run)")
        #expect(run.standardError.contains("the file became longer while it was sent"), "\(run)")
        let reader = try gateway.client("reader")
        #expect(try await reader.get(subject: "patient-0815", recordID: "version").status == 404)
        await reader.close()
        await gateway.stop()
    }

    @Test func aRefusalBeforeTheBodyIsOutStopsTheUploadAndTheClientGoesOn() async throws {
        let gateway = try await Harness.InProcessGateway.start(maximumBodyByteCount: 1 << 20)
        let work = try Harness.TemporaryDirectory()
        let path = work.file("big.dcm")
        try Data(repeating: 3, count: 16 << 20).write(to: URL(fileURLWithPath: path))
        let device = try gateway.client("device")
        let refused = try await device.put(subject: "p", recordID: "big", file: RecordUploadFile(path: path))
        #expect(refused.status == 413, "\(refused)")
        #expect(try await device.put(subject: "p", recordID: "small", body: [1]).status == 201)
        await device.close()
        await gateway.stop()
    }

    static let shortSysfsFile = "/sys/kernel/mm/transparent_hugepage/enabled"

    @Test(.enabled(if: FileManager.default.isReadableFile(atPath: shortSysfsFile)))
    func aFileShorterThanItsSizeIsCutOffAfterTheHeadAndNothingIsStored() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        // sysfs gives a size of 4096 and yields a line: the head (`Content-Length: 4096`) is out when the read
        // comes up short; the connection is closed with the body short, and the gateway stores nothing.
        let device = try gateway.client("device")
        let error = await #expect(throws: RecordServiceError.self) {
            try await device.put(subject: "p", recordID: "sysfs", file: RecordUploadFile(path: Self.shortSysfsFile))
        }
        #expect(error?.code == .bodyUnreadable)
        #expect(error?.reason == "the file became shorter while it was sent")
        #expect(try await device.put(subject: "p", recordID: "after", body: [1, 2, 3]).status == 201)
        await device.close()
        let reader = try gateway.client("reader")
        #expect(try await reader.get(subject: "p", recordID: "sysfs").status == 404)
        await reader.close()
        await gateway.stop()
    }

    @Test func theClientSendsAFileRangeAndRefusesOneTheFileDoesNotHold() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let work = try Harness.TemporaryDirectory()
        let path = work.file("record")
        let bytes = try SecureRandom.bytes(count: 300_000)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let device = try gateway.client("device")
        // A range that starts and ends inside pieces.
        let range = RecordUploadFile(path: path, offset: 70_001, byteCount: 150_003)
        let stored = try await device.put(subject: "p", recordID: "range", file: range)
        #expect(stored.status == 201, "\(stored)")
        // Past the end: refused before anything is sent, and the connection still serves.
        let past = RecordUploadFile(path: path, offset: 200_000, byteCount: 100_001)
        let error = await #expect(throws: RecordServiceError.self) {
            try await device.put(subject: "p", recordID: "past", file: past)
        }
        #expect(error?.code == .bodyUnreadable)
        #expect(
            try await device.put(
                subject: "p", recordID: "empty", file: RecordUploadFile(path: path, offset: 0, byteCount: 0)
            ).status == 201)
        await device.close()
        let reader = try gateway.client("reader")
        #expect(try await reader.get(subject: "p", recordID: "range").body == Array(bytes[70_001..<220_004]))
        #expect(try await reader.get(subject: "p", recordID: "past").status == 404)
        #expect(try await reader.get(subject: "p", recordID: "empty").body == [])
        await reader.close()
        await gateway.stop()
    }
}
