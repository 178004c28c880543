import ArgumentParser
import Foundation
import SaMDExampleSupport
import Logging
import SaMDKeys
import SaMDRecordService
import SaMDStore

/// `samd-gateway rotate`: a new KEK version (with --new-version) and every subject key rewrapped under it, in
/// batches, resumable after a crash (`KeyRotationJob`).
struct Rotate: ParsableCommand {
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
            Exit codes: 0 finished; 65 some subject keys could not be rewrapped (listed by blind name on \
            standard error; run again to retry them); 74 storage failed; 75 another rotation job is running \
            on this store; 78 the key store cannot be opened or has no active KEK version.
            """
    )

    @OptionGroup var stores: StoreOptions

    @Flag(name: .long, help: "Make a new KEK version first (a rotation).")
    var newVersion = false

    @Option(name: .long, help: ArgumentHelp("Subject keys rewrapped between two committed checkpoints.", valueName: "n"))
    var batchSize: Int = 256

    @Option(name: .long, help: ArgumentHelp("The KEK to rotate.", valueName: "name"))
    var kekName: String = FileKeyStore.defaultKeyName

    func validate() throws {
        guard (1...1_000_000).contains(self.batchSize) else { throw ValidationError("--batch-size is 1 to 1000000") }
    }

    func run() throws {
        bootstrapLogging(level: .info)
        let store = try self.stores.open()
        let job = KeyRotationJob(store: store, kekName: self.kekName, batchSize: self.batchSize)
        let report: KeyRotationReport
        do {
            report = try job.run(newKEKVersion: self.newVersion) { progress in
                printLine(
                    "rotation: \(progress.done)/\(progress.total) subject keys, \(progress.rewrapped) rewrapped, "
                        + String(format: "%.1f", progress.rate) + "/s"
                )
            }
        } catch let error as RecordStoreError {
            printError("rotation failed: \(error.code): \(error.reason)")
            throw ExitCode(ExitStatus.code(forStore: error))
        }
        guard report.finished else {
            for failure in report.failed {
                printError("subject key \(failure.key) not rewrapped: \(failure.reason)")
            }
            printError("rotation incomplete: \(report.failed.count) of \(report.subjectKeyCount) subject keys are not under \(report.target); run rotate again")
            throw ExitCode(ExitStatus.dataError)
        }
        printLine("rotation finished: \(report.target), \(report.subjectKeyCount) subject keys")
    }
}
