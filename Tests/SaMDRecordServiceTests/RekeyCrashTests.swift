import Foundation
import Logging
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys
import SaMDStore
import SaMDTestSupport
import Testing

/// `samd-gateway rotate --rekey-subjects` killed with SIGKILL at several points, in another process, then run
/// again: every record opens after every kill, the last run finishes, every old subject-key version is
/// destroyed, and a copy of the key store taken before the re-key opens no record of the database after it — with
/// the KEKs under a passphrase and in a PKCS #11 token.
@Suite("Subject re-key survives SIGKILL")
struct RekeyCrashTests {
    static let subjects = 60

    @Test(.timeLimit(.minutes(6)), arguments: CrashTestCustody.allCases)
    func killedAtSeveralPointsEveryRecordStillOpensAndTheRerunFinishes(custody: CrashTestCustody) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-rekey-crash-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(
            atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let keysPath = root + "/keys"
        let storePath = root + "/records"
        let keysBefore = root + "/keys-before"
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let (keyStore, keys) = try await custody.makeKeyStore(at: keysPath)
        // The test keeps a store open throughout, as a serving gateway would.
        let store = try EncryptedRecordStore(directory: storePath, keyStore: keys, logger: quiet)
        var written: [(subject: String, recordID: String, payload: [UInt8])] = []
        for subject in 0..<Self.subjects {
            for record in 0..<3 {
                let payload = Array("{\"resourceType\":\"Observation\",\"id\":\"obs-\(subject)-\(record)\"}".utf8)
                try await store.put(
                    payload, subject: "patient-\(subject)", recordID: "obs-\(record)",
                    recordType: "application/fhir+json")
                written.append(("patient-\(subject)", "obs-\(record)", payload))
            }
        }
        let copied = try keyStore.copy(to: keysBefore)

        // Batches of two subjects: 30 batches. One kill at start-up (intent, first versions), then each
        // rerun after 1 to 3 batches, so no run reaches the end.
        var generator = SystemRandomNumberGenerator()
        var points: [KillPoint] = [.afterMilliseconds(Int.random(in: 300...1500, using: &generator))]
        for _ in 0..<4 {
            points.append(.afterProgressLine(Int.random(in: 1...3, using: &generator), prefix: "re-key: "))
        }
        let options = ["--rekey-subjects", "--batch-size", "2"]
        var kills = 0
        for point in points {
            let run = try RotateProcess(
                storePath: storePath, keysPath: keysPath, environment: keyStore.environment, options: options)
            if try run.kill(at: point) { kills += 1 }
            let (_, reopened) = try RotationCrashTests.open(storePath: storePath, keys: keyStore)
            for (subject, recordID, payload) in written {
                #expect(
                    try await reopened.get(subject: subject, recordID: recordID).payload == payload,
                    "\(subject)/\(recordID) after a kill")
            }
        }
        #expect(kills >= 4, "the kills must land while the job runs")

        let final = try RotateProcess(
            storePath: storePath, keysPath: keysPath, environment: keyStore.environment, options: options)
        let (status, output) = try final.waitForExit()
        #expect(status == 0, "\(output)")
        #expect(output.contains("re-key finished"), "\(output)")

        let (reopenedKeys, reopened) = try RotationCrashTests.open(storePath: storePath, keys: keyStore)
        for (subject, recordID, payload) in written {
            #expect(try await reopened.get(subject: subject, recordID: recordID).payload == payload)
        }
        // Every subject is on a new version, and its first one is destroyed.
        for subject in 0..<Self.subjects {
            let name = "s-" + (try reopenedKeys.subjectIndex(of: "patient-\(subject)"))
            #expect(
                envelopeCode { try reopenedKeys.keyEncryptionKey(for: KeyIdentifier(name: name, version: 1)) }
                    == .keyDestroyed)
        }
        // The key store copied before, with the database after: nothing opens.
        let stolen = try copied.open()
        let replay = try EncryptedRecordStore(directory: storePath, keyStore: stolen, logger: quiet)
        for (subject, recordID, _) in written {
            #expect(
                (try? await replay.get(subject: subject, recordID: recordID)) == nil,
                "\(subject)/\(recordID) opened with the old key store")
        }
    }
}
