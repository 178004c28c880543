import SaMDKeys

/// Where a ``SubjectRekeyJob`` is, after a committed batch.
public struct SubjectRekeyProgress: Sendable, Hashable {
    /// Subjects passed (re-keyed, or with nothing to re-key).
    public let done: Int
    public let total: Int
    /// Records rewrapped to a new subject-key version so far in this run.
    public let recordsRewrapped: Int
    /// Time since this run started (on the continuous clock).
    public let elapsed: Duration

    /// Records rewrapped per second in this run.
    public var rate: Double {
        self.elapsed > .zero ? Double(self.recordsRewrapped) / self.elapsed.timeInterval : 0
    }
}

/// What a ``SubjectRekeyJob`` did.
public struct SubjectRekeyReport: Sendable {
    /// Subject keys in the store when the run began.
    public let subjectKeyCount: Int
    /// Records rewrapped in this run.
    public let recordsRewrapped: Int
    /// Old subject-key versions destroyed in this run (receipts under the key store's `receipts/`).
    public let versionsDestroyed: Int
    /// Subjects not re-keyed, or whose old versions are kept because a record did not rewrap, by blind name.
    public let failed: [(key: String, reason: String)]
    /// Whether this run resumed an interrupted job.
    public let resumed: Bool
    /// Whether every subject is re-keyed and every old version destroyed.
    public let finished: Bool
    /// The time this run took (on the continuous clock).
    public let elapsed: Duration
}
