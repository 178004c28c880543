import ArgumentParser
import Foundation
import SaMDDevPKI

/// `samd-pki issue`: one more device or reader certificate from a stored intermediate.
struct Issue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Issue more device or reader certificates with the intermediate of an existing development PKI."
    )

    @Option(help: ArgumentHelp("The directory written by samd-pki init.", valueName: "dir"))
    var pki: String

    @Option(name: .customLong("device"), help: ArgumentHelp("A device id to issue (repeatable).", valueName: "id"))
    var deviceIDs: [String] = []

    @Option(name: .customLong("reader"), help: ArgumentHelp("A reader id to issue (repeatable).", valueName: "id"))
    var readerIDs: [String] = []

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Validity in days, 1-397 (never past the intermediate's).", valueName: "n"))
    var days: Int = 30

    @Flag(help: "Replace an existing certificate and key of the same id.")
    var force = false

    func validate() throws {
        guard !self.deviceIDs.isEmpty || !self.readerIDs.isEmpty else {
            throw ValidationError("give at least one --device ID or --reader ID")
        }
    }

    func run() throws {
        let directory = DevelopmentPKIDirectory(directory: URL(fileURLWithPath: self.pki, isDirectory: true))
        // Every id is checked before anything is issued.
        try reportingFailure {
            for id in self.deviceIDs { _ = try DevelopmentSAN.device(id: id) }
            for id in self.readerIDs { _ = try DevelopmentSAN.reader(id: id) }
        }
        var files: [DevelopmentPKIDirectory.WrittenFile] = []
        for id in self.deviceIDs {
            files += try reportingFailure {
                try directory.issueDevice(id: id, validityDays: self.days, replacingExisting: self.force)
            }
        }
        for id in self.readerIDs {
            files += try reportingFailure {
                try directory.issueReader(id: id, validityDays: self.days, replacingExisting: self.force)
            }
        }
        printSummary(
            files,
            heading:
                "issued with \(directory.directory.path)/\(DevelopmentPKIDirectory.intermediateKeyFile) (development PKI, NOT a production CA):"
        )
    }
}
