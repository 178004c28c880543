public import SaMDEnvelope
import Testing

/// The code of the `EnvelopeError` that `body` threw, or nil if it returned. Any other error is
/// recorded as a test issue.
public func envelopeCode<T>(_ body: () throws -> T) -> EnvelopeError.Code? {
    do {
        _ = try body()
        return nil
    } catch let error as EnvelopeError {
        return error.code
    } catch {
        Issue.record("not an EnvelopeError: \(error)")
        return nil
    }
}
