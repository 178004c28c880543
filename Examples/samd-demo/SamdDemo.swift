import ArgumentParser
import Foundation
import Logging
import SaMDExampleSupport

/// `samd-demo`: SaMDKit's whole job in one command, on loopback, with throw-away keys and certificates.
@main
struct SamdDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samd-demo",
        abstract: "Run the end-to-end demo: mutual TLS upload, encrypted storage, KEK rotation, crypto-shredding.",
        discussion: """
            Makes a throw-away development PKI and key store, starts the records gateway on 127.0.0.1 (port 0), \
            uploads every record of a directory as a device over mutual TLS, reads each back as a reader and \
            compares it byte for byte, rotates the KEK and rewraps the subject keys while the gateway serves, \
            destroys the old KEK version and checks again, crypto-shreds one subject, shows that a client without \
            a certificate and one from an unknown CA are refused, and scans the database files for plaintext and \
            identifiers. Nothing leaves this machine.

            With --pkcs11-module PATH (SoftHSM2's module, e.g. /usr/lib/softhsm/libsofthsm2.so) the KEK and the \
            gateway's TLS private key are generated inside a fresh SoftHSM2 token that the demo makes in its work \
            directory (softhsm2.conf, token/; SOFTHSM2_CONF is set to it for this process, since SoftHSM2 reads \
            that variable when the module is loaded). The token's user and security-officer PINs are random, \
            written 0600 to token-user-pin and token-so-pin there, and never printed. The key store then seals \
            only under subject keys (a KEK in a token never leaves it), and the summary says where each key is. \
            Another module is refused (exit 69): initialising a token erases it, so use a token you made with \
            samd-vault keys init --kek pkcs11:… and samd-gateway --key pkcs11:… instead.

            With --postgres the demo runs two instances of the service, A and B — two record stores, two key \
            stores, two gateways on two ports, as two processes would — over one PostgreSQL database of a server \
            it starts in its work directory (postgres/: initdb, as the postgres user when run as root, which \
            makes the work directory 0711 so that user can enter it; TLS 1.3 only, on 127.0.0.1 and a free port, \
            with the PKI's server certificate). The key store is in the database with its KEK in a SoftHSM2 \
            token, as above (--pkcs11-module, by default /usr/lib/softhsm/libsofthsm2.so): A creates it, B opens \
            it from the custody record in the database and the PIN file. The device uploads through A, the \
            reader reads every record back through B, the KEK rotation and then a re-key of every subject run \
            over A's store while both gateways serve reads, a shredding through A answers 410 through B, and the \
            scan reads PostgreSQL's data files (after CHECKPOINT) and its log. The server is stopped at the end, \
            when a step fails, and on SIGINT or SIGTERM; with --work-directory its files are kept there, \
            otherwise they are removed with the rest.

            Exit codes: 0 every check passed; 1 a check failed; 64 usage; 65 a file larger than a record may be, \
            or too many files; 66 no records; 69 the PKCS #11 module is not SoftHSM2 or the token cannot be made, \
            or (--postgres) SoftHSM2's module is missing or PostgreSQL cannot be started; 70 internal error; 73 \
            the work directory cannot be made; with --postgres, 130 (SIGINT) or 143 (SIGTERM) when interrupted, \
            the server stopped.
            """
    )

    @Option(
        name: .long,
        help:
            "A directory of records to upload (every regular file below it; links followed, hidden files skipped). Default: the synthetic records shipped with the demo."
    )
    var records: String?

    @Option(name: .long, parsing: .unconditional, help: "Subjects (patients) the records are spread over, 1 to 100.")
    var subjects: Int = 3

    @Option(
        name: .long,
        help:
            "Keep the PKI, key store (its passphrase in DIR/passphrase, 0600; with --pkcs11-module the token and its PINs) and database (with --postgres the stopped server's files, DIR/postgres) here (created 0700; must not exist). Default: a temporary directory, removed at the end."
    )
    var workDirectory: String?

    @Option(
        name: .customLong("pkcs11-module"),
        help: ArgumentHelp(
            "SoftHSM2's PKCS #11 module (absolute path): make a fresh SoftHSM2 token in the work directory (SOFTHSM2_CONF is set to it) and keep the KEK and the gateway's TLS key in it, generated there. Other modules are refused.",
            valueName: "path"))
    var pkcs11Module: String?

    @Flag(
        name: .long,
        help:
            "Run two instances (two key stores, record stores and gateways) over one PostgreSQL database of a server the demo starts in its work directory and stops at the end; the KEK in a SoftHSM2 token (--pkcs11-module, default /usr/lib/softhsm/libsofthsm2.so)."
    )
    var postgres = false

    @Flag(name: .long, help: "Print the gateway's and the stores' security events (swift-log) on standard error.")
    var verbose = false

    func validate() throws {
        guard (1...100).contains(self.subjects) else { throw ValidationError("--subjects is 1 to 100") }
        if let module = self.pkcs11Module {
            guard module.hasPrefix("/"), FileManager.default.fileExists(atPath: module) else {
                throw ValidationError(
                    "--pkcs11-module: no module at \(escapingControlCharacters(module)) (give SoftHSM2's absolute path, e.g. /usr/lib/softhsm/libsofthsm2.so)"
                )
            }
        }
    }

    func run() async throws {
        bootstrapLogging(level: self.verbose ? .info : .critical)
        let input: URL
        if let records = self.records {
            input = URL(fileURLWithPath: records)
        } else if let bundled = Bundle.module.url(forResource: "Records", withExtension: nil) {
            input = bundled
        } else {
            printError("the shipped records are missing from the build")
            throw ExitCode(ExitStatus.software)
        }
        let options = DemoOptions(
            recordsDirectory: input, subjectCount: self.subjects, workDirectory: self.workDirectory,
            pkcs11ModulePath: self.pkcs11Module, postgres: self.postgres)
        let report: DemoReport
        do {
            report = try await Demo(options: options).run { line in printLine(line) }
        } catch let error as DemoSetupError {
            printError("\(error.description)")
            throw ExitCode(error.exitCode)
        } catch {
            printError("\(error)")
            throw ExitCode(ExitStatus.software)
        }
        printLine("")
        for line in report.summaryTable().split(separator: "\n", omittingEmptySubsequences: false) {
            printLine(String(line))
        }
        printLine("")
        if report.allPassed {
            printLine("samd-demo: all \(report.checks.count) checks passed")
        } else {
            let failed = report.checks.filter { !$0.passed }
            printLine(
                "samd-demo: \(failed.count) of \(report.checks.count) checks FAILED: \(failed.map(\.name).joined(separator: "; "))"
            )
            throw ExitCode(1)
        }
    }
}
