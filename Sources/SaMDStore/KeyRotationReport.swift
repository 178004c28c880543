public import SaMDEnvelope
import SaMDKeys

/// Where a ``KeyRotationJob`` is, after a committed batch.
public struct KeyRotationProgress: Sendable, Hashable {
    /// The KEK version subject keys are being rewrapped to.
    public let target: KeyIdentifier
    /// Subject keys passed (rewrapped, or already under the target).
    public let done: Int
    public let total: Int
    /// Subject key versions rewrapped so far in this run.
    public let rewrapped: Int
    /// Time since this run started (on the continuous clock).
    public let elapsed: Duration

    /// Subject keys passed per second in this run.
    public var rate: Double {
        self.elapsed > .zero ? Double(self.done) / self.elapsed.timeInterval : 0
    }
}

/// What a ``KeyRotationJob`` did.
public struct KeyRotationReport: Sendable {
    /// The active KEK version every subject key is now wrapped under (when ``finished``).
    public let target: KeyIdentifier
    /// Subject keys in the store at the verification pass.
    public let subjectKeyCount: Int
    /// Subject key versions rewrapped in this run (0 when a resumed run found the work done).
    public let rewrapped: Int
    /// Subject keys that could not be rewrapped, by blind name, with the reason.
    public let failed: [(key: String, reason: String)]
    /// Whether this run resumed an interrupted job.
    public let resumed: Bool
    /// Whether every subject key is under ``target``: the old version may now be destroyed.
    public let finished: Bool
    /// The time this run took (on the continuous clock).
    public let elapsed: Duration
}
