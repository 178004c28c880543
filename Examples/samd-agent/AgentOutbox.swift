import ArgumentParser
import Logging
import SaMDEnvelope
import SaMDExampleSupport
import SaMDRecordService

extension SamdAgent {
    /// `--outbox DIR`: seals every file into the outbox, then delivers the outbox oldest first.
    ///
    /// Exit status: a file not queued decides it (66 unreadable, 73 over the quota, 74 the outbox cannot be
    /// written: that file is the caller's to keep); otherwise how delivery ended (75 the gateway unreachable or
    /// unavailable — the outbox keeps the rest —, or another agent delivering; 77 a refused certificate or role,
    /// 78 configuration), else 65 when an entry was refused or found malformed and set aside, else 0.
    func queueAndDeliver(outbox directory: String) async throws {
        bootstrapLogging(level: self.verbose ? .info : .critical)
        let keyFile = (try? PrivateKeyArgument.parse(self.key))?.path
        try requireReadable([self.ca, self.cert, keyFile, self.recipient] + self.files, regularFilesOnly: true)
        let recipientKey = try self.recipient.map(Self.readRecipientKey)

        let outbox: Outbox
        do {
            outbox = try Outbox(
                directory: directory, maximumByteCount: self.outboxMaxBytes ?? Outbox.defaultMaximumByteCount,
                logger: Logger(label: "samdkit.agent"))
        } catch let error as OutboxError {
            printError("\(directory): \(error.reason)")
            throw ExitCode(Self.exitStatus(for: error))
        }
        defer { outbox.close() }
        for name in outbox.setAside {
            printError("\(name): not an outbox entry this agent reads; moved to \(Outbox.refusedDirectoryName)/")
        }

        // 1. Queue: each file sealed into the outbox before anything is sent.
        var queueStatus = ExitStatus.ok
        var queued = 0
        for path in self.files {
            let name = Self.recordID(of: path)
            do {
                let entry = try outbox.queue(
                    file: path, subject: self.subject!, recordID: name,
                    recordType: self.recordType ?? RecordTypes.recordType(forFileName: name), to: recipientKey!)
                queued += 1
                printLine("\(name): queued as \(entry.name), \(entry.envelope.byteCount) bytes sealed")
            } catch let error as OutboxError {
                printError("\(name): not queued: \(error.reason)")
                queueStatus = Self.exitStatus(for: error)
                // The files after it are not queued either: the caller keeps them all, in order.
                let rest = self.files.drop { $0 != path }.dropFirst().count
                if rest > 0 { printError("\(rest) more file(s) not queued") }
                break
            }
        }

        // 2. Deliver: oldest first, queued entries of earlier runs included.
        let entries = try await Self.outboxStep { try outbox.entries() }
        var summary = OutboxDeliverySummary()
        var deliveryStatus = ExitStatus.ok
        let queuedLine = self.files.isEmpty ? "" : "queued \(queued) of \(self.files.count) files; "
        if !entries.isEmpty {
            let (client, policy) = try self.makeClient()
            do {
                summary = try await outbox.deliver(
                    with: client, policy: policy,
                    onRetry: { entry, attempt, delay, error in
                        printError(Self.retryLine(entry.name, attempt, delay, error))
                    },
                    report: Self.printOutcome)
            } catch let error as OutboxError where error.code == .busy {
                // Another agent is delivering: what this run queued is safe in the outbox, and goes with it.
                await client.close()
                printError(error.reason)
                printLine(queuedLine + "not delivered now: another samd-agent is delivering the outbox")
                throw ExitCode(queueStatus != ExitStatus.ok ? queueStatus : ExitStatus.temporaryFailure)
            } catch let error as OutboxError {
                await client.close()
                printError("the outbox: \(error.reason)")
                throw ExitCode(Self.exitStatus(for: error))
            }
            await client.close()
            if let stop = summary.stoppedBy {
                deliveryStatus = Self.exitStatus(stoppedBy: stop)
            } else if summary.refused > 0 {
                deliveryStatus = ExitStatus.dataError
            }
        }
        // An entry set aside as malformed left the delivery path, as one the gateway refused.
        if deliveryStatus == ExitStatus.ok && !outbox.setAside.isEmpty { deliveryStatus = ExitStatus.dataError }
        var line =
            queuedLine + "delivered \(summary.delivered) (\(summary.alreadyStored) already stored), refused "
            + "\(summary.refused + outbox.setAside.count), \(summary.remaining) waiting in the outbox"
        if entries.isEmpty { line += " (nothing to deliver)" }
        printLine(line)
        let status = queueStatus != ExitStatus.ok ? queueStatus : deliveryStatus
        if status != ExitStatus.ok { throw ExitCode(status) }
    }

    /// Reads the gateway's recipient public key file (`samd-vault keys recipient --out`).
    static func readRecipientKey(_ path: String) throws -> SealingKey {
        do {
            return try RecipientPublicKey.read(from: path).sealingKey
        } catch let error as EnvelopeError {
            printError("\(path): not a recipient public key: \(error.reason)")
            throw ExitCode(error.code == .io ? ExitStatus.noInput : ExitStatus.configuration)
        }
    }

    /// Runs an outbox step; an ``OutboxError`` is reported and exits with its status.
    static func outboxStep<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as OutboxError {
            printError("the outbox: \(error.reason)")
            throw ExitCode(Self.exitStatus(for: error))
        }
    }

    static func printOutcome(_ outcome: OutboxDeliveryOutcome) {
        switch outcome {
        case .delivered(let entry, let response):
            var line = "\(entry.name): delivered, \(response.status) \(response.reasonPhrase)"
            if let revision = response.revision { line += ", revision \(revision)" }
            if response.isAlreadyStored { line += " (already stored)" }
            printLine(line)
        case .refused(let entry, let response):
            printLine(
                "\(entry.name): refused, \(response.status) \(response.reasonPhrase) (\(response.errorCode ?? "no code")); moved to \(Outbox.refusedDirectoryName)/"
            )
        case .deferred(let entry, let response, let error):
            let cause = response.map { "\($0.status) \($0.reasonPhrase)" } ?? error.map(failureDescription) ?? "stopped"
            printError("\(entry.name): not delivered: \(cause); it stays in the outbox with the entries after it")
        }
    }

    /// The exit status of an outbox error.
    static func exitStatus(for error: OutboxError) -> Int32 {
        switch error.code {
        case .busy: ExitStatus.temporaryFailure
        case .quotaExceeded: ExitStatus.cannotCreate
        case .inputUnreadable: ExitStatus.noInput
        case .unsafeDirectory, .sealingFailed: ExitStatus.configuration
        default: ExitStatus.ioError
        }
    }

    /// The exit status when delivery stopped: 75 when waiting may help (unreachable, connection failures,
    /// 503, 408, 429, 5xx), 77 for a refused certificate or role, else as the agent's other statuses.
    static func exitStatus(stoppedBy stop: (response: RecordResponse?, error: (any Error)?)) -> Int32 {
        if let response = stop.response {
            switch response.status {
            case 408, 429, 500..<600: return ExitStatus.temporaryFailure
            default: return RecordServiceExitStatus.code(forStatus: response.status)
            }
        }
        guard let error = stop.error else { return ExitStatus.software }
        if RetryPolicy.isRetryable(error) { return ExitStatus.temporaryFailure }
        return RecordServiceExitStatus.code(forConnection: error)
    }
}
