// The rotation and re-key jobs on a store whose KEKs are in a PKCS #11 token (SoftHSM2, made in this process).
// Both jobs once asked the key store for `sealingKey(named:)` — the KEK's material, which a token never exports —
// only to learn which version seals: on a token store they failed with keyNotUsable before doing anything.
//
// One job per store: run back to back on one store beside the token-key suites (which spawn many child processes),
// the second job sometimes (about 1 run in 5) saw "another key rotation job is running": the first job's `flock` on
// rotation.lock was still held, for a moment after the job ended, by a child process spawned while the job ran (the
// descriptor lives in the child until its exec closes it). `JobLock` now waits for such a lock, within a bound
// (KeyRotationJobTests.aLockReleasedAMomentLaterIsWaitedForNotAConflict).

import Foundation
import Logging
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys
import SaMDOpenSSLSupport
import SaMDStore
import SaMDTestSupport
import Testing

@Suite("Rotation and re-key jobs with the KEK in a PKCS #11 token", .timeLimit(.minutes(2)))
struct TokenCustodyJobTests {
    enum Job: String, CaseIterable, Sendable {
        case rotation, rekey
    }

    @Test(arguments: Job.allCases)
    func theJobRunsOnATokenStoreAndEveryRecordStillOpens(_ job: Job) async throws {
        _ = SoftHSMToken.processConfigurationDirectory // before anything in this process loads the module
        let token = try await SoftHSMToken.inProcess(label: "jobs")
        defer { token.remove() }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("samd-token-jobs-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(
            atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: root) }

        // The store and its token session are released before the token is removed.
        try {
            let custody = try PKCS11Custody.create(
                uri: try PKCS11URI(parsing: "pkcs11:token=\(token.label)?module-path=\(SoftHSMToken.modulePath)"),
                pin: try SecureBytes(copying: Array(SoftHSMToken.testPIN.utf8)))
            let keys = try FileKeyStore.create(
                at: root + "/keys", custody: custody,
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            let store = try EncryptedRecordStore(directory: root + "/records", keyStore: keys)
            var written: [(String, String, [UInt8])] = []
            for subject in 0..<3 {
                for record in 0..<2 {
                    let payload = try SecureRandom.bytes(count: 300)
                    try store.put(
                        payload, subject: "p-\(subject)", recordID: "r-\(record)",
                        recordType: "application/octet-stream")
                    written.append(("p-\(subject)", "r-\(record)", payload))
                }
            }
            // The token store really refuses to export: what the jobs must not ask for.
            #expect(throws: EnvelopeError(.keyNotUsable, "")) {
                try keys.sealingKey(named: FileKeyStore.defaultKeyName)
            }

            switch job {
            case .rotation:
                let rotation = try KeyRotationJob(store: store).run(newKEKVersion: true)
                #expect(rotation.finished, "\(rotation.failed)")
                #expect(rotation.target == (try KeyIdentifier(name: FileKeyStore.defaultKeyName, version: 2)))
                #expect(rotation.subjectKeyCount == 3)
            case .rekey:
                let rekey = try SubjectRekeyJob(store: store).run()
                #expect(rekey.finished, "\(rekey.failed)")
                #expect(rekey.recordsRewrapped == written.count)
            }
            for (subject, recordID, payload) in written {
                #expect(try store.get(subject: subject, recordID: recordID).payload == payload)
            }
        }()
    }
}
