import SaMDTLS

/// A failure in words, for one line on standard error: a `TLSError` with its code, who raised it and the
/// alert — `certificateRequired (from the peer, alert 116): …`, `handshakeTimeout (local): …` — and any other
/// error as it describes itself.
/// - SeeAlso: RFC 8446 §6 (alert protocol)
public func failureDescription(_ error: any Error) -> String {
    guard let error = error as? TLSError else { return "\(error)" }
    var text = "\(error.code)"
    text += error.origin == .peer ? " (from the peer" : " (local"
    if let alert = error.alert { text += ", alert \(alert)" }
    return text + "): \(error.reason)"
}
