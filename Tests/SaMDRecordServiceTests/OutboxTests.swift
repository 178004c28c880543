// The device outbox on its own (no gateway): sealing to the recipient, the entry format, atomicity, recovery
// after a killed run, the quota, the lock, and what it refuses.

import Foundation
import Logging
import SaMDCrypto
import SaMDEnvelope
import SaMDRecordService
import SaMDStore
import SaMDTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Device outbox")
struct OutboxTests {
    /// A recipient key pair as the gateway's key store would hold it.
    struct Recipient {
        let privateKey: X25519.PrivateKey
        let identifier: KeyIdentifier
        var sealingKey: SealingKey { .recipient(self.identifier, self.privateKey.publicKey) }
        var opener: StaticKeyProvider { StaticKeyProvider(recipients: [self.identifier: self.privateKey]) }

        init() throws {
            self.privateKey = try X25519.PrivateKey()
            self.identifier = try KeyIdentifier(name: "recipient", version: 1)
        }
    }

    static func openOutbox(
        _ outbox: Harness.TemporaryDirectory, maximumByteCount: Int64 = Outbox.defaultMaximumByteCount,
        logger: Logger = Harness.quiet
    ) throws -> Outbox {
        try Outbox(directory: outbox.file("outbox"), maximumByteCount: maximumByteCount, logger: logger)
    }

    /// The plaintext of the envelope in `entry`, opened with the recipient's private key under the record's
    /// context — what the gateway's check does.
    static func opened(_ entry: OutboxEntry, _ recipient: Recipient) throws -> [UInt8] {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: entry.envelope.path)))
        let envelope = bytes[Int(entry.envelope.offset)...]
        let context = try EncryptionContext([
            ("subject", entry.subject), ("record", entry.recordID), ("type", entry.recordType),
        ])
        return try Envelope.open(envelope, context: context, keys: recipient.opener)
    }

    @Test func queuedRecordsAreSealedToTheRecipientAndHoldNoPlaintext() throws {
        let work = try Harness.TemporaryDirectory()
        let recipient = try Recipient()
        let records = try Harness.medicalRecords(AgentCLITests.files)
        let outbox = try Self.openOutbox(work)
        var entries: [OutboxEntry] = []
        for record in records {
            let path = work.file(record.name)
            try Data(record.bytes).write(to: URL(fileURLWithPath: path))
            entries.append(
                try outbox.queue(
                    file: path, subject: "patient-0815", recordID: record.name,
                    recordType: RecordTypes.recordType(forFileName: record.name), to: recipient.sealingKey))
        }
        #expect(try outbox.entries() == entries, "oldest first, as queued")
        #expect(zip(entries, entries.dropFirst()).allSatisfy { $0.sequence < $1.sequence }, "increasing")
        for (entry, record) in zip(entries, records) {
            #expect(try Self.opened(entry, recipient) == record.bytes, "\(record.name)")
            let file = Array(try Data(contentsOf: URL(fileURLWithPath: entry.envelope.path)))
            // No 16-byte window of the record appears in the entry.
            for start in stride(from: 0, to: max(1, record.bytes.count - 16), by: max(1, record.bytes.count / 16)) {
                let window = record.bytes[start..<min(record.bytes.count, start + 16)]
                #expect(file.firstRange(of: window) == nil, "\(record.name): plaintext at \(start)")
            }
            #expect(fileMode(entry.envelope.path) == 0o600)
            #expect(Array(file.prefix(5)) == Array("SMDQ".utf8) + [1])
        }
        #expect(fileMode(work.file("outbox")) == 0o700)
        // Under another context (another record's address) the envelope does not open.
        let moved = OutboxEntry(
            name: entries[0].name, sequence: entries[0].sequence, subject: entries[0].subject,
            recordID: entries[1].recordID, recordType: entries[0].recordType, envelope: entries[0].envelope)
        #expect(throws: EnvelopeError.self) { try Self.opened(moved, recipient) }
        let names = try FileManager.default.contentsOfDirectory(atPath: work.file("outbox")).sorted()
        #expect(names == [".lock"] + entries.map(\.name), "no temporary file left")
    }

    @Test func aNewerFileForTheSameRecordSupersedesTheQueuedOne() throws {
        let work = try Harness.TemporaryDirectory()
        let recipient = try Recipient()
        let outbox = try Self.openOutbox(work)
        let path = work.file("obs.json")
        try Data("first".utf8).write(to: URL(fileURLWithPath: path))
        let first = try outbox.queue(
            file: path, subject: "p-1", recordID: "obs.json", recordType: "application/fhir+json",
            to: recipient.sealingKey)
        try Data("second".utf8).write(to: URL(fileURLWithPath: path))
        let other = try outbox.queue(
            file: path, subject: "p-2", recordID: "obs.json", recordType: "application/fhir+json",
            to: recipient.sealingKey)
        let second = try outbox.queue(
            file: path, subject: "p-1", recordID: "obs.json", recordType: "application/fhir+json",
            to: recipient.sealingKey)
        #expect(try outbox.entries() == [other, second])
        #expect(!FileManager.default.fileExists(atPath: first.envelope.path))
        #expect(try Self.opened(second, recipient) == Array("second".utf8))
    }

    @Test func aKilledRunsTemporaryFileIsRemovedAndMalformedEntriesAreSetAside() throws {
        let work = try Harness.TemporaryDirectory()
        let recipient = try Recipient()
        let path = work.file("obs.json")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: path))
        do {
            let outbox = try Self.openOutbox(work)
            try outbox.queue(
                file: path, subject: "p-1", recordID: "obs.json", recordType: "application/fhir+json",
                to: recipient.sealingKey)
        }
        let directory = work.file("outbox")
        // What a run killed while sealing leaves, and what does not belong.
        try Data("partial".utf8).write(to: URL(fileURLWithPath: directory + "/.tmp-0123456789abcdef"))
        let good = OutboxEntry.header(subject: "p-1", recordID: "r", recordType: "text/plain")
        let malformed: [(String, [UInt8])] = [
            ("000000000000000A.smdq", good + [0]), // an entry's name only in lower-case hexadecimal
            ("ffffffffffffffff.smdq", Array("junk".utf8)), // the largest name: takes no sequence away
            ("x.smdq", good + [0]),
            ("0000000000000002.smdq", Array("NOPE".utf8) + [1, 0, 1, 65]), // magic
            ("0000000000000003.smdq", Array("SMDQ".utf8) + [2] + Array(good.dropFirst(5)) + [0]), // version
            ("0000000000000004.smdq", Array(good.prefix(9))), // truncated header
            ("0000000000000005.smdq", good), // no envelope
            ("0000000000000006.smdq", OutboxEntry.header(subject: "..", recordID: "r", recordType: "text/plain") + [0]),
            ("0000000000000007.smdq", Array("SMDQ".utf8) + [1, 0xFF, 0xFF] + [UInt8](repeating: 65, count: 2000)),
        ]
        for (name, bytes) in malformed {
            try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + name))
        }
        try FileManager.default.createSymbolicLink(
            atPath: directory + "/0000000000000008.smdq", withDestinationPath: path)
        try Data("unrelated".utf8).write(to: URL(fileURLWithPath: directory + "/notes.txt"))

        let events = LogRecorder()
        let outbox = try Self.openOutbox(work, logger: events.logger)
        let setAside = Set(malformed.map(\.0) + ["0000000000000008.smdq"])
        #expect(Set(outbox.setAside) == setAside)
        let first = try #require(try outbox.entries().first)
        #expect(try outbox.entries().map(\.name) == [first.name])
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: directory))
        #expect(names == [".lock", first.name, "notes.txt", Outbox.refusedDirectoryName])
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: directory + "/refused")) == setAside)
        #expect(events.events("samd.agent.refused").count == setAside.count)
        // The next entry comes after the first, whatever was set aside.
        let next = try outbox.queue(
            file: path, subject: "p-2", recordID: "obs.json", recordType: "application/fhir+json",
            to: recipient.sealingKey)
        #expect(next.sequence > first.sequence)
        // A set-aside entry never replaces one in refused/ with the same name.
        try Data(Array("NOPE".utf8)).write(to: URL(fileURLWithPath: directory + "/0000000000000002.smdq"))
        _ = try outbox.entries()
        let refused = Set(try FileManager.default.contentsOfDirectory(atPath: directory + "/refused"))
        #expect(refused == setAside.union(["0000000000000002.smdq.1"]))
    }

    @Test func aFileThatWouldPassTheQuotaIsRefusedAndNothingIsWritten() throws {
        let work = try Harness.TemporaryDirectory()
        let recipient = try Recipient()
        let small = work.file("small.json")
        let large = work.file("large.dcm")
        try Data(repeating: 7, count: 10_000).write(to: URL(fileURLWithPath: small))
        try Data(repeating: 9, count: 200_000).write(to: URL(fileURLWithPath: large))
        let events = LogRecorder()
        let outbox = try Self.openOutbox(work, maximumByteCount: 100_000, logger: events.logger)
        let kept = try outbox.queue(
            file: small, subject: "p-1", recordID: "small.json", recordType: "application/fhir+json",
            to: recipient.sealingKey)
        let before = Set(try FileManager.default.contentsOfDirectory(atPath: work.file("outbox")))
        let error = #expect(throws: OutboxError.self) {
            try outbox.queue(
                file: large, subject: "p-1", recordID: "large.dcm", recordType: "application/dicom",
                to: recipient.sealingKey)
        }
        #expect(error?.code == .quotaExceeded)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: work.file("outbox"))) == before)
        #expect(try outbox.entries() == [kept])
        #expect(events.events("samd.agent.quota-reached").count == 1)
        #expect(
            try outbox.byteCount()
                == (try FileManager.default.attributesOfItem(atPath: kept.envelope.path)[.size] as! NSNumber).int64Value
        )
    }

    @Test func severalProcessesQueueAtOnceAndOneDeliversAtATime() async throws {
        let work = try Harness.TemporaryDirectory()
        let recipient = try Recipient()
        let path = work.file("obs.json")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: path))
        let first = try Self.openOutbox(work)
        let second = try Self.openOutbox(work)
        // Another process's delivery holds .deliver.lock (a lock on another open file description).
        let delivering = open(work.file("outbox") + "/.deliver.lock", O_RDWR | O_CREAT, 0o600)
        #expect(delivering >= 0 && flock(delivering, LOCK_EX | LOCK_NB) == 0)
        defer { close(delivering) }
        // Queueing does not wait for it.
        try first.queue(file: path, subject: "p-1", recordID: "a", recordType: "text/plain", to: recipient.sealingKey)
        try second.queue(file: path, subject: "p-1", recordID: "b", recordType: "text/plain", to: recipient.sealingKey)
        #expect(try first.entries().map(\.recordID) == ["a", "b"])
        // Delivering does, and gives up after the lock timeout, before connecting to anything.
        let third = try Outbox(directory: work.file("outbox"), lockTimeout: .milliseconds(300), logger: Harness.quiet)
        let client = try RecordClient(
            host: "127.0.0.1", port: LoopbackPort.unused(), context: Harness.clientContext("device"))
        let started = ContinuousClock.now
        let error = await #expect(throws: OutboxError.self) {
            try await third.deliver(with: client, policy: .none)
        }
        #expect(error?.code == .busy)
        #expect(ContinuousClock.now - started >= .milliseconds(300))
        #expect(try third.entries().count == 2, "nothing delivered, nothing lost")
    }

    @Test func aTemporaryFileBeingWrittenIsNotTakenForAKilledRuns() throws {
        let work = try Harness.TemporaryDirectory()
        _ = try Self.openOutbox(work)
        let directory = work.file("outbox")
        let writing = directory + "/.tmp-00000000000000aa"
        let abandoned = directory + "/.tmp-00000000000000bb"
        let writer = open(writing, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        #expect(writer >= 0 && flock(writer, LOCK_EX | LOCK_NB) == 0)
        defer { close(writer) }
        try Data("partial".utf8).write(to: URL(fileURLWithPath: abandoned))
        _ = try Self.openOutbox(work)
        #expect(FileManager.default.fileExists(atPath: writing))
        #expect(!FileManager.default.fileExists(atPath: abandoned))
    }

    @Test(.enabled(if: FileManager.default.isWritableFile(atPath: "/dev/shm")))
    func aHugeSparseFileIsRefusedByTheQuotaWithoutOverflow() throws {
        let work = try Harness.TemporaryDirectory()
        let recipient = try Recipient()
        let path = "/dev/shm/samd-outbox-sparse-\(UUID().uuidString)"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        defer { unlink(path) }
        #expect(descriptor >= 0)
        let sized = ftruncate(descriptor, 9_223_000_000_000_000_000)
        close(descriptor)
        try #require(sized == 0, "tmpfs refused the size")
        let outbox = try Self.openOutbox(work)
        let error = #expect(throws: OutboxError.self) {
            try outbox.queue(
                file: path, subject: "p", recordID: "r", recordType: "text/plain", to: recipient.sealingKey)
        }
        #expect(error?.code == .quotaExceeded)
        #expect(error?.reason.contains("larger than the outbox's quota") == true)
    }

    @Test func anUnsafeDirectoryAKeyEncryptionKeyAndABadAddressAreRefused() throws {
        let work = try Harness.TemporaryDirectory()
        let recipient = try Recipient()
        let shared = work.file("shared")
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false)
        chmod(shared, 0o777)
        #expect(throws: OutboxError.self) { try Outbox(directory: shared, logger: Harness.quiet) }
        try FileManager.default.createSymbolicLink(atPath: work.file("link"), withDestinationPath: work.path)
        let linked = #expect(throws: OutboxError.self) {
            try Outbox(directory: work.file("link"), logger: Harness.quiet)
        }
        #expect(linked?.code == .unsafeDirectory)

        let outbox = try Self.openOutbox(work)
        let path = work.file("obs.json")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: path))
        let kek = SealingKey.keyEncryptionKey(
            try KeyIdentifier(name: "records", version: 1), try SecureBytes(randomByteCount: 32))
        for (key, subject, record, type) in [
            (kek, "p-1", "r", "text/plain"), (recipient.sealingKey, "..", "r", "text/plain"),
            (recipient.sealingKey, "p-1", "a\u{0}b", "text/plain"), (recipient.sealingKey, "p-1", "r", "text"),
        ] {
            let error = #expect(throws: OutboxError.self) {
                try outbox.queue(file: path, subject: subject, recordID: record, recordType: type, to: key)
            }
            #expect(error?.code == .sealingFailed)
        }
        let unreadable = #expect(throws: OutboxError.self) {
            try outbox.queue(
                file: work.path, subject: "p-1", recordID: "r", recordType: "text/plain", to: recipient.sealingKey)
        }
        #expect(unreadable?.code == .inputUnreadable)
        #expect(try outbox.entries().isEmpty)
    }
}
