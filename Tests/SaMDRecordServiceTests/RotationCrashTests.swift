import Foundation
import Logging
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys
import SaMDStore
import SaMDTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The key rotation killed with SIGKILL at random points, in another process (`samd-gateway rotate`), then
/// restarted: every record still opens after every kill, and the job completes — with the KEKs under a passphrase
/// and in a PKCS #11 token (where a kill may also leave a generated KEK object the store never recorded). The test
/// process keeps a store of its own open throughout, as a serving gateway would (this caught a store that dropped
/// SQLite's locks).
@Suite("Key rotation survives SIGKILL")
struct RotationCrashTests {
    static let subjects = 200
    static let batchSize = 5

    @Test(.timeLimit(.minutes(5)), arguments: CrashTestCustody.allCases)
    func killedAtRandomPointsEveryRecordStillOpensAndTheRestartedJobCompletes(custody: CrashTestCustody) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-rotation-crash-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(
            atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let keysPath = root + "/keys"
        let storePath = root + "/records"
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let (keyStore, keys) = try await custody.makeKeyStore(at: keysPath)
        let store = try EncryptedRecordStore(directory: storePath, keyStore: keys, logger: quiet)
        var written: [String: [UInt8]] = [:]
        for subject in 0..<Self.subjects {
            let bytes = Array("{\"resourceType\":\"Observation\",\"id\":\"obs-\(subject)\"}".utf8)
            try await store.put(
                bytes, subject: "patient-\(subject)", recordID: "obs-\(subject)", recordType: "application/fhir+json")
            written["patient-\(subject)"] = bytes
        }

        var generator = SystemRandomNumberGenerator()
        // Kill points: one during start-up (intent, new KEK version), then each restarted (resuming) run after
        // 1 to 4 of its batches — 40 batches in all, so no run can reach the end before it is killed.
        var killPoints: [KillPoint] = [.afterMilliseconds(Int.random(in: 0...150, using: &generator))]
        for _ in 0..<4 {
            killPoints.append(.afterProgressLine(Int.random(in: 1...4, using: &generator)))
        }
        var kills = 0
        for point in killPoints {
            let run = try RotateProcess(storePath: storePath, keysPath: keysPath, environment: keyStore.environment)
            let killed = try run.kill(at: point)
            if killed { kills += 1 }
            // After every kill, a fresh process view: every record opens.
            let (_, reopened) = try Self.open(storePath: storePath, keys: keyStore)
            for (subject, bytes) in written {
                #expect(
                    try await reopened.get(subject: subject, recordID: "obs-\(subject.dropFirst("patient-".count))")
                        .payload
                        == bytes)
            }
        }
        #expect(kills >= 4, "the kills must land while the job runs")

        // The restart completes.
        let final = try RotateProcess(storePath: storePath, keysPath: keysPath, environment: keyStore.environment)
        let (status, output) = try final.waitForExit()
        #expect(status == 0, "\(output)")
        #expect(output.contains("rotation finished"), "\(output)")

        // Every subject key is under the active version; every older version can go, and nothing is lost.
        let (reopenedKeys, reopened) = try Self.open(storePath: storePath, keys: keyStore)
        // The active version from the metadata: a token never exports a KEK (`sealingKey(named:)` refuses).
        let active = try #require(
            try reopenedKeys.list().last { $0.identifier.name == FileKeyStore.defaultKeyName && $0.state == .active }
        ).identifier
        #expect(active.version >= 2)
        for key in try reopenedKeys.list() where key.identifier != active {
            _ = try reopenedKeys.destroy(key.identifier)
        }
        for (subject, bytes) in written {
            #expect(
                try await reopened.get(subject: subject, recordID: "obs-\(subject.dropFirst("patient-".count))").payload
                    == bytes)
        }
        // No temporary file of an interrupted write is taken for a subject key.
        #expect(try reopenedKeys.subjectKeyNames().count == Self.subjects)
    }

    /// A fresh view of both stores, the key store opened with its custody.
    static func open(storePath: String, keys: CrashTestKeyStore) throws -> (FileKeyStore, EncryptedRecordStore) {
        let opened = try keys.open()
        return (opened, try EncryptedRecordStore(directory: storePath, keyStore: opened, logger: Harness.quiet))
    }
}

enum KillPoint {
    case afterMilliseconds(Int)
    /// After the n-th progress line (`rotation: …`, or `re-key: …` when the prefix is given).
    case afterProgressLine(Int, prefix: String = "rotation: ")
}

/// `samd-gateway rotate --new-version --batch-size 5` (or other `options`) as a child process.
final class RotateProcess {
    let process = Process()
    let output = Pipe()

    /// - Parameter environment: the key store's secret (`CrashTestKeyStore.environment`), added to this process's.
    init(
        storePath: String, keysPath: String, environment: [String: String],
        options: [String] = ["--new-version", "--batch-size", "\(RotationCrashTests.batchSize)"]
    ) throws {
        self.process.executableURL = try ProgramLocations.binary("samd-gateway")
        self.process.arguments = ["rotate", "--store", storePath, "--keystore", keysPath] + options
        self.process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        self.process.standardOutput = self.output
        self.process.standardError = self.output
        try self.process.run()
    }

    deinit {
        if self.process.isRunning { Glibc.kill(self.process.processIdentifier, SIGKILL) }
    }

    /// Kills the child with SIGKILL at `point`. Returns whether it was still running (not already finished).
    func kill(at point: KillPoint) throws -> Bool {
        switch point {
        case .afterMilliseconds(let milliseconds):
            usleep(UInt32(milliseconds) * 1000)
        case .afterProgressLine(let count, let prefix):
            // Reads the child's output until the count-th progress line (bounded by the output's end).
            var seen = 0
            var buffer: [UInt8] = []
            let handle = self.output.fileHandleForReading
            while seen < count {
                let chunk = handle.availableData
                if chunk.isEmpty { break } // the child exited
                buffer += chunk
                seen =
                    String(decoding: buffer, as: UTF8.self).components(separatedBy: "\n").filter {
                        $0.hasPrefix(prefix)
                    }.count
            }
        }
        let wasRunning = self.process.isRunning
        Glibc.kill(self.process.processIdentifier, SIGKILL)
        self.process.waitUntilExit()
        return wasRunning && self.process.terminationReason == .uncaughtSignal
    }

    /// Waits for the child to end; its exit status and output.
    func waitForExit() throws -> (Int32, String) {
        let data = self.output.fileHandleForReading.readDataToEndOfFile()
        self.process.waitUntilExit()
        return (self.process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
