import Logging
import SaMDCrypto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What happened to one outbox entry during ``Outbox/deliver(with:policy:onRetry:report:)``.
public enum OutboxDeliveryOutcome: Sendable {
    /// The gateway stored it (2xx; ``RecordResponse/isAlreadyStored`` when it had already): the entry was removed.
    case delivered(OutboxEntry, RecordResponse)
    /// The gateway refused it for good (400 `envelope-not-authentic` or `recipient-key-unknown`, 410, 413 too
    /// large, 415 `not-sealed-to-recipient`): moved to `refused/`.
    case refused(OutboxEntry, RecordResponse)
    /// Delivery stopped at this entry, which stays queued with every later one: the gateway could not be
    /// reached or stayed unavailable after the retries (`error`, or a 503 `response`), or gave an answer that
    /// is not the entry's fault (403, 404, 408, 5xx…).
    case deferred(OutboxEntry, RecordResponse?, (any Error)?)
}

/// The totals of one delivery.
public struct OutboxDeliverySummary: Sendable {
    /// Entries stored by the gateway and removed.
    public var delivered = 0
    /// Of those, the ones the gateway had already stored (`SaMD-Already-Stored: true`).
    public var alreadyStored = 0
    /// Entries refused for good, moved to `refused/`.
    public var refused = 0
    /// Entries still queued.
    public var remaining = 0
    /// Why delivery stopped before the last entry, if it did: the answer or the error of the entry it stopped at.
    public var stoppedBy: (response: RecordResponse?, error: (any Error)?)?

    /// No entry yet.
    public init() {}
}

extension Outbox {
    /// The statuses that refuse an entry for good: 400, 410, 413, 415.
    public static let refusingStatuses: Set<Int> = [400, 410, 413, 415]

    /// Delivers the entries oldest first, each as a sealed upload
    /// (``RecordClient/uploadSealed(subject:recordID:recordType:envelope:policy:onRetry:)``) under `policy`.
    /// An entry is removed once the gateway answered 2xx, moved to `refused/` on a refusing status
    /// (``refusingStatuses``), and on anything else delivery stops with it and every later entry kept.
    /// - Parameters:
    ///   - client: a client of the gateway.
    ///   - policy: the retries for each entry.
    ///   - onRetry: called before each retry's wait, as in the client's upload.
    ///   - report: called with each entry's outcome as it happens.
    /// - Returns: the totals.
    /// - Throws: ``OutboxError/Code/busy`` when another process is delivering this outbox (past the lock timeout);
    ///   ``OutboxError/Code/io`` when an entry cannot be removed or moved (the gateway has stored it; the next
    ///   delivery repeats it and is answered `SaMD-Already-Stored`); `CancellationError`.
    public func deliver(
        with client: RecordClient,
        policy: RetryPolicy,
        onRetry: (
            @Sendable (_ entry: OutboxEntry, _ failedAttempt: Int, _ delay: Duration, _ error: (any Error)?) -> Void
        )? =
            nil,
        report: (OutboxDeliveryOutcome) -> Void = { _ in }
    ) async throws -> OutboxDeliverySummary {
        // One process delivers at a time; queueing goes on meanwhile (it takes `.lock` only).
        let deliveryLock = try OutboxFiles.openLockFile(self.directory + "/" + Self.deliveryLockFileName)
        defer { Glibc.close(deliveryLock) }
        try OutboxFiles.lock(deliveryLock, timeout: self.lockTimeout, holder: "delivering this outbox")
        var summary = OutboxDeliverySummary()
        let entries = try self.entries()
        for (index, entry) in entries.enumerated() {
            let response: RecordResponse
            do {
                response = try await client.uploadSealed(
                    subject: entry.subject, recordID: entry.recordID, recordType: entry.recordType,
                    envelope: entry.envelope, policy: policy
                ) { attempt, delay, error in onRetry?(entry, attempt, delay, error) }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                self.deferred(entry, nil, error, remaining: entries.count - index)
                summary.remaining = entries.count - index
                summary.stoppedBy = (nil, error)
                report(.deferred(entry, nil, error))
                return summary
            }
            if response.isSuccess {
                try self.remove(entry)
                summary.delivered += 1
                if response.isAlreadyStored { summary.alreadyStored += 1 }
                self.logDelivered(entry, response)
                report(.delivered(entry, response))
            } else if Self.refusingStatuses.contains(response.status) {
                try self.setAside(entry)
                summary.refused += 1
                self.logRefused(entry, response)
                report(.refused(entry, response))
            } else {
                self.deferred(entry, response, nil, remaining: entries.count - index)
                summary.remaining = entries.count - index
                summary.stoppedBy = (response, nil)
                report(.deferred(entry, response, nil))
                return summary
            }
        }
        return summary
    }

    private func logDelivered(_ entry: OutboxEntry, _ response: RecordResponse) {
        var metadata: Logger.Metadata = [
            "event": "samd.agent.delivered", "entry": "\(entry.name)", "status": "\(response.status)",
            "bytes": "\(entry.envelope.byteCount)", "already_stored": "\(response.isAlreadyStored)",
        ]
        if let revision = response.revision { metadata["revision"] = "\(revision)" }
        self.logger.info("outbox entry delivered", metadata: metadata)
    }

    private func logRefused(_ entry: OutboxEntry, _ response: RecordResponse) {
        self.logger.error(
            "the gateway refused an outbox entry; set aside",
            metadata: [
                "event": "samd.agent.refused", "entry": "\(entry.name)", "status": "\(response.status)",
                "error": "\(response.errorCode ?? "none")",
            ])
    }

    private func deferred(_ entry: OutboxEntry, _ response: RecordResponse?, _ error: (any Error)?, remaining: Int) {
        var metadata: Logger.Metadata = [
            "event": "samd.agent.deferred", "entry": "\(entry.name)", "remaining": "\(remaining)",
        ]
        if let response { metadata["status"] = "\(response.status)" }
        if let error {
            metadata["error"] = "\((error as? any CodedError).map { "\($0.code)" } ?? "\(type(of: error))")"
        }
        self.logger.warning("outbox delivery stopped; the entries stay queued", metadata: metadata)
    }
}
