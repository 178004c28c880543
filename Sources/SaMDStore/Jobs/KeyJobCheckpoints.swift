public import Foundation

/// A job's checkpoint row as a ``KeyJobStore`` read it.
public enum StoredCheckpoint<Checkpoint: Sendable & Hashable>: Sendable, Hashable {
    /// No row: no job to resume.
    case absent
    /// A row no job writes (values of other types, out of range, a cursor that names no subject key): never
    /// trusted to skip anything; the job logs it and starts afresh.
    case damaged
    /// A row a job wrote, its values checked.
    case found(Checkpoint)
}

/// The checkpoint of an unfinished KEK rotation (``KeyRotationJob``; `rotation_checkpoint`), its values
/// checked: only a value a job writes makes one.
public struct RotationCheckpoint: Sendable, Hashable {
    /// The KEK's active version when the rotation began: 1 … 2³² − 1.
    public let fromVersion: UInt32
    /// The version subject keys are rewrapped to (``fromVersion`` or later); `nil` when the job stopped after
    /// its intent, before the key store made the new version.
    public let targetVersion: UInt32?
    /// The last subject key name of the last committed batch (`s-` and 32 lowercase hex digits); `nil`
    /// before the first.
    public let cursor: String?

    /// Checks a stored checkpoint's values.
    /// - Parameters:
    ///   - fromVersion: `from_version`.
    ///   - targetVersion: `target_version`; `nil` for NULL.
    ///   - cursor: `cursor`; `nil` for NULL.
    /// - Returns: `nil` for values no job writes: a version outside 1 … 2³² − 1, a target below its origin, a
    ///   cursor that is not a subject key name.
    public init?(fromVersion: Int64, targetVersion: Int64?, cursor: String?) {
        guard let from = UInt32(exactly: fromVersion), from >= 1 else { return nil }
        var target: UInt32?
        if let targetVersion {
            guard let stored = UInt32(exactly: targetVersion), stored >= from else { return nil }
            target = stored
        }
        if let cursor, !SubjectKeyName.isValid(cursor) { return nil }
        self.fromVersion = from
        self.targetVersion = target
        self.cursor = cursor
    }
}

/// The checkpoint of the last subject re-key (``SubjectRekeyJob``; `rekey_checkpoint`), finished or not, its
/// values checked one by one: a damaged unfinished run is not resumed, but the times it holds still place the
/// next run's `not_before` after them.
public struct RekeyCheckpoint: Sendable, Hashable {
    /// The run's start time (`not_before`); `nil` when the stored value is not a time (a positive, finite
    /// number of seconds since 1970).
    public let notBefore: Date?
    /// The last subject key name the run may resume after; `nil` from the first, or when the stored value is
    /// not a subject key name (then ``isDamaged`` for an unfinished run).
    public let cursor: String?
    /// Whether the run finished (`finished_at` is not NULL, whatever it holds).
    public let isFinished: Bool
    /// When the run finished; `nil` when it did not, or when the stored value is not a time.
    public let finishedAt: Date?
    /// Whether the row records an unfinished run that no job writes: its `not_before` is not a time, or its
    /// cursor is neither NULL nor a subject key name. The job logs it and starts afresh.
    public let isDamaged: Bool

    /// Checks a stored checkpoint's values.
    /// - Parameters:
    ///   - notBefore: `not_before`, in seconds since 1970; `nil` when it is not a number.
    ///   - cursor: `cursor`; `nil` for NULL. Anything else but a subject key name (`s-` and 32 lowercase hex
    ///     digits) is damaged.
    ///   - isFinished: whether `finished_at` is not NULL.
    ///   - finishedAt: `finished_at`, in seconds since 1970; `nil` when it is not a number.
    public init(notBefore: Double?, cursor: String?, isFinished: Bool, finishedAt: Double?) {
        let time = { (value: Double?) in
            value.flatMap { $0.isFinite && $0 > 0 ? Date(timeIntervalSince1970: $0) : nil }
        }
        let cursorIsValid = cursor.map(SubjectKeyName.isValid) ?? true
        self.notBefore = time(notBefore)
        self.cursor = cursorIsValid ? cursor : nil
        self.isFinished = isFinished
        self.finishedAt = isFinished ? time(finishedAt) : nil
        self.isDamaged = !isFinished && (self.notBefore == nil || !cursorIsValid)
    }
}

/// The shape of a subject key's blind name, the jobs' cursors: `s-` and 32 lowercase hex digits.
enum SubjectKeyName {
    static func isValid(_ name: String) -> Bool {
        name.hasPrefix("s-") && name.utf8.count == 34
            && name.utf8.dropFirst(2).allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}
