// samd-agent --outbox as a device runs it: files sealed to the gateway's recipient key into the outbox, kept
// through an outage, delivered later, refused when tampered with, and nothing lost or stored twice when the agent
// is SIGKILLed at any point. The gateway runs in this process on real stores; the recipient key file is made by
// samd-vault.

import Foundation
import SaMDCrypto
import SaMDRecordGateway
import SaMDRecordService
import SaMDStore
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("samd-agent --outbox")
struct AgentOutboxTests {
    /// Stores, the gateway's recipient public key file (`samd-vault keys recipient --out`), and a gateway over
    /// them that can be stopped and started again on the same port.
    final class Setup: @unchecked Sendable {
        let stores: Harness.Stores
        let work: Harness.TemporaryDirectory
        let recipient: String
        let port: Int
        var gateway: RecordGateway?
        let events = LogRecorder()

        init() async throws {
            self.stores = try Harness.Stores()
            self.work = try Harness.TemporaryDirectory("samd-outbox")
            self.recipient = self.work.file("recipient.json")
            let made = try await ChildProcess.run(
                try ProgramLocations.binary("samd-vault"),
                ["keys", "recipient", "--keystore", self.stores.keysPath, "--out", self.recipient],
                environment: ["SAMD_PASSPHRASE": Harness.passphrase])
            guard made.status == 0 else { throw SetupFailure("samd-vault keys recipient: \(made)") }
            self.port = try LoopbackPort.unused()
        }

        func start() async throws {
            let configuration = RecordGatewayConfiguration(
                tls: try Harness.serverContext(), readers: [TestPKI.readerURI], shredders: [Harness.shredderURI])
            self.gateway = try await RecordGateway.start(
                host: "127.0.0.1", port: self.port, configuration: configuration, store: self.stores.store,
                logger: self.events.logger)
        }

        func stop() async {
            await self.gateway?.stop()
            self.gateway = nil
        }

        var outbox: String { self.work.file("outbox") }

        /// The agent's arguments with the outbox and the recipient key.
        func arguments(files: [String], subject: String = "patient-0815", more: [String] = []) -> [String] {
            AgentCLITests.arguments("device", port: self.port, subject: subject)
                + ["--outbox", self.outbox, "--recipient", self.recipient, "--retries", "1", "--retry-delay", "0.05"]
                + more + files
        }

        /// The outbox's entry names, and everything else in it.
        func listing() throws -> (entries: [String], other: [String], refused: [String]) {
            let names = try FileManager.default.contentsOfDirectory(atPath: self.outbox).sorted()
            let refused =
                (try? FileManager.default.contentsOfDirectory(atPath: self.outbox + "/refused").sorted()) ?? []
            return (
                names.filter { $0.hasSuffix(".smdq") },
                names.filter { !$0.hasSuffix(".smdq") && ![".lock", ".deliver.lock", "refused"].contains($0) }, refused
            )
        }

        func write(_ records: [(name: String, bytes: [UInt8])]) throws -> [String] {
            try records.map { record in
                let path = self.work.file(record.name)
                try Data(record.bytes).write(to: URL(fileURLWithPath: path))
                return path
            }
        }
    }

    static func agent() throws -> URL { try ProgramLocations.binary("samd-agent") }

    @Test func filesQueuedThroughAnOutageAreDeliveredLaterIdentical() async throws {
        let setup = try await Setup()
        let records = try Harness.medicalRecords(AgentCLITests.files)
        let paths = try setup.write(records)

        // The gateway is down: every file is sealed into the outbox, and the agent says to try later.
        let offline = try await ChildProcess.run(try Self.agent(), setup.arguments(files: paths))
        #expect(offline.status == 75, "\(offline)")
        let queued = try setup.listing()
        #expect(queued.entries.count == records.count && queued.other.isEmpty && queued.refused.isEmpty)
        #expect(offline.output.contains("queued \(records.count) of \(records.count) files; delivered 0"), "\(offline)")
        // The outbox holds no plaintext (no 16-byte window of any record).
        var outboxBytes: [UInt8] = []
        for name in queued.entries {
            outboxBytes += Array(try Data(contentsOf: URL(fileURLWithPath: setup.outbox + "/" + name)))
        }
        for record in records where record.bytes.count >= 16 {
            for start in stride(from: 0, to: record.bytes.count - 16, by: max(1, record.bytes.count / 32)) {
                #expect(outboxBytes.firstRange(of: record.bytes[start..<(start + 16)]) == nil, "\(record.name)")
            }
        }
        // The input files may go: the outbox is what is delivered.
        for path in paths { try FileManager.default.removeItem(atPath: path) }

        // The gateway is back: a run without files delivers the outbox, oldest first.
        try await setup.start()
        let online = try await ChildProcess.run(
            try Self.agent(),
            AgentCLITests.arguments("device", port: setup.port).filter { $0 != "--subject" && $0 != "patient-0815" }
                + ["--outbox", setup.outbox])
        #expect(online.status == 0, "\(online)")
        let lines = online.output.split(separator: "\n").map(String.init)
        #expect(lines.count == records.count + 1, "\(online)")
        for (line, name) in zip(lines, queued.entries) {
            #expect(line == "\(name): delivered, 201 Created, revision 1", "\(online)")
        }
        #expect(
            lines.last
                == "delivered \(records.count) (0 already stored), refused 0, 0 waiting in the outbox"
        )
        #expect(try setup.listing().entries.isEmpty)
        let reader = RecordClient(host: "127.0.0.1", port: setup.port, context: try Harness.clientContext("reader"))
        for (record, type) in zip(records, AgentCLITests.types) {
            let read = try await reader.get(subject: "patient-0815", recordID: record.name)
            #expect(read.status == 200 && read.contentType == type, "\(record.name)")
            #expect(read.body == record.bytes, "\(record.name) differs")
        }
        await reader.close()
        await setup.stop()
    }

    @Test func aTamperedEntryIsRefusedAndSetAsideAndTheOthersAreDelivered() async throws {
        let setup = try await Setup()
        let records = try Harness.medicalRecords(Array(AgentCLITests.files.prefix(3)))
        let paths = try setup.write(records)
        let offline = try await ChildProcess.run(try Self.agent(), setup.arguments(files: paths))
        #expect(offline.status == 75, "\(offline)")
        let entries = try setup.listing().entries
        // One byte of the second entry's last chunk flipped.
        let tampered = setup.outbox + "/" + entries[1]
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: tampered)))
        bytes[bytes.count - 3] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: tampered))

        try await setup.start()
        let run = try await ChildProcess.run(try Self.agent(), setup.arguments(files: []))
        #expect(run.status == 65, "\(run)")
        #expect(
            run.output.contains("\(entries[1]): refused, 400 Bad Request (envelope-not-authentic); moved to refused/"),
            "\(run)")
        let after = try setup.listing()
        #expect(after.entries.isEmpty && after.refused == [entries[1]])
        let reader = RecordClient(host: "127.0.0.1", port: setup.port, context: try Harness.clientContext("reader"))
        #expect(try await reader.get(subject: "patient-0815", recordID: records[0].name).body == records[0].bytes)
        #expect(try await reader.get(subject: "patient-0815", recordID: records[1].name).status == 404)
        #expect(try await reader.get(subject: "patient-0815", recordID: records[2].name).body == records[2].bytes)
        await reader.close()
        // A later run does not send a refused entry again.
        let again = try await ChildProcess.run(try Self.agent(), setup.arguments(files: []))
        #expect(again.status == 0, "\(again)")
        #expect(again.output.contains("(nothing to deliver)"), "\(again)")
        await setup.stop()
    }

    @Test func sigkillAtAnyPointLosesNothingAndStoresNothingTwice() async throws {
        let setup = try await Setup()
        let records = try Harness.medicalRecords(AgentCLITests.files)
        // A larger record widens the windows of sealing and of sending.
        let large = (name: "large.dcm", bytes: try SecureRandom.bytes(count: 6 << 20))
        let all = records + [large]
        let paths = try setup.write(all)
        try await setup.start()

        // A probe run without a kill measures how long one run takes here, so that the kills land in both phases.
        let probeStart = ContinuousClock.now
        let probe = try await ChildProcess.run(try Self.agent(), setup.arguments(files: paths))
        #expect(probe.status == 0, "\(probe)")
        let runTime = ContinuousClock.now - probeStart
        var queuedEntries = all.count

        for round in 0..<8 {
            let child = try ChildProcess(try Self.agent(), setup.arguments(files: paths))
            let delay = runTime * Double.random(in: 0.05...0.95)
            try await Task.sleep(for: delay)
            child.kill()
            _ = await child.waitForExit(timeout: .seconds(30))
            queuedEntries += child.standardOutput.text.components(separatedBy: ": queued as ").count - 1
            let left = try setup.listing()
            #expect(left.refused.isEmpty, "round \(round): \(left)")
            // What a kill left is whole or absent: the next run's open removes a temporary file.
            #expect(left.other.allSatisfy { $0.hasPrefix(".tmp-") }, "round \(round): \(left.other)")
        }
        let drain = try await ChildProcess.run(try Self.agent(), setup.arguments(files: []))
        #expect(drain.status == 0, "\(drain)")
        let final = try setup.listing()
        #expect(final.entries.isEmpty && final.other.isEmpty && final.refused.isEmpty, "\(final)")

        let reader = RecordClient(host: "127.0.0.1", port: setup.port, context: try Harness.clientContext("reader"))
        for record in all {
            let read = try await reader.get(subject: "patient-0815", recordID: record.name)
            #expect(read.status == 200 && read.body == record.bytes, "\(record.name)")
        }
        await reader.close()
        // Every revision written is one entry queued: an entry delivered again after a kill was already stored.
        let written = setup.events.events("samd.gateway.sealed-upload-stored").filter {
            $0.metadata["outcome"] == "stored"
        }
        #expect(written.count <= queuedEntries, "\(written.count) revisions for \(queuedEntries) entries queued")
        #expect(try await setup.stores.store.statistics().recordCount == all.count)
        await setup.stop()
    }

    @Test func aQuotaRefusesNewFilesAndStillDelivers() async throws {
        let setup = try await Setup()
        let small = setup.work.file("small.json")
        let large = setup.work.file("large.dcm")
        try Data(repeating: 65, count: 2_000).write(to: URL(fileURLWithPath: small))
        try Data(repeating: 66, count: 200_000).write(to: URL(fileURLWithPath: large))
        try await setup.start()
        let run = try await ChildProcess.run(
            try Self.agent(), setup.arguments(files: [small, large], more: ["--outbox-max-bytes", "100000"]))
        #expect(run.status == 73, "\(run)")
        #expect(run.standardError.contains("large.dcm: not queued: the file (200000 bytes) is larger than"), "\(run)")
        #expect(run.standardError.contains("the outbox's quota of 100000 bytes"), "\(run)")
        #expect(run.output.contains("queued 1 of 2 files; delivered 1"), "\(run)")
        #expect(try setup.listing().entries.isEmpty)
        await setup.stop()
    }

    @Test func whileAnotherAgentDeliversFilesAreQueuedAndLeftToIt() async throws {
        let setup = try await Setup()
        try FileManager.default.createDirectory(atPath: setup.outbox, withIntermediateDirectories: false)
        chmod(setup.outbox, 0o700)
        let delivering = open(setup.outbox + "/.deliver.lock", O_RDWR | O_CREAT, 0o600)
        #expect(delivering >= 0 && flock(delivering, LOCK_EX | LOCK_NB) == 0)
        defer { close(delivering) }
        let file = setup.work.file("a.json")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: file))
        let run = try await ChildProcess.run(try Self.agent(), setup.arguments(files: [file]))
        #expect(run.status == 75, "\(run)")
        #expect(run.standardError.contains("another samd-agent is delivering this outbox"), "\(run)")
        #expect(
            run.output.contains("queued 1 of 1 files; not delivered now: another samd-agent is delivering the outbox"),
            "\(run)")
        #expect(try setup.listing().entries.count == 1)
    }

    @Test func aMalformedEntryIsSetAsideAndCountsAsRefused() async throws {
        let setup = try await Setup()
        try FileManager.default.createDirectory(atPath: setup.outbox, withIntermediateDirectories: false)
        chmod(setup.outbox, 0o700)
        try Data("junk".utf8).write(to: URL(fileURLWithPath: setup.outbox + "/0000000000000001.smdq"))
        let run = try await ChildProcess.run(try Self.agent(), setup.arguments(files: []))
        #expect(run.status == 65, "\(run)")
        #expect(run.output.contains("refused 1, 0 waiting in the outbox (nothing to deliver)"), "\(run)")
        #expect(try setup.listing().refused == ["0000000000000001.smdq"])
    }

    @Test func usageErrors() async throws {
        let setup = try await Setup()
        let file = setup.work.file("a.json")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: file))
        let base = AgentCLITests.arguments("device", port: setup.port)
        for (arguments, needle) in [
            (base + ["--recipient", setup.recipient, file], "--recipient needs --outbox"),
            (base + ["--outbox", setup.outbox, file], "--outbox with files needs --recipient"),
            (base + ["--outbox", setup.outbox, "--outbox-max-bytes", "0"], "--outbox-max-bytes is at least 1"),
            (base + ["--outbox-max-bytes", "10", file], "--outbox-max-bytes needs --outbox"),
        ] {
            let run = try await ChildProcess.run(try Self.agent(), arguments)
            #expect(run.status == 64, "\(arguments): \(run)")
            #expect(run.standardError.contains(needle), "\(run)")
        }
        // A recipient file that is not one: configuration, nothing queued.
        try Data("{\"format\":\"other\"}".utf8).write(to: URL(fileURLWithPath: setup.work.file("bad.json")))
        let bad = try await ChildProcess.run(
            try Self.agent(), base + ["--outbox", setup.outbox, "--recipient", setup.work.file("bad.json"), file])
        #expect(bad.status == 78, "\(bad)")
        #expect(!FileManager.default.fileExists(atPath: setup.outbox))
    }
}
