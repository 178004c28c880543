import ArgumentParser
import Logging
import NIOPosix
import SaMDExampleSupport
import SaMDRecordService
import SaMDTLS

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `samd-agent`: uploads files to the records gateway as one subject's records, over mutual TLS.
@main
struct SamdAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samd-agent",
        abstract: "Upload files to a records gateway as records of one subject, over mutual TLS.",
        discussion: """
            Each FILE becomes the record named by its file name (without directory) of --subject, with the \
            record type given by --record-type or by its extension: .json application/fhir+json, .ndjson \
            application/fhir+ndjson, .hl7 x-application/hl7-v2+er7, .dcm application/dicom, otherwise \
            application/octet-stream. One line per file (name, bytes, status, revision) and a summary go to \
            standard output; file contents are never printed.
            Network failures (cannot connect, connection closed or cut, handshake timeout, truncated) and 503 \
            answers are retried --retries times with exponential backoff (--retry-delay doubling up to \
            --max-retry-delay, with jitter); each failed attempt is reported on standard error with its own \
            cause. A refused certificate is never retried. One connection is kept alive for all files.
            Timeouts: --connect-timeout bounds the TCP connection, and again the TLS handshake that follows \
            (in whole seconds, rounded up); --request-timeout bounds one file's request, from sending it to \
            the gateway's complete answer. Files are read as they are sent, in pieces: a record of any size \
            takes a fixed amount of memory.
            With --outbox DIR, every FILE is first sealed into DIR as an envelope to the gateway's recipient \
            public key (--recipient, written by samd-vault keys recipient), written atomically; the device \
            cannot read it back. Then the outbox is delivered oldest first (files queued by earlier runs \
            included; FILE may be omitted to deliver only), each entry removed once the gateway stored it. \
            An entry the gateway refuses for good (400, 410, 413, 415) is moved to DIR/refused/. When the \
            gateway cannot be reached or stays unavailable, the rest stays queued for a later run (exit 75). \
            --outbox-max-bytes bounds DIR (refused/ included): a file that would pass it is not queued (73).
            """ + "\nExit codes (sysexits): " + Self.exitCodes
    )

    /// The exit codes, as `--help` lists them (Examples/RecordGateway/SaMDRecordGateway.docc/Gateway.md repeats them).
    static let exitCodes = """
        0 every file stored; 64 usage (an option missing, malformed or out of range; a --subject or file name \
        the store refuses as an id: . or .., a control character); 65 the gateway refused a \
        record (400, 413, 404…; the other files are still sent); 66 a file (or the PIN file) cannot be read \
        (checked before connecting), or changed size while it was sent; 69 the gateway cannot be reached (after \
        the retries), or the token of a pkcs11: --key is absent, refused the PIN, or its module cannot be \
        loaded; 70 internal error; 73 --outbox: a file would take the outbox past --outbox-max-bytes (not \
        queued; the outbox is still delivered); 74 --outbox: writing the outbox failed; 75 the gateway \
        was still unavailable (503) after the retries, or --outbox: the gateway cannot be reached or is \
        unavailable (the outbox keeps what was not delivered), or another samd-agent holds the outbox; 76 a TLS or protocol failure (a handshake or answer \
        timeout, a connection cut before the answer, an answer that is not HTTP); 77 a certificate was \
        refused by either side, or the gateway refused the role (403); 78 invalid configuration or identity \
        (this client's own certificate is checked before connecting: an expired one is 78).
        """

    @Option(name: .long, help: ArgumentHelp("The gateway.", valueName: "host:port"), transform: Endpoint.parse)
    var connect: Endpoint

    @Option(
        name: .long,
        help: ArgumentHelp("The name the gateway's certificate must carry (default: HOST).", valueName: "name"))
    var serverName: String?

    @Option(name: .long, help: ArgumentHelp("This device's certificate chain (PEM, leaf first).", valueName: "file"))
    var cert: String

    @Option(name: .long, help: PrivateKeyArgument.help("This device's private key"))
    var key: String

    @OptionGroup var keyPassphrase: KeyPassphraseOption

    @OptionGroup var pin: PKCS11PINOption

    @Option(
        name: .long,
        help: ArgumentHelp("The CA certificates the gateway's chain must lead to (PEM).", valueName: "file"))
    var ca: String

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The subject (patient) id the records belong to (needed with files to upload or queue).", valueName: "id"))
    var subject: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A directory (made 0700 when absent) that keeps every file sealed to the gateway until it stored it.",
            valueName: "dir"))
    var outbox: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The gateway's recipient public key (samd-vault keys recipient): files are sealed to it into the outbox.",
            valueName: "file"))
    var recipient: String?

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp("The most bytes the outbox may hold, refused/ included (default 1 GiB).", valueName: "bytes")
    )
    var outboxMaxBytes: Int64?

    @Option(
        name: .long,
        help: ArgumentHelp("The record type of every file (default: from each file's extension).", valueName: "type"))
    var recordType: String?

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp("Retries after a failed attempt, per file (0 to 100).", valueName: "n"))
    var retries: Int = 5

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp("Seconds before the first retry, doubling after each (0 to 86400).", valueName: "seconds"))
    var retryDelay: Double = 0.5

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp("The longest wait between two attempts, in seconds (0 to 86400).", valueName: "seconds"))
    var maxRetryDelay: Double = 30

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds to wait for the TCP connection, and again for the TLS handshake (whole seconds, rounded up; more than 0, at most 600).",
            valueName: "seconds"
        )
    )
    var connectTimeout: Double = 10

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds from sending one file to the gateway's complete answer (more than 0, at most 86400).",
            valueName: "seconds")
    )
    var requestTimeout: Double = 120

    @Flag(name: .long, help: "Log the library's security events (handshakes) on standard error.")
    var verbose = false

    @Argument(
        help: ArgumentHelp("The files to upload (with --outbox: to queue; none to deliver only).", valueName: "file"))
    var files: [String] = []

    func validate() throws {
        if self.outbox == nil {
            guard !self.files.isEmpty else { throw ValidationError("give at least one file (or --outbox DIR)") }
            guard self.recipient == nil else { throw ValidationError("--recipient needs --outbox") }
            guard self.outboxMaxBytes == nil else { throw ValidationError("--outbox-max-bytes needs --outbox") }
        } else {
            if let directory = self.outbox, directory.isEmpty { throw ValidationError("--outbox needs a value") }
            if !self.files.isEmpty, self.recipient == nil {
                throw ValidationError("--outbox with files needs --recipient (the gateway's recipient public key)")
            }
            if let limit = self.outboxMaxBytes, limit < 1 { throw ValidationError("--outbox-max-bytes is at least 1") }
        }
        try validateKeyOptions(key: self.key, passphrase: self.keyPassphrase, pin: self.pin)
        if !self.files.isEmpty, self.subject == nil { throw ValidationError("--subject is needed with files") }
        if let subject = self.subject {
            guard !subject.isEmpty else { throw ValidationError("--subject needs a value") }
            // The store's own rule, before connecting: `..` would go out as a dot segment.
            guard RecordIdentifiers.isValid(subject) else {
                throw ValidationError("--subject is \(RecordIdentifiers.rule)")
            }
        }
        guard (0...100).contains(self.retries) else { throw ValidationError("--retries is 0 to 100") }
        for (name, value) in [("--retry-delay", self.retryDelay), ("--max-retry-delay", self.maxRetryDelay)] {
            guard value.isFinite, value >= 0, value <= 86_400 else {
                throw ValidationError("\(name) is 0 to 86400 seconds")
            }
        }
        for (name, value, largest) in [
            ("--connect-timeout", self.connectTimeout, Double(Self.longestHandshakeTimeout)),
            ("--request-timeout", self.requestTimeout, 86_400),
        ] {
            guard value.isFinite, value > 0, value <= largest else {
                throw ValidationError("\(name) is more than 0 and at most \(Int(largest)) seconds")
            }
        }
        if let name = self.serverName, name.isEmpty { throw ValidationError("--server-name needs a value") }
        if let type = self.recordType, !RecordTypes.isValid(type) {
            throw ValidationError(
                "--record-type is a media type without parameters, type/subtype (RFC 6838 restricted names)")
        }
        var seen: Set<String> = []
        for path in self.files {
            let name = Self.recordID(of: path)
            // ArgumentParser prints these as they are: the names in them are escaped here.
            guard !name.isEmpty else { throw ValidationError("\(escapingControlCharacters(path)) names no file") }
            guard RecordIdentifiers.isValid(name) else {
                throw ValidationError(
                    "\(escapingControlCharacters(path)): a file's name is its record id, \(RecordIdentifiers.rule)")
            }
            guard seen.insert(name).inserted else {
                throw ValidationError(
                    "two files are named \(escapingControlCharacters(name)): each file's name is its record id, so they must differ"
                )
            }
        }
    }

    /// The record id of a file: its name without directory.
    static func recordID(of path: String) -> String {
        String(path.split(separator: "/", omittingEmptySubsequences: true).last ?? "")
    }

    /// The longest TLS handshake timeout SaMDTLS accepts, in seconds (`TLSConfiguration.handshakeTimeout`).
    static let longestHandshakeTimeout = 600

    /// The handshake timeout for a connect timeout of `seconds`: the same, in whole seconds rounded up.
    static func handshakeTimeout(forConnectTimeout seconds: Double) -> Duration {
        .seconds(min(Self.longestHandshakeTimeout, max(1, Int(seconds.rounded(.up)))))
    }

    func run() async throws {
        try await withListedExitCodes {
            if let outbox = self.outbox {
                try await self.queueAndDeliver(outbox: outbox)
            } else {
                try await self.upload()
            }
        }
    }

    /// The agent's one event loop, on one thread, started when the first client is made and kept for the life of
    /// the process: the agent holds one connection at a time. NIO's `MultiThreadedEventLoopGroup.singleton`
    /// would start one thread per core, each with its stack and epoll instance, for nothing.
    static let eventLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// The gateway's client and the retry policy, from the options.
    func makeClient() throws -> (RecordClient, RetryPolicy) {
        var configuration = TLSConfiguration.deviceClient(
            identity: try identitySource(
                certificateChain: self.cert, key: self.key, passphrase: self.keyPassphrase, pin: self.pin),
            trustRoots: .file(self.ca)
        )
        // --connect-timeout bounds the handshake too, so that no phase waits on a fixed 10 s.
        configuration.handshakeTimeout = Self.handshakeTimeout(forConnectTimeout: self.connectTimeout)
        let context = try makeContext(configuration, logger: Logger(label: "samdkit.tls"))
        let client = RecordClient(
            host: self.connect.host,
            port: self.connect.port,
            context: context,
            serverName: self.serverName,
            // The options are seconds; the client takes durations.
            connectTimeout: .seconds(self.connectTimeout),
            requestTimeout: .seconds(self.requestTimeout),
            group: Self.eventLoop
        )
        let policy = RetryPolicy(
            attempts: self.retries + 1, initialDelay: .seconds(self.retryDelay),
            maximumDelay: .seconds(self.maxRetryDelay))
        return (client, policy)
    }

    private func upload() async throws {
        bootstrapLogging(level: self.verbose ? .info : .critical)
        let keyFile = (try? PrivateKeyArgument.parse(self.key))?.path
        try requireReadable([self.ca, self.cert, keyFile] + self.files, regularFilesOnly: true)
        let subject = self.subject! // validate(): files need --subject
        let (client, policy) = try self.makeClient()

        var stored = 0
        var storedBytes = 0
        func printSummary() {
            printLine("uploaded \(stored) of \(self.files.count) files, \(storedBytes) bytes, to \(self.connect)")
        }
        var status = ExitStatus.ok
        for path in self.files {
            let name = Self.recordID(of: path)
            let file: RecordUploadFile
            do {
                file = try RecordUploadFile(path: path)
            } catch {
                printError("\(path): cannot be sent: \((error as? RecordServiceError)?.reason ?? "unreadable")")
                printSummary()
                throw ExitCode(ExitStatus.noInput)
            }
            let response: RecordResponse
            do {
                response = try await client.upload(
                    subject: subject,
                    recordID: name,
                    recordType: self.recordType ?? RecordTypes.recordType(forFileName: name),
                    file: file,
                    policy: policy
                ) { attempt, delay, error in
                    printError(Self.retryLine(name, attempt, delay, error))
                }
            } catch {
                printError("\(name): not stored: \(failureDescription(error))")
                printSummary()
                throw ExitCode(RecordServiceExitStatus.code(forConnection: error))
            }
            var line = "\(name): \(file.byteCount) bytes, \(response.status) \(response.reasonPhrase)"
            if let revision = response.revision {
                line += ", revision \(revision)"
            } else if let code = response.errorCode {
                line += " (\(code))"
            }
            printLine(line)
            if response.isSuccess {
                stored += 1
                storedBytes += Int(file.byteCount)
            } else if status == ExitStatus.ok {
                status = RecordServiceExitStatus.code(forStatus: response.status)
            }
        }
        printSummary()
        await client.close()
        if status != ExitStatus.ok { throw ExitCode(status) }
    }

    /// The line reporting a failed attempt before its retry.
    static func retryLine(_ name: String, _ attempt: Int, _ delay: Duration, _ error: (any Error)?) -> String {
        let cause = error.map(failureDescription) ?? "503 Service Unavailable"
        let seconds = delay / .seconds(1)
        return "\(name): attempt \(attempt) failed: \(cause); retrying in \(Int(seconds)).\(Int(seconds * 10) % 10) s"
    }
}
