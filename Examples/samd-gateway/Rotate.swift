import ArgumentParser
import Foundation
import Logging
import SaMDExampleStorage
import SaMDExampleSupport
import SaMDKeys
import SaMDRecordService
import SaMDStore

/// `samd-gateway rotate`: a new KEK version (with --new-version) and every subject key rewrapped under it, in
/// batches, resumable after a crash (`KeyRotationJob`); with --rekey-subjects, then every subject key
/// re-keyed (fresh material) and every record rewrapped to it (`SubjectRekeyJob`).
struct Rotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rotate the KEK under a record store and rewrap every subject key, resumably.",
        discussion: """
            With --new-version a new KEK version is made first; without it, subject keys are brought to the \
            version active now. A job killed at any point leaves every record readable; running rotate again \
            resumes after the last committed batch (and never makes a second version). It may run while \
            samd-gateway serves the same store.
            Standard output, one line per committed batch, then one at the end:
              rotation: DONE/TOTAL subject keys, REWRAPPED rewrapped, RATE/s
              rotation finished: KEY, N subject keys
            With --rekey-subjects (recovery from a key compromise) every subject then gets a new subject-key \
            version with fresh material, every record's header is rewrapped to it (payloads untouched) and the \
            old versions are destroyed; killed at any point, running the same command again finishes it:
              re-key: DONE/TOTAL subjects, N records rewrapped, RATE records/s
              re-key finished: N subjects, M records rewrapped, K old versions destroyed
            One job runs per store at a time: for a directory, the lock rotation.lock in it; for a PostgreSQL \
            database, an advisory lock held by the job's session — any instance may run or resume the job \
            another started and died in (the intent and the checkpoints are in the database). Two record \
            stores sharing one key store directory can rotate it at the same time: safe (each subject key is \
            rewrapped under the key store's own lock) but each job makes its own KEK version with \
            --new-version; run one rotation per key store.
            """ + "\nExit codes (sysexits): " + GatewayExitCodes.text(GatewayExitCodes.rotate)
    )

    @OptionGroup var stores: StoreOptions

    @OptionGroup var pin: PKCS11PINOption

    @Flag(name: .long, help: "Make a new KEK version first (a rotation).")
    var newVersion = false

    @Flag(
        name: .long,
        help:
            "Then re-key every subject (fresh subject-key material, every record rewrapped, old versions destroyed): after a compromise."
    )
    var rekeySubjects = false

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp("Subject keys rewrapped between two committed checkpoints (1 to 1000000).", valueName: "n"))
    var batchSize: Int = 256

    @Option(name: .long, help: ArgumentHelp("The KEK to rotate.", valueName: "name"))
    var kekName: String = FileKeyStore.defaultKeyName

    func validate() throws {
        guard (1...1_000_000).contains(self.batchSize) else { throw ValidationError("--batch-size is 1 to 1000000") }
        guard !self.kekName.isEmpty else { throw ValidationError("--kek-name needs a value") }
    }

    func run() async throws {
        try await withListedExitCodes { try await self.rotate() }
    }

    private func rotate() async throws {
        bootstrapLogging(level: .info)
        // A mistyped --store must not become a new, empty store whose rotation makes a KEK version anyway.
        try self.stores.requireExistingStore()
        let opened = try await self.stores.open(pinFile: self.pin.file, requireExisting: true)
        defer { withExtendedLifetime(opened) {} }
        // The jobs are synchronous and block on the database: on a thread of their own, not a task's.
        let plan = JobPlan(
            kekName: self.kekName, batchSize: self.batchSize, newVersion: self.newVersion,
            rekeySubjects: self.rekeySubjects)
        let store = opened.store
        try await onThreadOfItsOwn { try plan.run(on: store) }
        await opened.close()
    }
}

/// What `rotate` runs: the rotation, then the re-key when asked.
private struct JobPlan: Sendable {
    let kekName: String
    let batchSize: Int
    let newVersion: Bool
    let rekeySubjects: Bool

    func run(on store: any KeyJobStore) throws {
        let job = KeyRotationJob(store: store, kekName: self.kekName, batchSize: self.batchSize)
        let report = try Self.runJob("rotation") {
            try job.run(newKEKVersion: self.newVersion) { progress in
                printLine(
                    "rotation: \(progress.done)/\(progress.total) subject keys, \(progress.rewrapped) rewrapped, "
                        + String(format: "%.1f", progress.rate) + "/s"
                )
            }
        }
        try Self.requireFinished(
            report.finished, failed: report.failed, notDone: "rewrapped",
            incomplete:
                "rotation incomplete: \(report.failed.count) of \(report.subjectKeyCount) subject keys are not under \(report.target); run rotate again"
        )
        printLine("rotation finished: \(report.target), \(report.subjectKeyCount) subject keys")
        if self.rekeySubjects {
            try self.rekey(store)
        }
    }

    private func rekey(_ store: any KeyJobStore) throws {
        let report = try Self.runJob("re-key") {
            try SubjectRekeyJob(store: store, batchSize: self.batchSize).run { progress in
                printLine(
                    "re-key: \(progress.done)/\(progress.total) subjects, \(progress.recordsRewrapped) records rewrapped, "
                        + String(format: "%.1f", progress.rate) + " records/s"
                )
            }
        }
        try Self.requireFinished(
            report.finished, failed: report.failed, notDone: "re-keyed",
            incomplete:
                "re-key incomplete: \(report.failed.count) of \(report.subjectKeyCount) subjects keep their old key versions; run rotate --rekey-subjects again"
        )
        printLine(
            "re-key finished: \(report.subjectKeyCount) subjects, \(report.recordsRewrapped) records rewrapped, \(report.versionsDestroyed) old versions destroyed"
        )
    }

    /// Runs one of the store's resumable jobs (`KeyRotationJob`, `SubjectRekeyJob`): a `RecordStoreError` is
    /// reported as "`job` failed: CODE: REASON" and ends the command with its exit code
    /// (`RecordServiceExitStatus.code(forStore:)`).
    private static func runJob<Report>(_ job: String, _ body: () throws -> Report) throws -> Report {
        do {
            return try body()
        } catch let error as RecordStoreError {
            printError("\(job) failed: \(error.code): \(error.reason)")
            throw ExitCode(RecordServiceExitStatus.code(forStore: error))
        }
    }

    /// After a job's run that did not finish, names each subject key it left ("subject key KEY not `notDone`:
    /// REASON"), then prints `incomplete` and ends the command with exit 65 (running it again retries them).
    private static func requireFinished(
        _ finished: Bool, failed: [(key: String, reason: String)], notDone: String,
        incomplete: @autoclosure () -> String
    ) throws {
        guard !finished else { return }
        for failure in failed {
            printError("subject key \(failure.key) not \(notDone): \(failure.reason)")
        }
        printError(incomplete())
        throw ExitCode(ExitStatus.dataError)
    }
}
