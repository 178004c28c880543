// `samd-agent` as a user runs it, against a gateway in this process (so its counters can be read).

import Foundation
import SaMDRecordGateway
import SaMDRecordService
import SaMDStore
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("samd-agent")
struct AgentCLITests {
    static let files = [
        "patient-example.json", "Patient.000.ndjson", "python-hl7-0.4.5_sample_file1.hl7", "CT_small.dcm",
        "DocumentReference.000.ndjson",
    ]
    static let types = [
        "application/fhir+json", "application/fhir+ndjson", "x-application/hl7-v2+er7", "application/dicom",
        "application/fhir+ndjson",
    ]

    /// The agent's arguments for the client certificate `name` against `port`.
    static func arguments(_ name: String, port: Int, subject: String = "patient-0815") -> [String] {
        let pki = Harness.pki
        return [
            "--connect", "127.0.0.1:\(port)", "--cert", pki.cert(name), "--key", pki.key(name), "--ca", pki.root,
            "--subject", subject,
        ]
    }

    @Test func uploadsEveryFileOverOneConnectionAndTheReaderReadsThemBackIdentical() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let work = try Harness.TemporaryDirectory()
        let records = try Harness.medicalRecords(Self.files)
        var paths: [String] = []
        for record in records {
            paths.append(work.file(record.name))
            try Data(record.bytes).write(to: URL(fileURLWithPath: paths.last!))
        }
        let agent = try ProgramLocations.binary("samd-agent")

        let first = try await ChildProcess.run(agent, Self.arguments("device", port: gateway.port) + paths)
        #expect(first.status == 0, "\(first)")
        let lines = first.output.split(separator: "\n").map(String.init)
        #expect(lines.count == records.count + 1, "\(lines)")
        for (line, record) in zip(lines, records) {
            #expect(line == "\(record.name): \(record.bytes.count) bytes, 201 Created, revision 1")
        }
        let total = records.map(\.bytes.count).reduce(0, +)
        #expect(
            lines.last
                == "uploaded \(records.count) of \(records.count) files, \(total) bytes, to 127.0.0.1:\(gateway.port)")
        #expect(gateway.gateway.statistics.handshakesSucceeded == 1, "one kept-alive connection for every file")

        let reader = try gateway.client("reader")
        for (record, type) in zip(records, Self.types) {
            let read = try await reader.get(subject: "patient-0815", recordID: record.name)
            #expect(read.status == 200)
            #expect(read.contentType == type, "\(record.name)")
            #expect(read.body == record.bytes, "\(record.name) differs")
        }
        // Contents are never printed.
        let hl7 = String(decoding: records[2].bytes.prefix(40), as: UTF8.self)
        #expect(!first.output.contains(hl7) && !first.standardError.contains(hl7))

        let second = try await ChildProcess.run(
            agent,
            Self.arguments("device", port: gateway.port) + ["--record-type", "application/octet-stream"] + [paths[0]])
        #expect(second.status == 0, "\(second)")
        #expect(
            second.output.hasPrefix("\(records[0].name): \(records[0].bytes.count) bytes, 200 OK, revision 2\n"),
            "\(second)")
        #expect(
            try await reader.get(subject: "patient-0815", recordID: records[0].name).contentType
                == "application/octet-stream")
        await reader.close()
        await gateway.stop()
    }

    @Test func aRefusedCertificateExits77AfterOneAttempt() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let work = try Harness.TemporaryDirectory()
        let path = work.file("patient.json")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: path))
        let result = try await ChildProcess.run(
            try ProgramLocations.binary("samd-agent"),
            Self.arguments("unknownCADevice", port: gateway.port) + ["--retries", "5", "--retry-delay", "0.01", path]
        )
        #expect(result.status == 77, "\(result)")
        #expect(result.standardError.contains("unknownCA"), "\(result)")
        #expect(!result.standardError.contains("retrying"), "a refused certificate was retried: \(result)")
        #expect(await eventually { gateway.gateway.statistics.handshakesFailed >= 1 })
        #expect(gateway.gateway.statistics.handshakesFailed == 1, "\(gateway.gateway.statistics)")
        #expect(gateway.gateway.statistics.requests == 0)
        await gateway.stop()
    }

    /// SaMDTLS validates this side's own identity when the context is built, so an expired device certificate
    /// is never presented: a configuration error (78), before any connection — as `samd-tls connect`.
    @Test func anExpiredDeviceCertificateExits78WithoutConnecting() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let work = try Harness.TemporaryDirectory()
        let path = work.file("patient.json")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: path))
        let result = try await ChildProcess.run(
            try ProgramLocations.binary("samd-agent"), Self.arguments("expiredDevice", port: gateway.port) + [path])
        #expect(result.status == 78, "\(result)")
        #expect(result.standardError.contains("invalidIdentity"), "\(result)")
        #expect(gateway.gateway.statistics.handshakesSucceeded + gateway.gateway.statistics.handshakesFailed == 0)
        await gateway.stop()
    }

    @Test func nothingListeningIsRetriedThenExits69() async throws {
        let port = try LoopbackPort.unused()
        let work = try Harness.TemporaryDirectory()
        let path = work.file("patient.json")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: path))
        let result = try await ChildProcess.run(
            try ProgramLocations.binary("samd-agent"),
            Self.arguments("device", port: port) + ["--retries", "2", "--retry-delay", "0.05", path]
        )
        #expect(result.status == 69, "\(result)")
        #expect(result.standardError.contains("patient.json: attempt 1 failed: unreachable"), "\(result)")
        #expect(result.standardError.contains("patient.json: attempt 2 failed: unreachable"), "\(result)")
        #expect(!result.standardError.contains("attempt 3 failed"), "\(result)")
        #expect(result.output == "uploaded 0 of 1 files, 0 bytes, to 127.0.0.1:\(port)\n")
    }

    @Test func unreadableFilesExit66BeforeConnecting() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let work = try Harness.TemporaryDirectory()
        let good = work.file("good.json")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: good))
        let agent = try ProgramLocations.binary("samd-agent")
        for bad in [work.file("missing.json"), work.path] {
            let result = try await ChildProcess.run(agent, Self.arguments("device", port: gateway.port) + [good, bad])
            #expect(result.status == 66, "\(result)")
            #expect(result.output.isEmpty)
        }
        #expect(gateway.gateway.statistics.handshakesSucceeded == 0)
        await gateway.stop()
    }

    @Test func aRefusedRecordExits65AndTheOtherFilesAreStored() async throws {
        let gateway = try await Harness.InProcessGateway.start(maximumBodyByteCount: 4096)
        let work = try Harness.TemporaryDirectory()
        let big = work.file("big.dcm")
        let small = work.file("small.json")
        try Data(repeating: 1, count: 10_000).write(to: URL(fileURLWithPath: big))
        try Data("{}".utf8).write(to: URL(fileURLWithPath: small))
        let result = try await ChildProcess.run(
            try ProgramLocations.binary("samd-agent"), Self.arguments("device", port: gateway.port) + [big, small])
        #expect(result.status == 65, "\(result)")
        #expect(
            result.output == """
                big.dcm: 10000 bytes, 413 Payload Too Large (payload-too-large)
                small.json: 2 bytes, 201 Created, revision 1
                uploaded 1 of 2 files, 2 bytes, to 127.0.0.1:\(gateway.port)

                """, "\(result)")
        await gateway.stop()
    }

    /// Ids the store refuses — dot segments as subject or file name, control characters in a file name —
    /// are usage errors (64) before connecting, and the message shows the name escaped on one line.
    @Test func idsTheStoreRefusesExit64BeforeConnectingAndArePrintedEscaped() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let agent = try ProgramLocations.binary("samd-agent")
        let work = try Harness.TemporaryDirectory()
        let good = work.file("good.json")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: good))
        let controlName = "a\r\nb\u{1B}[2J.json"
        try Data("{}".utf8).write(to: URL(fileURLWithPath: work.file(controlName)))
        let cases: [(subject: String, files: [String])] = [
            ("..", [good]), (".", [good]),
            ("patient-1", [work.path + "/.."]), ("patient-1", [work.path + "/."]),
            ("patient-1", [work.file(controlName)]), ("a\nb", [good]),
        ]
        for (subject, files) in cases {
            let result = try await ChildProcess.run(
                agent, Self.arguments("device", port: gateway.port, subject: subject) + files)
            #expect(result.status == 64, "\(subject.debugDescription) \(files): \(result)")
            #expect(
                !result.standardError.unicodeScalars.contains { $0 == "\r" || $0 == "\u{1B}" },
                "\(result.standardError.debugDescription)")
        }
        let escaped = try await ChildProcess.run(
            agent, Self.arguments("device", port: gateway.port) + [work.file(controlName)])
        #expect(escaped.standardError.contains("a\\r\\nb\\u{1B}[2J.json"), "\(escaped.standardError.debugDescription)")
        #expect(gateway.gateway.statistics.handshakesSucceeded == 0, "refused before connecting")
        #expect(try await gateway.stores.store.statistics().recordCount == 0)
        await gateway.stop()
    }

    @Test func usageErrorsExit64() async throws {
        let agent = try ProgramLocations.binary("samd-agent")
        let base = Self.arguments("device", port: 1)
        for extra in [
            [], ["/tmp/a.json", "/var/a.json"], ["--retries", "-1", "/tmp/a.json"],
            ["--record-type", "text/plain; charset=x", "/tmp/a.json"],
        ] {
            let result = try await ChildProcess.run(agent, base + extra)
            #expect(result.status == 64, "\(extra): \(result)")
        }
        let help = try await ChildProcess.run(agent, ["--help"])
        for option in [
            "--connect", "--server-name", "--key-passphrase-file", "--retries", "--record-type", "--subject",
        ] {
            #expect(help.output.contains(option), "\(option) missing from --help")
        }
    }
}
