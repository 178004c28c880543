import SaMDTLS

/// When and how often ``RecordClient/upload(subject:recordID:recordType:body:policy:onRetry:)`` tries again:
/// exponential backoff with jitter, for failures that may pass (the network, a busy store) — never for a
/// refused certificate.
///
/// The delay before attempt *n* (n ≥ 2) is `min(maximumDelay, initialDelay × 2^(n−2))`, multiplied by a
/// random factor in `[1 − jitter, 1]` so that a fleet of devices does not retry in step.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first included (at least 1; 1 means no retry).
    public var attempts: Int
    /// The delay before the second attempt.
    public var initialDelay: Duration
    /// The longest delay between two attempts.
    public var maximumDelay: Duration
    /// How much of each delay may be taken off at random, as a fraction 0…1 (0: exact delays).
    public var jitter: Double

    /// A policy; values out of range are clamped (attempts ≥ 1, delays ≥ 0, jitter 0…1).
    public init(
        attempts: Int = 6, initialDelay: Duration = .milliseconds(500), maximumDelay: Duration = .seconds(30),
        jitter: Double = 0.2
    ) {
        self.attempts = max(1, attempts)
        self.initialDelay = max(.zero, initialDelay)
        self.maximumDelay = max(.zero, maximumDelay)
        self.jitter = min(1, max(0, jitter))
    }

    /// No retry: one attempt.
    public static let none = RetryPolicy(attempts: 1)

    /// The delay before attempt `attempt` (2 or more; `.zero` before the first), for a random draw `random`
    /// in 0…1. Computed in seconds as a `Double`, so that whole and half seconds come out exact.
    public func delay(beforeAttempt attempt: Int, random: Double = Double.random(in: 0...1)) -> Duration {
        guard attempt >= 2 else { return .zero }
        let exponent = min(attempt - 2, 62)
        let second = Duration.seconds(1)
        let base = min(self.maximumDelay / second, self.initialDelay / second * Double(1 << exponent))
        return .seconds(base * (1 - self.jitter * min(1, max(0, random))))
    }

    /// Whether `error` may pass on another attempt: a `TLSError` that `TLSError.isRetryable`
    /// (unreachable, connection closed, handshake timeout, truncated) or a ``RecordServiceError`` timeout.
    /// Certificate errors, protocol errors, and configuration errors are never retried.
    public static func isRetryable(_ error: any Error) -> Bool {
        if let error = error as? TLSError { return error.isRetryable && !error.isCertificateError }
        if let error = error as? RecordServiceError { return error.isRetryable }
        return false
    }

    /// Whether a response's status asks to try again later: 503 (the store is busy or unavailable).
    public static func isRetryable(status: Int) -> Bool {
        status == 503
    }
}
