import ArgumentParser
import Foundation
import SaMDDevPKI

/// `samd-pki init`: a new development PKI in a directory.
struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a new development PKI (NOT a production CA) into a directory."
    )

    @Option(
        name: .customLong("out"), help: ArgumentHelp("The directory to write (created, mode 0700).", valueName: "dir"))
    var out: String

    @Option(
        name: .customLong("server-dns"),
        help: ArgumentHelp("A server DNS SAN (repeatable; default localhost).", valueName: "name"))
    var serverDNSNames: [String] = []

    @Option(
        name: .customLong("server-ip"),
        help: ArgumentHelp("A server IP SAN (repeatable; default 127.0.0.1 and ::1).", valueName: "ip"))
    var serverIPAddresses: [String] = []

    @Option(name: .customLong("device"), help: ArgumentHelp("A device id (repeatable; default 0001).", valueName: "id"))
    var deviceIDs: [String] = []

    @Option(name: .customLong("reader"), help: ArgumentHelp("A reader id (repeatable; default 01).", valueName: "id"))
    var readerIDs: [String] = []

    @Option(
        parsing: .unconditional, help: ArgumentHelp("Leaf validity in days, 1-397 (CAs: at least 90).", valueName: "n"))
    var days: Int = 30

    @Flag(help: "Replace the files of an existing PKI in the directory.")
    var force = false

    func run() throws {
        let defaults = DevelopmentPKIDirectory.Options()
        let options = DevelopmentPKIDirectory.Options(
            serverDNSNames: self.serverDNSNames.isEmpty ? defaults.serverDNSNames : self.serverDNSNames,
            serverIPAddresses: self.serverIPAddresses.isEmpty ? defaults.serverIPAddresses : self.serverIPAddresses,
            deviceIDs: self.deviceIDs.isEmpty ? defaults.deviceIDs : self.deviceIDs,
            readerIDs: self.readerIDs.isEmpty ? defaults.readerIDs : self.readerIDs,
            validityDays: self.days,
            replacesExisting: self.force
        )
        let directory = DevelopmentPKIDirectory(directory: URL(fileURLWithPath: self.out, isDirectory: true))
        let files = try reportingFailure { try directory.create(options) }
        printSummary(files, heading: "development PKI (NOT a production CA) written to \(directory.directory.path):")
    }
}
